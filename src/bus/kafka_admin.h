// KafkaAdmin: the cluster-level half of the Kafka bus: the start-up connection check, topic
// metadata and topic creation. One per KafkaBus, shared with its producers and consumers (which
// create their topics on first use), so it outlives the bus that made it.
//
// Topics are created with the Admin API (CreateTopics) with the requested partitions, replication
// factor and min.insync.replicas, else the configured defaults (KafkaOptions). A topic that
// exists is never altered: when its partition count, replication factor or min.insync.replicas
// differ from what flowcast would have created, a warning says so. A topic is checked once per
// KafkaAdmin and settings; later ensure_topic calls with the same settings return at once.
//
// Metadata is always requested for all topics: a request naming a missing topic makes brokers
// with auto.create.topics.enable (and librdkafka's mock cluster) create it with their defaults.
//
// Thread-safety: thread-safe; ensure_topic calls are serialised.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "bus/bus.h"
#include "bus/kafka_client.h"
#include "bus/kafka_options.h"

namespace flowcast::bus {

class KafkaAdmin {
 public:
  // Creates the admin handle and waits up to options.connect_timeout_ms for any bootstrap broker
  // to answer a metadata request. Fails with unavailable naming the bootstrap list and
  // librdkafka's last connection error.
  static Result<std::shared_ptr<KafkaAdmin>> connect(const KafkaOptions& options);

  Status ensure_topic(const std::string& topic, const TopicSettings& settings);
  // Creates `topic` with the configured defaults if it is missing; an existing topic is used as
  // it is, without comparing settings (producers and consumers on first use of a topic).
  Status ensure_exists(const std::string& topic);
  // not_found when the topic does not exist.
  Result<int32_t> partition_count(const std::string& topic);
  // Partitions, replication factor and min.insync.replicas used for `settings` (zeros replaced
  // by the configured defaults).
  TopicSettings effective(const TopicSettings& settings) const;

  const KafkaOptions& options() const { return options_; }
  // "kafka://host:port,...".
  const std::string& url() const { return url_; }

 private:
  struct TopicInfo {
    int32_t partitions = 0;
    int16_t replication_factor = 0;
    bool leaders_known = false;  // every partition has a leader
  };
  explicit KafkaAdmin(const KafkaOptions& options);
  // nullopt when the topic does not exist.
  Result<std::optional<TopicInfo>> find_topic(const std::string& topic, int64_t timeout_ms);
  Status create_topic(const std::string& topic, const TopicSettings& settings);
  // ensure_topic's work. REQUIRES: mu_ held.
  Status ensure_locked(const std::string& topic, const TopicSettings& settings, bool compare);
  // The topic's min.insync.replicas (DescribeConfigs), nullopt when the cluster cannot say.
  std::optional<int32_t> min_insync_replicas(const std::string& topic);
  void report_difference(const std::string& topic, const TopicInfo& info,
                         const TopicSettings& wanted);

  KafkaOptions options_;
  std::string url_;
  std::unique_ptr<KafkaClient> client_;
  int32_t brokers_ = 0;
  bool has_controller_ = false;     // guarded by mu_ after connect()
  std::mutex mu_;                   // serialises ensure_topic
  std::set<std::string> known_;     // guarded by mu_: "topic partitions/rf/isr" ensured
  std::set<std::string> existing_;  // guarded by mu_: topics seen to exist
};

}  // namespace flowcast::bus
