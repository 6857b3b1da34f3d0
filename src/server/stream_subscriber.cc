#include "server/stream_subscriber.h"

#include <algorithm>

namespace flowcast::server {

StreamSubscriber::StreamSubscriber(std::vector<bool> datasets, int max_rate)
    : datasets_(std::move(datasets)),
      max_rate_(max_rate),
      tokens_(max_rate),
      refilled_(std::chrono::steady_clock::now()) {}

bool StreamSubscriber::samples(size_t dataset, uint64_t key_hash) const {
  if (!datasets_[dataset]) return false;
  const double f = fraction_.load(std::memory_order_relaxed);
  if (f >= 1.0) return true;
  return double(key_hash >> 11) * 0x1.0p-53 < f;
}

bool StreamSubscriber::offer(const SseEvent& event) {
  {
    std::lock_guard lock(mu_);
    const auto now = std::chrono::steady_clock::now();
    const double elapsed = std::chrono::duration<double>(now - refilled_).count();
    refilled_ = now;
    tokens_ = std::min<double>(max_rate_, tokens_ + elapsed * max_rate_);
    if (tokens_ < 1 || queue_.size() >= kMaxQueued) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    tokens_ -= 1;
    queue_.push_back(event);
  }
  ready_.notify_one();
  return true;
}

void StreamSubscriber::broadcast(const SseEvent& event) {
  {
    std::lock_guard lock(mu_);
    if (queue_.size() >= kMaxQueued) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    queue_.push_back(event);
  }
  ready_.notify_one();
}

void StreamSubscriber::next(std::vector<SseEvent>& out, std::chrono::milliseconds timeout) {
  out.clear();
  std::unique_lock lock(mu_);
  ready_.wait_for(lock, timeout, [this] { return !queue_.empty() || closed_.load(); });
  out.assign(std::make_move_iterator(queue_.begin()), std::make_move_iterator(queue_.end()));
  queue_.clear();
}

void StreamSubscriber::close() {
  {
    std::lock_guard lock(mu_);
    closed_ = true;
  }
  ready_.notify_all();
}

}  // namespace flowcast::server
