// Tests of the local:PATH backend: the shared conformance suite, then what only a log on disk has
// (reopen, torn tails, damage, segments, the one-writer and one-member rules).
#include "bus/local_bus.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "bus/local_format.h"
#include "bus/local_wake.h"
#include "bus_conformance.h"
#include "core/config_error.h"
#include "support/test_support.h"

namespace flowcast::bus::testing {
namespace {

namespace fs = std::filesystem;

class LocalEnv : public BusTestEnv {
 public:
  explicit LocalEnv(LocalBusOptions options) : options_(options) {}
  Result<std::unique_ptr<Bus>> open() override {
    FC_ASSIGN_OR_RETURN(auto bus, LocalBus::open(dir_.str(), options_));
    return std::unique_ptr<Bus>(std::move(bus));
  }

 private:
  flowcast::testing::TempDir dir_;
  LocalBusOptions options_;
};

LocalBusOptions options_with(LocalBusOptions::Fsync fsync, int64_t segment_bytes) {
  LocalBusOptions o;
  o.fsync = fsync;
  o.segment_bytes = segment_bytes;
  return o;
}

INSTANTIATE_TEST_SUITE_P(
    Local, BusConformance,
    ::testing::Values(BusFactory{"local",
                                 [] { return std::make_unique<LocalEnv>(LocalBusOptions{}); }},
                      // Tiny segments: every conformance test also runs across segment boundaries.
                      BusFactory{"local_small_segments",
                                 [] {
                                   return std::make_unique<LocalEnv>(
                                       options_with(LocalBusOptions::Fsync::kAlways, 256));
                                 }}),
    BusFactoryName);

// ---------------------------------------------------------------------------------------------

class LocalBusTest : public ::testing::Test {
 protected:
  std::unique_ptr<LocalBus> open(LocalBusOptions options = {}) {
    auto bus = LocalBus::open(dir_.str(), options);
    EXPECT_TRUE(bus.ok()) << bus.status().to_string();
    return bus.ok() ? std::move(bus).value() : nullptr;
  }
  static std::unique_ptr<Producer> producer(Bus& bus) {
    auto p = bus.producer();
    EXPECT_TRUE(p.ok());
    return std::move(p).value();
  }
  static std::unique_ptr<Consumer> consumer(Bus& bus, const std::string& group,
                                            const std::vector<std::string>& topics) {
    auto c = bus.consumer(group);
    EXPECT_TRUE(c.ok()) << c.status().to_string();
    if (!c.ok()) return nullptr;
    EXPECT_TRUE((*c)->subscribe(topics, {}).ok());
    return std::move(c).value();
  }
  // `n` records "value-<i>" (padded to 40 bytes) to partition `partition`, one batch.
  static void produce_n(Producer& p, const std::string& topic, int first, int n,
                        int32_t partition = 0) {
    std::vector<std::string> values;
    for (int i = first; i < first + n; ++i) {
      std::string v = "value-" + std::to_string(i);
      v.resize(40, '.');
      values.push_back(v);
    }
    std::vector<OutMessage> out;
    for (const auto& v : values) out.push_back(OutMessage{"key", v, 1000, partition});
    Status s = p.produce(topic, out);
    ASSERT_TRUE(s.ok()) << s.to_string();
  }
  fs::path partition_dir(const std::string& topic, int32_t partition) const {
    return dir_.path() / "topics" / topic / std::to_string(partition);
  }
  fs::path segment(const std::string& topic, int32_t partition, int64_t base = 0) const {
    return partition_dir(topic, partition) / segment_file_name(base);
  }
  static size_t record_size() { return frame_size(3, 40); }
  // "value-12" of "value-12......".
  static std::string stem(const std::string& value) { return value.substr(0, value.find('.')); }

