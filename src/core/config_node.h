// ConfigNode: a YAML node that knows its dotted path, with typed getters that throw ConfigError
// naming that path. Sections check their keys with expect_keys() so a typo fails at start-up
// instead of being silently ignored.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

namespace flowcast {

class ConfigNode {
 public:
  ConfigNode() = default;
  ConfigNode(YAML::Node node, std::string path) : node_(std::move(node)), path_(std::move(path)) {}

  bool defined() const { return node_.IsDefined() && !node_.IsNull(); }
  bool is_map() const { return node_.IsMap(); }
  bool is_sequence() const { return node_.IsSequence(); }
  bool is_scalar() const { return node_.IsScalar(); }
  const std::string& path() const { return path_; }
  const YAML::Node& yaml() const { return node_; }

  // Child of a map (undefined child when absent). Throws if this node is defined and not a map.
  ConfigNode operator[](const std::string& key) const;
  ConfigNode at(size_t index) const;
  size_t size() const;
  // Keys of a map in document order.
  std::vector<std::string> keys() const;
  // Throws ConfigError naming the first key that is not in `allowed`.
  void expect_keys(std::initializer_list<const char*> allowed) const;

  std::string as_string() const;
  std::string get_string(const std::string& key, const std::string& fallback) const;
  int64_t get_int(const std::string& key, int64_t fallback, int64_t min = INT64_MIN,
                  int64_t max = INT64_MAX) const;
  double get_double(const std::string& key, double fallback) const;
  bool get_bool(const std::string& key, bool fallback) const;
  // A duration such as "30s", "250ms", "5m" or a number of seconds; returns milliseconds.
  int64_t get_duration_ms(const std::string& key, int64_t fallback_ms) const;
  std::vector<std::string> get_string_list(const std::string& key) const;

  [[noreturn]] void fail(const std::string& problem) const;

 private:
  YAML::Node node_;
  std::string path_;
};

}  // namespace flowcast
