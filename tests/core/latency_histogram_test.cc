#include "core/latency_histogram.h"

#include <gtest/gtest.h>

#include <cmath>

namespace flowcast {
namespace {

TEST(LatencyHistogram, EveryValueFallsInTheBucketWhoseBoundsHoldIt) {
  for (int64_t us = 1; us <= 300'000; us += (us < 5000 ? 1 : 97)) {
    const int b = LatencyHistogram::bucket_of(us);
    ASSERT_LE(double(us), LatencyHistogram::upper_us(b)) << us;
    if (b > 0) {
      ASSERT_GT(double(us), LatencyHistogram::upper_us(b - 1)) << us;
    }
  }
  EXPECT_EQ(LatencyHistogram::bucket_of(0), 0);
  EXPECT_EQ(LatencyHistogram::bucket_of(-5), 0);
  // Past about 67 s: the overflow bucket, whose bound is +Inf.
  EXPECT_EQ(LatencyHistogram::bucket_of(int64_t{1} << 40), LatencyHistogram::kBuckets - 1);
  EXPECT_TRUE(std::isinf(LatencyHistogram::upper_us(LatencyHistogram::kBuckets - 1)));
}

TEST(LatencyHistogram, QuantilesAreWithinOneQuarterOctaveAbove) {
  LatencyHistogram h;
  for (int64_t us = 1; us <= 10'000; ++us) h.record(us);
  auto s = h.snapshot();
  EXPECT_EQ(s.count, 10'000);
  EXPECT_EQ(s.sum_us, int64_t{10'000} * 10'001 / 2);
  for (double q : {0.5, 0.9, 0.99, 0.999}) {
    const double exact = q * 10'000;
    EXPECT_GE(s.quantile_us(q), exact) << q;
    EXPECT_LE(s.quantile_us(q), exact * 1.19) << q;
  }
  EXPECT_EQ(LatencyHistogram().snapshot().quantile_us(0.99), 0);
}

TEST(LatencyHistogram, RecordingManyAtOnceEqualsRecordingEach) {
  LatencyHistogram one, many;
  for (int64_t us : {0, 1, 7, 250, 250, 250, 9'000, -3}) one.record(us);
  many.record(0, 1);
  many.record(1, 1);
  many.record(7, 1);
  many.record(250, 3);
  many.record(9'000, 1);
  many.record(-3, 1);
  const LatencyHistogram::Snapshot a = one.snapshot(), b = many.snapshot();
  EXPECT_EQ(a.counts, b.counts);
  EXPECT_EQ(a.count, 8);
  EXPECT_EQ(b.count, 8);
  EXPECT_EQ(a.sum_us, b.sum_us);
  EXPECT_EQ(b.sum_us, 0 + 1 + 7 + 750 + 9'000);
}

TEST(LatencyHistogram, SinceKeepsOnlyTheNewerRecords) {
  LatencyHistogram h;
  for (int i = 0; i < 1000; ++i) h.record(100);
  auto before = h.snapshot();
  for (int i = 0; i < 10; ++i) h.record(50'000);
  auto recent = h.snapshot().since(before);
  EXPECT_EQ(recent.count, 10);
  EXPECT_GE(recent.quantile_us(0.5), 50'000);
  EXPECT_LT(h.snapshot().quantile_us(0.5), 120);  // all time: dominated by the 100 us records
}

}  // namespace
}  // namespace flowcast
