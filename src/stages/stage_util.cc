#include "stages/stage_util.h"

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "core/backoff.h"
#include "core/log.h"
#include "core/time_util.h"
#include "stages/stage.h"
#include "stages/stage_stats.h"

namespace flowcast::stages {

std::string group_name(const std::string& stage, const DatasetSpec& dataset) {
  return "flowcast." + stage + "." + dataset.name();
}

Status subscribe_from_store(
    bus::Consumer& consumer, store::Store& store, const std::string& group,
    const std::vector<std::string>& topics, const std::string& stage,
    std::function<void(const std::vector<bus::TopicPartition>&)> on_revoked) {
  bus::RebalanceListener listener;
  listener.on_revoked = std::move(on_revoked);
  bus::Consumer* c = &consumer;
  listener.on_assigned = [c, &store, group, stage](const std::vector<bus::TopicPartition>& tps) {
    auto offsets = store.load_offsets(group);
    if (!offsets.ok()) {
      logger(stage)->error("could not read stored offsets of {}: {}; resuming from the bus's",
                           group, offsets.status().to_string());
      return;
    }
    for (const auto& tp : tps) {
      for (const auto& o : *offsets) {
        if (o.topic == tp.topic && o.partition == tp.partition) {
          Status s = c->seek(tp, o.next_offset);
          if (!s.ok())
            logger(stage)->error("seek {}/{}: {}", tp.topic, tp.partition, s.to_string());
        }
      }
    }
    logger(stage)->debug("assigned {} partitions, positioned from the store", tps.size());
  };
  return consumer.subscribe(topics, std::move(listener));
}

void OffsetTracker::consumed(const bus::MessageBatch& polled) {
  const size_t n = polled.size();
  for (size_t i = 0; i < n; ++i) {
    const bus::MessageView m = polled[i];
    const bool run_starts =
        i == 0 || polled[i - 1].partition != m.partition || polled[i - 1].topic != m.topic;
    const bool run_ends =
        i + 1 == n || polled[i + 1].partition != m.partition || polled[i + 1].topic != m.topic;
    if (run_starts || run_ends) consumed(m);
  }
}

std::vector<store::OffsetEntry> OffsetTracker::store_entries() const {
  std::vector<store::OffsetEntry> out;
  for (const auto& [tp, o] : next_) out.push_back({tp.topic, tp.partition, o});
  return out;
}

std::vector<bus::PartitionOffset> OffsetTracker::bus_offsets() const {
  std::vector<bus::PartitionOffset> out;
  for (const auto& [tp, o] : next_) out.push_back({tp, o});
  return out;
}

BusOffsetCopy::BusOffsetCopy(int64_t interval_ns)
    : interval_ns_(interval_ns), sent_ns_(mono_nanos()) {}

void BusOffsetCopy::add(const std::vector<store::OffsetEntry>& committed) {
  std::lock_guard lock(mu_);
  for (const auto& o : committed) {
    int64_t& next = waiting_[{o.topic, o.partition}];
    next = std::max(next, o.next_offset);
  }
}

void BusOffsetCopy::forget(const std::vector<bus::TopicPartition>& revoked) {
  std::lock_guard lock(mu_);
  for (const auto& tp : revoked) waiting_.erase(tp);
}

void BusOffsetCopy::maybe_send(bus::Consumer& consumer, bool now) {
  const int64_t t = mono_nanos();
  if (!now && t - sent_ns_ < interval_ns_) return;
  sent_ns_ = t;
  sending_.clear();
  {
    std::lock_guard lock(mu_);
    for (const auto& [tp, next] : waiting_) sending_.push_back({tp, next});
    waiting_.clear();
  }
  if (sending_.empty()) return;
  Status s = consumer.commit(sending_);
  if (!s.ok()) logger("bus")->debug("informational offset commit: {}", s.to_string());
}

bool sleep_for(std::stop_token stop, int64_t ms) {
  std::mutex mu;
  std::condition_variable_any cv;
  std::unique_lock lock(mu);
  cv.wait_for(lock, stop, std::chrono::milliseconds(ms), [] { return false; });
  return !stop.stop_requested();
}

Status retry_transient(std::stop_token stop, const std::string& stage, const std::string& what,
                       const std::function<Status()>& attempt,
                       const std::function<void(const Status&)>& on_failure, int64_t max_ms) {
  Backoff backoff;
  const int64_t deadline = max_ms >= 0 ? mono_nanos() + max_ms * 1'000'000 : INT64_MAX;
  for (;;) {
    Status s = attempt();
    if (s.ok()) {
      if (backoff.attempts() > 0)
        logger(stage)->info("{} succeeded again after {} retries", what, backoff.attempts());
      return s;
    }
    if (on_failure) on_failure(s);
    if (!is_transient(s)) return s;
    if (backoff.attempts() == 0)
      logger(stage)->warn("{} failed, retrying: {}", what, s.to_string());
    int64_t delay_ms = backoff.next_delay_ms();
    if (max_ms >= 0) {
      const int64_t left_ms = (deadline - mono_nanos()) / 1'000'000;
      if (left_ms <= 0) return s;
      delay_ms = std::min(delay_ms, left_ms);
    }
    if (!sleep_for(stop, delay_ms))
      return max_ms >= 0 ? s : Status::unavailable(what + " abandoned at shutdown: " + s.message());
  }
}

int64_t total_lag(bus::Consumer& consumer, StageStats* stats) {
  int64_t lag = 0;
  std::vector<StageStats::PartitionLag> parts;
  for (const auto& l : consumer.lag()) {
    lag += l.lag();
    if (stats) parts.push_back({l.tp.topic, l.tp.partition, l.lag()});
  }
  if (stats) stats->set_partition_lag(std::move(parts));
  return lag;
}

bool LookupSchedule::due(const std::string& key, int64_t now_ms) const {
  auto it = next_.find(key);
  return it == next_.end() || now_ms >= it->second.at_ms;
}

void LookupSchedule::missed(const std::string& key, int64_t now_ms) {
  auto [it, first] = next_.try_emplace(key, Next{0, first_ms_});
  if (!first) it->second.wait_ms = std::min(max_ms_, 2 * it->second.wait_ms);
  it->second.at_ms = now_ms + it->second.wait_ms;
}

void LookupSchedule::keep_only(const std::function<bool(const std::string&)>& waiting) {
  std::erase_if(next_, [&](const auto& kv) { return !waiting(kv.first); });
}

}  // namespace flowcast::stages
