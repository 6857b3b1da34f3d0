// TrainStage: store to model registry. Trains the first model as soon as `min_rows` labelled rows
// exist, then retrains after `retrain_rows` new labelled rows or `retrain_interval` (when at least
// one new row arrived), on the most recent `max_rows`. The newest version is activated unless
// `auto_promote: false`, in which case it waits as a candidate for a promotion.
//
// Settings (stages.train): min_rows (1000), retrain_rows (10000), retrain_interval (5m),
// max_rows (1000000), validation_fraction (0.1), poll_interval (2s), auto_promote (true),
// mature_after (0): train only on rows whose event time is at least this much older than the
// newest labelled row. Outcomes arrive late, and the ones that arrive first are biased (for taxi:
// short trips finish first); waiting until a request's outcome has surely arrived removes that
// survivorship bias from the training set.
#pragma once

#include "stages/stage.h"

namespace flowcast::stages {

struct TrainSettings {
  int64_t min_rows = 1000;
  int64_t retrain_rows = 10000;
  int64_t retrain_interval_ms = 300000;
  int64_t max_rows = 1000000;
  double validation_fraction = 0.1;
  int64_t poll_interval_ms = 2000;
  bool auto_promote = true;
  int64_t mature_after_ms = 0;
  static TrainSettings parse(const ConfigNode& node);
};

class TrainStage : public Stage {
 public:
  TrainStage(const StageContext& ctx, TrainSettings settings);
  std::string name() const override { return "train"; }
  Status run(std::stop_token stop) override;
  // Trains once on what the store holds now and registers the version. Returns the version.
  Result<int64_t> train_once();

 private:
  StageContext ctx_;
  TrainSettings settings_;
};

}  // namespace flowcast::stages
