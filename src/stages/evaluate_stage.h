// EvaluateStage: predictions joined with outcomes, to model-quality metrics.
//
// Consumes the predictions and outcomes topics and joins them by key in memory, in either order.
// Each joined (key, model version) pair is stored in D_evaluations with the consumed offsets in
// one transaction. Offsets never move past a prediction or outcome still waiting for its match, so
// after a crash the waiting ones are read again; pairs already stored are recognised and not
// counted twice. Every `publish_interval` it publishes, per model version, the metrics of the
// pairs joined in the last `window` to the metrics topic and the store.
//
// Settings (stages.evaluate): window (60s), publish_interval (5s), join_ttl (10m: how long an
// unmatched prediction or outcome waits before it is dropped and counted as unjoined),
// batch_size (5000), store_lookup_after (5s: a prediction waiting this long is joined with the
// outcome the store holds, if ingest stored one, and an outcome waiting this long with the
// predictions the store holds; this covers what was read before a restart. A key whose lookup
// finds nothing is looked up again after store_lookup_after, then twice as long after each
// further miss, up to a minute).
#pragma once

#include "stages/stage.h"

namespace flowcast::stages {

struct EvaluateSettings {
  int64_t window_ms = 60000;
  int64_t publish_interval_ms = 5000;
  int64_t join_ttl_ms = 600000;
  int64_t batch_size = 5000;
  int64_t store_lookup_after_ms = 5000;
  static EvaluateSettings parse(const ConfigNode& node);
};

class EvaluateStage : public Stage {
 public:
  EvaluateStage(const StageContext& ctx, EvaluateSettings settings);
  std::string name() const override { return "evaluate"; }
  Status run(std::stop_token stop) override;
  // Pairs joined since start, and records dropped unmatched after join_ttl.
  int64_t joined() const { return joined_.load(); }
  int64_t unjoined() const { return unjoined_.load(); }

 private:
  StageContext ctx_;
  EvaluateSettings settings_;
  std::atomic<int64_t> joined_{0}, unjoined_{0};
};

}  // namespace flowcast::stages
