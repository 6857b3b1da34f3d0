#include "bus/kafka_options.h"

#include <algorithm>

#include "core/config_error.h"
#include "core/time_util.h"

namespace flowcast::bus {
namespace {

constexpr const char* kOwnPrefix = "flowcast.";

std::string join(const std::string& a, const std::string& b) { return a.empty() ? b : a + "." + b; }

// Flattens nested mappings into dotted property names; lists become comma-separated values
// (librdkafka's list syntax). A key given twice keeps its last value, in its last position.
void flatten(const YAML::Node& node, const std::string& prefix, const std::string& path,
             std::vector<std::pair<std::string, std::string>>& out) {
  for (const auto& kv : node) {
    const std::string key = join(prefix, kv.first.as<std::string>());
    const std::string where = join(path, kv.first.as<std::string>());
    const YAML::Node& v = kv.second;
    std::string value;
    if (v.IsMap()) {
      flatten(v, key, where, out);
      continue;
    } else if (v.IsScalar()) {
      value = v.Scalar();
    } else if (v.IsSequence()) {
      for (const auto& item : v) {
        if (!item.IsScalar()) throw ConfigError(where, "expected a list of single values");
        value += (value.empty() ? "" : ",") + item.Scalar();
      }
    } else {
      throw ConfigError(where, "expected a value");
    }
    std::erase_if(out, [&](const auto& p) { return p.first == key; });
    out.emplace_back(key, value);
  }
}

int64_t parse_whole(const std::string& path, const std::string& text, int64_t min, int64_t max) {
  int64_t v = 0;
  try {
    size_t used = 0;
    v = std::stoll(text, &used);
    if (used != text.size()) throw std::invalid_argument(text);
  } catch (const std::exception&) {
    throw ConfigError(path, "expected a whole number, got '" + text + "'");
  }
  if (v < min || v > max)
    throw ConfigError(path, "must be between " + std::to_string(min) + " and " +
                                std::to_string(max) + ", got " + text);
  return v;
}

int64_t parse_positive_duration(const std::string& path, const std::string& text) {
  auto ms = parse_duration_millis(text);
  if (!ms || *ms <= 0)
    throw ConfigError(path,
                      "expected a positive duration such as 500ms, 10s or 1m, got '" + text + "'");
  return *ms;
}

void apply_own_key(KafkaOptions& o, const std::string& key, const std::string& value) {
  const std::string path = "kafka." + key;
  const std::string name = key.substr(std::string(kOwnPrefix).size());
  if (name == "partitions") {
    o.partitions = int32_t(parse_whole(path, value, 1, 1000000));
  } else if (name == "replication_factor") {
    o.replication_factor = int16_t(parse_whole(path, value, 1, 32767));
  } else if (name == "min_insync_replicas") {
    o.min_insync_replicas = int32_t(parse_whole(path, value, 1, 32767));
  } else if (name == "connect_timeout") {
    o.connect_timeout_ms = parse_positive_duration(path, value);
  } else if (name == "admin_timeout") {
    o.admin_timeout_ms = parse_positive_duration(path, value);
  } else if (name == "close_timeout") {
    o.close_timeout_ms = parse_positive_duration(path, value);
  } else {
    throw ConfigError(path,
                      "unknown flowcast key (expected one of: flowcast.partitions, "
                      "flowcast.replication_factor, flowcast.min_insync_replicas, "
                      "flowcast.connect_timeout, flowcast.admin_timeout, flowcast.close_timeout)");
  }
}

// librdkafka names the offending properties in backquotes in the errors rd_kafka_new returns
// ("`acks` must be set to `all` when `enable.idempotence` is true"): the first of them that the
// configuration sets names the error. Otherwise the longest configured name the message mentions
// ("ssl.ca.location failed: ..."), else the section.
std::string blame(const KafkaOptions& o, const std::string& message) {
  size_t pos = 0;
  while ((pos = message.find('`', pos)) != std::string::npos) {
    size_t end = message.find('`', pos + 1);
    if (end == std::string::npos) break;
    std::string name = message.substr(pos + 1, end - pos - 1);
    for (const auto& [k, v] : o.properties)
      if (k == name) return "kafka." + k;
    pos = end + 1;
  }
  std::string best;
  for (const auto& [k, v] : o.properties)
    if (k.size() > best.size() && message.find(k) != std::string::npos) best = k;
  return best.empty() ? "kafka" : "kafka." + best;
}

// Creates and destroys an unconnected handle of `role`: librdkafka checks combinations of
// properties (idempotence needs acks=all, ...) only there.
void check_with_librdkafka(const KafkaOptions& o, KafkaRole role) {
  KafkaOptions trial = o;
  trial.bootstrap.clear();
  auto conf = make_kafka_conf(trial, role, "flowcast.config-check");
  if (!conf.ok()) throw ConfigError("kafka", conf.status().message());
  char err[512];
  // Quiet: without brokers librdkafka would warn that none is configured.
  rd_kafka_conf_set(conf->get(), "log_level", "0", err, sizeof err);
  rd_kafka_t* rk =
      rd_kafka_new(role == KafkaRole::kConsumer ? RD_KAFKA_CONSUMER : RD_KAFKA_PRODUCER,
                   conf->get(), err, sizeof err);
  if (rk == nullptr) throw ConfigError(blame(o, err), err);
  conf.value().release();  // rd_kafka_new took ownership
  KafkaHandle<rd_kafka_t> handle(rk);
  if (role == KafkaRole::kConsumer) rd_kafka_consumer_close(rk);
}

}  // namespace

std::vector<std::pair<std::string, std::string>> kafka_default_properties(KafkaRole role) {
  std::vector<std::pair<std::string, std::string>> p = {
      {"client.id", "flowcast"},
      {"allow.auto.create.topics", "false"},
      {"log.connection.close", "false"},
  };
  if (role == KafkaRole::kProducer) {
    p.insert(p.end(), {{"enable.idempotence", "true"},
                       {"acks", "all"},
                       {"compression.type", "lz4"},
                       {"linger.ms", "5"},
                       {"message.timeout.ms", "0"},
                       {"queue.buffering.max.kbytes", "65536"},
                       {"partitioner", "murmur2_random"}});
  } else if (role == KafkaRole::kConsumer) {
    p.insert(p.end(), {{"partition.assignment.strategy", "cooperative-sticky"},
                       {"enable.auto.commit", "false"},
                       {"enable.auto.offset.store", "false"},
                       {"auto.offset.reset", "earliest"},
                       {"queued.min.messages", "50000"},
                       {"queued.max.messages.kbytes", "16384"},
                       {"fetch.wait.max.ms", "100"},
                       {"session.timeout.ms", "10000"},
                       {"heartbeat.interval.ms", "3000"}});
  }
  return p;
}

Result<KafkaHandle<rd_kafka_conf_t>> make_kafka_conf(const KafkaOptions& options, KafkaRole role,
                                                     const std::string& group) {
  KafkaHandle<rd_kafka_conf_t> conf(rd_kafka_conf_new());
  char err[512];
  auto set = [&](const std::string& k, const std::string& v, bool configured) -> Status {
    if (rd_kafka_conf_set(conf.get(), k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
      return Status::invalid((configured ? "kafka." + k : "flowcast's default " + k) + ": " + err);
    }
    return Status();
  };
  for (const auto& [k, v] : kafka_default_properties(role)) FC_RETURN_IF_ERROR(set(k, v, false));
  for (const auto& [k, v] : options.properties) FC_RETURN_IF_ERROR(set(k, v, true));
  if (!options.bootstrap.empty())
    FC_RETURN_IF_ERROR(set("bootstrap.servers", options.bootstrap, false));
  if (role == KafkaRole::kConsumer) FC_RETURN_IF_ERROR(set("group.id", group, false));
  return conf;
}

std::string kafka_property(const KafkaOptions& options, KafkaRole role, const std::string& name) {
  std::string value;
  for (const auto& [k, v] : kafka_default_properties(role))
    if (k == name) value = v;
  for (const auto& [k, v] : options.properties)
    if (k == name) value = v;
  return value;
}

KafkaOptions parse_kafka_options(const ConfigNode& section) {
  KafkaOptions o;
  if (!section.defined()) return o;
  if (!section.is_map()) section.fail("expected a mapping of librdkafka properties");
  std::vector<std::pair<std::string, std::string>> flat;
  flatten(section.yaml(), "", section.path(), flat);

  char err[512];
  KafkaHandle<rd_kafka_conf_t> scratch(rd_kafka_conf_new());
  for (const auto& [key, value] : flat) {
    if (key.rfind(kOwnPrefix, 0) == 0) {
      apply_own_key(o, key, value);
      continue;
    }
    if (key == "bootstrap.servers" || key == "metadata.broker.list")
      throw ConfigError("kafka." + key,
                        "set the brokers in the bus URL (bus: kafka://host:port,...)");
    if (key == "group.id")
      throw ConfigError("kafka." + key,
                        "each stage uses its own group (flowcast.<stage>.<dataset>)");
    if (rd_kafka_conf_set(scratch.get(), key.c_str(), value.c_str(), err, sizeof err) !=
        RD_KAFKA_CONF_OK) {
      throw ConfigError("kafka." + key, err);
    }
    o.properties.emplace_back(key, value);
  }
  if (o.replication_factor > 0 && o.min_insync_replicas > o.replication_factor) {
    throw ConfigError("kafka.flowcast.min_insync_replicas",
                      "must not exceed flowcast.replication_factor (" +
                          std::to_string(o.replication_factor) + "): every write would be refused");
  }
  for (KafkaRole role : {KafkaRole::kProducer, KafkaRole::kConsumer})
    check_with_librdkafka(o, role);
  return o;
}

}  // namespace flowcast::bus
