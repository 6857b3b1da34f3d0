#include "bus_conformance.h"

#include <atomic>
#include <chrono>
#include <map>
#include <set>
#include <thread>

namespace flowcast::bus::testing {

std::string BusFactoryName(const ::testing::TestParamInfo<BusFactory>& info) {
  return info.param.name;
}

std::vector<Received> consume(Consumer& consumer, size_t count, int64_t timeout_ms,
                              size_t max_per_poll) {
  std::vector<Received> out;
  MessageBatch batch;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (out.size() < count && std::chrono::steady_clock::now() < deadline) {
    Status s = consumer.poll(batch, std::min(max_per_poll, count - out.size()), 200);
    EXPECT_TRUE(s.ok()) << s.to_string();
    if (!s.ok()) break;
    for (size_t i = 0; i < batch.size(); ++i) {
      MessageView m = batch[i];
      out.push_back(Received{std::string(m.topic), m.partition, m.offset, m.timestamp_ms,
                             std::string(m.key), std::string(m.value)});
    }
  }
  return out;
}

void BusConformance::SetUp() { env_ = GetParam().make_env(); }

std::unique_ptr<Bus> BusConformance::open_bus() {
  auto bus = env_->open();
  EXPECT_TRUE(bus.ok()) << bus.status().to_string();
  return bus.ok() ? std::move(bus).value() : nullptr;
}

std::unique_ptr<Producer> BusConformance::make_producer(Bus& bus) {
  auto p = bus.producer();
  EXPECT_TRUE(p.ok()) << p.status().to_string();
  return p.ok() ? std::move(p).value() : nullptr;
}

std::unique_ptr<Consumer> BusConformance::subscribe(Bus& bus, const std::string& group,
                                                    const std::vector<std::string>& topics,
                                                    RebalanceListener listener) {
  auto c = bus.consumer(group);
  EXPECT_TRUE(c.ok()) << c.status().to_string();
  if (!c.ok()) return nullptr;
  Status s = (*c)->subscribe(topics, std::move(listener));
  EXPECT_TRUE(s.ok()) << s.to_string();
  return std::move(c).value();
}

void BusConformance::produce(Producer& producer, const std::string& topic,
                             const std::vector<OutMessage>& messages) {
  Status s = producer.produce(topic, messages);
  ASSERT_TRUE(s.ok()) << s.to_string();
}

namespace {

// Messages "v<first>".."v<first+n-1>" keyed "k<i>" for partition `partition`.
struct Messages {
  std::vector<std::string> keys, values;
  std::vector<OutMessage> out;
  Messages(int first, int n, int32_t partition, int64_t ts = 0) {
    for (int i = first; i < first + n; ++i) {
      keys.push_back("k" + std::to_string(i));
      values.push_back("v" + std::to_string(i));
    }
    for (size_t i = 0; i < keys.size(); ++i) {
      out.push_back(OutMessage{keys[i], values[i], ts, partition});
    }
  }
};

TEST_P(BusConformance, OrderAndOffsetsWithinAPartition) {
  auto bus = open_bus();
  ASSERT_TRUE(bus);
  const auto topic = env_->name("order");
  ASSERT_TRUE(bus->ensure_topic(topic, TopicSettings{2}).ok());
  auto producer = make_producer(*bus);
  for (int b = 0; b < 5; ++b) produce(*producer, topic, Messages(b * 20, 20, 1, 1234).out);
  ASSERT_TRUE(producer->flush(10000).ok());

  auto consumer = subscribe(*bus, env_->name("g"), {topic});
  auto got = consume(*consumer, 100);
  ASSERT_EQ(got.size(), 100u);
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].topic, topic);
    EXPECT_EQ(got[i].partition, 1);
    EXPECT_EQ(got[i].offset, static_cast<int64_t>(i));
    EXPECT_EQ(got[i].value, "v" + std::to_string(i));
    EXPECT_EQ(got[i].key, "k" + std::to_string(i));
    EXPECT_EQ(got[i].timestamp_ms, 1234);
  }
}

