#include "ml/ridge_learner.h"

#include <Eigen/Dense>
#include <cmath>
#include <nlohmann/json.hpp>

namespace flowcast::ml {

RidgeLearner::RidgeLearner(std::map<std::string, std::string> params)
    : params_(std::move(params)) {}

Status RidgeLearner::fit(Matrix x, const float* y, Matrix, const float*) {
  if (x.rows == 0) return Status::invalid("no training rows");
  double lambda = 1.0;
  // Other parameters are XGBoost's, kept when a dataset switches learners: ignored here.
  for (const auto& [k, v] : params_) {
    if (k != "lambda") continue;
    size_t used = 0;
    try {
      lambda = std::stod(v, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != v.size() || !std::isfinite(lambda))
      return Status::invalid("model.params.lambda: expected a number, got '" + v + "'");
    if (lambda < 0) return Status::invalid("model.params.lambda: must not be negative, got " + v);
  }
  const size_t n = x.rows, d = x.cols;
  mean_.assign(d, 0);
  scale_.assign(d, 1);
  std::vector<size_t> seen(d, 0);
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < d; ++j) {
      float v = x.data[i * d + j];
      if (!std::isnan(v)) {
        mean_[j] += v;
        seen[j]++;
      }
    }
  for (size_t j = 0; j < d; ++j) mean_[j] = seen[j] ? mean_[j] / double(seen[j]) : 0;
  std::vector<double> var(d, 0);
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < d; ++j) {
      float v = x.data[i * d + j];
      if (!std::isnan(v)) var[j] += (v - mean_[j]) * (v - mean_[j]);
    }
  for (size_t j = 0; j < d; ++j) {
    double sd = seen[j] > 1 ? std::sqrt(var[j] / double(seen[j])) : 0;
    scale_[j] = sd > 1e-12 ? sd : 1;
  }
  Eigen::MatrixXd a(n, d);
  Eigen::VectorXd b(n);
  double ymean = 0;
  for (size_t i = 0; i < n; ++i) ymean += y[i];
  ymean /= double(n);
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = 0; j < d; ++j) {
      float v = x.data[i * d + j];
      a(long(i), long(j)) = std::isnan(v) ? 0.0 : (v - mean_[j]) / scale_[j];
    }
    b(long(i)) = y[i] - ymean;
  }
  Eigen::MatrixXd gram = a.transpose() * a;
  gram.diagonal().array() += lambda;
  Eigen::VectorXd w = gram.ldlt().solve(a.transpose() * b);
  weights_.assign(w.data(), w.data() + d);
  intercept_ = ymean;
  return Status();
}

Status RidgeLearner::predict(Matrix x, float* out) const {
  if (x.cols != weights_.size())
    return Status::invalid("expected " + std::to_string(weights_.size()) + " features, got " +
                           std::to_string(x.cols));
  for (size_t i = 0; i < x.rows; ++i) {
    double s = intercept_;
    for (size_t j = 0; j < x.cols; ++j) {
      float v = x.data[i * x.cols + j];
      if (!std::isnan(v)) s += weights_[j] * (v - mean_[j]) / scale_[j];
    }
    out[i] = static_cast<float>(s);
  }
  return Status();
}

Result<std::string> RidgeLearner::save() const {
  nlohmann::json j = {{"mean", mean_}, {"scale", scale_}, {"weights", weights_},
                      {"intercept", intercept_}};
  return j.dump();
}

Status RidgeLearner::load(const std::string& bytes, size_t cols) {
  try {
    auto j = nlohmann::json::parse(bytes);
    mean_ = j.at("mean").get<std::vector<double>>();
    scale_ = j.at("scale").get<std::vector<double>>();
    weights_ = j.at("weights").get<std::vector<double>>();
    intercept_ = j.at("intercept").get<double>();
  } catch (const std::exception& e) {
    return Status::invalid(std::string("the ridge model does not load: ") + e.what());
  }
  if (weights_.size() != cols || mean_.size() != cols || scale_.size() != cols)
    return Status::invalid("the ridge model expects " + std::to_string(weights_.size()) +
                           " features, the feature pipeline makes " + std::to_string(cols));
  return Status();
}

}  // namespace flowcast::ml
