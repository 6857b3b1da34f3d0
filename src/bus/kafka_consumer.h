// KafkaConsumer: a member of a Kafka consumer group (one librdkafka consumer handle).
//
// subscribe() creates missing topics (KafkaAdmin::ensure_topic) and joins the group; partitions
// are shared among the group's members by the configured assignor (cooperative-sticky by
// default: a rebalance moves only the partitions that must move).
//
// Rebalances are handled inside poll(), on the polling thread, in this order:
//   assigned: on_assigned(new partitions) is called first; seek() on those partitions records
//     the offset, and the partitions are then added to the assignment starting there (or, without
//     a seek, at the group's committed offset, else auto.offset.reset=earliest). No message of a
//     partition is returned before its on_assigned.
//   revoked: on_revoked(partitions) is called while they are still assigned, so the stage can
//     finish and commit its batch; then they are given up. Messages of those partitions that
//     the current poll had fetched but not yet returned are dropped (the next owner reads them
//     from the committed offset). Partitions lost without a clean handover (session timeout) get
//     on_revoked too; by then another member may already own them.
//   Closing (the destructor) gives up the partitions without calling the listener, as the local
//   backend does.
// An exception thrown by a listener is caught inside librdkafka's callback, the assignment change
// is completed, and the exception is rethrown from poll() on the same thread.
//
// poll() returns up to max_messages: it waits up to timeout_ms for the first and then takes what
// has already been fetched. librdkafka prefetches in the background, bounded by
// queued.min.messages and queued.max.messages.kbytes: a stage that falls behind stops the
// fetching instead of buffering without bound. With nothing to return and a broker error reported
// meanwhile (broker down, all brokers down), poll() returns that error as unavailable
// (transient): stages show it in their status and poll again; librdkafka keeps reconnecting.
//
// commit() commits to Kafka asynchronously (the store holds the truth; this copy is for lag
// tools and for a member without stored offsets). Failures are logged. Pending commits are sent
// before the consumer leaves its group on destruction.
//
// lag(): end offsets from the partition leaders (one ListOffsets round per call, 2 s bound, the
// fetcher's cached high watermarks when that fails), positions from what poll() returned or
// seek() set, else the committed offset. It first waits up to 250 ms for the deliveries of this
// bus's producers, so what this process produced before the call is counted.
//
// Thread-safety: one thread at a time (bus.h).
#pragma once

#include <exception>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bus/bus.h"
#include "bus/kafka_admin.h"
#include "bus/kafka_client.h"
#include "bus/kafka_produce_tracker.h"

namespace flowcast::bus {

class KafkaConsumer : public Consumer {
 public:
  static Result<std::unique_ptr<KafkaConsumer>> create(std::shared_ptr<KafkaAdmin> admin,
                                                       std::shared_ptr<KafkaProduceTracker> tracker,
                                                       const std::string& group);
  ~KafkaConsumer() override;

  Status subscribe(const std::vector<std::string>& topics, RebalanceListener listener) override;
  Status poll(MessageBatch& out, size_t max_messages, int64_t timeout_ms) override;
  Status seek(const TopicPartition& tp, int64_t offset) override;
  Status commit(const std::vector<PartitionOffset>& offsets) override;
  std::vector<TopicPartition> assignment() const override;
  std::vector<PartitionLag> lag() override;

 private:
  KafkaConsumer(std::shared_ptr<KafkaAdmin> admin, std::shared_ptr<KafkaProduceTracker> tracker,
                std::string group);
  void on_rebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts);
  void on_commit(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* offsets);
  void assign(rd_kafka_topic_partition_list_t* parts, bool cooperative);
  void revoke(rd_kafka_topic_partition_list_t* parts, bool cooperative);
  bool announcing(const TopicPartition& tp) const;

  std::shared_ptr<KafkaAdmin> admin_;
  std::shared_ptr<KafkaProduceTracker> tracker_;
  std::string group_;
  std::unique_ptr<KafkaClient> client_;
  RebalanceListener listener_;
  std::vector<TopicPartition> assignment_;       // sorted
  std::map<TopicPartition, int64_t> positions_;  // next offset poll() returns; -1: not known yet
  std::vector<TopicPartition> announcing_;       // inside on_assigned: these may be seek()ed
  std::map<TopicPartition, int64_t> pending_seeks_;
  std::vector<KafkaHandle<rd_kafka_message_t>> held_;  // fetched in this poll, not yet returned
  std::exception_ptr listener_error_;
  Status rebalance_error_;
  bool closing_ = false;
};

}  // namespace flowcast::bus
