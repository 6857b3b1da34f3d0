#include "bus/kafka_admin.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "bus/kafka_status.h"
#include "core/log.h"
#include "core/time_util.h"

namespace flowcast::bus {
namespace {

std::string seconds(int64_t ms) {
  return ms % 1000 == 0 ? std::to_string(ms / 1000) + " s" : std::to_string(ms) + " ms";
}

}  // namespace

KafkaAdmin::KafkaAdmin(const KafkaOptions& options)
    : options_(options), url_("kafka://" + options.bootstrap) {}

Result<std::shared_ptr<KafkaAdmin>> KafkaAdmin::connect(const KafkaOptions& options) {
  std::shared_ptr<KafkaAdmin> admin(new KafkaAdmin(options));
  FC_ASSIGN_OR_RETURN(admin->client_, KafkaClient::create(options, KafkaRole::kAdmin, "admin"));
  rd_kafka_t* rk = admin->client_->get();
  const rd_kafka_metadata_t* raw = nullptr;
  rd_kafka_resp_err_t err =
      rd_kafka_metadata(rk, 0, nullptr, &raw, int(options.connect_timeout_ms));
  KafkaHandle<const rd_kafka_metadata_t> md(raw);
  rd_kafka_poll(rk, 0);  // serve the error events of the attempts, for last_error()
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR || !md || md->broker_cnt == 0) {
    std::string last = admin->client_->last_error();
    return Status::unavailable(
        "no Kafka broker of " + admin->url_ + " answered within " +
        seconds(options.connect_timeout_ms) +
        " (last error: " + (last.empty() ? rd_kafka_err2str(err) : last) +
        "); check the bus URL, that the brokers are up, and the kafka: security "
        "settings (security.protocol, sasl.*, ssl.*)");
  }
  admin->brokers_ = md->broker_cnt;
  // librdkafka's mock cluster names a controller (id 0) that is not one of its brokers.
  const int32_t controller = rd_kafka_controllerid(rk, 0);
  for (int i = 0; i < md->broker_cnt; ++i)
    admin->has_controller_ |= md->brokers[i].id == controller;
  logger("bus.kafka")
      ->debug("{}: {} brokers{}", admin->url_, admin->brokers_,
              admin->has_controller_ ? "" : ", no controller reported");
  return admin;
}

TopicSettings KafkaAdmin::effective(const TopicSettings& s) const {
  TopicSettings e;
  e.partitions = s.partitions > 0 ? s.partitions : options_.partitions;
  e.replication_factor = s.replication_factor > 0          ? s.replication_factor
                         : options_.replication_factor > 0 ? options_.replication_factor
                                                           : int16_t(std::clamp(brokers_, 1, 3));
  e.min_insync_replicas = s.min_insync_replicas > 0 ? s.min_insync_replicas
                          : options_.min_insync_replicas > 0
                              ? options_.min_insync_replicas
                              : std::max(1, int32_t(e.replication_factor) - 1);
  return e;
}

Result<std::optional<KafkaAdmin::TopicInfo>> KafkaAdmin::find_topic(const std::string& topic,
                                                                    int64_t timeout_ms) {
  rd_kafka_t* rk = client_->get();
  rd_kafka_poll(rk, 0);  // drain error events: nobody else polls this handle
  const rd_kafka_metadata_t* raw = nullptr;
  rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 1, nullptr, &raw, int(timeout_ms));
  KafkaHandle<const rd_kafka_metadata_t> md(raw);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return kafka_status(err, url_ + ": metadata");
  for (int i = 0; i < md->topic_cnt; ++i) {
    const rd_kafka_metadata_topic_t& t = md->topics[i];
    if (topic != t.topic) continue;
    if (t.err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) return std::optional<TopicInfo>();
    TopicInfo info;
    info.partitions = t.partition_cnt;
    info.replication_factor = t.partition_cnt > 0 ? int16_t(t.partitions[0].replica_cnt) : 0;
    info.leaders_known = t.err == RD_KAFKA_RESP_ERR_NO_ERROR && t.partition_cnt > 0;
    for (int p = 0; p < t.partition_cnt; ++p) info.leaders_known &= t.partitions[p].leader >= 0;
    return std::optional<TopicInfo>(info);
  }
  return std::optional<TopicInfo>();
}