  flowcast::testing::TempDir dir_;
};

TEST_F(LocalBusTest, DescribeAndLayout) {
  auto bus = open();
  ASSERT_TRUE(bus);
  EXPECT_EQ(bus->describe(), "local:" + fs::canonical(dir_.path()).string());
  ASSERT_TRUE(bus->ensure_topic("t", TopicSettings{2}).ok());
  auto p = producer(*bus);
  produce_n(*p, "t", 0, 3, 1);
  EXPECT_TRUE(fs::exists(dir_.path() / "topics" / "t" / "topic.meta"));
  EXPECT_TRUE(fs::exists(partition_dir("t", 0)));
  EXPECT_TRUE(fs::exists(segment("t", 1)));
  EXPECT_EQ(fs::file_size(segment("t", 1)), 3 * record_size());
  EXPECT_TRUE(fs::exists(partition_dir("t", 1) / "writer.lock"));
  EXPECT_EQ(segment_file_name(1234), "00000000000000001234.log");
  EXPECT_EQ(parse_segment_file_name("00000000000000001234.log"), 1234);
  EXPECT_FALSE(parse_segment_file_name("0000000000000001234.log"));
}

TEST_F(LocalBusTest, LocalPrefixIsAccepted) {
  auto bus = LocalBus::open("local:" + dir_.str());
  ASSERT_TRUE(bus.ok());
  EXPECT_EQ((*bus)->describe(), "local:" + fs::canonical(dir_.path()).string());
}

TEST_F(LocalBusTest, BadTopicNamesAndOptionsAreRefused) {
  auto bus = open();
  ASSERT_TRUE(bus);
  EXPECT_EQ(bus->ensure_topic("a/b", {}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bus->ensure_topic("..", {}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bus->ensure_topic("", {}).code(), StatusCode::kInvalidArgument);
  auto p = producer(*bus);
  std::vector<OutMessage> m{OutMessage{"k", "v", 0, 9}};
  ASSERT_TRUE(bus->ensure_topic("t", TopicSettings{2}).ok());
  EXPECT_EQ(p->produce("t", m).code(), StatusCode::kInvalidArgument) << "partition 9 of 2";

  LocalBusOptions bad;
  bad.default_partitions = 0;
  EXPECT_FALSE(LocalBus::open(dir_.str(), bad).ok());
}

TEST_F(LocalBusTest, ReopenKeepsRecordsAndOffsets) {
  {
    auto bus = open();
    ASSERT_TRUE(bus);
    ASSERT_TRUE(bus->ensure_topic("t", TopicSettings{2}).ok());
    auto p = producer(*bus);
    produce_n(*p, "t", 0, 10, 0);
    produce_n(*p, "t", 100, 4, 1);
    auto c = consumer(*bus, "g", {"t"});
    auto got = consume(*c, 14);
    ASSERT_EQ(got.size(), 14u);
    ASSERT_TRUE(c->commit({PartitionOffset{{"t", 0}, 6}, PartitionOffset{{"t", 1}, 4}}).ok());
  }
  auto bus = open();
  ASSERT_TRUE(bus);
  auto n = bus->partition_count("t");
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 2);
  auto p = producer(*bus);
  produce_n(*p, "t", 10, 2, 0);  // offsets continue at 10
  auto c = consumer(*bus, "g", {"t"});
  auto got = consume(*c, 6);
  ASSERT_EQ(got.size(), 6u);
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].partition, 0);
    EXPECT_EQ(got[i].offset, static_cast<int64_t>(6 + i));
    EXPECT_EQ(stem(got[i].value), "value-" + std::to_string(6 + i));
  }
  EXPECT_EQ(got.back().offset, 11);
}

