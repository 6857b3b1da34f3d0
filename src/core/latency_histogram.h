// LatencyHistogram: a lock-free histogram of durations in microseconds, written by one or more
// threads and read at any time (status line, /metrics, `flowcast bench`).
//
// Buckets are log-spaced: four per power of two from 1 us to about 67 s (bucket i covers
// (upper(i-1), upper(i)]), plus one overflow bucket. Quantiles are read as the upper bound of the
// bucket that holds them, so they are exact to within 19% (one quarter-octave), which is what a
// p99 on a dashboard or in a benchmark report needs. record() is one relaxed atomic increment.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstdint>

namespace flowcast {

class LatencyHistogram {
 public:
  static constexpr int kSubBuckets = 4;  // per power of two
  static constexpr int kOctaves = 26;    // 2^26 us = 67 s
  static constexpr int kBuckets = kSubBuckets * kOctaves + 1;  // the last is overflow (+Inf)

  // Upper bound of bucket `i` in microseconds (+inf for the overflow bucket).
  static double upper_us(int i) {
    if (i >= kBuckets - 1) return INFINITY;
    return std::exp2(double(i + 1) / kSubBuckets);
  }
  // The bucket holding `us`: the smallest i with upper_us(i) >= us. Integer work only (it runs
  // for every scored request): floor(log2(us)) places it within five buckets of a table.
  static int bucket_of(int64_t us) {
    if (us <= 1) return 0;
    static const std::array<int64_t, kBuckets - 1> kUpperFloor = [] {
      std::array<int64_t, kBuckets - 1> t{};
      for (int i = 0; i < kBuckets - 1; ++i) t[size_t(i)] = int64_t(std::floor(upper_us(i)));
      return t;
    }();
    // upper_us(4k - 1) = 2^k <= us, so the bucket is at 4k - 1 or after (us is an integer, so
    // upper_us(i) >= us exactly when its floor is).
    const int k = int(std::bit_width(uint64_t(us))) - 1;
    int i = std::clamp(kSubBuckets * k - 1, 0, kBuckets - 1);
    while (i < kBuckets - 1 && kUpperFloor[size_t(i)] < us) ++i;
    return i;
  }

  void record(int64_t us) { record(us, 1); }
  // `n` durations of `us` each: a batch's requests stamped in the same millisecond cost two
  // atomic increments, not two each.
  void record(int64_t us, int64_t n) {
    counts_[size_t(bucket_of(us))].fetch_add(n, std::memory_order_relaxed);
    sum_us_.fetch_add((us < 0 ? 0 : us) * n, std::memory_order_relaxed);
  }

  struct Snapshot {
    std::array<int64_t, kBuckets> counts{};
    int64_t count = 0;
    int64_t sum_us = 0;
    // The upper bound of the bucket holding quantile q (0..1); 0 when empty.
    double quantile_us(double q) const {
      if (count == 0) return 0;
      const double rank = q * double(count);
      int64_t seen = 0;
      for (int i = 0; i < kBuckets; ++i) {
        seen += counts[size_t(i)];
        if (double(seen) >= rank && counts[size_t(i)] > 0) return upper_us(i);
      }
      return upper_us(kBuckets - 1);
    }
    // Counts recorded since `earlier` (for a window between two snapshots).
    Snapshot since(const Snapshot& earlier) const {
      Snapshot d;
      for (int i = 0; i < kBuckets; ++i) d.counts[size_t(i)] = counts[size_t(i)] - earlier.counts[size_t(i)];
      d.count = count - earlier.count;
      d.sum_us = sum_us - earlier.sum_us;
      return d;
    }
  };

  Snapshot snapshot() const {
    Snapshot s;
    for (int i = 0; i < kBuckets; ++i) {
      s.counts[size_t(i)] = counts_[size_t(i)].load(std::memory_order_relaxed);
      s.count += s.counts[size_t(i)];
    }
    s.sum_us = sum_us_.load(std::memory_order_relaxed);
    return s;
  }

 private:
  std::array<std::atomic<int64_t>, kBuckets> counts_{};
  std::atomic<int64_t> sum_us_{0};
};

}  // namespace flowcast
