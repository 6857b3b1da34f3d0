#include "bus/kafka_client.h"

#include <cstring>

#include "core/log.h"

namespace flowcast::bus {
namespace {

constexpr size_t kMaxQueuedErrors = 32;

spdlog::level::level_enum level_of(int syslog_level) {
  if (syslog_level <= 3) return spdlog::level::err;
  if (syslog_level == 4) return spdlog::level::warn;
  if (syslog_level == 5) return spdlog::level::info;
  return spdlog::level::debug;
}

}  // namespace

Result<std::unique_ptr<KafkaClient>> KafkaClient::create(const KafkaOptions& options,
                                                         KafkaRole role, const std::string& what,
                                                         const std::string& group,
                                                         Handlers handlers) {
  FC_ASSIGN_OR_RETURN(auto conf, make_kafka_conf(options, role, group));
  std::unique_ptr<KafkaClient> c(new KafkaClient());
  c->name_ = "kafka://" + options.bootstrap + " " + what;
  c->handlers_ = std::move(handlers);
  rd_kafka_conf_set_opaque(conf.get(), c.get());
  rd_kafka_conf_set_log_cb(conf.get(), &KafkaClient::on_log);
  rd_kafka_conf_set_error_cb(conf.get(), &KafkaClient::on_error);
  if (c->handlers_.delivery) rd_kafka_conf_set_dr_msg_cb(conf.get(), &KafkaClient::on_delivery);
  if (c->handlers_.rebalance)
    rd_kafka_conf_set_rebalance_cb(conf.get(), &KafkaClient::on_rebalance);
  if (c->handlers_.offset_commit)
    rd_kafka_conf_set_offset_commit_cb(conf.get(), &KafkaClient::on_commit);
  char err[512];
  rd_kafka_t* rk =
      rd_kafka_new(role == KafkaRole::kConsumer ? RD_KAFKA_CONSUMER : RD_KAFKA_PRODUCER, conf.get(),
                   err, sizeof err);
  if (rk == nullptr) return Status::invalid(c->name_ + ": " + err);
  conf.release();  // owned by rk now
  c->rk_.reset(rk);
  return c;
}

KafkaClient::~KafkaClient() {
  // First, while every member the callbacks touch is still alive.
  rk_.reset();
}

void KafkaClient::destroy(int flags) {
  if (rd_kafka_t* rk = rk_.release()) rd_kafka_destroy_flags(rk, flags);
}

std::vector<Status> KafkaClient::take_errors() {
  std::lock_guard lock(mu_);
  std::vector<Status> out(errors_.begin(), errors_.end());
  errors_.clear();
  return out;
}

std::string KafkaClient::last_error() const {
  std::lock_guard lock(mu_);
  return last_error_;
}

std::string KafkaClient::fatal_error() const {
  if (!fatal_.load() || !rk_) return "";
  char buf[512];
  rd_kafka_resp_err_t e = rd_kafka_fatal_error(rk_.get(), buf, sizeof buf);
  return e == RD_KAFKA_RESP_ERR_NO_ERROR ? "" : std::string(rd_kafka_err2name(e)) + ": " + buf;
}

void KafkaClient::on_log(const rd_kafka_t* rk, int level, const char* fac, const char* buf) {
  try {
    auto lvl = level_of(level);
    // Connection failures also arrive as error events, which on_error logs once.
    if (std::strcmp(fac, "FAIL") == 0) lvl = spdlog::level::debug;
    // Properties meant for the other role (a consumer property in a shared `kafka:` section, seen
    // by a producer) are expected: librdkafka ignores them.
    if (std::strcmp(fac, "CONFWARN") == 0 && std::strstr(buf, "will be ignored by this") != nullptr)
      lvl = spdlog::level::debug;
    // flowcast creates its topics before using them; old brokers (and the mock) cannot be told
    // not to auto-create, which librdkafka warns about on every connection.
    if (std::strcmp(fac, "AUTOCREATE") == 0) lvl = spdlog::level::debug;
    auto* self = static_cast<KafkaClient*>(rd_kafka_opaque(rk));
    logger("bus.kafka")->log(lvl, "{} [{}]: {}", self ? self->name_ : rd_kafka_name(rk), fac, buf);
  } catch (...) {
    // A log line is not worth unwinding through librdkafka.
  }
}

void KafkaClient::on_error(rd_kafka_t* /*rk*/, int err, const char* reason, void* opaque) {
  try {
    auto* self = static_cast<KafkaClient*>(opaque);
    auto code = static_cast<rd_kafka_resp_err_t>(err);
    std::string text = std::string(rd_kafka_err2name(code)) + ": " + reason;
    Status s;
    if (code == RD_KAFKA_RESP_ERR__FATAL) {
      self->fatal_ = true;
      s = Status::internal(self->name_ + ": " + text);
      logger("bus.kafka")->error("{}: {}", self->name_, text);
    } else {
      s = Status::unavailable(self->name_ + ": " + text);
      logger("bus.kafka")->warn("{}: {}", self->name_, text);
    }
    self->error_count_.fetch_add(1);
    std::lock_guard lock(self->mu_);
    self->last_error_ = text;
    self->errors_.push_back(std::move(s));
    while (self->errors_.size() > kMaxQueuedErrors) self->errors_.pop_front();
  } catch (...) {
  }
}

void KafkaClient::on_delivery(rd_kafka_t* /*rk*/, const rd_kafka_message_t* m, void* opaque) {
  try {
    static_cast<KafkaClient*>(opaque)->handlers_.delivery(*m);
  } catch (...) {
    try {
      logger("bus.kafka")->error("delivery report handler failed");
    } catch (...) {
    }
  }
}

void KafkaClient::on_rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                               rd_kafka_topic_partition_list_t* parts, void* opaque) {
  try {
    static_cast<KafkaClient*>(opaque)->handlers_.rebalance(err, parts);
  } catch (...) {
    // The owner's handler catches what the listener throws; this is the last resort, and the
    // assignment must still change or librdkafka's group state machine stalls.
    try {
      logger("bus.kafka")->error("rebalance handler failed");
    } catch (...) {
    }
    if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
      if (std::strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0) {
        if (rd_kafka_error_t* e = rd_kafka_incremental_unassign(rk, parts))
          rd_kafka_error_destroy(e);
      } else {
        rd_kafka_assign(rk, nullptr);
      }
    }
  }
}

void KafkaClient::on_commit(rd_kafka_t* /*rk*/, rd_kafka_resp_err_t err,
                            rd_kafka_topic_partition_list_t* offsets, void* opaque) {
  try {
    static_cast<KafkaClient*>(opaque)->handlers_.offset_commit(err, offsets);
  } catch (...) {
  }
}

}  // namespace flowcast::bus
