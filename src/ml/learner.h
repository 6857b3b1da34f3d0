// Learner: a regression algorithm over a dense float matrix (row-major, NaN = missing).
// Implementations: XgboostLearner (gradient-boosted trees, XGBoost C API) and RidgeLearner
// (closed-form ridge regression, the fast baseline).
//
// Thread-safety: fit() and load() are not thread-safe; predict() is const and may be called from
// one thread at a time per instance (stages own their instance).
#pragma once

#include <map>
#include <memory>
#include <string>

#include "core/status.h"

namespace flowcast::ml {

struct Matrix {
  const float* data = nullptr;
  size_t rows = 0, cols = 0;
};

class Learner {
 public:
  virtual ~Learner() = default;
  virtual std::string kind() const = 0;
  // Trains on `train`; `validation` (possibly empty) may be used for early stopping.
  virtual Status fit(Matrix train, const float* y, Matrix validation, const float* y_val) = 0;
  // Writes train.rows predictions. REQUIRES: fitted or loaded, cols equal to training.
  virtual Status predict(Matrix x, float* out) const = 0;
  // Serialised learner (XGBoost: its JSON model; ridge: JSON coefficients).
  virtual Result<std::string> save() const = 0;
  // Learner-specific facts for the model card (rounds used, ...), JSON text.
  virtual std::string summary_json() const { return "{}"; }
  // Whether predict() can run: a learner restored with LoadMode::kWhenUsed checks its saved
  // model here (and keeps it loaded). Not thread-safe, like predict().
  virtual Status ready() const { return Status(); }
};

// kNow: the saved learner is checked and loaded at once. kWhenUsed: only kept, and loaded when
// predict() or ready() first needs it; save() returns the bytes unchanged. A model scored by the
// CompiledForest never needs XGBoost's own copy, whose load and re-save cost more than compiling.
enum class LoadMode { kNow, kWhenUsed };

// `params` are the dataset's model.params. Unknown learner: kInvalidArgument.
Result<std::unique_ptr<Learner>> make_learner(const std::string& kind,
                                              const std::map<std::string, std::string>& params);
// Fits a throwaway learner of `kind` with `params` on a few generated rows (one round), so that a
// parameter the learner refuses (an unknown XGBoost objective, max_depth: banana, eta: -1, a
// negative ridge lambda) fails at start-up rather than at the first training, minutes later.
// kInvalidArgument naming the parameter. Takes a few milliseconds.
Status check_learner(const std::string& kind, const std::map<std::string, std::string>& params);
// Restores a learner saved by save(); checks that it expects `cols` features (with kWhenUsed,
// when it is first used).
Result<std::unique_ptr<Learner>> load_learner(const std::string& kind, const std::string& bytes,
                                              size_t cols, LoadMode mode = LoadMode::kNow);

}  // namespace flowcast::ml
