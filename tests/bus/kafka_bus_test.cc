// The Kafka bus against librdkafka's mock cluster (3 brokers in this process): the conformance
// suite, configuration, topic creation and start-up failures.
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>

#include <chrono>
#include <sstream>

#include "bus/kafka_bus.h"
#include "bus_conformance.h"
#include "core/config_error.h"
#include "core/log.h"
#include "support/kafka_mock_cluster.h"
#include "support/test_support.h"

namespace flowcast::bus {
namespace {

using flowcast::testing::kafka_test_options;
using flowcast::testing::KafkaMockCluster;

std::unique_ptr<KafkaMockCluster> start_mock() {
  auto m = KafkaMockCluster::start(3);
  EXPECT_TRUE(m.ok()) << m.status().to_string();
  return m.ok() ? std::move(m).value() : nullptr;
}

// A fresh 3-broker mock cluster per test.
class KafkaEnv : public testing::BusTestEnv {
 public:
  KafkaEnv() : mock_(start_mock()) {}
  Result<std::unique_ptr<Bus>> open() override {
    if (!mock_) return Status::internal("no mock cluster");
    FC_ASSIGN_OR_RETURN(
        auto b, KafkaBus::open("kafka://" + mock_->bootstrap(), kafka_test_options(*mock_)));
    return std::unique_ptr<Bus>(std::move(b));
  }

 private:
  std::unique_ptr<KafkaMockCluster> mock_;
};

}  // namespace

namespace testing {
INSTANTIATE_TEST_SUITE_P(Kafka, BusConformance,
                         ::testing::Values(BusFactory{"kafka",
                                                      [] { return std::make_unique<KafkaEnv>(); }}),
                         BusFactoryName);
}  // namespace testing

namespace {

// Collects what the "bus.kafka" logger writes while it lives.
class LogCapture {
 public:
  LogCapture() : sink_(std::make_shared<spdlog::sinks::ostream_sink_mt>(out_)) {
    logger("bus.kafka")->sinks().push_back(sink_);
  }
  ~LogCapture() {
    auto& sinks = logger("bus.kafka")->sinks();
    std::erase(sinks, sink_);
  }
  std::string text() {
    sink_->flush();
    return out_.str();
  }