TEST_F(LocalBusTest, GarbageAfterTheLastRecordIsCutOnReopen) {
  {
    auto bus = open();
    ASSERT_TRUE(bus->ensure_topic("t", TopicSettings{1}).ok());
    produce_n(*producer(*bus), "t", 0, 10);
  }
  {
    std::ofstream f(segment("t", 0), std::ios::app | std::ios::binary);
    f << std::string(500, '\x5a');  // longer than the record written after the repair
  }
  ASSERT_EQ(fs::file_size(segment("t", 0)), 10 * record_size() + 500);

  auto bus = open();
  // A reader before any writer: the unrepaired tail is "not yet written", not an error.
  auto c = consumer(*bus, "g", {"t"});
  auto got = consume(*c, 10);
  ASSERT_EQ(got.size(), 10u);
  MessageBatch batch;
  Status s = c->poll(batch, 10, 50);
  ASSERT_TRUE(s.ok()) << s.to_string();
  EXPECT_TRUE(batch.empty());

  // The first produce opens the writer, which cuts the tail; the new record follows on.
  produce_n(*producer(*bus), "t", 10, 1);
  EXPECT_EQ(fs::file_size(segment("t", 0)), 11 * record_size());
  got = consume(*c, 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].offset, 10);
  EXPECT_EQ(stem(got[0].value), "value-10");
}

TEST_F(LocalBusTest, HalfWrittenLastRecordIsCutOnReopen) {
  {
    auto bus = open();
    ASSERT_TRUE(bus->ensure_topic("t", TopicSettings{1}).ok());
    produce_n(*producer(*bus), "t", 0, 10);
  }
  fs::resize_file(segment("t", 0), 10 * record_size() - 7);
  auto bus = open();
  auto p = producer(*bus);
  produce_n(*p, "t", 50, 2);
  EXPECT_EQ(fs::file_size(segment("t", 0)), 11 * record_size());
  auto c = consumer(*bus, "g", {"t"});
  auto got = consume(*c, 11);
  ASSERT_EQ(got.size(), 11u);
  EXPECT_EQ(stem(got[8].value), "value-8");
  EXPECT_EQ(got[9].offset, 9);
  EXPECT_EQ(stem(got[9].value), "value-50");
  EXPECT_EQ(got[10].offset, 10);
}

TEST_F(LocalBusTest, ATruncatedHeaderIsNotYetWrittenForReaders) {
  {
    auto bus = open();
    ASSERT_TRUE(bus->ensure_topic("t", TopicSettings{1}).ok());
    produce_n(*producer(*bus), "t", 0, 3);
  }
  // Three whole records and 5 bytes of a fourth header, as a reader may see mid-write.
  std::string whole;
  {
    std::ifstream f(segment("t", 0), std::ios::binary);
    whole.assign(std::istreambuf_iterator<char>(f), {});
  }
  {
    std::ofstream f(segment("t", 0), std::ios::app | std::ios::binary);
    f << whole.substr(0, 5);
  }
  auto bus = open();
  auto c = consumer(*bus, "g", {"t"});
  auto got = consume(*c, 3);
  ASSERT_EQ(got.size(), 3u);
  MessageBatch batch;
  ASSERT_TRUE(c->poll(batch, 10, 20).ok());
  EXPECT_TRUE(batch.empty());
}

TEST_F(LocalBusTest, AFlippedByteInTheMiddleIsReportedAsCorruption) {
  {
    auto bus = open();
    ASSERT_TRUE(bus->ensure_topic("t", TopicSettings{1}).ok());
    produce_n(*producer(*bus), "t", 0, 20);
  }
  {
    // A byte in the value of record 5.
    std::fstream f(segment("t", 0), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(5 * record_size() + record_size() - 3));
    f.put('#');
  }
  auto bus = open();
  auto c = consumer(*bus, "g", {"t"});
  MessageBatch batch;
  std::vector<int64_t> offsets;
  Status s;
  for (int i = 0; i < 20 && s.ok(); ++i) {
    s = c->poll(batch, 100, 100);
    for (size_t j = 0; j < batch.size(); ++j) offsets.push_back(batch[j].offset);
  }
  EXPECT_EQ(offsets, (std::vector<int64_t>{0, 1, 2, 3, 4}));
  ASSERT_EQ(s.code(), StatusCode::kCorruption) << s.to_string();
  EXPECT_NE(s.message().find("t/0"), std::string::npos) << s.message();
  // It stays reported: the damaged record is not skipped silently.
  EXPECT_EQ(c->poll(batch, 100, 10).code(), StatusCode::kCorruption);
  // Seeking past it is the deliberate way on.
  ASSERT_TRUE(c->seek(TopicPartition{"t", 0}, 6).ok());
  ASSERT_TRUE(c->poll(batch, 100, 1000).ok());
  ASSERT_FALSE(batch.empty());
  EXPECT_EQ(batch[0].offset, 6);

  // The writer will not cut good records after the damage either.
  auto p = producer(*bus);
  std::vector<OutMessage> m{OutMessage{"k", "v", 0, 0}};
  EXPECT_EQ(p->produce("t", m).code(), StatusCode::kCorruption);
}

