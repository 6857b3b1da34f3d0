// StreamSubscriber: one open /v1/stream connection as the LiveFeed sees it: which datasets it
// wants, what share of keys it samples, and a bounded queue of ready-made SSE events.
//
// Thinning: a message is taken when its key's hash falls below the subscriber's sampling
// fraction, so a sampled key's request, prediction and outcome all arrive. The LiveFeed lowers the
// fraction (about once a second) so that the expected rate stays under `max_rate`; a token bucket
// of `max_rate` events per second is the hard cap, and a full queue (a slow browser) drops the
// newest events rather than growing.
//
// Thread-safety: offer()/broadcast() from the feed thread, next() from the connection's worker
// thread; every member is safe to call concurrently.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace flowcast::server {

using SseEvent = std::shared_ptr<const std::string>;

class StreamSubscriber {
 public:
  static constexpr size_t kMaxQueued = 4096;

  // `datasets[i]`: whether dataset i (the server's order) is wanted.
  StreamSubscriber(std::vector<bool> datasets, int max_rate);

  bool wants_dataset(size_t dataset) const { return datasets_[dataset]; }
  // Whether a message of `dataset` whose key hashes to `key_hash` is sampled.
  bool samples(size_t dataset, uint64_t key_hash) const;
  void set_fraction(double f) { fraction_.store(f, std::memory_order_relaxed); }
  double fraction() const { return fraction_.load(std::memory_order_relaxed); }
  int max_rate() const { return max_rate_; }

  // Queues a sampled event, subject to the rate cap. Returns false when it was dropped.
  bool offer(const SseEvent& event);
  // Queues an event that is not thinned (stats), unless the queue is full.
  void broadcast(const SseEvent& event);
  // Moves the queued events to `out`, waiting up to `timeout` for the first one.
  void next(std::vector<SseEvent>& out, std::chrono::milliseconds timeout);
  // Wakes a waiting next() for good (the server is stopping).
  void close();
  bool closed() const { return closed_.load(); }
  int64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

 private:
  const std::vector<bool> datasets_;
  const int max_rate_;
  std::atomic<double> fraction_{1.0};
  std::atomic<int64_t> dropped_{0};
  std::atomic<bool> closed_{false};
  std::mutex mu_;
  std::condition_variable ready_;
  std::deque<SseEvent> queue_;  // guarded by mu_
  double tokens_;               // guarded by mu_
  std::chrono::steady_clock::time_point refilled_;  // guarded by mu_
};

}  // namespace flowcast::server