TEST_P(BusConformance, TimestampZeroMeansNow) {
  auto bus = open_bus();
  ASSERT_TRUE(bus);
  const auto topic = env_->name("ts");
  auto producer = make_producer(*bus);
  auto before = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  produce(*producer, topic, Messages(0, 1, 0).out);
  auto consumer = subscribe(*bus, env_->name("g"), {topic});
  auto got = consume(*consumer, 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_GE(got[0].timestamp_ms, before - 1000);
  EXPECT_LE(got[0].timestamp_ms, before + 600000);
}

TEST_P(BusConformance, SameKeyGoesToTheKafkaPartition) {
  auto bus = open_bus();
  ASSERT_TRUE(bus);
  const auto topic = env_->name("keys");
  ASSERT_TRUE(bus->ensure_topic(topic, TopicSettings{3}).ok());
  auto producer = make_producer(*bus);
  std::vector<std::string> keys;
  for (int i = 0; i < 60; ++i) keys.push_back("key-" + std::to_string(i));
  for (int round = 0; round < 3; ++round) {
    std::vector<OutMessage> batch;
    for (const auto& k : keys) batch.push_back(OutMessage{k, "x", 0, -1});
    produce(*producer, topic, batch);
  }
  auto consumer = subscribe(*bus, env_->name("g"), {topic});
  auto got = consume(*consumer, keys.size() * 3);
  ASSERT_EQ(got.size(), keys.size() * 3);
  std::map<std::string, std::set<int32_t>> partitions_of;
  for (const auto& m : got) partitions_of[m.key].insert(m.partition);
  ASSERT_EQ(partitions_of.size(), keys.size());
  std::set<int32_t> used;
  for (const auto& [key, parts] : partitions_of) {
    ASSERT_EQ(parts.size(), 1u) << key;
    EXPECT_EQ(*parts.begin(), partition_for_key(key, 3)) << key;
    used.insert(*parts.begin());
  }
  EXPECT_EQ(used.size(), 3u) << "60 keys should spread over all 3 partitions";
}

TEST_P(BusConformance, SeveralTopics) {
  auto bus = open_bus();
  ASSERT_TRUE(bus);
  const auto a = env_->name("topic-a"), b = env_->name("topic-b");
  auto producer = make_producer(*bus);
  produce(*producer, a, Messages(0, 10, -1).out);
  produce(*producer, b, Messages(100, 5, -1).out);
  auto consumer = subscribe(*bus, env_->name("g"), {a, b});
  auto got = consume(*consumer, 15);
  ASSERT_EQ(got.size(), 15u);
  std::map<std::string, std::set<std::string>> values;
  for (const auto& m : got) values[m.topic].insert(m.value);
  EXPECT_EQ(values[a].size(), 10u);
  EXPECT_EQ(values[b].size(), 5u);
  EXPECT_TRUE(values[b].count("v104"));
  EXPECT_FALSE(values[a].count("v104"));

  std::set<TopicPartition> assigned;
  for (const auto& tp : consumer->assignment()) assigned.insert(tp);
  auto na = bus->partition_count(a), nb = bus->partition_count(b);
  ASSERT_TRUE(na.ok() && nb.ok());
  EXPECT_EQ(assigned.size(), static_cast<size_t>(*na + *nb));
  EXPECT_TRUE(assigned.count(TopicPartition{b, 0}));
}

TEST_P(BusConformance, CommitThenANewConsumerResumesThere) {
  auto bus = open_bus();
  ASSERT_TRUE(bus);
  const auto topic = env_->name("resume");
  const auto group = env_->name("resumers");
  ASSERT_TRUE(bus->ensure_topic(topic, TopicSettings{1}).ok());
  auto producer = make_producer(*bus);
  produce(*producer, topic, Messages(0, 20, 0).out);
  {
    auto consumer = subscribe(*bus, group, {topic});
    auto got = consume(*consumer, 8, 20000, 8);
    ASSERT_EQ(got.size(), 8u);
    ASSERT_TRUE(consumer->commit({PartitionOffset{{topic, 0}, got.back().offset + 1}}).ok());
  }
  auto consumer = subscribe(*bus, group, {topic});
  auto got = consume(*consumer, 12);
  ASSERT_EQ(got.size(), 12u);
  EXPECT_EQ(got.front().offset, 8);
  EXPECT_EQ(got.back().offset, 19);

  // Another group starts from the beginning.
  consumer.reset();
  auto other = subscribe(*bus, env_->name("others"), {topic});
  auto all = consume(*other, 20);
  ASSERT_EQ(all.size(), 20u);
  EXPECT_EQ(all.front().offset, 0);
}

TEST_P(BusConformance, OnAssignedRunsInsideTheFirstPollAndMaySeek) {
  auto bus = open_bus();
  ASSERT_TRUE(bus);
  const auto topic = env_->name("assigned");
  ASSERT_TRUE(bus->ensure_topic(topic, TopicSettings{2}).ok());
  auto producer = make_producer(*bus);
  produce(*producer, topic, Messages(0, 10, 0).out);
  produce(*producer, topic, Messages(10, 10, 1).out);

  std::vector<TopicPartition> announced;
  Consumer* self = nullptr;
  RebalanceListener listener;
  listener.on_assigned = [&](const std::vector<TopicPartition>& tps) {
    announced = tps;
    ASSERT_TRUE(self->seek(TopicPartition{topic, 0}, 7).ok());
    ASSERT_TRUE(self->seek(TopicPartition{topic, 1}, 9).ok());
  };
  auto consumer = subscribe(*bus, env_->name("g"), {topic}, listener);
  self = consumer.get();
  EXPECT_TRUE(announced.empty()) << "on_assigned must wait for poll()";
  auto got = consume(*consumer, 4);
  ASSERT_EQ(announced.size(), 2u);
  ASSERT_EQ(got.size(), 4u);
  std::map<int32_t, std::vector<int64_t>> offsets;
  for (const auto& m : got) offsets[m.partition].push_back(m.offset);
  EXPECT_EQ(offsets[0], (std::vector<int64_t>{7, 8, 9}));
  EXPECT_EQ(offsets[1], (std::vector<int64_t>{9}));
}

TEST_P(BusConformance, SeekBackwardsAndForwards) {
  auto bus = open_bus();
  ASSERT_TRUE(bus);
  const auto topic = env_->name("seek");
  ASSERT_TRUE(bus->ensure_topic(topic, TopicSettings{1}).ok());
  auto producer = make_producer(*bus);
  produce(*producer, topic, Messages(0, 30, 0).out);
  auto consumer = subscribe(*bus, env_->name("g"), {topic});
  auto first = consume(*consumer, 20);
  ASSERT_EQ(first.size(), 20u);

  TopicPartition tp{topic, 0};
  ASSERT_TRUE(consumer->seek(tp, 5).ok());
  auto back = consume(*consumer, 3, 20000, 3);
  ASSERT_EQ(back.size(), 3u);
  EXPECT_EQ(back[0].offset, 5);
  EXPECT_EQ(back[0].value, "v5");
  EXPECT_EQ(back[2].offset, 7);

  ASSERT_TRUE(consumer->seek(tp, 25).ok());
  auto forward = consume(*consumer, 5);
  ASSERT_EQ(forward.size(), 5u);
  EXPECT_EQ(forward[0].offset, 25);
  EXPECT_EQ(forward[4].value, "v29");

  EXPECT_FALSE(consumer->seek(TopicPartition{topic, 7}, 0).ok()) << "not assigned";
}

TEST_P(BusConformance, BlockingPollWakesWhenAnotherThreadProduces) {
  auto bus = open_bus();
  ASSERT_TRUE(bus);
  const auto topic = env_->name("wake");
  ASSERT_TRUE(bus->ensure_topic(topic, TopicSettings{2}).ok());
  auto consumer = subscribe(*bus, env_->name("g"), {topic});
  MessageBatch batch;
  ASSERT_TRUE(consumer->poll(batch, 10, 50).ok());  // assignment, nothing yet
  EXPECT_TRUE(batch.empty());

  auto producer = make_producer(*bus);
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::vector<OutMessage> m{OutMessage{"k", "hello", 0, 1}};
    EXPECT_TRUE(producer->produce(topic, m).ok());
  });
  // One long poll: it must come back with the message, not with the timeout.
  Status s = consumer->poll(batch, 10, 60000);
  writer.join();
  ASSERT_TRUE(s.ok()) << s.to_string();
  ASSERT_EQ(batch.size(), 1u);
  EXPECT_EQ(batch[0].value, "hello");
  EXPECT_EQ(batch[0].partition, 1);
}

