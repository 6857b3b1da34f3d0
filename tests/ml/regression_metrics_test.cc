#include "ml/regression_metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace flowcast::ml {
namespace {

TEST(RegressionMetrics, HandComputedValues) {
  std::vector<double> pred = {110, 50, 300, 0};
  std::vector<double> actual = {100, 100, 200, 10};
  RegressionMetrics m = compute_metrics(pred, actual);
  EXPECT_EQ(m.count, 4);
  EXPECT_DOUBLE_EQ(m.mae, (10 + 50 + 100 + 10) / 4.0);
  EXPECT_DOUBLE_EQ(m.rmse, std::sqrt((100 + 2500 + 10000 + 100) / 4.0));
  double sl = 0;
  for (size_t i = 0; i < 4; ++i) sl += std::pow(std::log1p(pred[i]) - std::log1p(actual[i]), 2);
  EXPECT_DOUBLE_EQ(m.rmsle, std::sqrt(sl / 4));
  EXPECT_DOUBLE_EQ(m.mape, (0.1 + 0.5 + 0.5 + 1.0) / 4);
  EXPECT_DOUBLE_EQ(m.within_30, 0.25);  // only 110 vs 100
}

TEST(RegressionMetrics, MergeEqualsOnePass) {
  MetricsAccumulator a, b, all;
  for (int i = 1; i < 100; ++i) {
    double p = i * 1.1, y = i;
    (i % 2 ? a : b).add(p, y);
    all.add(p, y);
  }
  a.merge(b);
  EXPECT_DOUBLE_EQ(a.result().rmse, all.result().rmse);
  EXPECT_EQ(a.result().count, 99);
}

TEST(RegressionMetrics, NegativePredictionsClampInRmsle) {
  RegressionMetrics m = compute_metrics(std::vector<double>{-5}, std::vector<double>{0});
  EXPECT_DOUBLE_EQ(m.rmsle, 0);
  EXPECT_DOUBLE_EQ(m.mape, 0);  // actual 0 rows are left out of MAPE
}

}  // namespace
}  // namespace flowcast::ml