 private:
  std::ostringstream out_;
  std::shared_ptr<spdlog::sinks::ostream_sink_mt> sink_;
};

KafkaOptions parse(const std::vector<std::string>& overrides) {
  Config c = flowcast::testing::taxi_config(overrides);
  return parse_kafka_options(c.section("kafka"));
}

std::string value_of(const KafkaOptions& o, const std::string& name) {
  for (const auto& [k, v] : o.properties)
    if (k == name) return v;
  return "<unset>";
}

TEST(KafkaOptions, DefaultsAreSafeAndFast) {
  KafkaOptions o = parse({});
  EXPECT_TRUE(o.properties.empty());
  EXPECT_EQ(o.partitions, 6);
  EXPECT_EQ(o.connect_timeout_ms, 10000);
  auto conf = make_kafka_conf(o, KafkaRole::kProducer);
  ASSERT_TRUE(conf.ok()) << conf.status().to_string();
  auto get = [&](rd_kafka_conf_t* c, const char* name) {
    char buf[256];
    size_t size = sizeof buf;
    EXPECT_EQ(rd_kafka_conf_get(c, name, buf, &size), RD_KAFKA_CONF_OK) << name;
    return std::string(buf);
  };
  EXPECT_EQ(get(conf->get(), "enable.idempotence"), "true");
  EXPECT_EQ(get(conf->get(), "linger.ms"), "5");
  EXPECT_EQ(get(conf->get(), "message.timeout.ms"), "0");
  EXPECT_EQ(kafka_property(o, KafkaRole::kProducer, "acks"), "all");
  EXPECT_EQ(kafka_property(o, KafkaRole::kProducer, "compression.type"), "lz4");
  EXPECT_EQ(kafka_property(o, KafkaRole::kProducer, "partitioner"), "murmur2_random");
  auto consumer = make_kafka_conf(o, KafkaRole::kConsumer, "g");
  ASSERT_TRUE(consumer.ok());
  EXPECT_EQ(get(consumer->get(), "partition.assignment.strategy"), "cooperative-sticky");
  EXPECT_EQ(get(consumer->get(), "enable.auto.commit"), "false");
  EXPECT_EQ(get(consumer->get(), "enable.auto.offset.store"), "false");
  EXPECT_EQ(get(consumer->get(), "queued.max.messages.kbytes"), "16384");
  EXPECT_EQ(get(consumer->get(), "group.id"), "g");
}

TEST(KafkaOptions, PropertiesPassThroughAndOverridesWin) {
  KafkaOptions o =
      parse({"kafka={linger.ms: 20, security.protocol: plaintext, "
             "flowcast.partitions: 3, flowcast: {replication_factor: 2, "
             "connect_timeout: 2s}}",
             "kafka.linger.ms=30", "kafka.queue.buffering.max.messages=500"});
  EXPECT_EQ(value_of(o, "linger.ms"), "30");
  EXPECT_EQ(value_of(o, "security.protocol"), "plaintext");
  EXPECT_EQ(value_of(o, "queue.buffering.max.messages"), "500");
  EXPECT_EQ(o.partitions, 3);
  EXPECT_EQ(o.replication_factor, 2);
  EXPECT_EQ(o.connect_timeout_ms, 2000);
  auto conf = make_kafka_conf(o, KafkaRole::kProducer);
  ASSERT_TRUE(conf.ok());
  char buf[64];
  size_t size = sizeof buf;
  ASSERT_EQ(rd_kafka_conf_get(conf->get(), "linger.ms", buf, &size), RD_KAFKA_CONF_OK);
  EXPECT_STREQ(buf, "30");
}

void expect_config_error(const std::vector<std::string>& overrides, const std::string& path,
                         const std::string& words) {
  try {
    parse(overrides);
    ADD_FAILURE() << "no ConfigError for " << overrides.back();
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.path(), path) << e.what();
    EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
  }
}

TEST(KafkaOptions, BadPropertiesAreConfigErrorsNamingThem) {
  expect_config_error({"kafka.no.such.property=1"}, "kafka.no.such.property",
                      "No such configuration property");
  expect_config_error({"kafka.acks=banana"}, "kafka.acks", "Invalid value");
  // A combination librdkafka refuses only when a client is created.
  expect_config_error({"kafka={enable.idempotence: true, acks: 1}"}, "kafka.acks",
                      "`acks` must be set to `all`");
  // A file librdkafka opens only when a client is created.
  expect_config_error({"kafka={security.protocol: ssl, ssl.ca.location: /nonexistent/ca.pem}"},
                      "kafka.ssl.ca.location", "ssl.ca.location");
  expect_config_error({"kafka.bootstrap.servers=a:1"}, "kafka.bootstrap.servers", "bus URL");
  expect_config_error({"kafka.group.id=x"}, "kafka.group.id", "own group");
  expect_config_error({"kafka.flowcast.partitions=0"}, "kafka.flowcast.partitions", "between");
  expect_config_error({"kafka.flowcast.partition=3"}, "kafka.flowcast.partition", "unknown");
  expect_config_error({"kafka.flowcast.connect_timeout=soon"}, "kafka.flowcast.connect_timeout",
                      "duration");
  expect_config_error({"kafka={flowcast.replication_factor: 2, flowcast.min_insync_replicas: 3}"},
                      "kafka.flowcast.min_insync_replicas", "must not exceed");
}

TEST(KafkaBusOpen, UrlsAreChecked) {
  EXPECT_EQ(*KafkaBus::parse_url("kafka://a:1,b:2"), "a:1,b:2");
  EXPECT_EQ(*KafkaBus::parse_url("kafka://a:1/"), "a:1");
  EXPECT_FALSE(KafkaBus::parse_url("kafka://").ok());
  EXPECT_FALSE(KafkaBus::parse_url("kafka://a:1,,b:2").ok());
  auto creds = KafkaBus::parse_url("kafka://user:secret@a:1");
  ASSERT_FALSE(creds.ok());
  EXPECT_EQ(creds.status().message().find("secret"), std::string::npos);
}

TEST(KafkaBusOpen, UnreachableBrokersFailClearlyWithinTheBoundedWait) {
  KafkaOptions o;
  o.connect_timeout_ms = 2000;
  auto start = std::chrono::steady_clock::now();
  // Port 1 on the loopback: nothing listens there.
  auto bus = KafkaBus::open("kafka://127.0.0.1:1,127.0.0.1:2", o);
  auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(bus.ok());
  EXPECT_EQ(bus.status().code(), StatusCode::kUnavailable);
  const std::string& m = bus.status().message();
  EXPECT_NE(m.find("kafka://127.0.0.1:1,127.0.0.1:2"), std::string::npos) << m;
  EXPECT_NE(m.find("2 s"), std::string::npos) << m;
  EXPECT_GE(elapsed, std::chrono::milliseconds(1500));
  EXPECT_LT(elapsed, std::chrono::seconds(15));
}

TEST(KafkaTopics, CreatedWithTheConfiguredSettings) {
  auto mock = start_mock();
  ASSERT_TRUE(mock);
  KafkaOptions o = kafka_test_options(*mock);
  std::map<std::string, TopicSettings> made;
  auto create = o.create_topic;
  o.create_topic = [&](const std::string& t, const TopicSettings& s) {
    made[t] = s;
    return create(t, s);
  };
  auto bus = KafkaBus::open("kafka://" + mock->bootstrap(), o);
  ASSERT_TRUE(bus.ok()) << bus.status().to_string();
  ASSERT_TRUE((*bus)->ensure_topic("defaults", {}).ok());
  EXPECT_EQ(made["defaults"].partitions, 6);
  EXPECT_EQ(made["defaults"].replication_factor, 3);   // min(3, brokers)
  EXPECT_EQ(made["defaults"].min_insync_replicas, 2);  // replication factor - 1
  EXPECT_EQ(*(*bus)->partition_count("defaults"), 6);
  ASSERT_TRUE((*bus)->ensure_topic("explicit", TopicSettings{2, 1, 1}).ok());
  EXPECT_EQ(made["explicit"].replication_factor, 1);
  EXPECT_EQ(*(*bus)->partition_count("explicit"), 2);
  EXPECT_EQ((*bus)->partition_count("never-made").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(made.count("never-made"), 0u);
}

TEST(KafkaTopics, AnExistingTopicWithOtherSettingsIsReportedAndLeftAlone) {
  auto mock = start_mock();
  ASSERT_TRUE(mock);
  ASSERT_TRUE(mock->create_topic("old", 2, 1).ok());
  auto bus = KafkaBus::open("kafka://" + mock->bootstrap(), kafka_test_options(*mock));
  ASSERT_TRUE(bus.ok()) << bus.status().to_string();
  LogCapture log;
  // (The mock reports every broker as a replica: it says replication factor 3.)
  ASSERT_TRUE((*bus)->ensure_topic("old", TopicSettings{5, 1, 1}).ok());
  EXPECT_EQ(*(*bus)->partition_count("old"), 2);
  std::string text = log.text();
  EXPECT_NE(text.find("topic old"), std::string::npos) << text;
  EXPECT_NE(text.find("exists with 2 partitions, replication factor 3"), std::string::npos) << text;
  EXPECT_NE(text.find("configured for 5 partitions, replication factor 1"), std::string::npos)
      << text;
  EXPECT_NE(text.find("left as it is"), std::string::npos) << text;
}

TEST(KafkaProducerTest, APermanentDeliveryFailureFailsTheFlush) {
  auto mock = start_mock();
  ASSERT_TRUE(mock);
  auto bus = KafkaBus::open("kafka://" + mock->bootstrap(), kafka_test_options(*mock));
  ASSERT_TRUE(bus.ok()) << bus.status().to_string();
  ASSERT_TRUE((*bus)->ensure_topic("denied", TopicSettings{1}).ok());
  auto producer = (*bus)->producer();
  ASSERT_TRUE(producer.ok());
  std::vector<OutMessage> one{OutMessage{"k", "v", 0, 0}};
  // Warm up (idempotent producer id), then make the next produce request fail for good.
  ASSERT_TRUE((*producer)->produce("denied", one).ok());
  ASSERT_TRUE((*producer)->flush(10000).ok());
  mock->push_request_errors(0, {RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE});
  ASSERT_TRUE((*producer)->produce("denied", one).ok());
  Status f = (*producer)->flush(10000);
  ASSERT_FALSE(f.ok());
  EXPECT_FALSE(is_transient(f)) << "a retrying caller would then commit input whose output is lost";
  EXPECT_NE(f.message().find("MSG_SIZE_TOO_LARGE"), std::string::npos) << f.message();
  EXPECT_NE(f.message().find("1 message"), std::string::npos) << f.message();
  // Reported once; the producer goes on.
  Status again = (*producer)->produce("denied", one);
  ASSERT_TRUE(again.ok()) << again.to_string();
  EXPECT_TRUE((*producer)->flush(10000).ok());
}

}  // namespace
}  // namespace flowcast::bus