TEST_F(LocalBusTest, AFlippedHeaderByteIsReportedAsCorruption) {
  {
    auto bus = open();
    ASSERT_TRUE(bus->ensure_topic("t", TopicSettings{1}).ok());
    produce_n(*producer(*bus), "t", 0, 20);
  }
  {
    std::fstream f(segment("t", 0), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(7 * record_size() + 1));  // body length of record 7
    f.put('\x7f');
  }
  auto bus = open();
  auto c = consumer(*bus, "g", {"t"});
  auto got = consume(*c, 7);
  ASSERT_EQ(got.size(), 7u);
  MessageBatch batch;
  EXPECT_EQ(c->poll(batch, 100, 100).code(), StatusCode::kCorruption);
}

TEST_F(LocalBusTest, SegmentsRollAndSeeksCrossThem) {
  LocalBusOptions o;
  o.segment_bytes = static_cast<int64_t>(3 * record_size());
  auto bus = open(o);
  ASSERT_TRUE(bus->ensure_topic("t", TopicSettings{1}).ok());
  auto p = producer(*bus);
  for (int i = 0; i < 20; ++i) produce_n(*p, "t", i, 1);
  produce_n(*p, "t", 20, 5);  // a batch bigger than a segment gets one of its own

  auto bases = list_segments(partition_dir("t", 0));
  ASSERT_TRUE(bases.ok());
  std::vector<int64_t> expected{0, 3, 6, 9, 12, 15, 18, 20};
  EXPECT_EQ(*bases, expected);
  EXPECT_EQ(fs::file_size(segment("t", 0, 20)), 5 * record_size());

  auto c = consumer(*bus, "g", {"t"});
  auto all = consume(*c, 25);
  ASSERT_EQ(all.size(), 25u);
  for (size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i].offset, static_cast<int64_t>(i));

  for (int64_t target : {13, 2, 22, 9, 0, 19}) {
    ASSERT_TRUE(c->seek(TopicPartition{"t", 0}, target).ok());
    auto got = consume(*c, 2, 20000, 2);
    ASSERT_EQ(got.size(), 2u) << target;
    EXPECT_EQ(got[0].offset, target);
    EXPECT_EQ(stem(got[0].value), "value-" + std::to_string(target));
    EXPECT_EQ(got[1].offset, target + 1);
  }

  // Reopened, the writer continues in the last segment.
  p.reset();
  c.reset();
  bus.reset();
  bus = open(o);
  produce_n(*producer(*bus), "t", 25, 1);
  auto again = consumer(*bus, "g2", {"t"});
  ASSERT_TRUE(again->seek(TopicPartition{"t", 0}, 24).ok());
  auto tail = consume(*again, 2);
  ASSERT_EQ(tail.size(), 2u);
  EXPECT_EQ(tail[1].offset, 25);
}

TEST_F(LocalBusTest, AnOlderSegmentCutShortIsCorruption) {
  LocalBusOptions o;
  o.segment_bytes = static_cast<int64_t>(3 * record_size());
  {
    auto bus = open(o);
    ASSERT_TRUE(bus->ensure_topic("t", TopicSettings{1}).ok());
    auto p = producer(*bus);
    for (int i = 0; i < 9; ++i) produce_n(*p, "t", i, 1);  // segments 0, 3, 6
  }
  fs::resize_file(segment("t", 0, 3), 2 * record_size() + 10);  // record 5 half gone
  auto bus = open(o);
  auto c = consumer(*bus, "g", {"t"});
  auto got = consume(*c, 5);
  ASSERT_EQ(got.size(), 5u);
  MessageBatch batch;
  Status s = c->poll(batch, 10, 100);
  EXPECT_EQ(s.code(), StatusCode::kCorruption) << s.to_string();
}

