#include "bus/kafka_bus.h"

#include "bus/kafka_admin.h"
#include "bus/kafka_consumer.h"
#include "bus/kafka_produce_tracker.h"
#include "bus/kafka_producer.h"

namespace flowcast::bus {

Result<std::string> KafkaBus::parse_url(const std::string& url) {
  std::string list = url.rfind("kafka://", 0) == 0 ? url.substr(8) : url;
  while (!list.empty() && list.back() == '/') list.pop_back();
  if (list.empty())
    return Status::invalid("kafka:// needs brokers, as in kafka://host1:9092,host2:9092");
  if (list.find('@') != std::string::npos)
    return Status::invalid(
        "credentials do not go in the bus URL: set kafka.sasl.username and "
        "kafka.sasl.password");
  if (list.find_first_of("/?# ") != std::string::npos)
    return Status::invalid("expected kafka://host:port,host:port,..., got '" + url + "'");
  size_t start = 0;
  while (start <= list.size()) {
    size_t end = list.find(',', start);
    if (end == std::string::npos) end = list.size();
    if (end == start) return Status::invalid("empty broker in '" + url + "'");
    start = end + 1;
  }
  return list;
}

KafkaBus::KafkaBus(std::shared_ptr<KafkaAdmin> admin, std::shared_ptr<KafkaProduceTracker> tracker)
    : admin_(std::move(admin)), tracker_(std::move(tracker)) {}

KafkaBus::~KafkaBus() = default;

Result<std::unique_ptr<KafkaBus>> KafkaBus::open(const std::string& url, KafkaOptions options) {
  FC_ASSIGN_OR_RETURN(options.bootstrap, parse_url(url));
  FC_ASSIGN_OR_RETURN(auto admin, KafkaAdmin::connect(options));
  return std::unique_ptr<KafkaBus>(
      new KafkaBus(std::move(admin), std::make_shared<KafkaProduceTracker>()));
}

Status KafkaBus::ensure_topic(const std::string& topic, const TopicSettings& settings) {
  return admin_->ensure_topic(topic, settings);
}

Result<int32_t> KafkaBus::partition_count(const std::string& topic) {
  return admin_->partition_count(topic);
}

Result<std::unique_ptr<Producer>> KafkaBus::producer() {
  FC_ASSIGN_OR_RETURN(auto p, KafkaProducer::create(admin_, tracker_));
  return std::unique_ptr<Producer>(std::move(p));
}

Result<std::unique_ptr<Consumer>> KafkaBus::consumer(const std::string& group) {
  FC_ASSIGN_OR_RETURN(auto c, KafkaConsumer::create(admin_, tracker_, group));
  return std::unique_ptr<Consumer>(std::move(c));
}

std::string KafkaBus::describe() const { return admin_->url(); }

const KafkaOptions& KafkaBus::options() const { return admin_->options(); }

}  // namespace flowcast::bus
