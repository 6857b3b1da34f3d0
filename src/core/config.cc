#include "core/config.h"

#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

#include "core/config_error.h"

namespace flowcast {

void apply_override(YAML::Node& root, const std::string& assignment) {
  auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    throw ConfigError("--set", "expected key=value, got '" + assignment + "'");
  std::string path = assignment.substr(0, eq);
  std::string text = assignment.substr(eq + 1);
  YAML::Node value;
  try {
    value = YAML::Load(text);
  } catch (const YAML::Exception&) {
    value = YAML::Node(text);
  }
  std::vector<std::string> parts;
  std::stringstream ss(path);
  for (std::string p; std::getline(ss, p, '.');) {
    if (p.empty()) throw ConfigError("--set", "empty key segment in '" + path + "'");
    parts.push_back(p);
  }
  // yaml-cpp nodes are handles; walking with operator[] keeps assignments in the tree.
  // A numeric segment indexes into a list ("features.0.transform").
  auto index_of = [&](const YAML::Node& n, const std::string& part) -> long {
    if (!n.IsSequence()) return -1;
    char* end = nullptr;
    long i = std::strtol(part.c_str(), &end, 10);
    if (*end != '\0' || i < 0) throw ConfigError(path, "'" + part + "' is not a list index");
    if (static_cast<size_t>(i) >= n.size())
      throw ConfigError(path, "index " + part + " is past the end of a list of " +
                                  std::to_string(n.size()));
    return i;
  };
  YAML::Node cur = root;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    long idx = index_of(cur, parts[i]);
    YAML::Node next = idx >= 0 ? cur[static_cast<size_t>(idx)] : cur[parts[i]];
    if (next.IsDefined() && !next.IsNull() && !next.IsMap() && !next.IsSequence())
      throw ConfigError(path, "cannot set a key below '" + parts[i] + "', which is a single value");
    if (!next.IsDefined() || next.IsNull()) {
      cur[parts[i]] = YAML::Node(YAML::NodeType::Map);
      next = cur[parts[i]];
    }
    cur.reset(next);
  }
  long idx = index_of(cur, parts.back());
  if (idx >= 0) cur[static_cast<size_t>(idx)] = value;
  else cur[parts.back()] = value;
}

namespace {

// yaml-cpp keeps both entries of a key written twice in one mapping and answers lookups with the
// first, so a second `store:` or a dataset declared twice would be silently ignored: refuse them,
// naming both lines.
void reject_duplicate_keys(const YAML::Node& node, const std::string& path) {
  auto join = [&](const std::string& key) { return path.empty() ? key : path + "." + key; };
  if (node.IsMap()) {
    std::map<std::string, int> first_line;
    for (const auto& kv : node) {
      if (!kv.first.IsScalar()) continue;
      const std::string& key = kv.first.Scalar();
      int line = kv.first.Mark().line + 1;
      auto [it, fresh] = first_line.emplace(key, line);
      if (!fresh)
        throw ConfigError(join(key), "declared twice, at lines " + std::to_string(it->second) +
                                         " and " + std::to_string(line) + " (keep one)");
      reject_duplicate_keys(kv.second, join(key));
    }
  } else if (node.IsSequence()) {
    for (size_t i = 0; i < node.size(); ++i) reject_duplicate_keys(node[i], join(std::to_string(i)));
  }
}

}  // namespace

Config Config::load(const std::string& path, const std::vector<std::string>& overrides) {
  std::ifstream in(path);
  if (!in) throw ConfigError("", "cannot open the configuration file");
  std::stringstream buf;
  buf << in.rdbuf();
  return parse(buf.str(), overrides, path);
}

Config Config::parse(const std::string& yaml_text, const std::vector<std::string>& overrides,
                     const std::string& source) {
  YAML::Node node;
  try {
    node = YAML::Load(yaml_text);
  } catch (const YAML::ParserException& e) {
    throw ConfigError("", "invalid YAML at line " + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  reject_duplicate_keys(node, "");
  if (node.IsNull()) node = YAML::Node(YAML::NodeType::Map);
  if (!node.IsMap()) throw ConfigError("", "expected a mapping at the top of the file");
  return from_node(node, overrides, source);
}

const char* env_override(const char* var) {
  const char* value = std::getenv(var);
  return value && *value ? value : nullptr;
}

Config Config::from_node(YAML::Node node, const std::vector<std::string>& overrides,
                         const std::string& source) {
  for (const auto& [key, var] : kEnvOverrides)
    if (const char* value = env_override(var)) node[key] = value;
  for (const auto& o : overrides) apply_override(node, o);

  Config c;
  c.source_ = source;
  c.root_ = ConfigNode(node, "");
  c.root_.expect_keys({"bus", "store", "log_level", "datasets", "stages", "local", "kafka",
                       "sqlite", "postgresql", "server", "description"});
  c.bus_url_ = c.root_.get_string("bus", "local:.flowcast/bus");
  c.store_url_ = c.root_.get_string("store", "sqlite:.flowcast/flowcast.db");
  c.log_level_ = c.root_.get_string("log_level", "info");
  static const char* kLevels[] = {"trace", "debug", "info", "warn", "error", "off"};
  bool known = false;
  for (auto* l : kLevels) known |= c.log_level_ == l;
  if (!known) c.root_["log_level"].fail("expected trace, debug, info, warn, error or off");

  ConfigNode ds = c.root_["datasets"];
  if (!ds.defined() || ds.keys().empty())
    ds.fail("declare at least one dataset under 'datasets:'");
  for (const auto& name : ds.keys()) c.datasets_.push_back(DatasetSpec::parse(name, ds[name]));
  c.root_["stages"].expect_keys({"produce", "ingest", "train", "predict", "evaluate", "serve"});
  return c;
}

const DatasetSpec& Config::dataset(const std::string& name) const {
  std::string known;
  for (const auto& d : datasets_) {
    if (d.name() == name) return d;
    known += (known.empty() ? "" : ", ") + d.name();
  }
  throw ConfigError("datasets", "no dataset named '" + name + "' (known: " + known + ")");
}

}  // namespace flowcast
