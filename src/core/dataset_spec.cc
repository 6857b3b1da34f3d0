#include "core/dataset_spec.h"

#include <cctype>
#include <cstdio>

#include "core/config_error.h"

namespace flowcast {
namespace {

struct TypeName {
  const char* name;
  FieldType type;
};
constexpr TypeName kTypes[] = {
    {"int", FieldType::kInt},           {"float", FieldType::kFloat},
    {"bool", FieldType::kBool},         {"string", FieldType::kString},
    {"category", FieldType::kCategory}, {"timestamp", FieldType::kTimestamp},
    {"latitude", FieldType::kLatitude}, {"longitude", FieldType::kLongitude},
};

FieldType parse_type(const ConfigNode& node) {
  std::string s = node.as_string();
  for (const auto& t : kTypes)
    if (s == t.name) return t.type;
  node.fail("unknown type '" + s +
            "' (expected int, float, bool, string, category, timestamp, latitude or longitude)");
}

std::map<std::string, std::string> scalar_map(const ConfigNode& node) {
  std::map<std::string, std::string> out;
  for (const auto& k : node.keys()) out[k] = node[k].as_string();
  return out;
}

}  // namespace

const char* field_type_name(FieldType type) {
  for (const auto& t : kTypes)
    if (t.type == type) return t.name;
  return "?";
}

StorageKind storage_kind(FieldType type) {
  switch (type) {
    case FieldType::kInt:
    case FieldType::kTimestamp: return StorageKind::kInt;
    case FieldType::kFloat:
    case FieldType::kLatitude:
    case FieldType::kLongitude: return StorageKind::kDouble;
    case FieldType::kBool: return StorageKind::kBool;
    case FieldType::kString:
    case FieldType::kCategory: return StorageKind::kString;
  }
  return StorageKind::kDouble;
}

int DatasetSpec::field_index(std::string_view name) const {
  auto it = index_.find(std::string(name));
  return it == index_.end() ? -1 : it->second;
}

uint64_t DatasetSpec::schema_fingerprint() const {
  // FNV-1a over "name:type;" for every field.
  uint64_t h = 1469598103934665603ull;
  auto mix = [&](std::string_view s) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 1099511628211ull;
    }
  };
  for (const auto& f : fields_) {
    mix(f.name);
    mix(":");
    mix(field_type_name(f.type));
    mix(";");
  }
  return h;
}

