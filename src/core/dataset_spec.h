// DatasetSpec: a named stream of records with a schema, declared in YAML (see README "Datasets").
//
// The spec is immutable once parsed and safe to share between threads. Fields keep their
// document order; a field's index is its slot in every Record of the dataset.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/config_node.h"

namespace flowcast {

enum class FieldType { kInt, kFloat, kBool, kString, kCategory, kTimestamp, kLatitude, kLongitude };

// How a field's value is held in a Record: int64 (int, timestamp in microseconds), double (float,
// latitude, longitude), bool, or string (string, category).
enum class StorageKind { kInt, kDouble, kBool, kString };

const char* field_type_name(FieldType type);
StorageKind storage_kind(FieldType type);

// Which message carries a field: the request to score, or the outcome that arrives later.
enum class FieldRole { kRequest, kOutcome };

struct FieldSpec {
  std::string name;
  FieldType type = FieldType::kFloat;
  FieldRole role = FieldRole::kRequest;
  bool required = true;  // for request fields: a request without it is rejected
  std::optional<double> min, max;  // inclusive bounds for numeric fields
};

// One step of the feature pipeline: `transform` applied to `inputs`, producing one or more
// features named after `name`. Transform-specific settings are kept as strings in `params`.
struct FeatureSpec {
  std::string name;
  std::string transform;
  std::vector<std::string> inputs;
  std::map<std::string, std::string> params;
};

// How a CSV column maps onto a field, for `flowcast ingest-file` and CSV replay (the dataset's
// `columns:` section). Columns not listed map to the field of the same name.
struct ColumnMapping {
  std::string column;      // CSV header
  std::string field;       // dataset field
  double scale = 1;        // numeric values are multiplied by this (units: thousands -> x1000)
  std::string format;      // timestamps: a strptime format such as "%d.%m.%Y %H:%M"; empty: ISO
};

struct TopicNames {
  std::string requests, outcomes, observations, predictions, metrics, dlq;
};

struct ModelSpec {
  std::string learner = "xgboost";          // xgboost | ridge
  std::string target_transform = "none";    // none | log1p
  std::map<std::string, std::string> params;  // learner parameters, as written
  double baseline = 0;                        // version-0 prediction before any data is seen
  // The quality figure the dataset is judged by, shown first by the dashboard and the API:
  // rmsle | mape | mae | rmse | within_30. Every figure is computed either way.
  std::string metric = "rmsle";
};

class DatasetSpec {
 public:
  // Parses the mapping at `node` (path "datasets.<name>"). Throws ConfigError on any problem.
  static DatasetSpec parse(const std::string& name, const ConfigNode& node);

  const std::string& name() const { return name_; }
  const std::vector<FieldSpec>& fields() const { return fields_; }
  const FieldSpec& field(int index) const { return fields_[static_cast<size_t>(index)]; }
  // Index of a field by name, or -1.
  int field_index(std::string_view name) const;
  int key_index() const { return key_index_; }
  int event_time_index() const { return event_time_index_; }
  int target_index() const { return target_index_; }
  const TopicNames& topics() const { return topics_; }
  const std::vector<FeatureSpec>& features() const { return features_; }
  const ModelSpec& model() const { return model_; }
  const std::vector<ColumnMapping>& columns() const { return columns_; }
  // The dataset's YAML as written (after overrides), so a model artifact can carry its schema.
  const std::string& source_yaml() const { return source_yaml_; }
  // Stable fingerprint of the field names and types; models refuse a dataset whose schema differs.
  uint64_t schema_fingerprint() const;

 private:
  std::string name_;
  std::vector<FieldSpec> fields_;
  std::unordered_map<std::string, int> index_;
  int key_index_ = -1, event_time_index_ = -1, target_index_ = -1;
  TopicNames topics_;
  std::vector<FeatureSpec> features_;
  ModelSpec model_;
  std::vector<ColumnMapping> columns_;
  std::string source_yaml_;
};

// Parses a dataset from standalone YAML text (as stored in a model artifact).
DatasetSpec parse_dataset_yaml(const std::string& name, const std::string& yaml_text);

}  // namespace flowcast
