#include "core/config_node.h"

#include <algorithm>
#include <cmath>

#include "core/config_error.h"
#include "core/time_util.h"

namespace flowcast {
namespace {
std::string join_path(const std::string& base, const std::string& key) {
  return base.empty() ? key : base + "." + key;
}
}  // namespace

void ConfigNode::fail(const std::string& problem) const { throw ConfigError(path_, problem); }

ConfigNode ConfigNode::operator[](const std::string& key) const {
  if (!defined()) return ConfigNode(YAML::Node(YAML::NodeType::Undefined), join_path(path_, key));
  if (!node_.IsMap()) fail("expected a mapping with key '" + key + "'");
  return ConfigNode(node_[key], join_path(path_, key));
}

ConfigNode ConfigNode::at(size_t index) const {
  if (!node_.IsSequence()) fail("expected a list");
  return ConfigNode(node_[index], join_path(path_, std::to_string(index)));
}

size_t ConfigNode::size() const { return defined() ? node_.size() : 0; }

std::vector<std::string> ConfigNode::keys() const {
  std::vector<std::string> out;
  if (!defined()) return out;
  if (!node_.IsMap()) fail("expected a mapping");
  for (const auto& kv : node_) out.push_back(kv.first.as<std::string>());
  return out;
}

void ConfigNode::expect_keys(std::initializer_list<const char*> allowed) const {
  for (const auto& key : keys()) {
    bool ok = std::any_of(allowed.begin(), allowed.end(), [&](const char* a) { return key == a; });
    if (!ok) {
      std::string list;
      for (const char* a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
      throw ConfigError(join_path(path_, key), "unknown key (expected one of: " + list + ")");
    }
  }
}

std::string ConfigNode::as_string() const {
  if (!node_.IsScalar()) fail("expected a single value");
  return node_.Scalar();
}

std::string ConfigNode::get_string(const std::string& key, const std::string& fallback) const {
  ConfigNode c = (*this)[key];
  return c.defined() ? c.as_string() : fallback;
}

int64_t ConfigNode::get_int(const std::string& key, int64_t fallback, int64_t min,
                            int64_t max) const {
  ConfigNode c = (*this)[key];
  if (!c.defined()) return fallback;
  std::string s = c.as_string();
  int64_t v;
  try {
    size_t used = 0;
    v = std::stoll(s, &used);
    if (used != s.size()) throw std::invalid_argument(s);
  } catch (const std::exception&) {
    c.fail("expected a whole number, got '" + s + "'");
  }
  if (v < min || v > max) {
    // An open end is not worth printing as 9223372036854775807.
    if (max == INT64_MAX) c.fail("must be at least " + std::to_string(min) + ", got " + s);
    if (min == INT64_MIN) c.fail("must be at most " + std::to_string(max) + ", got " + s);
    c.fail("must be between " + std::to_string(min) + " and " + std::to_string(max) + ", got " + s);
  }
  return v;
}

double ConfigNode::get_double(const std::string& key, double fallback) const {
  ConfigNode c = (*this)[key];
  if (!c.defined()) return fallback;
  std::string s = c.as_string();
  try {
    size_t used = 0;
    double v = std::stod(s, &used);
    if (used != s.size() || !std::isfinite(v)) throw std::invalid_argument(s);
    return v;
  } catch (const std::exception&) {
    c.fail("expected a number, got '" + s + "'");
  }
}

bool ConfigNode::get_bool(const std::string& key, bool fallback) const {
  ConfigNode c = (*this)[key];
  if (!c.defined()) return fallback;
  std::string s = c.as_string();
  if (s == "true" || s == "yes" || s == "on" || s == "1") return true;
  if (s == "false" || s == "no" || s == "off" || s == "0") return false;
  c.fail("expected true or false, got '" + s + "'");
}

int64_t ConfigNode::get_duration_ms(const std::string& key, int64_t fallback_ms) const {
  ConfigNode c = (*this)[key];
  if (!c.defined()) return fallback_ms;
  auto v = parse_duration_millis(c.as_string());
  if (!v) c.fail("expected a duration such as 500ms, 30s, 5m or 1h, got '" + c.as_string() + "'");
  return *v;
}

std::vector<std::string> ConfigNode::get_string_list(const std::string& key) const {
  ConfigNode c = (*this)[key];
  std::vector<std::string> out;
  if (!c.defined()) return out;
  if (c.is_scalar()) return {c.as_string()};
  if (!c.is_sequence()) c.fail("expected a list");
  for (size_t i = 0; i < c.size(); ++i) out.push_back(c.at(i).as_string());
  return out;
}

}  // namespace flowcast
