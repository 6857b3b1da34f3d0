#include "bus/kafka_producer.h"

#include <algorithm>
#include <chrono>

#include "bus/kafka_status.h"
#include "core/log.h"
#include "core/time_util.h"

namespace flowcast::bus {

KafkaProducer::KafkaProducer(std::shared_ptr<KafkaAdmin> admin,
                             std::shared_ptr<KafkaProduceTracker> tracker)
    : admin_(std::move(admin)), tracker_(std::move(tracker)) {}

Result<std::unique_ptr<KafkaProducer>> KafkaProducer::create(
    std::shared_ptr<KafkaAdmin> admin, std::shared_ptr<KafkaProduceTracker> tracker) {
  std::unique_ptr<KafkaProducer> p(new KafkaProducer(std::move(admin), std::move(tracker)));
  KafkaProducer* self = p.get();
  KafkaClient::Handlers handlers;
  handlers.delivery = [self](const rd_kafka_message_t& m) { self->on_delivery(m); };
  FC_ASSIGN_OR_RETURN(p->client_, KafkaClient::create(self->admin_->options(), KafkaRole::kProducer,
                                                      "producer", "", std::move(handlers)));
  p->poller_ = std::thread([self] {
    rd_kafka_t* rk = self->client_->get();
    try {
      while (!self->stop_.load()) {
        {
          std::unique_lock lock(self->poll_mu_);
          self->poll_cv_.wait(lock, [&] { return self->flushing_ == 0 || self->stop_.load(); });
        }
        if (self->stop_.load()) break;
        rd_kafka_poll(rk, 100);  // rd_kafka_flush() interrupts this wait (rd_kafka_yield)
      }
    } catch (...) {
      // Nothing here throws in practice (the callbacks catch their own); never let it escape.
      try {
        logger("bus.kafka")->error("{}: delivery report thread stopped", self->client_->name());
      } catch (...) {
      }
    }
  });
  return p;
}

KafkaProducer::~KafkaProducer() {
  if (!client_) return;
  rd_kafka_t* rk = client_->get();
  if (enqueued_.load() > completed_.load())
    rd_kafka_flush(rk, int(admin_->options().close_timeout_ms));
  {
    std::lock_guard lock(poll_mu_);
    stop_ = true;
  }
  poll_cv_.notify_all();
  if (poller_.joinable()) poller_.join();
  rd_kafka_poll(rk, 0);
  if (int64_t left = enqueued_.load() - completed_.load(); left > 0) {
    logger("bus.kafka")
        ->warn("{}: closed with {} messages not acknowledged (broker unreachable?)",
               client_->name(), left);
  }
  topics_.clear();  // topic handles before the handle they belong to
  client_.reset();
}

void KafkaProducer::on_delivery(const rd_kafka_message_t& m) {
  if (m.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    failed_total_.fetch_add(1);
    if (failed_.fetch_add(1) == 0) {
      const char* topic = m.rkt ? rd_kafka_topic_name(m.rkt) : "?";
      std::string what =
          std::string("delivery to ") + topic + "/" + std::to_string(m.partition) + " failed";
      Status s = kafka_status(m.err, what);
      {
        std::lock_guard lock(failure_mu_);
        first_failure_ = s.message();
      }
      logger("bus.kafka")->error("{}: {}", client_->name(), s.message());
    }
  }
  completed_.fetch_add(1);
  tracker_->completed(1);
}

Status KafkaProducer::pending_failure() {
  int64_t n = failed_.load();
  if (n == 0) return Status();
  std::lock_guard lock(failure_mu_);
  return Status::internal(std::to_string(n) + " message(s) produced through " + client_->name() +
                          " could not be delivered; first: " + first_failure_);
}

Result<rd_kafka_topic_t*> KafkaProducer::topic_handle(const std::string& topic) {
  std::lock_guard lock(topics_mu_);
  auto it = topics_.find(topic);
  if (it != topics_.end()) return it->second.get();
  FC_RETURN_IF_ERROR(admin_->ensure_exists(topic));
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(client_->get(), topic.c_str(), nullptr);
  if (rkt == nullptr)
    return kafka_status(rd_kafka_last_error(), "producing to " + topic + " on " + admin_->url());
  topics_.emplace(topic, KafkaHandle<rd_kafka_topic_t>(rkt));
  return rkt;
}

Status KafkaProducer::produce(const std::string& topic, std::span<const OutMessage> messages) {
  if (messages.empty()) return Status();
  FC_RETURN_IF_ERROR(pending_failure());
  if (std::string f = client_->fatal_error(); !f.empty())
    return Status::internal(client_->name() + " cannot produce any more: " + f);
  FC_ASSIGN_OR_RETURN(rd_kafka_topic_t * rkt, topic_handle(topic));
  rd_kafka_t* rk = client_->get();
  for (const OutMessage& m : messages) {
    if (m.partition < -1)
      return Status::invalid("produce to " + topic + ": partition " + std::to_string(m.partition));
    const int32_t partition = m.partition == -1 ? RD_KAFKA_PARTITION_UA : m.partition;
    // Non-null pointers even when empty: a null key would be spread at random, not hashed, and a
    // null value is a tombstone.
    const char* key = m.key.data() ? m.key.data() : "";
    const char* value = m.value.data() ? m.value.data() : "";
    for (;;) {
      enqueued_.fetch_add(1);
      tracker_->enqueued(1);
      rd_kafka_resp_err_t err =
          rd_kafka_producev(rk, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_PARTITION(partition),
                            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                            RD_KAFKA_V_KEY(const_cast<char*>(key), m.key.size()),
                            RD_KAFKA_V_VALUE(const_cast<char*>(value), m.value.size()),
                            RD_KAFKA_V_TIMESTAMP(m.timestamp_ms), RD_KAFKA_V_END);
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR) break;
      completed_.fetch_add(1);  // not enqueued after all
      tracker_->completed(1);
      if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        return kafka_status(err, "produce to " + topic + "/" + std::to_string(m.partition) +
                                     " on " + admin_->url());
      }
      // Backpressure: wait for deliveries to make room; never drop.
      rd_kafka_poll(rk, 100);
      if (std::string f = client_->fatal_error(); !f.empty())
        return Status::internal(client_->name() + " cannot produce any more: " + f);
    }
  }
  return Status();
}

