// The Kafka bus when brokers fail, requests fail and group members come and go, against
// librdkafka's mock cluster (3 brokers in this process). The mock has no replication: a broker
// failure is emulated by moving its leaderships (as a real cluster's controller would) and taking
// it down. Nothing here asserts timing beyond generous bounds.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "bus/kafka_bus.h"
#include "bus_conformance.h"
#include "support/kafka_mock_cluster.h"

namespace flowcast::bus {
namespace {

using flowcast::testing::kafka_test_options;
using flowcast::testing::KafkaMockCluster;
using Clock = std::chrono::steady_clock;

struct Cluster {
  std::unique_ptr<KafkaMockCluster> mock;
  std::unique_ptr<Bus> bus;
};

Cluster start(std::vector<std::pair<std::string, std::string>> extra = {}) {
  Cluster c;
  auto m = KafkaMockCluster::start(3);
  EXPECT_TRUE(m.ok()) << m.status().to_string();
  if (!m.ok()) return c;
  c.mock = std::move(m).value();
  KafkaOptions o = kafka_test_options(*c.mock);
  // Reconnect quickly to brokers that come back.
  o.properties.emplace_back("reconnect.backoff.max.ms", "500");
  for (auto& p : extra) o.properties.push_back(p);
  auto b = KafkaBus::open("kafka://" + c.mock->bootstrap(), o);
  EXPECT_TRUE(b.ok()) << b.status().to_string();
  if (b.ok()) c.bus = std::move(b).value();
  return c;
}

// Messages "m<i>" keyed "k<i>", produced in batches; transient failures are retried as the stages
// do. Returns false on a permanent failure.
bool produce_range(Producer& p, const std::string& topic, int first, int last, int batch,
                   bool flush_each = true) {
  for (int i = first; i < last; i += batch) {
    std::vector<std::string> keys, values;
    for (int j = i; j < std::min(last, i + batch); ++j) {
      keys.push_back("k" + std::to_string(j));
      values.push_back("m" + std::to_string(j));
    }
    std::vector<OutMessage> out;
    for (size_t j = 0; j < keys.size(); ++j) out.push_back(OutMessage{keys[j], values[j], 0, -1});
    Status s = p.produce(topic, out);
    if (!s.ok()) {
      ADD_FAILURE() << s.to_string();
      return false;
    }
    if (flush_each) {
      for (int attempt = 0;; ++attempt) {
        Status f = p.flush(1000);
        if (f.ok()) break;
        if (!is_transient(f) || attempt > 60) {
          ADD_FAILURE() << f.to_string();
          return false;
        }
      }
    }
  }
  return true;
}

// Polls like a stage: transient errors (a broker down) are reported and polling goes on.
std::vector<testing::Received> consume(Consumer& c, size_t count, int64_t timeout_ms) {
  std::vector<testing::Received> out;
  MessageBatch batch;
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  while (out.size() < count && Clock::now() < deadline) {
    Status s = c.poll(batch, std::min<size_t>(5000, count - out.size()), 200);
    if (!s.ok()) {
      EXPECT_TRUE(is_transient(s)) << s.to_string();
      if (!is_transient(s)) break;
    }
    for (size_t i = 0; i < batch.size(); ++i) {
      MessageView m = batch[i];
      out.push_back(testing::Received{std::string(m.topic), m.partition, m.offset, m.timestamp_ms,
                                      std::string(m.key), std::string(m.value)});
    }
  }
  return out;
}

// Everything in `topic` from the beginning, read by a fresh group: exactly what the log holds.
std::vector<testing::Received> read_all(Bus& bus, const std::string& topic, size_t expect,
                                        const std::string& group) {
  auto c = bus.consumer(group);
  EXPECT_TRUE(c.ok());
  if (!c.ok()) return {};
  EXPECT_TRUE((*c)->subscribe({topic}, {}).ok());
  auto got = consume(**c, expect, 60000);
  // Anything beyond `expect` would be a duplicate in the log.
  auto extra = consume(**c, 100, 500);
  EXPECT_EQ(extra.size(), 0u) << "the log holds more than was produced";
  return got;
}

// Checks that every m<first..last) is present once and that each partition's offsets are 0..n-1.
void expect_exactly_once(const std::vector<testing::Received>& got, int first, int last) {
  std::map<std::string, int> seen;
  std::map<int32_t, std::vector<int64_t>> offsets;
  for (const auto& m : got) {
    ++seen[m.value];
    offsets[m.partition].push_back(m.offset);
  }
  int missing = 0, doubled = 0;
  for (int i = first; i < last; ++i) {
    int n = seen["m" + std::to_string(i)];
    missing += n == 0;
    doubled += n > 1;
  }
  EXPECT_EQ(missing, 0) << "messages lost";
  EXPECT_EQ(doubled, 0) << "messages doubled in the log";
  for (auto& [p, v] : offsets) {
    std::sort(v.begin(), v.end());
    for (size_t i = 0; i < v.size(); ++i) {
      if (v[i] != int64_t(i)) {
        ADD_FAILURE() << "partition " << p << " has a gap or repeat at " << i;
        break;
      }
    }
  }
}

TEST(KafkaFailover, OneBrokerOfThreeDownWithItsLeadershipsMovedTheFlowGoesOn) {
  Cluster c = start();
  ASSERT_TRUE(c.bus);
  const std::string topic = "flow";
  ASSERT_TRUE(c.bus->ensure_topic(topic, TopicSettings{6}).ok());
  // Broker 2 leads partitions 1 and 4 and coordinates the reading group: it will fail.
  ASSERT_TRUE(c.mock->set_coordinator("readers", 2).ok());
  const int kTotal = 12000;

  // A reader that follows the flow through the failure.
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::set<std::string> read;
  std::thread reader([&] {
    auto consumer = c.bus->consumer("readers");
    ASSERT_TRUE(consumer.ok());
    ASSERT_TRUE((*consumer)->subscribe({topic}, {}).ok());
    MessageBatch batch;
    auto deadline = Clock::now() + std::chrono::seconds(90);
    while (!stop && Clock::now() < deadline) {
      Status s = (*consumer)->poll(batch, 1000, 100);
      if (!s.ok()) {
        EXPECT_TRUE(is_transient(s)) << s.to_string();
      }
      std::vector<PartitionOffset> next;
      std::lock_guard lock(mu);
      for (size_t i = 0; i < batch.size(); ++i) {
        read.insert(std::string(batch[i].value));
        next.push_back({{std::string(batch[i].topic), batch[i].partition}, batch[i].offset + 1});
      }
      (void)(*consumer)->commit(next);
      if (read.size() >= size_t(kTotal)) break;
    }
  });

  auto producer = c.bus->producer();
  ASSERT_TRUE(producer.ok());
  ASSERT_TRUE(produce_range(**producer, topic, 0, kTotal / 3, 200));
  // Mid-stream: the reader is reading when the broker fails.
  for (auto until = Clock::now() + std::chrono::seconds(30); Clock::now() < until;) {
    {
      std::lock_guard lock(mu);
      if (!read.empty()) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(c.mock->fail_over(2).ok());
  ASSERT_TRUE(produce_range(**producer, topic, kTotal / 3, kTotal, 200));

  auto deadline = Clock::now() + std::chrono::seconds(60);
  while (Clock::now() < deadline) {
    {
      std::lock_guard lock(mu);
      if (read.size() >= size_t(kTotal)) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  stop = true;
  reader.join();
  EXPECT_EQ(read.size(), size_t(kTotal))
      << "the reader did not get every message after the failover";
  for (int32_t leader : c.mock->leaders(topic)) EXPECT_NE(leader, 2);
  expect_exactly_once(read_all(*c.bus, topic, kTotal, "audit"), 0, kTotal);
}

TEST(KafkaFailover, TwoBrokersDownProducingStallsWithoutLossAndDrainsWhenTheyReturn) {
  // A small producer queue, so the stall reaches produce() quickly.
  Cluster c = start({{"queue.buffering.max.messages", "500"}});
  ASSERT_TRUE(c.bus);
  const std::string topic = "stall";
  ASSERT_TRUE(c.bus->ensure_topic(topic, TopicSettings{3}).ok());
  auto producer = c.bus->producer();
  ASSERT_TRUE(producer.ok());
  const int kTotal = 3000;
  ASSERT_TRUE(produce_range(**producer, topic, 0, 300, 100));

  ASSERT_TRUE(c.mock->broker_down(2).ok());
  ASSERT_TRUE(c.mock->broker_down(3).ok());
  std::atomic<bool> done{false};
  std::thread writer([&] {
    EXPECT_TRUE(produce_range(**producer, topic, 300, kTotal, 100, /*flush_each=*/false));
    done = true;
  });
  std::this_thread::sleep_for(std::chrono::seconds(2));
  EXPECT_FALSE(done) << "produce() should block while two thirds of the partitions have no broker";
  Status f = (*producer)->flush(300);
  EXPECT_EQ(f.code(), StatusCode::kTimeout) << f.to_string();
  EXPECT_TRUE(is_transient(f));

  ASSERT_TRUE(c.mock->broker_up(2).ok());
  ASSERT_TRUE(c.mock->broker_up(3).ok());
  auto deadline = Clock::now() + std::chrono::seconds(60);
  while (!done && Clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  writer.join();
  ASSERT_TRUE(done);
  Status drained = (*producer)->flush(30000);
  ASSERT_TRUE(drained.ok()) << drained.to_string();

  auto all = read_all(*c.bus, topic, kTotal, "audit");
  expect_exactly_once(all, 0, kTotal);
  // Order per partition (and so per key) is kept through the stall: idempotent producer.
  std::map<int32_t, int> last;
  for (const auto& m : all) {
    int i = std::stoi(m.value.substr(1));
    auto it = last.find(m.partition);
    if (it != last.end()) {
      EXPECT_GT(i, it->second) << "reordered in partition " << m.partition;
    }
    last[m.partition] = i;
  }
}

TEST(KafkaFailover, InjectedRetriableErrorsAreRetriedAndNothingIsLost) {
  Cluster c = start();
  ASSERT_TRUE(c.bus);
  const std::string topic = "flaky";
  ASSERT_TRUE(c.bus->ensure_topic(topic, TopicSettings{3}).ok());
  auto producer = c.bus->producer();
  ASSERT_TRUE(producer.ok());
  ASSERT_TRUE(produce_range(**producer, topic, 0, 100, 100));  // connections and producer id

  const std::vector<rd_kafka_resp_err_t> errors = {
      RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
      RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
      RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
      RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND,
      RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
      RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT};
  c.mock->push_request_errors(0, errors);  // Produce
  ASSERT_TRUE(produce_range(**producer, topic, 100, 2000, 100));

  // The consumer side meets the same errors on Fetch and on OffsetCommit.
  c.mock->push_request_errors(
      1, {RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
          RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION});
  c.mock->push_request_errors(
      8, {RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE});
  auto all = read_all(*c.bus, topic, 2000, "audit");
  expect_exactly_once(all, 0, 2000);
}

// A stand-in for the store: rows and offsets applied together under one lock.
struct FakeStore {
  std::mutex mu;
  std::map<TopicPartition, int64_t> offsets;
  std::map<std::string, int> applied;  // value -> times applied
  void commit(const std::vector<testing::Received>& batch) {
    std::lock_guard lock(mu);
    for (const auto& m : batch) {
      ++applied[m.value];
      auto& o = offsets[TopicPartition{m.topic, m.partition}];
      o = std::max(o, m.offset + 1);
    }
  }
  std::optional<int64_t> offset(const TopicPartition& tp) {
    std::lock_guard lock(mu);
    auto it = offsets.find(tp);
    return it == offsets.end() ? std::nullopt : std::optional<int64_t>(it->second);
  }
  size_t distinct() {
    std::lock_guard lock(mu);
    return applied.size();
  }
};

// A group member as a stage is one: it seeks to the store's offsets on assignment, keeps a batch
// across polls, and commits it (rows with offsets) when it is old or the partitions are revoked.
class Member {
 public:
  Member(Bus& bus, FakeStore& store, const std::string& topic) : store_(store) {
    thread_ = std::thread([this, &bus, topic] { run(bus, topic); });
  }
  ~Member() { stop(); }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  size_t assigned() const { return assigned_.load(); }

 private:
  void run(Bus& bus, const std::string& topic) {
    auto c = bus.consumer("sharers");
    ASSERT_TRUE(c.ok());
    Consumer* consumer = c->get();
    RebalanceListener l;
    l.on_assigned = [&](const std::vector<TopicPartition>& tps) {
      for (const auto& tp : tps)
        if (auto o = store_.offset(tp)) {
          EXPECT_TRUE(consumer->seek(tp, *o).ok());
        }
      assigned_ = consumer->assignment().size() + tps.size();
    };
    l.on_revoked = [&](const std::vector<TopicPartition>& tps) {
      flush();
      assigned_ = consumer->assignment().size() - tps.size();
    };
    ASSERT_TRUE(consumer->subscribe({topic}, l).ok());
    MessageBatch batch;
    auto started = Clock::now();
    while (!stop_) {
      Status s = consumer->poll(batch, 500, 100);
      if (!s.ok()) {
        EXPECT_TRUE(is_transient(s)) << s.to_string();
      }
      for (size_t i = 0; i < batch.size(); ++i) {
        auto m = batch[i];
        pending_.push_back(testing::Received{std::string(m.topic), m.partition, m.offset,
                                             m.timestamp_ms, std::string(m.key),
                                             std::string(m.value)});
      }
      if (Clock::now() - started > std::chrono::milliseconds(300)) {
        flush();
        started = Clock::now();
      }
    }
    flush();  // before leaving: the destructor does not call on_revoked
  }
  void flush() {
    store_.commit(pending_);
    pending_.clear();
  }

  FakeStore& store_;
  std::vector<testing::Received> pending_;
  std::atomic<bool> stop_{false};
  std::atomic<size_t> assigned_{0};
  std::thread thread_;
};

TEST(KafkaGroup, MembersShareAThirdJoinsOneLeavesNothingLostOrDoubled) {
  Cluster c = start();
  ASSERT_TRUE(c.bus);
  const std::string topic = "shared";
  ASSERT_TRUE(c.bus->ensure_topic(topic, TopicSettings{6}).ok());
  FakeStore store;
  const int kTotal = 6000;
  std::atomic<bool> produced{false};
  std::thread writer([&] {
    auto producer = c.bus->producer();
    ASSERT_TRUE(producer.ok());
    for (int i = 0; i < kTotal; i += 100) {
      ASSERT_TRUE(produce_range(**producer, topic, i, i + 100, 100));
      std::this_thread::sleep_for(std::chrono::milliseconds(30));
    }
    produced = true;
  });
  auto wait_until = [](auto pred, int seconds) {
    auto deadline = Clock::now() + std::chrono::seconds(seconds);
    while (!pred() && Clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    return pred();
  };
  auto a = std::make_unique<Member>(*c.bus, store, topic);
  auto b = std::make_unique<Member>(*c.bus, store, topic);
  EXPECT_TRUE(wait_until([&] { return a->assigned() == 3 && b->assigned() == 3; }, 30))
      << "two members share six partitions: " << a->assigned() << " + " << b->assigned();
  auto third = std::make_unique<Member>(*c.bus, store, topic);
  EXPECT_TRUE(wait_until([&] { return third->assigned() == 2 && a->assigned() == 2; }, 30))
      << "a third member takes its share: " << a->assigned() << " " << b->assigned() << " "
      << third->assigned();
  a.reset();  // leaves the group cleanly
  EXPECT_TRUE(wait_until([&] { return b->assigned() + third->assigned() == 6; }, 30));
  EXPECT_TRUE(
      wait_until([&] { return produced.load() && store.distinct() == size_t(kTotal); }, 60));
  writer.join();
  b.reset();
  third.reset();

  int missing = 0, doubled = 0;
  for (int i = 0; i < kTotal; ++i) {
    int n = store.applied["m" + std::to_string(i)];
    missing += n == 0;
    doubled += n > 1;
  }
  EXPECT_EQ(missing, 0);
  EXPECT_EQ(doubled, 0) << "a clean rebalance must hand over exactly at the committed offsets";
}

}  // namespace

namespace testing {
// The conformance helpers are linked in; the suite itself runs in kafka_bus_test.
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(BusConformance);
}  // namespace testing
}  // namespace flowcast::bus
