// Trainer: fits a Model on labelled rows. The most recent `validation_fraction` of the rows (by
// event time; callers pass rows oldest first) is held out to measure the model and to stop
// boosting early; the model is then refitted on all rows with the chosen number of rounds.
#pragma once

#include <memory>
#include <vector>

#include "core/dataset_spec.h"
#include "core/record.h"
#include "core/status.h"
#include "ml/model.h"
#include "ml/regression_metrics.h"

namespace flowcast::ml {

struct TrainOptions {
  double validation_fraction = 0.1;
  bool refit_on_all = true;
};

struct TrainOutcome {
  std::unique_ptr<Model> model;
  RegressionMetrics validation;
  int64_t train_rows = 0, validation_rows = 0;
  double seconds = 0;
};

// REQUIRES: every row has the target. Rows are consumed (moved from).
Result<TrainOutcome> train_model(const DatasetSpec& spec, std::vector<Record> rows,
                                 const TrainOptions& options);

nlohmann::json metrics_to_json(const RegressionMetrics& m);

}  // namespace flowcast::ml
