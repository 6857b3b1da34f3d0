// KafkaProducer: Producer of the Kafka bus, one librdkafka producer handle per object.
//
// produce() creates a missing topic (KafkaAdmin::ensure_topic with the configured defaults) on
// first use, then hands each message to librdkafka in order. Partition -1 lets librdkafka's
// murmur2_random partitioner choose, which is bus::partition_for_key (an empty key is hashed, not
// spread at random). When librdkafka's queue is full (queue.buffering.max.*), produce() waits
// and retries: it blocks, it never drops. It returns once librdkafka holds every message.
//
// Delivery: a background thread serves delivery reports (rd_kafka_poll every 100 ms or sooner),
// except while a flush() serves them itself (two threads polling one handle would make flush wait
// for reports the other thread took).
// A message is retried by librdkafka until it is acknowledged (message.timeout.ms=0 by
// default: a broker outage stalls, it does not drop). A message that fails for good (too large,
// not authorised, a finite message.timeout.ms that expired, a fatal idempotence error) is counted;
// the next flush() returns an error (not transient) naming the count and the first failure, and so
// does every produce() until that flush: a failed delivery is never silently dropped.
//
// flush(timeout) waits until every message produced through this object before the call has its
// delivery report. Timeout: Status timeout with the number still waiting (transient: try again).
//
// Destruction: stops the poll thread, then waits up to close_timeout for what is still in flight
// (callers that need their messages delivered call flush() first).
//
// Thread-safety: produce() and flush() may be called from several threads.
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>

#include "bus/bus.h"
#include "bus/kafka_admin.h"
#include "bus/kafka_client.h"
#include "bus/kafka_produce_tracker.h"

namespace flowcast::bus {

class KafkaProducer : public Producer {
 public:
  static Result<std::unique_ptr<KafkaProducer>> create(
      std::shared_ptr<KafkaAdmin> admin, std::shared_ptr<KafkaProduceTracker> tracker);
  ~KafkaProducer() override;

  Status produce(const std::string& topic, std::span<const OutMessage> messages) override;
  Status flush(int64_t timeout_ms) override;

  // Messages whose delivery failed for good since this producer was made.
  int64_t failed_total() const { return failed_total_.load(); }

 private:
  KafkaProducer(std::shared_ptr<KafkaAdmin> admin, std::shared_ptr<KafkaProduceTracker> tracker);
  void on_delivery(const rd_kafka_message_t& m);
  Result<rd_kafka_topic_t*> topic_handle(const std::string& topic);
  Status pending_failure();

  std::shared_ptr<KafkaAdmin> admin_;
  std::shared_ptr<KafkaProduceTracker> tracker_;
  std::unique_ptr<KafkaClient> client_;
  std::mutex topics_mu_;
  std::map<std::string, KafkaHandle<rd_kafka_topic_t>> topics_;  // guarded by topics_mu_
  std::atomic<int64_t> enqueued_{0}, completed_{0};
  std::atomic<int64_t> failed_{0}, failed_total_{0};
  std::mutex failure_mu_;
  std::string first_failure_;  // guarded by failure_mu_; of the failures not yet reported
  std::mutex poll_mu_;
  std::condition_variable poll_cv_;
  int flushing_ = 0;  // guarded by poll_mu_: flush() calls in progress; the poller waits
  std::atomic<bool> stop_{false};
  std::thread poller_;
};

}  // namespace flowcast::bus
