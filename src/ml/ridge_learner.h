// RidgeLearner: closed-form ridge regression on standardised features, the fast baseline.
// Missing values are imputed with the training mean. model.params: lambda (1.0).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "ml/learner.h"

namespace flowcast::ml {

class RidgeLearner : public Learner {
 public:
  explicit RidgeLearner(std::map<std::string, std::string> params);
  std::string kind() const override { return "ridge"; }
  Status fit(Matrix train, const float* y, Matrix validation, const float* y_val) override;
  Status predict(Matrix x, float* out) const override;
  Result<std::string> save() const override;
  Status load(const std::string& bytes, size_t cols);

 private:
  std::map<std::string, std::string> params_;
  std::vector<double> mean_, scale_, weights_;
  double intercept_ = 0;
};

}  // namespace flowcast::ml
