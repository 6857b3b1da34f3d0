// ServingModel: the model a predict stage scores with, refreshed from the store's registry.
// Before any model exists it serves the declared baseline as version 0: the median of the most
// recent stored targets, or the dataset's `model.baseline` when none are stored yet.
// A newer active version is loaded at refresh() and swapped in between batches; a version that
// fails to load is logged and skipped, and the current one stays in place.
//
// Thread-safety: refresh() and predict() from one thread (the predict stage's, or the HTTP
// server's refresher). The loaded model is immutable and safe for concurrent predict() calls, so
// shared_model() lets other threads score with it after refresh() returned (the HTTP server
// publishes it to its worker threads this way).
#pragma once

#include <memory>
#include <span>

#include "core/dataset_spec.h"
#include "ml/model.h"
#include "store/store.h"

namespace flowcast::stages {

class ServingModel {
 public:
  ServingModel(const DatasetSpec& spec, store::Store& store) : spec_(spec), store_(store) {}
  // Checks the registry; returns true when the serving version changed. A failure (the
  // registry unreadable, the active version unreadable or refused) is logged and the current
  // version stays; a refused version is not tried again.
  bool refresh();
  // The same, but a failure is returned instead of logged (for one-shot commands, which must not
  // answer with another version than the active one).
  Result<bool> try_refresh();
  int64_t version() const { return model_ ? model_->version() : 0; }
  Status predict(std::span<const Record* const> rows, double* out) const;
  const ml::Model* model() const { return model_.get(); }
  // The serving model, shared; nullptr while version 0 (the baseline) is served.
  std::shared_ptr<const ml::Model> shared_model() const { return model_; }
  // The version-0 prediction (valid whether or not a model is loaded).
  double baseline() const { return baseline_set_ ? baseline_ : spec_.model().baseline; }
  // Whether baseline() is the median of stored targets rather than the declared model.baseline.
  bool baseline_from_data() const { return baseline_from_data_; }

 private:
  const DatasetSpec& spec_;
  store::Store& store_;
  std::shared_ptr<const ml::Model> model_;
  double baseline_ = 0;
  bool baseline_set_ = false;
  bool baseline_from_data_ = false;
  int64_t failed_version_ = -1;
};

}  // namespace flowcast::stages
