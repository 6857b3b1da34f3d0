#include "support/kafka_mock_cluster.h"

#include <algorithm>
#include <cstdlib>

namespace flowcast::testing {

Result<std::unique_ptr<KafkaMockCluster>> KafkaMockCluster::start(int brokers) {
  std::unique_ptr<KafkaMockCluster> c(new KafkaMockCluster());
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  // The handle only hosts the mock; its own (unconfigured) client would warn about brokers.
  rd_kafka_conf_set(conf, "log_level", "0", err, sizeof err);
  c->rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (c->rk_ == nullptr) {
    rd_kafka_conf_destroy(conf);
    return Status::internal(std::string("mock cluster: ") + err);
  }
  c->mcluster_ = rd_kafka_mock_cluster_new(c->rk_, brokers);
  if (c->mcluster_ == nullptr) return Status::internal("mock cluster: could not start brokers");
  c->bootstrap_ = rd_kafka_mock_cluster_bootstraps(c->mcluster_);
  c->brokers_ = brokers;
  return c;
}

KafkaMockCluster::~KafkaMockCluster() {
  if (mcluster_) rd_kafka_mock_cluster_destroy(mcluster_);
  if (rk_) rd_kafka_destroy(rk_);
}

Status KafkaMockCluster::create_topic(const std::string& topic, int partitions,
                                      int replication_factor) {
  rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(mcluster_, topic.c_str(), partitions,
                                                     std::min(replication_factor, brokers_));
  if (e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
    return Status(StatusCode::kAlreadyExists, "topic " + topic + " exists");
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
    return Status::internal("mock create " + topic + ": " + rd_kafka_err2str(e));
  std::vector<int32_t> leaders;
  for (int p = 0; p < partitions; ++p) {
    int32_t broker = p % brokers_ + 1;
    e = rd_kafka_mock_partition_set_leader(mcluster_, topic.c_str(), p, broker);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
      return Status::internal("mock leader " + topic + ": " + rd_kafka_err2str(e));
    leaders.push_back(broker);
  }
  std::lock_guard lock(mu_);
  leaders_[topic] = leaders;
  return Status();
}

Status KafkaMockCluster::set_leader(const std::string& topic, int32_t partition, int32_t broker) {
  rd_kafka_resp_err_t e =
      rd_kafka_mock_partition_set_leader(mcluster_, topic.c_str(), partition, broker);
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
    return Status::internal("mock leader " + topic + "/" + std::to_string(partition) + ": " +
                            rd_kafka_err2str(e));
  std::lock_guard lock(mu_);
  auto& v = leaders_[topic];
  if (v.size() <= size_t(partition)) v.resize(size_t(partition) + 1, -1);
  v[size_t(partition)] = broker;
  return Status();
}

Status KafkaMockCluster::set_coordinator(const std::string& group, int32_t broker) {
  rd_kafka_resp_err_t e = rd_kafka_mock_coordinator_set(mcluster_, "group", group.c_str(), broker);
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
    return Status::internal("mock coordinator " + group + ": " + rd_kafka_err2str(e));
  std::lock_guard lock(mu_);
  coordinators_[group] = broker;
  return Status();
}

Status KafkaMockCluster::broker_down(int32_t broker) {
  rd_kafka_resp_err_t e = rd_kafka_mock_broker_set_down(mcluster_, broker);
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR) return Status::internal(rd_kafka_err2str(e));
  std::lock_guard lock(mu_);
  down_.insert(broker);
  return Status();
}

Status KafkaMockCluster::broker_up(int32_t broker) {
  rd_kafka_resp_err_t e = rd_kafka_mock_broker_set_up(mcluster_, broker);
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR) return Status::internal(rd_kafka_err2str(e));
  std::lock_guard lock(mu_);
  down_.erase(broker);
  return Status();
}

Status KafkaMockCluster::fail_over(int32_t broker) {
  std::vector<int32_t> alive;
  std::map<std::string, std::vector<int32_t>> leaders;
  std::map<std::string, int32_t> coordinators;
  {
    std::lock_guard lock(mu_);
    for (int32_t b = 1; b <= brokers_; ++b)
      if (b != broker && !down_.count(b)) alive.push_back(b);
    leaders = leaders_;
    coordinators = coordinators_;
  }
  if (alive.empty()) return Status::invalid("no other broker is up to take over");
  size_t next = 0;
  for (const auto& [topic, parts] : leaders) {
    for (size_t p = 0; p < parts.size(); ++p) {
      if (parts[p] != broker) continue;
      FC_RETURN_IF_ERROR(set_leader(topic, int32_t(p), alive[next++ % alive.size()]));
    }
  }
  for (const auto& [group, b] : coordinators) {
    if (b == broker) FC_RETURN_IF_ERROR(set_coordinator(group, alive[next++ % alive.size()]));
  }
  return broker_down(broker);
}

void KafkaMockCluster::push_request_errors(int16_t api_key,
                                           const std::vector<rd_kafka_resp_err_t>& errors) {
  rd_kafka_mock_push_request_errors_array(mcluster_, api_key, errors.size(), errors.data());
}

Status KafkaMockCluster::set_rtt(int32_t broker, int rtt_ms) {
  rd_kafka_resp_err_t e = rd_kafka_mock_broker_set_rtt(mcluster_, broker, rtt_ms);
  return e == RD_KAFKA_RESP_ERR_NO_ERROR ? Status() : Status::internal(rd_kafka_err2str(e));
}

std::vector<int32_t> KafkaMockCluster::leaders(const std::string& topic) const {
  std::lock_guard lock(mu_);
  auto it = leaders_.find(topic);
  return it == leaders_.end() ? std::vector<int32_t>{} : it->second;
}

std::set<int32_t> KafkaMockCluster::brokers_down() const {
  std::lock_guard lock(mu_);
  return down_;
}

bus::KafkaOptions kafka_test_options(KafkaMockCluster& mock) {
  bus::KafkaOptions o;
  o.bootstrap = mock.bootstrap();
  o.properties = {{"session.timeout.ms", "4000"},
                  {"heartbeat.interval.ms", "500"},
                  {"fetch.wait.max.ms", "10"}};
  o.connect_timeout_ms = 10000;
  o.close_timeout_ms = 5000;
  KafkaMockCluster* m = &mock;
  o.create_topic = [m](const std::string& topic, const bus::TopicSettings& s) {
    return m->create_topic(topic, s.partitions, s.replication_factor);
  };
  return o;
}

rd_kafka_resp_err_t kafka_error_from_name(const std::string& name) {
  std::string n = name;
  if (n.rfind("RD_KAFKA_RESP_ERR_", 0) == 0) n = n.substr(18);
  char* end = nullptr;
  long v = std::strtol(n.c_str(), &end, 10);
  if (!n.empty() && *end == '\0') return static_cast<rd_kafka_resp_err_t>(v);
  const rd_kafka_err_desc* descs = nullptr;
  size_t cnt = 0;
  rd_kafka_get_err_descs(&descs, &cnt);
  for (size_t i = 0; i < cnt; ++i)
    if (descs[i].name && n == descs[i].name) return descs[i].code;
  return RD_KAFKA_RESP_ERR_UNKNOWN;
}

}  // namespace flowcast::testing