Status KafkaAdmin::create_topic(const std::string& topic, const TopicSettings& s) {
  if (options_.create_topic) return options_.create_topic(topic, s);
  rd_kafka_t* rk = client_->get();
  char err[512];
  KafkaHandle<rd_kafka_NewTopic_t> nt(
      rd_kafka_NewTopic_new(topic.c_str(), s.partitions, s.replication_factor, err, sizeof err));
  if (!nt) return Status::invalid("creating topic " + topic + " on " + url_ + ": " + err);
  rd_kafka_resp_err_t e = rd_kafka_NewTopic_set_config(
      nt.get(), "min.insync.replicas", std::to_string(s.min_insync_replicas).c_str());
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR) return kafka_status(e, "creating topic " + topic);
  KafkaHandle<rd_kafka_AdminOptions_t> ao(
      rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS));
  rd_kafka_AdminOptions_set_request_timeout(ao.get(), int(options_.admin_timeout_ms), err,
                                            sizeof err);
  // The broker answers once the topic exists on the controller, not before.
  rd_kafka_AdminOptions_set_operation_timeout(ao.get(), int(options_.admin_timeout_ms), err,
                                              sizeof err);
  KafkaHandle<rd_kafka_queue_t> q(rd_kafka_queue_new(rk));
  rd_kafka_NewTopic_t* topics[] = {nt.get()};
  rd_kafka_CreateTopics(rk, topics, 1, ao.get(), q.get());
  KafkaHandle<rd_kafka_event_t> ev(
      rd_kafka_queue_poll(q.get(), int(options_.admin_timeout_ms) + 5000));
  const std::string what = "creating topic " + topic + " on " + url_;
  if (!ev)
    return Status::timeout(what + ": no answer within " + seconds(options_.admin_timeout_ms));
  if (rd_kafka_event_error(ev.get()) != RD_KAFKA_RESP_ERR_NO_ERROR)
    return kafka_status(rd_kafka_event_error(ev.get()), what,
                        rd_kafka_event_error_string(ev.get()));
  const rd_kafka_CreateTopics_result_t* res = rd_kafka_event_CreateTopics_result(ev.get());
  if (res == nullptr)
    return Status::internal(what + ": unexpected answer " + rd_kafka_event_name(ev.get()));
  size_t n = 0;
  const rd_kafka_topic_result_t** results = rd_kafka_CreateTopics_result_topics(res, &n);
  for (size_t i = 0; i < n; ++i) {
    rd_kafka_resp_err_t te = rd_kafka_topic_result_error(results[i]);
    if (te == RD_KAFKA_RESP_ERR_NO_ERROR) continue;
    const char* detail = rd_kafka_topic_result_error_string(results[i]);
    Status st = kafka_status(te, what, detail ? detail : "");
    if (te == RD_KAFKA_RESP_ERR_INVALID_REPLICATION_FACTOR)
      st =
          st.with_context("set kafka.flowcast.replication_factor to at most the number of brokers");
    return st;
  }
  return Status();
}

std::optional<int32_t> KafkaAdmin::min_insync_replicas(const std::string& topic) {
  if (!has_controller_ || options_.create_topic) return std::nullopt;
  rd_kafka_t* rk = client_->get();
  char err[512];
  const int timeout = int(std::min<int64_t>(options_.admin_timeout_ms, 10000));
  KafkaHandle<rd_kafka_ConfigResource_t> res(
      rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic.c_str()));
  KafkaHandle<rd_kafka_AdminOptions_t> ao(
      rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS));
  rd_kafka_AdminOptions_set_request_timeout(ao.get(), timeout, err, sizeof err);
  KafkaHandle<rd_kafka_queue_t> q(rd_kafka_queue_new(rk));
  rd_kafka_ConfigResource_t* resources[] = {res.get()};
  rd_kafka_DescribeConfigs(rk, resources, 1, ao.get(), q.get());
  KafkaHandle<rd_kafka_event_t> ev(rd_kafka_queue_poll(q.get(), timeout + 5000));
  if (!ev || rd_kafka_event_error(ev.get()) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    // Not worth a wait per topic: the comparison is informational.
    logger("bus.kafka")
        ->info(
            "{}: cannot read topic configurations ({}); min.insync.replicas of "
            "existing topics is not compared",
            url_, ev ? rd_kafka_event_error_string(ev.get()) : "no answer");
    has_controller_ = false;
    return std::nullopt;
  }
  const rd_kafka_DescribeConfigs_result_t* described =
      rd_kafka_event_DescribeConfigs_result(ev.get());
  if (described == nullptr) return std::nullopt;
  size_t n = 0;
  const rd_kafka_ConfigResource_t** rs = rd_kafka_DescribeConfigs_result_resources(described, &n);
  for (size_t i = 0; i < n; ++i) {
    size_t m = 0;
    const rd_kafka_ConfigEntry_t** entries = rd_kafka_ConfigResource_configs(rs[i], &m);
    for (size_t j = 0; j < m; ++j) {
      const char* name = rd_kafka_ConfigEntry_name(entries[j]);
      const char* value = rd_kafka_ConfigEntry_value(entries[j]);
      if (name && value && std::strcmp(name, "min.insync.replicas") == 0) return std::atoi(value);
    }
  }
  return std::nullopt;
}

