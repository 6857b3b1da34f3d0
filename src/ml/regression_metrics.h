// RegressionMetrics: the quality figures flowcast reports for every model version.
//   mae, rmse       in target units
//   rmsle           sqrt(mean((log1p(pred) - log1p(actual))^2)), negatives clamped to 0
//   mape            mean(|pred - actual| / |actual|) over rows with actual != 0, as a fraction
//   within_30       share of rows with |pred - actual| <= 0.3 * |actual|
#pragma once

#include <cstdint>
#include <span>

namespace flowcast::ml {

struct RegressionMetrics {
  int64_t count = 0;
  double mae = 0, rmse = 0, rmsle = 0, mape = 0, within_30 = 0;
};

// Accumulates sums; result() may be called at any time. Not thread-safe.
class MetricsAccumulator {
 public:
  void add(double prediction, double actual);
  void merge(const MetricsAccumulator& other);
  RegressionMetrics result() const;
  int64_t count() const { return n_; }

 private:
  int64_t n_ = 0, n_nonzero_ = 0, n_within_ = 0;
  double abs_ = 0, sq_ = 0, sqlog_ = 0, ape_ = 0;
};

RegressionMetrics compute_metrics(std::span<const double> predictions,
                                  std::span<const double> actuals);

}  // namespace flowcast::ml