TEST_F(LocalBusTest, ASeekPastTheEndWaitsForTheRecord) {
  LocalBusOptions o;
  o.segment_bytes = static_cast<int64_t>(2 * record_size());
  auto bus = open(o);
  ASSERT_TRUE(bus->ensure_topic("t", TopicSettings{1}).ok());
  auto p = producer(*bus);
  produce_n(*p, "t", 0, 1);
  auto c = consumer(*bus, "g", {"t"});
  MessageBatch batch;
  ASSERT_TRUE(c->poll(batch, 10, 1000).ok());
  ASSERT_TRUE(c->seek(TopicPartition{"t", 0}, 6).ok());
  ASSERT_TRUE(c->poll(batch, 10, 20).ok());
  EXPECT_TRUE(batch.empty());
  for (int i = 1; i < 8; ++i) produce_n(*p, "t", i, 1);  // rolls several segments meanwhile
  auto got = consume(*c, 2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].offset, 6);
  EXPECT_EQ(got[1].offset, 7);
}

// Runs `child` in a forked process and returns what it wrote to the pipe.
std::string in_child_process(const std::function<std::string()>& child) {
  int fds[2];
  if (::pipe(fds) != 0) return "pipe failed";
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    std::string result = child();
    ssize_t ignored = ::write(fds[1], result.data(), result.size());
    (void)ignored;
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string out;
  char buf[512];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return out;
}

TEST_F(LocalBusTest, ASecondWriterProcessIsRefused) {
  // No fsync thread in the parent: fork() copies only the calling thread.
  auto bus = open(options_with(LocalBusOptions::Fsync::kNever, int64_t{64} << 20));
  ASSERT_TRUE(bus->ensure_topic("t", TopicSettings{2}).ok());
  auto p = producer(*bus);
  produce_n(*p, "t", 0, 3, 0);  // this process now writes t/0

  const std::string dir = dir_.str();
  std::string result = in_child_process([&] {
    auto child_bus = LocalBus::open(dir, options_with(LocalBusOptions::Fsync::kNever, 1 << 20));
    if (!child_bus.ok()) return "open: " + child_bus.status().to_string();
    auto child_producer = (*child_bus)->producer();
    std::vector<OutMessage> m{OutMessage{"k", "from child", 0, 0}};
    Status s0 = (*child_producer)->produce("t", m);
    m[0].partition = 1;
    Status s1 = (*child_producer)->produce("t", m);
    return s0.to_string() + "\n" + s1.to_string();
  });
  const std::string expected =
      "busy: partition t/0 of local:" + fs::canonical(dir_.path()).string() +
      " is written by another process (pid " + std::to_string(::getpid()) +
      "); the local bus allows one writer process per partition\nok";
  EXPECT_EQ(result, expected);

  // The child wrote t/1 and exited, releasing it: this process may write it now, after it.
  produce_n(*p, "t", 10, 1, 1);
  produce_n(*p, "t", 3, 1, 0);
  auto c = consumer(*bus, "g", {"t"});
  auto got = consume(*c, 6);
  ASSERT_EQ(got.size(), 6u);
  std::map<int32_t, std::vector<std::string>> values;
  for (const auto& m : got) values[m.partition].push_back(m.value.substr(0, 10));
  EXPECT_EQ(values[1][0], "from child");
  EXPECT_EQ(values[1][1], "value-10..");
  EXPECT_EQ(values[0].size(), 4u);
}

