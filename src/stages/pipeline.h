// Pipeline: runs a set of stages for every dataset of a configuration, each stage on its own
// thread, and stops them in order. `flowcast run` uses all stages; `flowcast predict` and the
// other single-stage commands use one.
//
// Lifecycle: construct (all settings are parsed here: a bad value throws ConfigError before any
// thread starts), then run() until the duration elapses or `interrupted` is set. Stopping:
// producers stop first (sending every outcome they still hold), then the pipeline waits up to
// `drain_timeout_ms` for the consumers to catch up (zero lag, nothing waiting to be joined), then
// stops the rest. A stage that fails is reported and stops the pipeline; no exception leaves a
// stage thread.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bus/bus.h"
#include "core/config.h"
#include "stages/stage.h"
#include "store/store.h"

namespace flowcast::stages {

struct RunOptions {
  int64_t duration_ms = 0;          // 0: until interrupted
  int64_t drain_timeout_ms = 30000;
  bool status_line = true;          // a live one-line status on stderr (a log line when not a tty)
  int64_t status_interval_ms = 1000;
};

class Pipeline {
 public:
  // `stage_names`: any of produce, ingest, train, predict, evaluate. `datasets`: names to run
  // (empty: all). A dataset with no source to produce from (ProduceSettings::has_source) gets no
  // produce stage, and an info line says where its records come from instead. Throws
  // ConfigError for a bad setting or an unknown stage or dataset.
  Pipeline(const Config& config, bus::Bus& bus, store::Store& store,
           const std::vector<std::string>& stage_names, const std::vector<std::string>& datasets);
  ~Pipeline();
  // Parses every setting the named stages would use, for the named datasets (empty: all), after
  // validate_datasets(); a producer's source is made once and discarded, so a generator that
  // does not fit its dataset or an unreadable CSV fails here. Throws ConfigError.
  static void validate(const Config& config, const std::vector<std::string>& stage_names,
                       const std::vector<std::string>& datasets = {});
  // The checks every command needs before it opens anything, whatever stages it runs: each
  // dataset's feature pipeline can be built from its spec (a known transform, the right number
  // and type of inputs, valid parameters), so a typo in `features:` fails at start-up rather than
  // at the first training. Throws ConfigError naming the feature.
  // `datasets`: the names to check (empty: all); an unknown name throws ConfigError.
  static void validate_datasets(const Config& config,
                                const std::vector<std::string>& datasets = {});

  // Creates the topics and tables the stages need; fails with the backend's reason.
  Status prepare();
  // Runs until done (see class comment). Returns the first stage failure, if any.
  Status run(const RunOptions& options, const std::atomic<int>& interrupted);

  struct Entry {
    std::string dataset;
    std::unique_ptr<Stage> stage;
  };
  const std::vector<Entry>& stages() const { return entries_; }
  // One line: throughput, lag, model version and quality, per dataset.
  std::string status_line(double interval_s);

 private:
  const Config& config_;
  bus::Bus& bus_;
  store::Store& store_;
  std::vector<Entry> entries_;
  std::vector<const DatasetSpec*> datasets_;
  std::vector<int64_t> last_in_, last_out_;
};

}  // namespace flowcast::stages
