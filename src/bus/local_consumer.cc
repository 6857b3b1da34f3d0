#include "bus/local_consumer.h"

#include <algorithm>
#include <chrono>

#include "bus/local_log.h"

namespace flowcast::bus {

LocalConsumer::LocalConsumer(std::shared_ptr<LocalLog> log, LocalGroup group)
    : log_(std::move(log)), group_(std::move(group)) {}

Status LocalConsumer::subscribe(const std::vector<std::string>& topics,
                                RebalanceListener listener) {
  std::vector<TopicPartition> assignment;
  for (const auto& topic : topics) {
    FC_ASSIGN_OR_RETURN(int32_t n, log_->ensure_topic(topic, 0));
    for (int32_t p = 0; p < n; ++p) assignment.push_back(TopicPartition{topic, p});
  }
  std::sort(assignment.begin(), assignment.end());
  assignment.erase(std::unique(assignment.begin(), assignment.end()), assignment.end());

  std::vector<std::unique_ptr<LocalPartitionReader>> readers;
  for (const auto& tp : assignment) {
    auto r = std::make_unique<LocalPartitionReader>(tp.topic, tp.partition,
                                                    log_->partition_dir(tp.topic, tp.partition),
                                                    &log_->slot(tp.topic, tp.partition)->end);
    r->seek(group_.committed(tp).value_or(0));
    readers.push_back(std::move(r));
  }
  if (!assignment_.empty() && !pending_assigned_) {
    // The old assignment was announced: announce its end before the new one.
    pending_revoked_ = assignment_;
  }
  assignment_ = std::move(assignment);
  readers_ = std::move(readers);
  listener_ = std::move(listener);
  pending_assigned_ = true;
  next_first_ = 0;
  return Status();
}

LocalPartitionReader* LocalConsumer::reader(const TopicPartition& tp) {
  auto it = std::lower_bound(assignment_.begin(), assignment_.end(), tp);
  if (it == assignment_.end() || *it != tp) return nullptr;
  return readers_[static_cast<size_t>(it - assignment_.begin())].get();
}

Status LocalConsumer::seek(const TopicPartition& tp, int64_t offset) {
  LocalPartitionReader* r = reader(tp);
  if (r == nullptr) {
    return Status::invalid("seek: " + tp.topic + "/" + std::to_string(tp.partition) +
                           " is not assigned to this consumer");
  }
  if (offset < 0) return Status::invalid("seek: negative offset " + std::to_string(offset));
  r->seek(offset);
  return Status();
}

Status LocalConsumer::commit(const std::vector<PartitionOffset>& offsets) {
  return group_.commit(offsets);
}

std::vector<TopicPartition> LocalConsumer::assignment() const { return assignment_; }

std::vector<PartitionLag> LocalConsumer::lag() {
  std::vector<PartitionLag> out;
  out.reserve(assignment_.size());
  for (size_t i = 0; i < assignment_.size(); ++i) {
    out.push_back(
        PartitionLag{assignment_[i], readers_[i]->position(), readers_[i]->end_offset_hint()});
  }
  return out;
}

Result<size_t> LocalConsumer::read_available(MessageBatch& out, size_t max_messages) {
  const size_t n = readers_.size();
  const size_t share = std::max<size_t>(1, max_messages / n);
  std::vector<bool> drained(n, false);
  const size_t first = next_first_;
  next_first_ = (next_first_ + 1) % n;
  for (bool progress = true; progress && out.size() < max_messages;) {
    progress = false;
    for (size_t k = 0; k < n && out.size() < max_messages; ++k) {
      size_t i = (first + k) % n;
      if (drained[i]) continue;
      size_t want = std::min(share, max_messages - out.size());
      auto got = readers_[i]->read(out, want);
      if (!got.ok()) {
        // Hand out what was read; the damaged partition reports again on the next poll.
        if (!out.empty()) return out.size();
        return got.status();
      }
      if (*got < want) drained[i] = true;
      if (*got > 0) progress = true;
    }
  }
  return out.size();
}

Status LocalConsumer::poll(MessageBatch& out, size_t max_messages, int64_t timeout_ms) {
  out.clear();
  if (!pending_revoked_.empty()) {
    auto revoked = std::move(pending_revoked_);
    pending_revoked_.clear();
    if (listener_.on_revoked) listener_.on_revoked(revoked);
  }
  if (pending_assigned_) {
    pending_assigned_ = false;
    if (listener_.on_assigned) listener_.on_assigned(assignment_);
  }
  if (readers_.empty()) return Status::invalid("poll: the consumer is not subscribed to any topic");
  if (max_messages == 0) return Status();

  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + std::chrono::milliseconds(std::max<int64_t>(0, timeout_ms));
  bool rechecking = false;  // this read follows a wait that no in-process write ended
  for (;;) {
    // Read the counter first: a write that lands after it wakes the wait below.
    const uint64_t seen = log_->write_seq();
    FC_ASSIGN_OR_RETURN(size_t got, read_available(out, max_messages));
    if (rechecking) {
      // Records found only by re-reading came from another process: keep re-reading often.
      recheck_ms_ = got > 0 ? kFastRecheckMillis : std::min(recheck_ms_ + 1, kRecheckMillis);
    }
    if (got > 0) return Status();
    const auto now = Clock::now();
    if (now >= deadline) return Status();
    log_->wait_for_write(seen, std::min(deadline, now + std::chrono::milliseconds(recheck_ms_)));
    rechecking = log_->write_seq() == seen;
  }
}

}  // namespace flowcast::bus