Status KafkaProducer::flush(int64_t timeout_ms) {
  const int64_t target = enqueued_.load();
  const int64_t deadline = mono_nanos() + std::max<int64_t>(timeout_ms, 0) * 1000000;
  rd_kafka_t* rk = client_->get();
  {
    std::lock_guard lock(poll_mu_);
    ++flushing_;
  }
  struct Resume {
    KafkaProducer* self;
    ~Resume() {
      {
        std::lock_guard lock(self->poll_mu_);
        --self->flushing_;
      }
      self->poll_cv_.notify_all();
    }
  } resume{this};
  while (completed_.load() < target) {
    const int64_t left_ms = (deadline - mono_nanos()) / 1000000;
    if (left_ms <= 0) {
      std::string last = client_->last_error();
      return Status::timeout(std::to_string(target - completed_.load()) +
                             " message(s) not yet acknowledged by " + admin_->url() + " after " +
                             std::to_string(timeout_ms) + " ms" +
                             (last.empty() ? "" : " (last broker error: " + last + ")"));
    }
    // rd_kafka_flush also sends what linger.ms still holds back and serves delivery reports.
    rd_kafka_flush(rk, int(std::min<int64_t>(left_ms, 100)));
  }
  if (int64_t n = failed_.exchange(0); n > 0) {
    std::lock_guard lock(failure_mu_);
    return Status::internal(std::to_string(n) + " message(s) produced through " + client_->name() +
                            " could not be delivered; first: " + first_failure_);
  }
  return Status();
}

}  // namespace flowcast::bus
