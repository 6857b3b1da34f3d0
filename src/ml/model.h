// Model: a fitted feature pipeline plus a learner, with its schema and model card, saved as one
// artifact (the bytes stored in the model registry).
//
// Artifact layout: "FCMODEL1", a little-endian uint32 header length, the header (JSON: dataset,
// schema fingerprint, the dataset YAML it was trained with, fitted pipeline state, learner kind,
// target transform, training window and validation metrics), then the learner's own bytes (for
// XGBoost, its JSON model, loadable by Python's xgboost).
//
// Scoring: when the learner is XGBoost, the constructor compiles the learner's saved JSON into a
// CompiledForest and predict() scores with it (the same numbers as XGBoost, within float rounding,
// several times faster); XGBoost itself is kept for training, saving and as the fallback should a
// model not compile (scorer() says which one scores).
//
// Thread-safety: after construction (and set_version), predict() and predict_one() may be called
// concurrently from any number of threads: the feature rows are built in per-thread buffers, the
// CompiledForest is immutable, and the XGBoost fallback (whose C handle is not documented as safe
// for concurrent prediction) is serialised by a mutex. set_version() and card() (non-const) are
// for the owner before the model is shared.
#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/dataset_spec.h"
#include "core/record.h"
#include "core/status.h"
#include "ml/compiled_forest.h"
#include "ml/feature_pipeline.h"
#include "ml/learner.h"

namespace flowcast::ml {

class Model {
 public:
  Model(DatasetSpec spec, FeaturePipeline pipeline, std::unique_ptr<Learner> learner,
        nlohmann::json card);

  // Parses an artifact. Refuses (kInvalidArgument with the reason) a truncated or foreign file,
  // an unknown learner, or a model whose schema differs from `serving` (field names and types).
  static Result<std::unique_ptr<Model>> load(std::string_view artifact, const DatasetSpec& serving);
  Result<std::string> serialize() const;

  // Predictions in target units (the target transform undone), one per row.
  Status predict(std::span<const Record* const> rows, double* out) const;
  Status predict_one(const Record& row, double& out) const;

  int64_t version() const { return version_; }
  void set_version(int64_t v) { version_ = v; }
  const std::string& learner_kind() const;
  const FeaturePipeline& pipeline() const { return pipeline_; }
  const Learner& learner() const { return *learner_; }
  // "compiled_forest" when predict() uses the CompiledForest, else the learner's kind.
  std::string scorer() const { return forest_ ? "compiled_forest" : learner_kind_; }
  // Why an XGBoost model is not scored by the CompiledForest (ok when it is, or for other kinds).
  const Status& forest_status() const { return forest_status_; }
  // What scores, for logs: "compiled forest, binned-avx512 kernel", "compiled forest, portable
  // kernel (why)", "xgboost (why the forest cannot)" or the learner's kind.
  std::string scorer_description() const;
  // The model card: training window, validation metrics, learner summary.
  const nlohmann::json& card() const { return card_; }
  nlohmann::json& card() { return card_; }

 private:
  DatasetSpec spec_;
  FeaturePipeline pipeline_;
  std::unique_ptr<Learner> learner_;
  std::optional<CompiledForest> forest_;
  Status forest_status_;
  nlohmann::json card_;
  std::string learner_kind_;
  bool log1p_target_ = false;
  int64_t version_ = 0;
  mutable std::mutex learner_mu_;  // serialises learner_->predict (the fallback scorer)
};

}  // namespace flowcast::ml
