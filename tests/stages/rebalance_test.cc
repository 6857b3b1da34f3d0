// What the sinks do when partitions are taken away mid-stream (a member joined or left the
// group, as happens on Kafka): ingest commits its batch in flight before the next owner can read
// the stored offsets, and evaluate drops what it holds of the revoked partitions and never writes
// their offsets again. A scripted consumer makes the rebalance happen at an exact point; the
// store and the dlq producer are the real embedded ones.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "cli/backends.h"
#include "core/time_util.h"
#include "stages/evaluate_stage.h"
#include "stages/ingest_stage.h"
#include "stages/predict_stage.h"
#include "stages/prediction_message.h"
#include "support/forwarding_store.h"
#include "support/test_support.h"

namespace flowcast::stages {
namespace {

struct Msg {
  std::string topic;
  int32_t partition;
  int64_t offset;
  std::string key, value;
};

// The stored offset of a partition; -1 when none is stored (so "== 0" cannot pass by default).
int64_t offset_of(const std::map<bus::TopicPartition, int64_t>& offsets,
                  const bus::TopicPartition& tp) {
  auto it = offsets.find(tp);
  return it == offsets.end() ? -1 : it->second;
}

// One scripted poll: partitions to revoke first (on the polling thread, inside poll(), as the
// real backends do), then the messages to return. After the script, polls return nothing.
struct Step {
  std::vector<bus::TopicPartition> revoke;
  std::vector<Msg> messages;
};

class ScriptedConsumer : public bus::Consumer {
 public:
  ScriptedConsumer(std::deque<Step> steps, std::vector<bus::TopicPartition> assignment,
                   std::function<void()> after_revoke)
      : steps_(std::move(steps)),
        assignment_(std::move(assignment)),
        after_revoke_(std::move(after_revoke)) {}
  Status subscribe(const std::vector<std::string>&, bus::RebalanceListener l) override {
    listener_ = std::move(l);
    return Status();
  }
  Status poll(bus::MessageBatch& out, size_t, int64_t timeout_ms) override {
    out.clear();
    if (!assigned_) {
      assigned_ = true;
      if (listener_.on_assigned) listener_.on_assigned(assignment_);
    }
    if (steps_.empty()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min<int64_t>(timeout_ms, 20)));
      return Status();
    }
    Step step = std::move(steps_.front());
    steps_.pop_front();
    delivered_.fetch_add(1);
    if (!step.revoke.empty()) {
      if (listener_.on_revoked) listener_.on_revoked(step.revoke);
      std::erase_if(assignment_, [&](const bus::TopicPartition& tp) {
        return std::find(step.revoke.begin(), step.revoke.end(), tp) != step.revoke.end();
      });
      after_revoke_();
    }
    for (const auto& m : step.messages)
      out.add(m.topic, m.partition, m.offset, now_millis(), m.key, m.value);
    return Status();
  }
  Status seek(const bus::TopicPartition& tp, int64_t offset) override {
    std::lock_guard lock(seeks_mu_);
    seeks_.emplace_back(tp, offset);
    return Status();
  }
  std::vector<std::pair<bus::TopicPartition, int64_t>> seeks() const {
    std::lock_guard lock(seeks_mu_);
    return seeks_;
  }
  Status commit(const std::vector<bus::PartitionOffset>&) override { return Status(); }
  std::vector<bus::TopicPartition> assignment() const override { return assignment_; }
  std::vector<bus::PartitionLag> lag() override { return {}; }
  // Steps of the script poll() has returned so far (any thread may ask).
  int delivered() const { return delivered_.load(); }

 private:
  std::atomic<int> delivered_{0};
  mutable std::mutex seeks_mu_;
  std::vector<std::pair<bus::TopicPartition, int64_t>> seeks_;
  std::deque<Step> steps_;
  std::vector<bus::TopicPartition> assignment_;
  std::function<void()> after_revoke_;
  bus::RebalanceListener listener_;
  bool assigned_ = false;
};

// The embedded bus for producers and topics; consumers are scripted.
class ScriptedBus : public bus::Bus {
 public:
  ScriptedBus(bus::Bus& real, std::unique_ptr<ScriptedConsumer> c)
      : real_(real), c_(std::move(c)) {}
  Status ensure_topic(const std::string& t, const bus::TopicSettings& s) override {
    return real_.ensure_topic(t, s);
  }
  Result<int32_t> partition_count(const std::string& t) override {
    return real_.partition_count(t);
  }
  Result<std::unique_ptr<bus::Producer>> producer() override { return real_.producer(); }
  Result<std::unique_ptr<bus::Consumer>> consumer(const std::string&) override {
    if (!c_) return Status::invalid("one scripted consumer only");
    return std::unique_ptr<bus::Consumer>(std::move(c_));
  }
  std::string describe() const override { return "scripted"; }

