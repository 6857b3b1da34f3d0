// KafkaOptions: everything the `kafka://` bus is configured with, read from the `kafka:` section
// of the configuration.
//
// The section holds librdkafka properties, passed through to rd_kafka_conf_set() as written
// (security.protocol, sasl.*, ssl.*, linger.ms, ...; see librdkafka's CONFIGURATION.md), plus
// flowcast's own keys under `flowcast.`, a prefix no librdkafka property has:
//
//   kafka:
//     security.protocol: SASL_SSL        # any librdkafka property
//     linger.ms: 10
//     flowcast.partitions: 6              # or nested: flowcast: {partitions: 6, ...}
//     flowcast.replication_factor: 3
//     flowcast.min_insync_replicas: 2
//     flowcast.connect_timeout: 10s
//
// Nested mappings are flattened with dots, so `--set kafka.linger.ms=20` (which makes
// {linger: {ms: 20}}) and `linger.ms: 20` name the same property; when both appear, the later one
// (an override comes after the file) wins. flowcast's defaults (kafka_default_properties) are
// applied first, so every one of them can be overridden. `bootstrap.servers` comes from the bus
// URL and `group.id` from the stage, so setting either here is an error.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "bus/bus.h"
#include "bus/kafka_handle.h"
#include "core/config_node.h"

namespace flowcast::bus {

enum class KafkaRole { kProducer, kConsumer, kAdmin };

struct KafkaOptions {
  // "host:port,host:port", from the bus URL.
  std::string bootstrap;
  // librdkafka properties from the configuration, in order; applied after the defaults.
  std::vector<std::pair<std::string, std::string>> properties;
  // Topics created by flowcast (ensure_topic with 0 in TopicSettings, and topics made on first
  // use).
  int32_t partitions = 6;
  int16_t replication_factor = 0;   // 0: min(3, brokers in the cluster)
  int32_t min_insync_replicas = 0;  // 0: replication factor - 1, at least 1
  // How long KafkaBus::open waits for any broker to answer before it fails.
  int64_t connect_timeout_ms = 10000;
  // Bound on admin requests (metadata, topic creation) and on the wait for a new topic to appear.
  int64_t admin_timeout_ms = 30000;
  // How long a producer's destructor waits for undelivered messages, a consumer's for leaving
  // its group.
  int64_t close_timeout_ms = 5000;
  // Tests only: creates a topic instead of the Admin API (librdkafka's mock cluster implements
  // no CreateTopics). Unset in production.
  std::function<Status(const std::string& topic, const TopicSettings& settings)> create_topic;
};

// Reads the `kafka:` section (see above). Every librdkafka property is checked with librdkafka
// itself, first one by one and then together by creating (unconnected) producer and consumer
// handles, so a bad name, value or combination fails here. Throws ConfigError naming
// `kafka.<property>` and librdkafka's message. Missing section: the defaults.
KafkaOptions parse_kafka_options(const flowcast::ConfigNode& section);

// flowcast's defaults for a role, applied before the configured properties:
//   every role: client.id=flowcast, allow.auto.create.topics=false (flowcast creates topics with
//     their settings), log.connection.close=false
//   producer: enable.idempotence=true, acks=all, compression.type=lz4, linger.ms=5,
//     message.timeout.ms=0 (never give up on a message: a broker outage stalls, it does not
//     lose), queue.buffering.max.kbytes=65536, partitioner=murmur2_random (the Java client's,
//     = bus::partition_for_key)
//   consumer: partition.assignment.strategy=cooperative-sticky, enable.auto.commit=false,
//     enable.auto.offset.store=false, auto.offset.reset=earliest, queued.min.messages=50000,
//     queued.max.messages.kbytes=16384 (bounded prefetch: at most 50,000 messages or 16 MiB per
//     partition; librdkafka 2.0 re-checks a full partition about once a second, so the bound
//     holds about a second of a fast stage's input), fetch.wait.max.ms=100,
//     session.timeout.ms=10000, heartbeat.interval.ms=3000
std::vector<std::pair<std::string, std::string>> kafka_default_properties(KafkaRole role);

// A librdkafka configuration for `role`: the defaults, then options.properties, then
// bootstrap.servers (and group.id for a consumer). Returns invalid naming the property when
// librdkafka refuses one (parse_kafka_options has normally caught that already).
Result<KafkaHandle<rd_kafka_conf_t>> make_kafka_conf(const KafkaOptions& options, KafkaRole role,
                                                     const std::string& group = "");

// The value a property will have for `role` ("" when neither the defaults nor the configuration
// set it). For logs and tests.
std::string kafka_property(const KafkaOptions& options, KafkaRole role, const std::string& name);

}  // namespace flowcast::bus