DatasetSpec DatasetSpec::parse(const std::string& name, const ConfigNode& node) {
  if (!node.is_map()) node.fail("expected a mapping describing the dataset");
  node.expect_keys({"key", "event_time", "target", "fields", "topics", "features", "model",
                    "description", "columns"});
  DatasetSpec spec;
  spec.name_ = name;
  for (char c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_'))
      node.fail("dataset name '" + name + "' may hold only letters, digits and '_'");
  }
  spec.source_yaml_ = YAML::Dump(node.yaml());

  ConfigNode fields = node["fields"];
  if (!fields.defined() || fields.keys().empty()) fields.fail("a dataset needs at least one field");
  for (const auto& fname : fields.keys()) {
    ConfigNode f = fields[fname];
    FieldSpec fs;
    fs.name = fname;
    // Field names become SQL column names: keep them plain identifiers.
    bool ident = !fname.empty() && fname.size() <= 63 && fname[0] != '_' &&
                 !std::isdigit(static_cast<unsigned char>(fname[0]));
    for (char c : fname) ident = ident && (std::isalnum(static_cast<unsigned char>(c)) || c == '_');
    if (!ident)
      f.fail("field names must be letters, digits and '_', not start with a digit or '_', "
             "and be at most 63 characters");
    if (f.is_scalar()) {  // shorthand: `passenger_count: int`
      fs.type = parse_type(f);
    } else {
      f.expect_keys({"type", "role", "required", "min", "max", "description"});
      if (!f["type"].defined()) f.fail("missing 'type'");
      fs.type = parse_type(f["type"]);
      std::string role = f.get_string("role", "request");
      if (role == "request") fs.role = FieldRole::kRequest;
      else if (role == "outcome") fs.role = FieldRole::kOutcome;
      else f["role"].fail("expected 'request' or 'outcome', got '" + role + "'");
      fs.required = f.get_bool("required", fs.role == FieldRole::kRequest);
      if (f["min"].defined()) fs.min = f.get_double("min", 0);
      if (f["max"].defined()) fs.max = f.get_double("max", 0);
      // Bounds that no value fits would reject every record, one by one, at run time.
      if (fs.min && fs.max && *fs.min > *fs.max) {
        char bounds[96];
        std::snprintf(bounds, sizeof bounds, "%g is above max %g: no value would fit", *fs.min,
                      *fs.max);
        f["min"].fail(bounds);
      }
    }
    if (fs.type == FieldType::kLatitude) {
      if (!fs.min) fs.min = -90;
      if (!fs.max) fs.max = 90;
    } else if (fs.type == FieldType::kLongitude) {
      if (!fs.min) fs.min = -180;
      if (!fs.max) fs.max = 180;
    }
    spec.index_[fname] = static_cast<int>(spec.fields_.size());
    spec.fields_.push_back(fs);
  }

  auto required_field = [&](const char* key) {
    ConfigNode k = node[key];
    if (!k.defined()) node.fail(std::string("missing '") + key + "'");
    int idx = spec.field_index(k.as_string());
    if (idx < 0) k.fail("'" + k.as_string() + "' is not one of the dataset's fields");
    return idx;
  };
  spec.key_index_ = required_field("key");
  spec.event_time_index_ = required_field("event_time");
  spec.target_index_ = required_field("target");
  {
    auto& key = spec.fields_[static_cast<size_t>(spec.key_index_)];
    if (key.type != FieldType::kString && key.type != FieldType::kInt &&
        key.type != FieldType::kCategory)
      node["key"].fail("the key field must be of type string or int");
    key.required = true;
    key.role = FieldRole::kRequest;
    auto& et = spec.fields_[static_cast<size_t>(spec.event_time_index_)];
    if (et.type != FieldType::kTimestamp)
      node["event_time"].fail("the event-time field must be of type timestamp");
    et.required = true;
    auto& target = spec.fields_[static_cast<size_t>(spec.target_index_)];
    if (storage_kind(target.type) != StorageKind::kDouble && target.type != FieldType::kInt)
      node["target"].fail("the target must be numeric (int or float): flowcast trains regressions");
    target.role = FieldRole::kOutcome;
    target.required = true;
  }

  ConfigNode topics = node["topics"];
  topics.expect_keys({"requests", "outcomes", "observations", "predictions", "metrics", "dlq"});
  spec.topics_.requests = topics.get_string("requests", name + ".requests");
  spec.topics_.outcomes = topics.get_string("outcomes", name + ".outcomes");
  spec.topics_.observations = topics.get_string("observations", name + ".observations");
  spec.topics_.predictions = topics.get_string("predictions", name + ".predictions");
  spec.topics_.metrics = topics.get_string("metrics", name + ".metrics");
  spec.topics_.dlq = topics.get_string("dlq", name + ".dlq");

  ConfigNode features = node["features"];
  if (features.defined() && !features.is_sequence()) features.fail("expected a list of features");
  for (size_t i = 0; i < features.size(); ++i) {
    ConfigNode f = features.at(i);
    if (!f.is_map()) f.fail("expected a mapping with 'transform' and 'input' or 'inputs'");
    FeatureSpec fs;
    fs.transform = f.get_string("transform", "");
    if (fs.transform.empty()) f.fail("missing 'transform'");
    if (f["input"].defined()) fs.inputs.push_back(f["input"].as_string());
    for (auto& in : f.get_string_list("inputs")) fs.inputs.push_back(in);
    if (fs.inputs.empty()) f.fail("missing 'input' or 'inputs'");
    for (size_t j = 0; j < fs.inputs.size(); ++j) {
      if (spec.field_index(fs.inputs[j]) < 0)
        f.fail("input '" + fs.inputs[j] + "' is not one of the dataset's fields");
      if (spec.field_index(fs.inputs[j]) == spec.target_index_)
        f.fail("the target '" + fs.inputs[j] + "' cannot be a feature input");
    }
    fs.name = f.get_string("name", fs.transform + "_" + fs.inputs.front());
    // Feature names label the model's columns and its artifact: two alike would be confused.
    for (size_t j = 0; j < spec.features_.size(); ++j) {
      if (spec.features_[j].name != fs.name) continue;
      ConfigNode earlier = features.at(j);
      auto line = [](const ConfigNode& n) {
        int l = n.yaml().Mark().line;
        return l >= 0 ? " (line " + std::to_string(l + 1) + ")" : std::string();
      };
      f.fail("feature name '" + fs.name + "'" + line(f) + " is already used by feature " +
             std::to_string(j) + line(earlier) + "; give each feature its own 'name'");
    }
    for (const auto& k : f.keys()) {
      if (k != "transform" && k != "input" && k != "inputs" && k != "name") {
        ConfigNode p = f[k];
        if (!p.is_scalar()) p.fail("expected a single value");
        fs.params[k] = p.as_string();
      }
    }
    spec.features_.push_back(std::move(fs));
  }
  if (spec.features_.empty()) node["features"].fail("a dataset needs at least one feature");

  ConfigNode model = node["model"];
  model.expect_keys({"learner", "target_transform", "params", "baseline", "metric"});
  spec.model_.learner = model.get_string("learner", "xgboost");
  if (spec.model_.learner != "xgboost" && spec.model_.learner != "ridge")
    model["learner"].fail("expected 'xgboost' or 'ridge', got '" + spec.model_.learner + "'");
  spec.model_.target_transform = model.get_string("target_transform", "none");
  if (spec.model_.target_transform != "none" && spec.model_.target_transform != "log1p")
    model["target_transform"].fail("expected 'none' or 'log1p'");
  spec.model_.params = scalar_map(model["params"]);
  spec.model_.baseline = model.get_double("baseline", 0);
  spec.model_.metric = model.get_string("metric", "rmsle");
  if (spec.model_.metric != "rmsle" && spec.model_.metric != "mape" && spec.model_.metric != "mae" &&
      spec.model_.metric != "rmse" && spec.model_.metric != "within_30")
    model["metric"].fail("expected rmsle, mape, mae, rmse or within_30, got '" +
                         spec.model_.metric + "'");

  ConfigNode columns = node["columns"];
  for (const auto& col : columns.keys()) {
    ConfigNode c = columns[col];
    ColumnMapping m;
    m.column = col;
    if (c.is_scalar()) {  // shorthand: `Цена: price`
      m.field = c.as_string();
    } else {
      c.expect_keys({"field", "scale", "format"});
      m.field = c.get_string("field", "");
      m.scale = c.get_double("scale", 1);
      m.format = c.get_string("format", "");
    }
    int idx = spec.field_index(m.field);
    if (idx < 0) c.fail("'" + m.field + "' is not one of the dataset's fields");
    if (!m.format.empty() && spec.field(idx).type != FieldType::kTimestamp)
      c.fail("'format' applies to timestamp fields only");
    if (m.scale != 1 && storage_kind(spec.field(idx).type) != StorageKind::kDouble &&
        spec.field(idx).type != FieldType::kInt)
      c.fail("'scale' applies to numeric fields only");
    spec.columns_.push_back(m);
  }
  return spec;
}

DatasetSpec parse_dataset_yaml(const std::string& name, const std::string& yaml_text) {
  YAML::Node node;
  try {
    node = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    throw ConfigError("datasets." + name, std::string("invalid YAML: ") + e.what());
  }
  return DatasetSpec::parse(name, ConfigNode(node, "datasets." + name));
}

}  // namespace flowcast
