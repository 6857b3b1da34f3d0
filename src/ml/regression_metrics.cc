#include "ml/regression_metrics.h"

#include <algorithm>
#include <cmath>

namespace flowcast::ml {

void MetricsAccumulator::add(double p, double a) {
  double err = p - a;
  ++n_;
  abs_ += std::fabs(err);
  sq_ += err * err;
  double le = std::log1p(std::max(p, 0.0)) - std::log1p(std::max(a, 0.0));
  sqlog_ += le * le;
  if (a != 0) {
    ++n_nonzero_;
    ape_ += std::fabs(err) / std::fabs(a);
  }
  if (std::fabs(err) <= 0.3 * std::fabs(a)) ++n_within_;
}

void MetricsAccumulator::merge(const MetricsAccumulator& o) {
  n_ += o.n_;
  n_nonzero_ += o.n_nonzero_;
  n_within_ += o.n_within_;
  abs_ += o.abs_;
  sq_ += o.sq_;
  sqlog_ += o.sqlog_;
  ape_ += o.ape_;
}

RegressionMetrics MetricsAccumulator::result() const {
  RegressionMetrics m;
  m.count = n_;
  if (n_ == 0) return m;
  double n = static_cast<double>(n_);
  m.mae = abs_ / n;
  m.rmse = std::sqrt(sq_ / n);
  m.rmsle = std::sqrt(sqlog_ / n);
  m.mape = n_nonzero_ ? ape_ / static_cast<double>(n_nonzero_) : 0;
  m.within_30 = static_cast<double>(n_within_) / n;
  return m;
}

RegressionMetrics compute_metrics(std::span<const double> p, std::span<const double> a) {
  MetricsAccumulator acc;
  for (size_t i = 0; i < p.size() && i < a.size(); ++i) acc.add(p[i], a[i]);
  return acc.result();
}

}  // namespace flowcast::ml
