// Config: one YAML file (see examples/taxi.yaml), with environment and command-line overrides.
//
// Precedence, lowest first: the file, then FLOWCAST_BUS / FLOWCAST_STORE / FLOWCAST_LOG_LEVEL,
// then each `--set dotted.key=value` in order. Problems throw ConfigError naming the key; main()
// prefixes the file name and exits with code 2 before anything is written.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "core/config_node.h"
#include "core/dataset_spec.h"

namespace flowcast {

// The environment variables that override top-level keys of the file: (key, variable).
inline constexpr std::pair<const char*, const char*> kEnvOverrides[] = {
    {"bus", "FLOWCAST_BUS"}, {"store", "FLOWCAST_STORE"}, {"log_level", "FLOWCAST_LOG_LEVEL"}};
// The value of environment variable `var` when it is set and not empty, else nullptr.
const char* env_override(const char* var);

class Config {
 public:
  // Reads and validates `path`. Throws ConfigError.
  static Config load(const std::string& path, const std::vector<std::string>& overrides);
  // Parses YAML text directly (tests, `--set` only configurations). Throws ConfigError.
  static Config parse(const std::string& yaml_text, const std::vector<std::string>& overrides,
                      const std::string& source = "<inline>");

  const std::string& source() const { return source_; }
  const std::string& bus_url() const { return bus_url_; }
  const std::string& store_url() const { return store_url_; }
  const std::string& log_level() const { return log_level_; }
  const std::vector<DatasetSpec>& datasets() const { return datasets_; }
  // The dataset called `name`; throws ConfigError listing the known names when there is none.
  const DatasetSpec& dataset(const std::string& name) const;
  // Settings of one stage ("stages.<name>"), possibly undefined.
  ConfigNode stage(const std::string& name) const { return root_["stages"][name]; }
  // Any top-level section (backend options such as "local", "kafka", "sqlite").
  ConfigNode section(const std::string& name) const { return root_[name]; }

 private:
  static Config from_node(YAML::Node node, const std::vector<std::string>& overrides,
                          const std::string& source);
  std::string source_;
  ConfigNode root_;
  std::string bus_url_, store_url_, log_level_;
  std::vector<DatasetSpec> datasets_;
};

// Applies one "a.b.c=value" override to a YAML tree (value parsed as YAML). Throws ConfigError.
void apply_override(YAML::Node& root, const std::string& assignment);

}  // namespace flowcast
