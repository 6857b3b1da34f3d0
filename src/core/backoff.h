// Backoff: capped exponential backoff with jitter for retrying transient failures (a broker or
// database that is restarting). Not thread-safe; one per retry loop.
#pragma once

#include <cstdint>
#include <random>

namespace flowcast {

class Backoff {
 public:
  explicit Backoff(int64_t initial_ms = 100, int64_t max_ms = 5000)
      : initial_ms_(initial_ms), max_ms_(max_ms), next_ms_(initial_ms) {}
  // The delay to wait before the next attempt; grows x2 per call up to the cap, +-20% jitter.
  int64_t next_delay_ms() {
    int64_t d = next_ms_;
    next_ms_ = next_ms_ * 2 > max_ms_ ? max_ms_ : next_ms_ * 2;
    std::uniform_real_distribution<double> jitter(0.8, 1.2);
    // Seeded at the first retry, not at construction: a Backoff is made for every attempt of
    // hot paths (each batch's publish and commit) and almost never used.
    if (attempts_++ == 0) rng_.seed(std::random_device{}());
    return static_cast<int64_t>(double(d) * jitter(rng_));
  }
  void reset() {
    next_ms_ = initial_ms_;
    attempts_ = 0;
  }
  int attempts() const { return attempts_; }

 private:
  int64_t initial_ms_, max_ms_, next_ms_;
  int attempts_ = 0;
  std::minstd_rand rng_;
};

}  // namespace flowcast