TEST_F(LocalBusTest, ReadersSeeAnotherProcessWrites) {
  auto bus = open(options_with(LocalBusOptions::Fsync::kNever, int64_t{64} << 20));
  ASSERT_TRUE(bus->ensure_topic("t", TopicSettings{1}).ok());
  auto c = consumer(*bus, "g", {"t"});
  MessageBatch batch;
  ASSERT_TRUE(c->poll(batch, 10, 10).ok());
  ASSERT_TRUE(batch.empty());

  const std::string dir = dir_.str();
  std::thread writer([&] {
    std::string result = in_child_process([&] {
      auto child_bus = LocalBus::open(dir, options_with(LocalBusOptions::Fsync::kNever, 1 << 20));
      if (!child_bus.ok()) return child_bus.status().to_string();
      auto child_producer = (*child_bus)->producer();
      std::vector<OutMessage> m{OutMessage{"a", "1", 0, 0}, OutMessage{"b", "2", 0, 0}};
      return (*child_producer)->produce("t", m).to_string();
    });
    EXPECT_EQ(result, "ok");
  });
  // The child's append wakes this poll through the bus's `wake` file (a re-read on a timer would
  // find them too; LocalWake's own tests check that the wake crosses processes).
  auto got = consume(*c, 2, 60000);
  writer.join();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1].value, "2");
  auto lag = c->lag();
  ASSERT_EQ(lag.size(), 1u);
  EXPECT_EQ(lag[0].end_offset, 2);
  EXPECT_EQ(lag[0].position, 2);
}

TEST_F(LocalBusTest, AReaderFollowsAnotherProcessAcrossSegmentRolls) {
  auto bus = open(options_with(LocalBusOptions::Fsync::kNever, 1024));
  ASSERT_TRUE(bus->ensure_topic("t", TopicSettings{1}).ok());
  auto c = consumer(*bus, "g", {"t"});
  MessageBatch batch;
  ASSERT_TRUE(c->poll(batch, 10, 10).ok());  // the reader sits at the end of the first segment
  ASSERT_TRUE(batch.empty());

  const std::string dir = dir_.str();
  std::string result = in_child_process([&] {
    auto child_bus = LocalBus::open(dir, options_with(LocalBusOptions::Fsync::kNever, 1024));
    if (!child_bus.ok()) return child_bus.status().to_string();
    auto p = (*child_bus)->producer();
    for (int i = 0; i < 60; ++i) {  // ~150 bytes each into 1 KiB segments: a dozen rolls
      const std::string value = "v" + std::to_string(i) + std::string(120, '.');
      std::vector<OutMessage> m{OutMessage{"k", value, 0, 0}};  // views: `value` must outlive it
      Status s = (*p)->produce("t", m);
      if (!s.ok()) return s.to_string();
    }
    return std::string("ok");
  });
  ASSERT_EQ(result, "ok");
  size_t segments = 0;
  for (const auto& e : fs::directory_iterator(dir_.path() / "topics" / "t" / "0"))
    segments += e.path().extension() == ".log";
  EXPECT_GT(segments, 5u);
  auto got = consume(*c, 60, 60000);
  ASSERT_EQ(got.size(), 60u);
  for (int i = 0; i < 60; ++i) {
    EXPECT_EQ(got[size_t(i)].offset, i);
    EXPECT_EQ(got[size_t(i)].value.substr(0, 1 + std::to_string(i).size()),
              "v" + std::to_string(i));
  }
}

TEST_F(LocalBusTest, LagSeesTheEndHintOfAnotherProcess) {
  auto bus = open(options_with(LocalBusOptions::Fsync::kNever, int64_t{64} << 20));
  ASSERT_TRUE(bus->ensure_topic("t", TopicSettings{1}).ok());
  const std::string dir = dir_.str();
  std::string result = in_child_process([&] {
    auto child_bus = LocalBus::open(dir, options_with(LocalBusOptions::Fsync::kNever, 1 << 20));
    if (!child_bus.ok()) return child_bus.status().to_string();
    std::vector<OutMessage> m(7, OutMessage{"k", "v", 0, 0});
    return (*(*child_bus)->producer())->produce("t", m).to_string();
  });
  ASSERT_EQ(result, "ok");
  auto c = consumer(*bus, "g", {"t"});
  auto lag = c->lag();
  ASSERT_EQ(lag.size(), 1u);
  EXPECT_EQ(lag[0].position, 0);
  EXPECT_EQ(lag[0].end_offset, 7);
}

