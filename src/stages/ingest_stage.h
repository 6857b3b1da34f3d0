// IngestStage: bus to store. Consumes the dataset's requests, outcomes and observations in
// micro-batches and commits each batch's rows together with the consumed offsets in one store
// transaction (effectively once), on a commit worker's thread (CommitWorker) while the next batch
// is read. Records that do not decode go to the dead-letter topic.
//
// Settings (stages.ingest): batch_size (50000), max_wait (200ms: a partial batch is committed after
// this long).
#pragma once

#include "stages/stage.h"

namespace flowcast::stages {

struct IngestSettings {
  int64_t batch_size = 50000;
  int64_t max_wait_ms = 200;
  static IngestSettings parse(const ConfigNode& node);
};

class IngestStage : public Stage {
 public:
  IngestStage(const StageContext& ctx, IngestSettings settings);
  std::string name() const override { return "ingest"; }
  Status run(std::stop_token stop) override;

 private:
  StageContext ctx_;
  IngestSettings settings_;
};

}  // namespace flowcast::stages
