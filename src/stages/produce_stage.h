// ProduceStage: emulates the users' event sources. Emits requests at `rate` per second and each
// request's outcome later (its event-time delay divided by `speedup`), or observations.
//
// Settings (stages.produce): generator (taxi | realty | csv; default: csv when `csv` is set,
// else the dataset's name when that is a built-in generator, else none), csv PATH, loops (1), rate (200/s), speedup (60), limit (0 =
// endless), seed, start_time; for realty also cities PATH, streets PATH (built-in lists without
// them) and request_share (0.2: the share of events that are price requests, not listings).
// At stop, outcomes still waiting are sent at once, so a bounded run loses none.
#pragma once

#include <memory>

#include "stages/event_source.h"
#include "stages/stage.h"

namespace flowcast::stages {

struct ProduceSettings {
  std::string generator;  // empty: the dataset has no source here (its records come from outside)
  std::string csv;
  int64_t loops = 1;
  double rate = 200;
  double speedup = 60;
  int64_t limit = 0;
  uint64_t seed = 0;  // 0: random
  int64_t start_time_us = 0;  // simulated clock start (synthetic generators)
  std::string cities, streets;  // realty: hflabs/city and street-stem CSVs
  double request_share = 0.2;   // realty: share of price requests among the events
  static ProduceSettings parse(const ConfigNode& node, const DatasetSpec& dataset);
  // False for a dataset of the user's own with neither a generator nor a CSV: `flowcast run`
  // then runs without its produce stage, and `flowcast produce` refuses it.
  bool has_source() const { return !generator.empty(); }
};

// Makes the event source the settings name. Throws ConfigError for an unknown generator;
// returns a failed Status for an unreadable CSV.
Result<std::unique_ptr<EventSource>> make_event_source(const ProduceSettings& settings,
                                                       const DatasetSpec& dataset);

// The start-up check of a producer: makes the source once and discards it. Throws ConfigError
// (path stages.produce...) when the generator does not fit the dataset (a field it needs is
// missing) or the CSV or city/street file cannot be opened or lacks a column.
void check_event_source(const ProduceSettings& settings, const DatasetSpec& dataset);

class ProduceStage : public Stage {
 public:
  ProduceStage(const StageContext& ctx, ProduceSettings settings);
  std::string name() const override { return "produce"; }
  Status run(std::stop_token stop) override;
  // True once the source is exhausted and every outcome was sent.
  bool finished() const { return finished_.load(); }

 private:
  StageContext ctx_;
  ProduceSettings settings_;
  std::atomic<bool> finished_{false};
};

}  // namespace flowcast::stages
