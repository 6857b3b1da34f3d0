// KafkaBus: the `kafka://host:port,...` bus backend, on librdkafka.
//
// open() parses the URL, creates the admin handle and waits up to `flowcast.connect_timeout`
// (10 s) for any broker to answer; unreachable brokers fail there with a Status naming the
// bootstrap list and librdkafka's last connection error. Brokers lost later are librdkafka's to
// reconnect to: producers stall (produce() blocks once the queue is full, flush() times out),
// consumers report the error from poll() and keep going; nothing exits.
//
// Each producer() and consumer() is its own librdkafka handle (its own connections and threads),
// so a stage's flush waits only for its own messages and each consumer is one group member.
// Consumers of one group share the partitions across threads and processes.
//
// Topics: see KafkaAdmin (created with the configured partitions, replication factor and
// min.insync.replicas; existing ones reported, never altered).
//
// Thread-safety: thread-safe. Lifetime: producers and consumers keep what they need (the admin
// handle) alive after the KafkaBus is destroyed.
#pragma once

#include <memory>
#include <string>

#include "bus/bus.h"
#include "bus/kafka_options.h"

namespace flowcast::bus {

class KafkaAdmin;
class KafkaProduceTracker;

class KafkaBus : public Bus {
 public:
  // `url`: "kafka://host:port,host:port" (or the bare list). options.bootstrap is replaced by
  // the URL's list. Returns invalid for a malformed URL, unavailable when no broker answers.
  static Result<std::unique_ptr<KafkaBus>> open(const std::string& url, KafkaOptions options = {});
  // "kafka://a:1,b:2" -> "a:1,b:2"; invalid when empty or when it holds credentials or a path.
  static Result<std::string> parse_url(const std::string& url);
  ~KafkaBus() override;
  KafkaBus(const KafkaBus&) = delete;
  KafkaBus& operator=(const KafkaBus&) = delete;

  Status ensure_topic(const std::string& topic, const TopicSettings& settings) override;
  // not_found when the topic does not exist.
  Result<int32_t> partition_count(const std::string& topic) override;
  Result<std::unique_ptr<Producer>> producer() override;
  Result<std::unique_ptr<Consumer>> consumer(const std::string& group) override;
  std::string describe() const override;

  const KafkaOptions& options() const;

 private:
  KafkaBus(std::shared_ptr<KafkaAdmin> admin, std::shared_ptr<KafkaProduceTracker> tracker);
  std::shared_ptr<KafkaAdmin> admin_;
  std::shared_ptr<KafkaProduceTracker> tracker_;
};

}  // namespace flowcast::bus
