// PredictStage: requests to predictions. Scores micro-batches of requests with the serving model,
// publishes each prediction (with the model version) to the predictions topic, then stores the
// predictions and the consumed offsets in one store transaction. A newer model is swapped in at a
// batch boundary, so no request is dropped or scored twice by one version.
//
// Settings (stages.predict): batch_size (2000), model_poll (1s).
#pragma once

#include "stages/stage.h"

namespace flowcast::stages {

struct PredictSettings {
  int64_t batch_size = 2000;
  int64_t model_poll_ms = 1000;
  static PredictSettings parse(const ConfigNode& node);
};

class PredictStage : public Stage {
 public:
  PredictStage(const StageContext& ctx, PredictSettings settings);
  std::string name() const override { return "predict"; }
  Status run(std::stop_token stop) override;

 private:
  StageContext ctx_;
  PredictSettings settings_;
};

}  // namespace flowcast::stages