TEST_F(LocalBusTest, AGroupHasOneMember) {
  auto bus = open();
  auto first = bus->consumer("workers");
  ASSERT_TRUE(first.ok());
  auto second = bus->consumer("workers");
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kBusy);
  EXPECT_NE(second.status().message().find("one member"), std::string::npos)
      << second.status().message();
  EXPECT_NE(second.status().message().find("Kafka"), std::string::npos);

  // Also through another LocalBus object on the same directory.
  auto other_bus = open();
  EXPECT_EQ(other_bus->consumer("workers").status().code(), StatusCode::kBusy);
  // Another group is independent; once the member is gone the group is free again.
  EXPECT_TRUE(other_bus->consumer("others").ok());
  first.value().reset();
  EXPECT_TRUE(other_bus->consumer("workers").ok());
}

TEST_F(LocalBusTest, AGroupMemberInAnotherProcessIsRefused) {
  auto bus = open(options_with(LocalBusOptions::Fsync::kNever, int64_t{64} << 20));
  auto member = bus->consumer("g/with odd:name");
  ASSERT_TRUE(member.ok()) << member.status().to_string();
  const std::string dir = dir_.str();
  std::string result = in_child_process([&] {
    auto child_bus = LocalBus::open(dir, options_with(LocalBusOptions::Fsync::kNever, 1 << 20));
    if (!child_bus.ok()) return child_bus.status().to_string();
    return (*child_bus)->consumer("g/with odd:name").status().to_string();
  });
  EXPECT_EQ(result.rfind("busy: consumer group 'g/with odd:name'", 0), 0u) << result;
  EXPECT_NE(result.find("pid " + std::to_string(::getpid())), std::string::npos) << result;
}

TEST_F(LocalBusTest, BusObjectsOnOneDirectoryShareTheirWriters) {
  auto a = open();
  auto b = open();
  ASSERT_TRUE(a->ensure_topic("t", TopicSettings{1}).ok());
  produce_n(*producer(*a), "t", 0, 2);
  produce_n(*producer(*b), "t", 2, 2);  // same partition, same process: no lock conflict
  auto c = consumer(*b, "g", {"t"});
  auto got = consume(*c, 4);
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[3].offset, 3);
}

TEST_F(LocalBusTest, FlushUnderEveryPolicy) {
  for (auto fsync : {LocalBusOptions::Fsync::kAlways, LocalBusOptions::Fsync::kInterval,
                     LocalBusOptions::Fsync::kNever}) {
    flowcast::testing::TempDir dir;
    LocalBusOptions o;
    o.fsync = fsync;
    o.fsync_interval_ms = 5;
    auto bus = LocalBus::open(dir.str(), o);
    ASSERT_TRUE(bus.ok());
    auto p = producer(**bus);
    produce_n(*p, "t", 0, 5);
    EXPECT_TRUE(p->flush(1000).ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // let the fsync thread run
    produce_n(*p, "t", 5, 5);
  }
}

TEST(LocalBusOptionsTest, ParsesTheLocalSection) {
  YAML::Node n =
      YAML::Load("partitions: 8\nfsync: always\nfsync_interval: 250ms\nsegment_bytes: 1048576\n");
  LocalBusOptions o = parse_local_options(ConfigNode(n, "local"));
  EXPECT_EQ(o.default_partitions, 8);
  EXPECT_EQ(o.fsync, LocalBusOptions::Fsync::kAlways);
  EXPECT_EQ(o.fsync_interval_ms, 250);
  EXPECT_EQ(o.segment_bytes, 1048576);

  LocalBusOptions d = parse_local_options(ConfigNode(YAML::Node(), "local"));
  EXPECT_EQ(d.default_partitions, 4);
  EXPECT_EQ(d.fsync, LocalBusOptions::Fsync::kInterval);
  EXPECT_EQ(d.fsync_interval_ms, 1000);
  EXPECT_EQ(d.segment_bytes, int64_t{64} << 20);

  EXPECT_EQ(parse_local_options(ConfigNode(YAML::Load("fsync: never"), "local")).fsync,
            LocalBusOptions::Fsync::kNever);
}

TEST(LocalBusOptionsTest, TyposAndBadValuesFail) {
  auto parse = [](const char* yaml) {
    return parse_local_options(ConfigNode(YAML::Load(yaml), "local"));
  };
  EXPECT_THROW(parse("partition: 3"), ConfigError);
  EXPECT_THROW(parse("fsync: sometimes"), ConfigError);
  EXPECT_THROW(parse("fsync_interval: soon"), ConfigError);
  EXPECT_THROW(parse("partitions: 0"), ConfigError);
  try {
    parse("fsync: sometimes");
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.path(), "local.fsync");
  }
}

