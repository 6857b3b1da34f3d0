// KafkaMockCluster: librdkafka's mock Kafka cluster (rdkafka_mock.h) in this process, for tests
// and the flowcast_kafka_mock helper. Brokers listen on 127.0.0.1 (ephemeral ports); data lives in
// memory and is gone when the object is destroyed.
//
// What the mock is (librdkafka 2.0): one in-memory log per partition shared by all "brokers" (no
// replication, so moving a leader loses nothing), only the last ~5 MiB kept per partition, no
// leader election (move leaders with set_leader to emulate a failover), no CreateTopics (topics
// are made here, or auto-created with 4 partitions by a metadata request naming them), no
// controller, no transactions; a rebalance of a group with members waits session.timeout.ms
// minus one second.
//
// Leaders: a topic created here gets partition p led by broker (p % brokers) + 1, and this
// object remembers every leader it set, so fail_over() can move the leaderships of a broker.
//
// Thread-safety: the mock is thread-safe; this object's bookkeeping is guarded by a mutex.
#pragma once

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "bus/kafka_options.h"
#include "core/status.h"

namespace flowcast::testing {

class KafkaMockCluster {
 public:
  // Starts `brokers` brokers (ids 1..brokers). Returns internal when librdkafka cannot.
  static Result<std::unique_ptr<KafkaMockCluster>> start(int brokers = 3);
  ~KafkaMockCluster();
  KafkaMockCluster(const KafkaMockCluster&) = delete;
  KafkaMockCluster& operator=(const KafkaMockCluster&) = delete;

  // "127.0.0.1:port,127.0.0.1:port,..."
  const std::string& bootstrap() const { return bootstrap_; }
  int brokers() const { return brokers_; }
  rd_kafka_mock_cluster_t* get() const { return mcluster_; }

  // Creates `topic` (replication factor capped at the broker count). already_exists when it is.
  Status create_topic(const std::string& topic, int partitions, int replication_factor = 3);
  Status set_leader(const std::string& topic, int32_t partition, int32_t broker);
  // Makes `broker` the group coordinator of `group` (remembered for fail_over).
  Status set_coordinator(const std::string& group, int32_t broker);
  Status broker_down(int32_t broker);
  Status broker_up(int32_t broker);
  // Moves every leadership and coordinatorship this object knows of away from `broker`, to the
  // other brokers that are up in turn, then takes `broker` down: a broker failure with its
  // partitions failed over, as a real cluster with replication would do.
  Status fail_over(int32_t broker);
  // The next `errors.size()` requests of `api_key` (RD_KAFKAP_Produce = 0, Fetch = 1, ...) fail
  // with these errors, in order, whichever broker gets them.
  void push_request_errors(int16_t api_key, const std::vector<rd_kafka_resp_err_t>& errors);
  Status set_rtt(int32_t broker, int rtt_ms);

  // Current leader per partition of a topic created here.
  std::vector<int32_t> leaders(const std::string& topic) const;
  std::set<int32_t> brokers_down() const;

 private:
  KafkaMockCluster() = default;
  rd_kafka_t* rk_ = nullptr;  // owns the mock cluster's threads
  rd_kafka_mock_cluster_t* mcluster_ = nullptr;
  std::string bootstrap_;
  int brokers_ = 0;
  mutable std::mutex mu_;
  std::map<std::string, std::vector<int32_t>> leaders_;  // guarded by mu_
  std::map<std::string, int32_t> coordinators_;          // guarded by mu_
  std::set<int32_t> down_;                               // guarded by mu_
};

// Options for a KafkaBus on `mock` in tests: topics created through the mock (it has no
// CreateTopics), session.timeout.ms=4000 and heartbeat.interval.ms=500 (the mock's rebalances wait
// session.timeout.ms - 1 s), fetch.wait.max.ms=10 (low latency), a 10 s connect timeout.
bus::KafkaOptions kafka_test_options(KafkaMockCluster& mock);

// Parses an error given by name ("NOT_LEADER_FOR_PARTITION", "REQUEST_TIMED_OUT", ...) or number.
// Returns RD_KAFKA_RESP_ERR_UNKNOWN when the name is not known.
rd_kafka_resp_err_t kafka_error_from_name(const std::string& name);

}  // namespace flowcast::testing