TEST_P(BusConformance, EmptyPollReturnsAfterTheTimeout) {
  auto bus = open_bus();
  ASSERT_TRUE(bus);
  auto consumer = subscribe(*bus, env_->name("g"), {env_->name("quiet")});
  MessageBatch batch;
  ASSERT_TRUE(consumer->poll(batch, 10, 10).ok());
  auto start = std::chrono::steady_clock::now();
  Status s = consumer->poll(batch, 10, 300);
  auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(s.ok()) << s.to_string();
  EXPECT_TRUE(batch.empty());
  EXPECT_GE(elapsed, std::chrono::milliseconds(250));
  EXPECT_LT(elapsed, std::chrono::seconds(30));
}

TEST_P(BusConformance, LagFollowsProducedAndConsumed) {
  auto bus = open_bus();
  ASSERT_TRUE(bus);
  const auto topic = env_->name("lag");
  ASSERT_TRUE(bus->ensure_topic(topic, TopicSettings{2}).ok());
  auto producer = make_producer(*bus);
  produce(*producer, topic, Messages(0, 10, 0).out);
  produce(*producer, topic, Messages(10, 3, 1).out);
  ASSERT_TRUE(producer->flush(10000).ok());
  auto consumer = subscribe(*bus, env_->name("g"), {topic});
  auto got = consume(*consumer, 13);
  ASSERT_EQ(got.size(), 13u);
  ASSERT_TRUE(consumer->seek(TopicPartition{topic, 0}, 4).ok());

  auto lag = consumer->lag();
  ASSERT_EQ(lag.size(), 2u);
  std::map<int32_t, PartitionLag> by_partition;
  for (const auto& l : lag) by_partition[l.tp.partition] = l;
  EXPECT_EQ(by_partition[0].position, 4);
  EXPECT_EQ(by_partition[0].end_offset, 10);
  EXPECT_EQ(by_partition[0].lag(), 6);
  EXPECT_EQ(by_partition[1].position, 3);
  EXPECT_EQ(by_partition[1].end_offset, 3);
  EXPECT_EQ(by_partition[1].lag(), 0);

  produce(*producer, topic, Messages(20, 5, 1).out);
  for (const auto& l : consumer->lag()) {
    if (l.tp.partition == 1) {
      EXPECT_EQ(l.lag(), 5);
    }
  }
}

