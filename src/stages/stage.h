// Stage: one part of the pipeline (produce, ingest, train, predict, evaluate) running on its own
// thread. Lifecycle: constructed with its context (configuration errors throw ConfigError here,
// before any thread starts), then run(stop) until `stop` is requested or a fatal error; run()
// never throws: the thread wrapper turns any escaped exception into a failed Status.
#pragma once

#include <stop_token>
#include <string>

#include "bus/bus.h"
#include "core/config.h"
#include "core/status.h"
#include "stages/stage_stats.h"
#include "store/store.h"

namespace flowcast::stages {

struct StageContext {
  const Config& config;
  const DatasetSpec& dataset;
  bus::Bus& bus;
  store::Store& store;
};

class Stage {
 public:
  virtual ~Stage() = default;
  virtual std::string name() const = 0;
  // Runs until `stop` is requested. Transient failures (bus or store unavailable) are retried
  // inside; only unrecoverable ones return a failed Status.
  virtual Status run(std::stop_token stop) = 0;
  StageStats& stats() { return stats_; }
  const StageStats& stats() const { return stats_; }

 protected:
  StageStats stats_;
};

// Consumer-group name of a stage for a dataset: "flowcast.<stage>.<dataset>".
std::string group_name(const std::string& stage, const DatasetSpec& dataset);

}  // namespace flowcast::stages
