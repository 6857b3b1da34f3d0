// Helpers shared by the stages: positioning a consumer at the offsets the store holds, tracking
// the offsets a batch consumed, interruptible sleeps and retries of transient failures.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <stop_token>
#include <string>
#include <unordered_map>
#include <vector>

#include "bus/bus.h"
#include "core/status.h"
#include "store/store.h"

namespace flowcast::stages {

// Subscribes `consumer` to `topics`; whenever partitions are assigned, seeks each one to the
// offset stored for `group` in `store` (the source of truth), so a restarted sink resumes exactly
// after the rows it committed. `on_revoked` (optional) runs on the polling thread, inside poll(),
// when partitions are taken away (a member joined or left the group), before their next owner can
// read their offsets: a sink finishes and commits its batch in flight there, or abandons it.
Status subscribe_from_store(
    bus::Consumer& consumer, store::Store& store, const std::string& group,
    const std::vector<std::string>& topics, const std::string& stage,
    std::function<void(const std::vector<bus::TopicPartition>&)> on_revoked = {});

// Next offsets consumed by a batch, per partition.
class OffsetTracker {
 public:
  void consumed(const bus::MessageView& m) {
    bus::TopicPartition tp{std::string(m.topic), m.partition};
    auto& o = next_[tp];
    if (m.offset + 1 > o) o = m.offset + 1;
    auto [first, inserted] = first_.try_emplace(std::move(tp), m.offset);
    if (!inserted && m.offset < first->second) first->second = m.offset;
  }
  // Every message of a poll. Offsets grow within a partition, so only the first and last message
  // of each run of one partition are looked at (the tracker keeps the lowest and highest).
  void consumed(const bus::MessageBatch& polled);
  bool empty() const { return next_.empty(); }
  void clear() {
    next_.clear();
    first_.clear();
  }
  // The first offset consumed per partition since clear(): where to seek back to abandon a batch.
  const std::map<bus::TopicPartition, int64_t>& first() const { return first_; }
  std::vector<store::OffsetEntry> store_entries() const;
  std::vector<bus::PartitionOffset> bus_offsets() const;
  const std::map<bus::TopicPartition, int64_t>& next() const { return next_; }
  std::map<bus::TopicPartition, int64_t>& next() { return next_; }

 private:
  std::map<bus::TopicPartition, int64_t> next_;
  std::map<bus::TopicPartition, int64_t> first_;
};

// The bus's copy of a sink's committed offsets, for lag tools such as kafka-consumer-groups.sh
// (the store's offsets are the truth a sink resumes from). Offsets are merged per partition and
// sent at most once per `interval_ns`, not per batch: on the local bus each group commit writes
// and syncs a file, which cost the predict stage most of its time per batch. A failed send is
// harmless and only logged at debug level. Thread-safe: a commit worker may add() while the
// consumer's thread sends.
class BusOffsetCopy {
 public:
  explicit BusOffsetCopy(int64_t interval_ns = 1'000'000'000);
  void add(const std::vector<store::OffsetEntry>& committed);
  // Drops what waits for partitions taken away: their next owner commits them now.
  void forget(const std::vector<bus::TopicPartition>& revoked);
  // Sends what waits if `interval_ns` passed since the last send, or with `now`. Call it on the
  // consumer's own thread.
  void maybe_send(bus::Consumer& consumer, bool now = false);

 private:
  const int64_t interval_ns_;
  std::mutex mu_;
  std::map<bus::TopicPartition, int64_t> waiting_;  // guarded by mu_
  int64_t sent_ns_;                                 // consumer's thread only
  std::vector<bus::PartitionOffset> sending_;       // consumer's thread only
};

// When to look a waiting key up in the store again. A lookup that finds nothing makes the key
// wait `first_ms` before its next one, then twice as long after each further miss, up to
// `max_ms`: a record whose match is legitimately far off (an outcome due in twenty minutes)
// costs a handful of queries instead of one a second, and keys not yet due take nothing from a
// round's lookup budget, so the keys behind them get their turn.
class LookupSchedule {
 public:
  LookupSchedule(int64_t first_ms, int64_t max_ms) : first_ms_(first_ms), max_ms_(max_ms) {}
  // Whether `key` may be looked up at `now_ms` (a key never looked up always may).
  bool due(const std::string& key, int64_t now_ms) const;
  // A lookup of `key` at `now_ms` found nothing.
  void missed(const std::string& key, int64_t now_ms);
  // `key` stopped waiting (joined, expired or handed to another member).
  void forget(const std::string& key) { next_.erase(key); }
  // Forgets every key for which `waiting` is false.
  void keep_only(const std::function<bool(const std::string&)>& waiting);
  size_t size() const { return next_.size(); }

 private:
  struct Next {
    int64_t at_ms, wait_ms;
  };
  int64_t first_ms_, max_ms_;
  std::unordered_map<std::string, Next> next_;
};

// Sleeps up to `ms`, waking early when stop is requested. Returns false if stop was requested.
bool sleep_for(std::stop_token stop, int64_t ms);

// Calls `attempt` until it succeeds, fails permanently, or stop is requested. Transient failures
// are retried with capped exponential backoff; the first failure of a streak is logged as a
// warning, recovery as info, and `on_failure` sees every one (for status reporting). With
// `max_ms` >= 0 it gives up after about that long, returning the last failure: for work that must
// not block for long, such as a commit inside a rebalance.
Status retry_transient(std::stop_token stop, const std::string& stage, const std::string& what,
                       const std::function<Status()>& attempt,
                       const std::function<void(const Status&)>& on_failure = {},
                       int64_t max_ms = -1);

class StageStats;
// Total lag of a consumer's assignment; with `stats`, also records each partition's lag there.
int64_t total_lag(bus::Consumer& consumer, StageStats* stats = nullptr);

}  // namespace flowcast::stages
