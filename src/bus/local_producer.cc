#include "bus/local_producer.h"

#include <vector>

#include "bus/local_format.h"
#include "bus/local_log.h"
#include "core/time_util.h"

namespace flowcast::bus {

LocalProducer::LocalProducer(std::shared_ptr<LocalLog> log) : log_(std::move(log)) {}

Status LocalProducer::produce(const std::string& topic, std::span<const OutMessage> messages) {
  if (messages.empty()) return Status();
  FC_ASSIGN_OR_RETURN(int32_t partitions, log_->ensure_topic(topic, 0));
  if (messages.size() > UINT32_MAX) return Status::invalid("produce: batch too large");

  // Partition of every message, then the message indexes grouped by partition (a counting sort
  // keeps each partition's messages in batch order).
  std::vector<int32_t> part(messages.size());
  std::vector<uint32_t> count(static_cast<size_t>(partitions) + 1, 0);
  for (size_t i = 0; i < messages.size(); ++i) {
    const OutMessage& m = messages[i];
    if (m.key.size() + m.value.size() + kFrameBodyFixedSize > kMaxFrameBodySize) {
      return Status::invalid("produce to " + topic + ": a record of " +
                             std::to_string(m.key.size() + m.value.size()) +
                             " bytes exceeds the local bus limit of " +
                             std::to_string(kMaxFrameBodySize - kFrameBodyFixedSize));
    }
    int32_t p = m.partition;
    if (p == -1) {
      p = partition_for_key(m.key, partitions);
    } else if (p < 0 || p >= partitions) {
      return Status::invalid("produce to " + topic + ": partition " + std::to_string(p) +
                             " does not exist (the topic has " + std::to_string(partitions) + ")");
    }
    part[i] = p;
    ++count[static_cast<size_t>(p) + 1];
  }
  for (size_t p = 1; p < count.size(); ++p) count[p] += count[p - 1];
  std::vector<uint32_t> order(messages.size());
  {
    std::vector<uint32_t> next(count.begin(), count.end() - 1);
    for (size_t i = 0; i < messages.size(); ++i) {
      order[next[static_cast<size_t>(part[i])]++] = static_cast<uint32_t>(i);
    }
  }

  const int64_t now = now_millis();
  Status result;
  bool wrote = false;
  for (int32_t p = 0; p < partitions && result.ok(); ++p) {
    size_t begin = count[static_cast<size_t>(p)], end = count[static_cast<size_t>(p) + 1];
    if (begin == end) continue;
    auto writer = log_->writer(topic, p);
    if (!writer.ok()) {
      result = writer.status();
      break;
    }
    result = (*writer)->append(messages, std::span(order).subspan(begin, end - begin), now);
    if (result.ok()) wrote = true;
  }
  // Wake consumers for what was written, even when a later partition failed.
  if (wrote) log_->notify_written();
  return result;
}

Status LocalProducer::flush(int64_t /*timeout_ms*/) { return Status(); }

}  // namespace flowcast::bus
