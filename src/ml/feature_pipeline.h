// FeaturePipeline: turns a Record into a row of float features, driven by the dataset spec's
// `features:` list. Training and serving run this same code, so they cannot disagree.
//
// Lifecycle: from_spec() builds an unfitted pipeline; fit() learns the state some transforms need
// (one-hot vocabularies, target encodings) from TRAINING rows only; to_json()/from_json() freeze
// and restore that state inside a model artifact. transform() never changes the state: a category
// first seen at scoring time maps to the learned default.
//
// Transforms (inputs are field names):
//   numeric [x]                 the value (bool 0/1, timestamp in epoch seconds); NaN when absent
//   log1p [x]                   log1p(max(x, 0))
//   haversine_km [lat1, lon1, lat2, lon2]   great-circle distance
//   manhattan_km [lat1, lon1, lat2, lon2]   north-south plus east-west distance
//   bearing_deg [lat1, lon1, lat2, lon2]    initial bearing, -180..180
//   hour [ts]   fractional hour of day (UTC wall clock);  weekday [ts] 0=Monday;  month [ts]
//   day_of_year [ts]
//   equals [x] value: V          1 when x == V, else 0
//   one_hot [x] max_values: K    one feature per frequent value (top K in training), plus "other"
//   target_encode [x] smoothing: S   smoothed mean target per value; unseen values get the mean
//   distance_km [lat, lon] lat: L lon: M   distance from a fixed point
//   ratio [a, b]                 a / b (NaN when b is 0 or either is absent)
//   group_distance_km [group, lat, lon]   distance from the group's centre (the mean lat/lon of
//                                the group's training rows, e.g. a city's); unseen groups: NaN
//
// Thread-safety: transform() is const and safe to call concurrently.
#pragma once

#include <nlohmann/json.hpp>

#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/dataset_spec.h"
#include "core/record.h"

namespace flowcast::ml {

class FeaturePipeline {
 public:
  // Throws ConfigError (path datasets.<name>.features.<i>) for an unknown transform or a wrong
  // number of inputs.
  static FeaturePipeline from_spec(const DatasetSpec& spec);
  // Restores a fitted pipeline. Throws ConfigError when `state` does not fit `spec`.
  static FeaturePipeline from_json(const DatasetSpec& spec, const nlohmann::json& state);

  // Learns state from training rows and their (already transformed) targets.
  void fit(std::span<const Record> rows, std::span<const double> targets);
  nlohmann::json to_json() const;

  size_t width() const { return names_.size(); }
  const std::vector<std::string>& feature_names() const { return names_; }
  // Writes width() floats to `out`.
  void transform(const Record& record, float* out) const;

  // The transform of a step, resolved once from its name (the table of transforms in
  // feature_pipeline.cc) so that transform() dispatches with a switch instead of comparing
  // strings for every step of every row.
  enum class Op : uint8_t {
    kNumeric,
    kLog1p,
    kHaversine,
    kManhattan,
    kBearing,
    kDistance,
    kHour,
    kWeekday,
    kMonth,
    kDayOfYear,
    kEquals,
    kRatio,
    kGroupDistance,
    kTargetEncode,
    kOneHot
  };

 private:
  struct Step {
    std::string name, kind;
    Op op = Op::kNumeric;
    std::vector<int> inputs;
    bool timestamp_input = false;                     // numeric of a timestamp: epoch seconds
    std::string value;                                // equals
    int max_values = 16;                              // one_hot
    double smoothing = 20;                            // target_encode
    double lat = 0, lon = 0;                          // distance_km
    std::vector<std::string> vocabulary;              // one_hot, fitted
    std::unordered_map<std::string, float> encoding;  // target_encode, fitted
    std::unordered_map<std::string, std::pair<double, double>> centres;  // group_distance_km
    float default_encoding = 0;                                          // target_encode, fitted
    size_t width() const;
  };
  void rebuild_names();
  static std::string category_of(const Record& r, int field);

  std::vector<Step> steps_;
  std::vector<std::string> names_;
};

}  // namespace flowcast::ml
