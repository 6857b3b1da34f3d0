// XgboostLearner: gradient-boosted trees through the XGBoost C API (tree_method=hist).
//
// model.params are passed to XGBoosterSetParam as written, except flowcast's own:
//   rounds (300)                 boosting rounds at most
//   early_stopping_rounds (30)   stop when validation RMSE has not improved for this many rounds
//                                (the saved model keeps the best round)
// Defaults set unless overridden: objective=reg:squarederror, tree_method=hist, max_depth=8,
// eta=0.1, subsample=0.8, colsample_bytree=0.8, min_child_weight=5, and nthread = cores - 1
// (training leaves a core to the stages that score the stream). Prediction uses one thread.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "ml/learner.h"

namespace flowcast::ml {

class XgboostLearner : public Learner {
 public:
  explicit XgboostLearner(std::map<std::string, std::string> params);
  ~XgboostLearner() override;
  XgboostLearner(const XgboostLearner&) = delete;
  XgboostLearner& operator=(const XgboostLearner&) = delete;

  std::string kind() const override { return "xgboost"; }
  Status fit(Matrix train, const float* y, Matrix validation, const float* y_val) override;
  Status predict(Matrix x, float* out) const override;
  Result<std::string> save() const override;
  std::string summary_json() const override;
  Status ready() const override;
  // Loads a model saved by save() (XGBoost JSON). Predictions use one thread.
  Status load(const std::string& bytes, size_t cols);
  // Keeps a model saved by save() and loads it when predict() or ready() first needs it.
  void load_when_used(std::string bytes, size_t cols);

 private:
  struct Booster;  // RAII owner of a BoosterHandle
  // A booster loaded from `bytes` (saved by save()), checked to expect `cols` features.
  static Result<std::unique_ptr<Booster>> open_booster(const std::string& bytes, size_t cols);
  std::map<std::string, std::string> params_;
  // Mutable: a model kept by load_when_used() is loaded by the first const call that needs it.
  mutable std::unique_ptr<Booster> booster_;
  mutable std::string unloaded_;  // the saved model not yet loaded (load_when_used)
  mutable Status load_status_;    // why the kept model did not load
  size_t cols_ = 0;
  int rounds_used_ = 0;
  double best_validation_rmse_ = 0;
};

}  // namespace flowcast::ml