 private:
  bus::Bus& real_;
  std::unique_ptr<ScriptedConsumer> c_;
};

class RebalanceTest : public ::testing::Test {
 protected:
  testing::TempDir dir_;
  Config config_ = testing::taxi_config(
      {"bus=local:" + dir_.str() + "/bus", "store=sqlite:" + dir_.str() + "/db", "log_level=warn",
       // Nothing is committed for being full or old: only an
       // idle poll (or a rebalance) ends a batch.
       "stages.ingest.batch_size=100000", "stages.ingest.max_wait=10m"});
  const DatasetSpec& ds_ = config_.dataset("taxi");
  std::unique_ptr<bus::Bus> bus_ = std::move(cli::open_bus(config_)).value();
  std::unique_ptr<store::Store> store_ = std::move(cli::open_store(config_)).value();

  std::string trip(const std::string& id) {
    return R"({"id":")" + id +
           R"(","vendor_id":1,"pickup_datetime":"2016-03-07 10:00:00","passenger_count":1,)"
           R"("pickup_longitude":-73.98,"pickup_latitude":40.75,"dropoff_longitude":-73.96,)"
           R"("dropoff_latitude":40.77})";
  }
  // A taxi request on partition p at offset `offset`, keyed "a<offset>" on 0 and "b<offset>" on 1.
  Msg request(int32_t p, int64_t offset) {
    const std::string id = (p == 0 ? "a" : "b") + std::to_string(offset);
    return {ds_.topics().requests, p, offset, id, trip(id)};
  }
  std::string outcome(const std::string& id, double seconds) {
    return R"({"id":")" + id + R"(","trip_duration":)" + std::to_string(seconds) + "}";
  }
  std::map<bus::TopicPartition, int64_t> stored_offsets(const std::string& group) {
    std::map<bus::TopicPartition, int64_t> out;
    auto stored = store_->load_offsets(group);
    EXPECT_TRUE(stored.ok()) << stored.status().to_string();
    if (stored.ok())
      for (const auto& o : *stored) out[{o.topic, o.partition}] = o.next_offset;
    return out;
  }
  // Runs `stage` on its own thread until `done` holds (at most 20 s), then stops it.
  void run(Stage& stage, const std::function<bool()>& done) {
    std::stop_source stop;
    Status result;
    std::thread t([&] { result = stage.run(stop.get_token()); });
    for (int i = 0; i < 400 && !done(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    stop.request_stop();
    t.join();
    EXPECT_TRUE(result.ok()) << result.to_string();
  }
};

TEST_F(RebalanceTest, IngestCommitsItsBatchInFlightBeforeARevokedPartitionMoves) {
  const std::string req = ds_.topics().requests;
  std::deque<Step> steps;
  Step first;
  for (int i = 0; i < 5; ++i) first.messages.push_back(request(0, i));
  for (int i = 0; i < 5; ++i) first.messages.push_back(request(1, i));
  steps.push_back(first);
  Step second;  // partition 1 goes to another member; partition 0 goes on
  second.revoke = {{req, 1}};
  for (int i = 5; i < 8; ++i) second.messages.push_back(request(0, i));
  steps.push_back(second);

  const std::string group = group_name("ingest", ds_);
  std::map<bus::TopicPartition, int64_t> at_revoke;
  int64_t rows_at_revoke = -1;
  auto consumer = std::make_unique<ScriptedConsumer>(
      steps, std::vector<bus::TopicPartition>{{req, 0}, {req, 1}}, [&] {
        at_revoke = stored_offsets(group);
        rows_at_revoke = store_->stats(ds_).value().requests;
      });
  ScriptedBus bus(*bus_, std::move(consumer));
  ASSERT_TRUE(store_->ensure_dataset(ds_).ok());
  IngestStage stage({config_, ds_, bus, *store_}, IngestSettings::parse(config_.stage("ingest")));
  run(stage, [&] { return stage.stats().out.load() >= 13; });

  // When the revocation returned, the batch in flight (both partitions) was in the store with
  // its offsets: the next owner of partition 1 resumes after it.
  EXPECT_EQ(rows_at_revoke, 10);
  EXPECT_EQ(offset_of(at_revoke, {req, 0}), 5);
  EXPECT_EQ(offset_of(at_revoke, {req, 1}), 5);
  // The rest went on in a batch of its own.
  EXPECT_EQ(store_->stats(ds_).value().requests, 13);
  EXPECT_EQ(stored_offsets(group)[(bus::TopicPartition{req, 0})], 8);
}

TEST_F(RebalanceTest, PredictCommitsWhatItPublishedBeforeARevokedPartitionMoves) {
  const std::string req = ds_.topics().requests;
  std::deque<Step> steps;
  Step first;
  for (int i = 0; i < 5; ++i) first.messages.push_back(request(0, i));
  for (int i = 0; i < 5; ++i) first.messages.push_back(request(1, i));
  steps.push_back(first);
  Step second;  // partition 1 goes to another member, right after the first batch was published
  second.revoke = {{req, 1}};
  second.messages.push_back(request(0, 5));
  steps.push_back(second);

  const std::string group = group_name("predict", ds_);
  std::map<bus::TopicPartition, int64_t> at_revoke;
  size_t b4_predictions_at_revoke = 0;
  auto consumer = std::make_unique<ScriptedConsumer>(
      steps, std::vector<bus::TopicPartition>{{req, 0}, {req, 1}}, [&] {
        at_revoke = stored_offsets(group);
        b4_predictions_at_revoke = store_->predictions_for(ds_, "b4").value().size();
      });
  ScriptedBus bus(*bus_, std::move(consumer));
  ASSERT_TRUE(store_->ensure_dataset(ds_).ok());
  PredictStage stage({config_, ds_, bus, *store_},
                     PredictSettings::parse(config_.stage("predict")));
  run(stage, [&] { return store_->predictions_for(ds_, "a5").value().size() == 1; });

  // The store's transaction runs on the commit worker's thread; the revocation waited for it, so
  // the next owner of partition 1 resumes after the batch this member published.
  EXPECT_EQ(offset_of(at_revoke, {req, 1}), 5);
  EXPECT_EQ(offset_of(at_revoke, {req, 0}), 5);
  EXPECT_EQ(b4_predictions_at_revoke, 1u);
  EXPECT_EQ(stored_offsets(group)[(bus::TopicPartition{req, 0})], 6);
}

TEST_F(RebalanceTest, EvaluateNeverWritesTheOffsetsOfARevokedPartitionAgain) {
  const std::string preds = ds_.topics().predictions, outs = ds_.topics().outcomes;
  auto prediction = [&](const std::string& key) {
    std::string v;
    encode_prediction("taxi", PredictionMessage{key, 1, 600.0, 0, now_millis()}, v);
    return v;
  };
  std::deque<Step> steps;
  Step first;  // k1's prediction waits on predictions/1 (its offset is held back at 0)
  first.messages = {{preds, 1, 0, "k1", prediction("k1")}, {preds, 0, 0, "k2", prediction("k2")}};
  steps.push_back(first);
  Step second;  // predictions/1 moves away; then k1's and k2's outcomes arrive here
  second.revoke = {{preds, 1}};
  second.messages = {{outs, 0, 0, "k1", outcome("k1", 700)},
                     {outs, 0, 1, "k2", outcome("k2", 650)}};
  steps.push_back(second);

  const std::string group = group_name("evaluate", ds_);
  std::map<bus::TopicPartition, int64_t> at_revoke;
  auto consumer = std::make_unique<ScriptedConsumer>(
      steps, std::vector<bus::TopicPartition>{{preds, 0}, {preds, 1}, {outs, 0}},
      [&] { at_revoke = stored_offsets(group); });
  ScriptedBus bus(*bus_, std::move(consumer));
  ASSERT_TRUE(store_->ensure_dataset(ds_).ok());
  EvaluateStage stage({config_, ds_, bus, *store_},
                      EvaluateSettings::parse(config_.stage("evaluate")));
  run(stage, [&] {
    if (stage.joined() < 1) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // time for a wrong second join
    return true;
  });

  // k2 joined here; k1's prediction is the next owner's to join (it re-reads predictions/1
  // from offset 0, which this member held back and then left alone).
  EXPECT_EQ(stage.joined(), 1);
  EXPECT_EQ(offset_of(at_revoke, {preds, 1}), 0);
  auto after = stored_offsets(group);
  auto p1 = after.find(bus::TopicPartition{preds, 1});
  EXPECT_TRUE(p1 == after.end() || p1->second == 0)
      << "predictions/1 moved to " << p1->second << " after it was revoked";
  EXPECT_EQ(offset_of(after, {preds, 0}), 1);
  // k1's outcome waits here for a prediction, so outcomes/0 stays at it.
  EXPECT_EQ(offset_of(after, {outs, 0}), 0);
}

// The store's first commit waits (up to 10 s) until the consumer has handed out the next
// batch's messages: a stage that waits for each commit before polling again never gets there.
class SlowFirstCommit : public testing::ForwardingStore {
 public:
  SlowFirstCommit(store::Store& inner, std::function<bool()> next_batch_read)
      : ForwardingStore(inner), next_batch_read_(std::move(next_batch_read)) {}
  Result<store::CommitResult> commit(const DatasetSpec& d, const store::SinkBatch& b) override {
    if (commits_.fetch_add(1) == 0) {
      for (int i = 0; i < 500 && !next_batch_read_(); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      overlapped_ = next_batch_read_();
    }
    return s_.commit(d, b);
  }
  bool overlapped() const { return overlapped_.load(); }

 private:
  std::function<bool()> next_batch_read_;
  std::atomic<int> commits_{0};
  std::atomic<bool> overlapped_{false};
};

TEST_F(RebalanceTest, IngestReadsTheNextBatchWhileTheStoreCommitsOne) {
  const std::string req = ds_.topics().requests;
  std::deque<Step> steps;
  Step first, idle, second;
  for (int i = 0; i < 5; ++i) first.messages.push_back(request(0, i));
  for (int i = 5; i < 8; ++i) second.messages.push_back(request(0, i));
  steps = {first, idle, second};  // the empty poll ends the first batch
  auto consumer =
      std::make_unique<ScriptedConsumer>(steps, std::vector<bus::TopicPartition>{{req, 0}}, [] {});
  ScriptedConsumer* scripted = consumer.get();
  ScriptedBus bus(*bus_, std::move(consumer));
  SlowFirstCommit store(*store_, [scripted] { return scripted->delivered() >= 3; });
  ASSERT_TRUE(store.ensure_dataset(ds_).ok());
  IngestStage stage({config_, ds_, bus, store}, IngestSettings::parse(config_.stage("ingest")));
  run(stage, [&] { return stage.stats().out.load() >= 8; });

  EXPECT_TRUE(store.overlapped()) << "the second batch was not read while the first committed";
  // Both batches stored, in order, with their offsets.
  EXPECT_EQ(store_->stats(ds_).value().requests, 8);
  EXPECT_EQ(stored_offsets(group_name("ingest", ds_))[(bus::TopicPartition{req, 0})], 8);
}

// The store's commit hangs (until released, at most 60 s).
class HangingStore : public testing::ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  Result<store::CommitResult> commit(const DatasetSpec& d, const store::SinkBatch& b) override {
    {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, std::chrono::seconds(60), [&] { return released_; });
    }
    return s_.commit(d, b);
  }
  void release() {
    {
      std::lock_guard lock(mu_);
      released_ = true;
    }
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool released_ = false;
};

// A rebalance while the store hangs on an earlier batch: after its bounded wait (15 s) the
// stage abandons the batch being read, rewinding the partition it keeps to where that batch
// began, instead of holding up the rebalance for as long as the store hangs.
TEST_F(RebalanceTest, IngestAbandonsTheBatchBeingReadWhenTheStoreHangsAtARebalance) {
  const std::string req = ds_.topics().requests;
  Step first, idle, second, revoke;
  for (int i = 0; i < 5; ++i) first.messages.push_back(request(0, i));  // handed over, hangs
  for (int i = 5; i < 8; ++i) second.messages.push_back(request(0, i));
  for (int i = 0; i < 2; ++i) second.messages.push_back(request(1, i));
  revoke.revoke = {{req, 1}};
  auto consumer = std::make_unique<ScriptedConsumer>(
      std::deque<Step>{first, idle, second, revoke},
      std::vector<bus::TopicPartition>{{req, 0}, {req, 1}}, [] {});
  ScriptedConsumer* scripted = consumer.get();
  ScriptedBus bus(*bus_, std::move(consumer));
  HangingStore store(*store_);
  ASSERT_TRUE(store.ensure_dataset(ds_).ok());
  IngestStage stage({config_, ds_, bus, store}, IngestSettings::parse(config_.stage("ingest")));
  // The consumer belongs to the stage, which frees it when it ends: its seeks are copied here.
  std::vector<std::pair<bus::TopicPartition, int64_t>> seeks;
  run(stage, [&] {
    seeks = scripted->seeks();
    if (seeks.empty()) return false;
    store.release();  // lets the stage finish the first batch and stop
    return true;
  });
  // Partition 0 rewound to the first message of the abandoned batch; partition 1 left alone.
  EXPECT_EQ(seeks,
            (std::vector<std::pair<bus::TopicPartition, int64_t>>{{{req, 0}, 5}}));
  // The first batch was committed once the store answered; nothing of the abandoned one.
  EXPECT_EQ(store_->stats(ds_).value().requests, 5);
  EXPECT_EQ(stored_offsets(group_name("ingest", ds_))[(bus::TopicPartition{req, 0})], 5);
}

}  // namespace
}  // namespace flowcast::stages