void KafkaAdmin::report_difference(const std::string& topic, const TopicInfo& info,
                                   const TopicSettings& want) {
  std::vector<std::string> have, would;
  if (info.partitions != want.partitions) {
    have.push_back(std::to_string(info.partitions) + " partitions");
    would.push_back(std::to_string(want.partitions) + " partitions");
  }
  if (info.replication_factor != want.replication_factor) {
    have.push_back("replication factor " + std::to_string(info.replication_factor));
    would.push_back("replication factor " + std::to_string(want.replication_factor));
  }
  if (auto isr = min_insync_replicas(topic); isr && *isr != want.min_insync_replicas) {
    have.push_back("min.insync.replicas " + std::to_string(*isr));
    would.push_back("min.insync.replicas " + std::to_string(want.min_insync_replicas));
  }
  if (have.empty()) return;
  auto list = [](const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
    return s;
  };
  logger("bus.kafka")
      ->warn("topic {} on {} exists with {}; flowcast is configured for {}; it is left as it is",
             topic, url_, list(have), list(would));
}

Status KafkaAdmin::ensure_topic(const std::string& topic, const TopicSettings& settings) {
  std::lock_guard lock(mu_);
  return ensure_locked(topic, settings, true);
}

Status KafkaAdmin::ensure_exists(const std::string& topic) {
  std::lock_guard lock(mu_);
  if (existing_.count(topic)) return Status();
  return ensure_locked(topic, TopicSettings{}, false);
}

Status KafkaAdmin::ensure_locked(const std::string& topic, const TopicSettings& settings,
                                 bool compare) {
  if (topic.empty()) return Status::invalid("ensure_topic: empty topic name");
  const TopicSettings want = effective(settings);
  const std::string key = topic + " " + std::to_string(want.partitions) + "/" +
                          std::to_string(want.replication_factor) + "/" +
                          std::to_string(want.min_insync_replicas);
  if (known_.count(key)) return Status();
  FC_ASSIGN_OR_RETURN(auto info, find_topic(topic, options_.admin_timeout_ms));
  if (info) {
    if (compare) {
      report_difference(topic, *info, want);
      known_.insert(key);
    }
    existing_.insert(topic);
    return Status();
  }
  Status created = create_topic(topic, want);
  if (!created.ok() && created.code() != StatusCode::kAlreadyExists) return created;
  // Wait until the metadata shows the topic with a leader for every partition: producing or
  // subscribing earlier would only make librdkafka wait or retry.
  const int64_t deadline = mono_nanos() + options_.admin_timeout_ms * 1000000;
  for (;;) {
    FC_ASSIGN_OR_RETURN(info, find_topic(topic, options_.admin_timeout_ms));
    if (info && info->leaders_known) break;
    if (mono_nanos() > deadline)
      return Status::timeout("topic " + topic + " on " + url_ +
                             " has no leader for every partition " + "after " +
                             seconds(options_.admin_timeout_ms));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (created.ok()) {
    logger("bus.kafka")
        ->info(
            "created topic {} on {}: {} partitions, replication factor {}, min.insync.replicas {}",
            topic, url_, want.partitions, want.replication_factor, want.min_insync_replicas);
    known_.insert(key);
  } else if (compare) {
    report_difference(topic, *info, want);  // another process created it first
    known_.insert(key);
  }
  existing_.insert(topic);
  return Status();
}

Result<int32_t> KafkaAdmin::partition_count(const std::string& topic) {
  FC_ASSIGN_OR_RETURN(auto info, find_topic(topic, options_.admin_timeout_ms));
  if (!info) return Status::not_found("topic " + topic + " does not exist on " + url_);
  return info->partitions;
}

}  // namespace flowcast::bus
