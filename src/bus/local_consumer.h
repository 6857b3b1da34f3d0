// LocalConsumer: the one member of a local consumer group (see LocalGroup).
//
// subscribe() assigns every partition of the topics (creating missing topics with the default
// partition count). Each partition starts at the group's committed offset, else at 0. The next
// poll() first calls the listener's on_revoked with the previous assignment (only when subscribe()
// replaced one), then on_assigned with the new one (it may seek()), then reads. on_revoked is not
// called when the consumer is destroyed.
//
// poll() collects up to max_messages across partitions fairly: each pass gives every partition
// an equal share, starting with a different partition on every poll, and passes repeat while
// partitions still have records. With nothing to read it waits for in-process writers (condition
// variable) and re-checks the files every 5 ms for writes of other processes.
//
// A damaged record makes poll() return corruption (after the records before it were returned);
// the consumer stays at the damaged record. seek() past it to skip it deliberately.
//
// Thread-safety: one thread at a time, as bus.h says.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bus/bus.h"
#include "bus/local_group.h"
#include "bus/local_partition_reader.h"

namespace flowcast::bus {

class LocalLog;

class LocalConsumer : public Consumer {
 public:
  // How often a waiting poll re-reads the files for other processes' writes (in-process writes
  // wake it at once): every kFastRecheckMillis while such re-reads keep finding records, backing
  // off by 1 ms per empty re-read to kRecheckMillis when none come.
  static constexpr int64_t kRecheckMillis = 5;
  static constexpr int64_t kFastRecheckMillis = 1;

  LocalConsumer(std::shared_ptr<LocalLog> log, LocalGroup group);

  Status subscribe(const std::vector<std::string>& topics, RebalanceListener listener) override;
  Status poll(MessageBatch& out, size_t max_messages, int64_t timeout_ms) override;
  Status seek(const TopicPartition& tp, int64_t offset) override;
  Status commit(const std::vector<PartitionOffset>& offsets) override;
  std::vector<TopicPartition> assignment() const override;
  std::vector<PartitionLag> lag() override;

 private:
  Result<size_t> read_available(MessageBatch& out, size_t max_messages);
  LocalPartitionReader* reader(const TopicPartition& tp);

  std::shared_ptr<LocalLog> log_;
  LocalGroup group_;
  RebalanceListener listener_;
  std::vector<TopicPartition> assignment_;
  std::vector<std::unique_ptr<LocalPartitionReader>> readers_;  // parallel to assignment_
  std::vector<TopicPartition> pending_revoked_;
  bool pending_assigned_ = false;
  int64_t recheck_ms_ = kRecheckMillis;
  size_t next_first_ = 0;  // partition that goes first in the next poll
};

}  // namespace flowcast::bus
