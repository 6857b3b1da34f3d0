// KafkaProduceTracker: counts the messages the producers of one KafkaBus have handed to
// librdkafka and those whose delivery report has come back, so that Consumer::lag() can include
// what this process produced just before it asked (read-your-writes within a process; Kafka itself
// only knows a message once it is acknowledged).
//
// Thread-safety: all methods are thread-safe. completed() is called from delivery-report callbacks
// and costs two atomic operations unless someone waits.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace flowcast::bus {

class KafkaProduceTracker {
 public:
  void enqueued(int64_t n) { enqueued_.fetch_add(n); }
  void completed(int64_t n) {
    completed_.fetch_add(n);
    if (waiters_.load() > 0) {
      std::lock_guard lock(mu_);
      cv_.notify_all();
    }
  }
  // Waits until every message enqueued before the call has its delivery report, at most
  // `timeout_ms`. Returns false on timeout (a broker outage: the caller goes on without them).
  bool wait_for_enqueued(int64_t timeout_ms) {
    const int64_t target = enqueued_.load();
    if (completed_.load() >= target) return true;
    waiters_.fetch_add(1);
    std::unique_lock lock(mu_);
    bool done = cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                             [&] { return completed_.load() >= target; });
    waiters_.fetch_sub(1);
    return done;
  }

 private:
  std::atomic<int64_t> enqueued_{0}, completed_{0};
  std::atomic<int> waiters_{0};
  std::mutex mu_;
  std::condition_variable cv_;
};

}  // namespace flowcast::bus