TEST_P(BusConformance, EnsureTopicIsIdempotent) {
  auto bus = open_bus();
  ASSERT_TRUE(bus);
  const auto topic = env_->name("made");
  EXPECT_FALSE(bus->partition_count(topic).ok());
  ASSERT_TRUE(bus->ensure_topic(topic, TopicSettings{3}).ok());
  ASSERT_TRUE(bus->ensure_topic(topic, TopicSettings{5}).ok());
  auto n = bus->partition_count(topic);
  ASSERT_TRUE(n.ok()) << n.status().to_string();
  EXPECT_EQ(*n, 3);

  // Another Bus over the same data sees the same count.
  auto again = open_bus();
  ASSERT_TRUE(again);
  auto m = again->partition_count(topic);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(*m, 3);

  // Topics made implicitly get the backend's default count, at least one partition.
  auto producer = make_producer(*bus);
  produce(*producer, env_->name("implicit"), Messages(0, 1, -1).out);
  auto d = bus->partition_count(env_->name("implicit"));
  ASSERT_TRUE(d.ok());
  EXPECT_GE(*d, 1);
}

TEST_P(BusConformance, ProducersOnSeveralThreadsLoseNothing) {
  auto bus = open_bus();
  ASSERT_TRUE(bus);
  const auto topic = env_->name("threads");
  ASSERT_TRUE(bus->ensure_topic(topic, TopicSettings{2}).ok());
  auto producer = make_producer(*bus);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int b = 0; b < 25; ++b) {
        Messages m(t * 1000 + b * 10, 10, -1);
        EXPECT_TRUE(producer->produce(topic, m.out).ok());
      }
    });
  }
  for (auto& th : threads) th.join();
  auto consumer = subscribe(*bus, env_->name("g"), {topic});
  auto got = consume(*consumer, 1000);
  ASSERT_EQ(got.size(), 1000u);
  std::set<std::string> values;
  std::map<int32_t, int64_t> next;
  for (const auto& m : got) {
    values.insert(m.value);
    EXPECT_EQ(m.offset, next[m.partition]++) << "offsets grow by one";
  }
  EXPECT_EQ(values.size(), 1000u);
}

}  // namespace
}  // namespace flowcast::bus::testing
