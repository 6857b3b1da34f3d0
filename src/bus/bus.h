// flowcast::bus: the message bus interface every backend implements (local:PATH, kafka://...).
//
// Model: named topics split into partitions; a message has a key, a value (JSON bytes for flowcast
// topics), a timestamp, and an offset that grows by one per message within its partition.
// Records are partitioned by key hash with Kafka's murmur2, so every backend and every Kafka
// client put a key in the same partition. Consumers belong to a group and read each assigned
// partition in offset order; the group's committed offset is where a restarted member resumes
// unless the stage seeks elsewhere (stages seek to the offsets stored in the store).
//
// Thread-safety: a Bus is thread-safe. A Producer may be used from several threads. A Consumer
// is used by one thread at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bus/message_batch.h"
#include "core/status.h"

namespace flowcast::bus {

struct TopicPartition {
  std::string topic;
  int32_t partition = 0;
  bool operator==(const TopicPartition&) const = default;
  auto operator<=>(const TopicPartition&) const = default;
};

// Offset to read next in a partition (the offset of the last consumed message plus one).
struct PartitionOffset {
  TopicPartition tp;
  int64_t offset = 0;
  bool operator==(const PartitionOffset&) const = default;
};

struct PartitionLag {
  TopicPartition tp;
  int64_t position = 0;    // next offset this consumer will read
  int64_t end_offset = 0;  // offset the next produced message will get
  int64_t lag() const { return end_offset > position ? end_offset - position : 0; }
};

// A message to write. The views must stay valid for the duration of produce().
struct OutMessage {
  std::string_view key;
  std::string_view value;
  int64_t timestamp_ms = 0;  // 0: the time of produce()
  int32_t partition = -1;    // -1: partition_for_key(key)
};

struct TopicSettings {
  int32_t partitions = 0;           // 0: the backend's default
  int16_t replication_factor = 0;   // 0: the backend's default (ignored by local)
  int32_t min_insync_replicas = 0;  // 0: the backend's default (ignored by local)
};

class Producer {
 public:
  virtual ~Producer() = default;
  // Appends `messages` to `topic` (created with default settings if missing). Blocks while the
  // backend's queue is full; never drops. Returns once the backend has accepted every message.
  virtual Status produce(const std::string& topic, std::span<const OutMessage> messages) = 0;
  // Waits until everything produced so far through this producer is durable on the bus
  // (local: written to the segment files and fsynced per the fsync policy; Kafka: acknowledged).
  virtual Status flush(int64_t timeout_ms) = 0;
};

// Called on the polling thread, inside poll(), before messages of newly assigned partitions are
// returned (on_assigned) or after the last messages of revoked partitions were returned
// (on_revoked). on_assigned may call Consumer::seek() for the partitions it is given.
struct RebalanceListener {
  std::function<void(const std::vector<TopicPartition>&)> on_assigned;
  std::function<void(const std::vector<TopicPartition>&)> on_revoked;
};

class Consumer {
 public:
  virtual ~Consumer() = default;
  // Joins the group for `topics` (missing topics are created with default settings).
  virtual Status subscribe(const std::vector<std::string>& topics, RebalanceListener listener) = 0;
  // Clears `out`, then fills it with up to `max_messages`, waiting at most `timeout_ms` for the
  // first. An empty batch after the timeout is not an error.
  virtual Status poll(MessageBatch& out, size_t max_messages, int64_t timeout_ms) = 0;
  // The next poll returns messages of `tp` from `offset` on. REQUIRES: tp is assigned.
  virtual Status seek(const TopicPartition& tp, int64_t offset) = 0;
  // Stores the group's offsets (next offset to read per partition).
  virtual Status commit(const std::vector<PartitionOffset>& offsets) = 0;
  // The partitions assigned to this member now.
  virtual std::vector<TopicPartition> assignment() const = 0;
  // Position and end offset of every assigned partition. Cheap enough to call every second.
  virtual std::vector<PartitionLag> lag() = 0;
};

class Bus {
 public:
  virtual ~Bus() = default;
  // Creates `topic` if missing. An existing topic is left as it is.
  virtual Status ensure_topic(const std::string& topic, const TopicSettings& settings) = 0;
  virtual Result<int32_t> partition_count(const std::string& topic) = 0;
  virtual Result<std::unique_ptr<Producer>> producer() = 0;
  // A member of `group`. Backends may refuse a second member where they cannot share partitions.
  virtual Result<std::unique_ptr<Consumer>> consumer(const std::string& group) = 0;
  // "local:/abs/path" or "kafka://host:port,...": safe to log (no secrets).
  virtual std::string describe() const = 0;
};

// Kafka's default partitioner (murmur2 of the key, positive, modulo the partition count), so keys
// land in the same partition as with the Java client. REQUIRES: partitions > 0.
int32_t partition_for_key(std::string_view key, int32_t partitions);
uint32_t murmur2(const void* data, size_t size);

}  // namespace flowcast::bus