TEST(Murmur2Test, MatchesKafkasJavaClient) {
  // Apache Kafka's UtilsTest.testMurmur2 (signed 32-bit results of the Java client).
  const std::vector<std::pair<std::string, int32_t>> vectors{
      {"21", -973932308},
      {"foobar", -790332482},
      {"a-little-bit-long-string", -985981536},
      {"a-little-bit-longer-string", -1486304829},
      {"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
      {"abc", 479470107},
  };
  for (const auto& [key, want] : vectors) {
    EXPECT_EQ(static_cast<int32_t>(murmur2(key.data(), key.size())), want) << key;
  }
  // Kafka's toPositive(murmur2(key)) % partitions.
  EXPECT_EQ(partition_for_key("foobar", 50), 16);
  EXPECT_EQ(partition_for_key("21", 3),
            static_cast<int32_t>((static_cast<uint32_t>(-973932308) & 0x7fffffff) % 3));
}

// LocalWake: the counter every append bumps, and a wait on it that another process ends.
TEST(LocalWake, AnotherProcessEndsAWaitLongBeforeItsTimeout) {
  flowcast::testing::TempDir dir;
  const fs::path path = dir.path() / "wake";
  auto wake = LocalWake::open(path);
  ASSERT_TRUE(wake.ok()) << wake.status().to_string();
  const uint32_t seen = (*wake)->seq();
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {  // the child maps the same file and notifies once the parent is likely asleep
    auto child = LocalWake::open(path);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (child.ok()) (*child)->notify();
    ::_exit(child.ok() ? 0 : 1);
  }
  const auto start = std::chrono::steady_clock::now();
  (*wake)->wait(seen, start + std::chrono::seconds(30));
  const auto waited = std::chrono::steady_clock::now() - start;
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_NE((*wake)->seq(), seen);
  // Woken by the child's notify, not by the 30 s timeout.
  EXPECT_LT(waited, std::chrono::seconds(20));
}

TEST(LocalWake, AWaitWithNoWriteEndsAtItsDeadline) {
  flowcast::testing::TempDir dir;
  auto wake = LocalWake::open(dir.path() / "wake");
  ASSERT_TRUE(wake.ok()) << wake.status().to_string();
  const uint32_t seen = (*wake)->seq();
  const auto start = std::chrono::steady_clock::now();
  (*wake)->wait(seen, start + std::chrono::milliseconds(50));
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(50));
  EXPECT_EQ((*wake)->seq(), seen);
  // A counter that moved before the wait: it returns at once.
  (*wake)->notify();
  const auto again = std::chrono::steady_clock::now();
  (*wake)->wait(seen, again + std::chrono::seconds(30));
  EXPECT_LT(std::chrono::steady_clock::now() - again, std::chrono::seconds(20));
  EXPECT_EQ((*wake)->seq(), seen + 1);
}

TEST(LocalWake, AFileThatCannotBeCreatedIsAnError) {
  auto wake = LocalWake::open("/nonexistent-dir/for/sure/wake");
  ASSERT_FALSE(wake.ok());
  EXPECT_NE(wake.status().to_string().find("/nonexistent-dir/for/sure/wake"), std::string::npos)
      << wake.status().to_string();
}

}  // namespace
}  // namespace flowcast::bus::testing
