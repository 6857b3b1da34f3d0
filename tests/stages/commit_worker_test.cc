// CommitWorker: batches commit in order, a transient failure is retried before the next batch, a
// permanent one stops the worker, and nothing handed over is dropped at shutdown.
#include "stages/commit_worker.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "core/config.h"
#include "stages/stage_util.h"
#include "support/test_support.h"

namespace flowcast::stages {
namespace {

// A store whose commit() records each batch's first offset and prediction count, and can be made
// to fail or to wait.
class RecordingStore : public store::Store {
 public:
  std::vector<int64_t> committed() {
    std::lock_guard lock(mu_);
    return committed_;
  }
  std::vector<size_t> predictions() {
    std::lock_guard lock(mu_);
    return predictions_;
  }
  int attempts() {
    std::lock_guard lock(mu_);
    return attempts_;
  }
  // Waits until `n` commit() calls have begun (held ones included).
  bool wait_entered(int n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(10), [&] { return entered_ >= n; });
  }
  void fail_next(int times, Status s) {
    std::lock_guard lock(mu_);
    failures_left_ = times;
    failure_ = std::move(s);
  }
  void hold(bool on) {
    {
      std::lock_guard lock(mu_);
      held_ = on;
    }
    cv_.notify_all();
  }

  Result<store::CommitResult> commit(const DatasetSpec&, const store::SinkBatch& b) override {
    std::unique_lock lock(mu_);
    ++entered_;
    cv_.notify_all();
    cv_.wait(lock, [&] { return !held_; });
    ++attempts_;
    if (failures_left_ > 0) {
      --failures_left_;
      return failure_;
    }
    committed_.push_back(b.offsets.empty() ? -1 : b.offsets[0].next_offset);
    predictions_.push_back(b.predictions.size());
    return store::CommitResult{};
  }
  std::string describe() const override { return "recording"; }

  Status ensure_dataset(const DatasetSpec&) override { return Status(); }
  Result<std::vector<store::OffsetEntry>> load_offsets(const std::string&) override { return no(); }
  Status scan_labelled(const DatasetSpec&, int64_t,
                       const std::function<void(const Record&)>&) override {
    return no();
  }
  Result<int64_t> count_labelled(const DatasetSpec&) override { return no(); }
  Result<std::vector<double>> recent_targets(const DatasetSpec&, int64_t) override { return no(); }
  Result<std::optional<Record>> get_record(const DatasetSpec&, const std::string&) override {
    return no();
  }
  Result<std::vector<store::PredictionRow>> predictions_for(const DatasetSpec&,
                                                            const std::string&) override {
    return no();
  }
  Result<store::DatasetStats> stats(const DatasetSpec&) override { return no(); }
  Result<std::vector<store::MetricRow>> recent_metrics(const std::string&, int64_t) override {
    return no();
  }
  Result<int64_t> register_model(const store::ModelInfo&, std::string_view, bool) override {
    return no();
  }
  Result<std::vector<store::ModelInfo>> list_models(const std::string&) override { return no(); }
  Result<std::optional<store::ModelInfo>> active_model(const std::string&) override { return no(); }
  Result<std::string> load_artifact(const std::string&, int64_t) override { return no(); }
  Status promote_model(const std::string&, int64_t) override { return no(); }

 private:
  static Status no() { return Status::internal("not used by these tests"); }

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<int64_t> committed_;
  std::vector<size_t> predictions_;
  int entered_ = 0, attempts_ = 0, failures_left_ = 0;
  Status failure_;
  bool held_ = false;
};

store::SinkBatch batch_at(int64_t offset) {
  store::SinkBatch b;
  b.group = "g";
  b.offsets.push_back({"requests", 0, offset});
  b.predictions.resize(3);
  return b;
}

const DatasetSpec& spec() {
  static const Config config = testing::taxi_config({});
  return config.dataset("taxi");
}

TEST(CommitWorker, CommitsInOrderAndHandsBackSpares) {
  RecordingStore store;
  std::atomic<int> seen{0};
  std::stop_source stop;
  CommitWorker w("test", store, spec(), stop.get_token(),
                 {{}, [&](const store::SinkBatch& b, int64_t ns) {
                    EXPECT_EQ(b.predictions.size(), 3u);
                    EXPECT_GE(ns, 0);
                    ++seen;
                  }});
  for (int64_t i = 1; i <= 6; ++i) ASSERT_TRUE(w.submit(batch_at(i)).ok());
  ASSERT_TRUE(w.drain().ok());
  EXPECT_EQ(store.committed(), (std::vector<int64_t>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(seen.load(), 6);
  store::SinkBatch spare = w.spare();
  EXPECT_GE(spare.predictions.capacity(), 3u);  // a committed batch, buffers kept
}

TEST(CommitWorker, RetriesATransientFailureBeforeTheNextBatch) {
  RecordingStore store;
  store.fail_next(2, Status::unavailable("server restarting"));
  std::atomic<int> failures{0};
  std::stop_source stop;
  CommitWorker w("test", store, spec(), stop.get_token(),
                 {[&](const Status& s) {
                    EXPECT_EQ(s.code(), StatusCode::kUnavailable);
                    ++failures;
                  },
                  {}});
  ASSERT_TRUE(w.submit(batch_at(1)).ok());
  ASSERT_TRUE(w.submit(batch_at(2)).ok());
  ASSERT_TRUE(w.drain().ok());
  EXPECT_EQ(store.committed(), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(failures.load(), 2);
  EXPECT_EQ(store.attempts(), 4);
}

TEST(CommitWorker, APermanentFailureStopsIt) {
  RecordingStore store;
  store.fail_next(1, Status::invalid("value too long"));
  std::stop_source stop;
  CommitWorker w("test", store, spec(), stop.get_token(), {});
  ASSERT_TRUE(w.submit(batch_at(1)).ok());
  Status d = w.drain();
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.message(), "value too long");
  Status s = w.submit(batch_at(2));
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(store.committed().empty());  // nothing after a failed batch, never out of order
}

TEST(CommitWorker, SubmitWaitsWhileTheQueueIsFullAndShutdownCommitsTheRest) {
  RecordingStore store;
  store.hold(true);
  std::stop_source stop;
  std::atomic<bool> third_handed_over{false};
  {
    CommitWorker w("test", store, spec(), stop.get_token(), {}, /*max_waiting=*/1);
    ASSERT_TRUE(w.submit(batch_at(1)).ok());  // taken by the worker, which waits in commit()
    // The worker may not have taken the first yet: then the second waits here until it has.
    ASSERT_TRUE(w.submit(batch_at(2)).ok());
    std::thread t([&] {
      EXPECT_TRUE(w.submit(batch_at(3)).ok());
      third_handed_over = true;
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    EXPECT_FALSE(third_handed_over.load());  // one committing, one waiting: the third must wait
    store.hold(false);
    t.join();
    EXPECT_TRUE(third_handed_over.load());
  }  // the destructor commits what was handed over
  EXPECT_EQ(store.committed(), (std::vector<int64_t>{1, 2, 3}));
}

TEST(CommitWorker, WithNoWaitingSlotSubmitReturnsOnceTheWorkerTookTheBatch) {
  RecordingStore store;
  store.hold(true);
  std::stop_source stop;
  std::atomic<bool> second_handed_over{false};
  {
    CommitWorker w("test", store, spec(), stop.get_token(), {}, /*max_waiting=*/0);
    ASSERT_TRUE(w.submit(batch_at(1)).ok());  // back once the worker took it (held in commit())
    std::thread t([&] {
      EXPECT_TRUE(w.submit(batch_at(2)).ok());
      second_handed_over = true;
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    EXPECT_FALSE(second_handed_over.load());  // one committing: the second is not taken yet
    store.hold(false);
    t.join();
    EXPECT_TRUE(second_handed_over.load());
  }
  EXPECT_EQ(store.committed(), (std::vector<int64_t>{1, 2}));
}

TEST(CommitWorker, DrainedWithinTellsWhetherCommitsAreStillRunning) {
  RecordingStore store;
  store.hold(true);
  std::stop_source stop;
  CommitWorker w("test", store, spec(), stop.get_token(), {});
  ASSERT_TRUE(w.submit(batch_at(1)).ok());
  EXPECT_FALSE(w.drained_within(50));  // held in commit()
  store.hold(false);
  EXPECT_TRUE(w.drained_within(30000));
  EXPECT_EQ(store.committed(), (std::vector<int64_t>{1}));
}

TEST(OffsetTracker, APollsRunsOfPartitionsGiveFirstAndNextOffsets) {
  bus::MessageBatch polled;
  const std::pair<int32_t, int64_t> msgs[] = {{0, 5}, {0, 6}, {1, 2}, {0, 7}, {1, 3}, {1, 4}};
  for (const auto& [p, o] : msgs) polled.add("t", p, o, 0, "k", "v");
  OffsetTracker t;
  t.consumed(polled);
  EXPECT_EQ(t.next().at({"t", 0}), 8);
  EXPECT_EQ(t.next().at({"t", 1}), 5);
  EXPECT_EQ(t.first().at({"t", 0}), 5);
  EXPECT_EQ(t.first().at({"t", 1}), 2);
  bus::MessageBatch one;
  one.add("u", 0, 9, 0, "k", "v");
  t.consumed(one);
  EXPECT_EQ(t.next().at({"u", 0}), 10);
  EXPECT_EQ(t.first().at({"u", 0}), 9);
}

// A consumer that only records what is committed to it.
class CommitRecorder : public bus::Consumer {
 public:
  std::vector<std::vector<bus::PartitionOffset>> commits;
  Status subscribe(const std::vector<std::string>&, bus::RebalanceListener) override {
    return Status();
  }
  Status poll(bus::MessageBatch&, size_t, int64_t) override { return Status(); }
  Status seek(const bus::TopicPartition&, int64_t) override { return Status(); }
  Status commit(const std::vector<bus::PartitionOffset>& o) override {
    commits.push_back(o);
    return Status();
  }
  std::vector<bus::TopicPartition> assignment() const override { return {}; }
  std::vector<bus::PartitionLag> lag() override { return {}; }
};

TEST(BusOffsetCopy, MergesPerPartitionWaitsForItsIntervalAndForgetsRevokedPartitions) {
  BusOffsetCopy copy(3600'000'000'000);  // an hour: only `now` sends in this test
  CommitRecorder c;
  copy.add({{"t", 0, 5}, {"t", 1, 7}});
  copy.add({{"t", 0, 3}});  // an older offset never moves the copy back
  copy.maybe_send(c);
  EXPECT_TRUE(c.commits.empty());
  copy.forget({{"t", 1}});  // revoked: its next owner commits it
  copy.maybe_send(c, /*now=*/true);
  ASSERT_EQ(c.commits.size(), 1u);
  EXPECT_EQ(c.commits[0], (std::vector<bus::PartitionOffset>{{{"t", 0}, 5}}));
  copy.maybe_send(c, /*now=*/true);  // nothing new: nothing sent
  EXPECT_EQ(c.commits.size(), 1u);

  BusOffsetCopy every_time(0);
  every_time.add({{"t", 2, 9}});
  every_time.maybe_send(c);
  ASSERT_EQ(c.commits.size(), 2u);
  EXPECT_EQ(c.commits[1], (std::vector<bus::PartitionOffset>{{{"t", 2}, 9}}));
}

}  // namespace
}  // namespace flowcast::stages

namespace flowcast::stages {
namespace {

store::PredictionRow prediction(const std::string& key, double value) {
  store::PredictionRow p;
  p.key = key;
  p.model_version = 1;
  p.prediction = value;
  return p;
}

TEST(CommitWorkerGrouping, BatchesWaitingBehindACommitGoInOneTransaction) {
  RecordingStore store;
  store.hold(true);
  std::stop_source stop;
  std::vector<size_t> seen;
  {
    CommitWorker w(
        "test", store, spec(), stop.get_token(),
        {{}, [&](const store::SinkBatch& b, int64_t) { seen.push_back(b.predictions.size()); }},
        /*max_waiting=*/3, CommitGrouping{.together = true, .linger_ms = 0});
    ASSERT_TRUE(w.submit(batch_at(1)).ok());
    ASSERT_TRUE(store.wait_entered(1));  // the worker holds batch 1 in commit()
    for (int64_t i = 2; i <= 4; ++i) ASSERT_TRUE(w.submit(batch_at(i)).ok());
    store.hold(false);
    ASSERT_TRUE(w.drain().ok());
    ASSERT_TRUE(w.submit(batch_at(5)).ok());  // the store keeps up again: alone
    ASSERT_TRUE(w.drain().ok());
  }
  // 2, 3 and 4 in one transaction, with the last one's offset and all their rows.
  EXPECT_EQ(store.committed(), (std::vector<int64_t>{1, 4, 5}));
  EXPECT_EQ(store.predictions(), (std::vector<size_t>{3, 9, 3}));
  EXPECT_EQ(seen, (std::vector<size_t>{3, 9, 3}));
}

TEST(CommitWorkerGrouping, WithoutGroupingEveryBatchIsItsOwnTransaction) {
  RecordingStore store;
  store.hold(true);
  std::stop_source stop;
  {
    CommitWorker w("test", store, spec(), stop.get_token(), {}, /*max_waiting=*/3);
    ASSERT_TRUE(w.submit(batch_at(1)).ok());
    ASSERT_TRUE(store.wait_entered(1));
    for (int64_t i = 2; i <= 4; ++i) ASSERT_TRUE(w.submit(batch_at(i)).ok());
    store.hold(false);
  }
  EXPECT_EQ(store.committed(), (std::vector<int64_t>{1, 2, 3, 4}));
}

TEST(CommitWorkerGrouping, DrainCommitsALingeringBatchAtOnce) {
  RecordingStore store;
  std::stop_source stop;
  // A linger far longer than the test may take: only drain() can end it.
  CommitWorker w("test", store, spec(), stop.get_token(), {}, /*max_waiting=*/8,
                 CommitGrouping{.together = true, .linger_ms = 3'600'000});
  ASSERT_TRUE(w.submit(batch_at(1)).ok());
  ASSERT_TRUE(w.submit(batch_at(2)).ok());
  ASSERT_TRUE(w.drained_within(10'000));
  EXPECT_EQ(store.committed(), (std::vector<int64_t>{2}));
  EXPECT_EQ(store.predictions(), (std::vector<size_t>{6}));
}

TEST(CommitWorkerGrouping, AFullQueueEndsTheLinger) {
  RecordingStore store;
  std::stop_source stop;
  CommitWorker w("test", store, spec(), stop.get_token(), {}, /*max_waiting=*/2,
                 CommitGrouping{.together = true, .linger_ms = 3'600'000});
  ASSERT_TRUE(w.submit(batch_at(1)).ok());
  ASSERT_TRUE(w.submit(batch_at(2)).ok());
  ASSERT_TRUE(store.wait_entered(1));  // two waiting fill the queue: committed without drain()
  ASSERT_TRUE(w.drain().ok());
  EXPECT_EQ(store.committed(), (std::vector<int64_t>{2}));
}

TEST(CommitWorkerGrouping, HurryEndsTheLingerWithoutWaiting) {
  RecordingStore store;
  std::stop_source stop;
  CommitWorker w("test", store, spec(), stop.get_token(), {}, /*max_waiting=*/8,
                 CommitGrouping{.together = true, .linger_ms = 3'600'000});
  ASSERT_TRUE(w.submit(batch_at(1)).ok());
  w.hurry();
  ASSERT_TRUE(store.wait_entered(1));
  ASSERT_TRUE(w.submit(batch_at(2)).ok());  // hurry() was used up: this one lingers again
  ASSERT_TRUE(w.submit(batch_at(3)).ok());
  w.hurry();
  ASSERT_TRUE(store.wait_entered(2));
  ASSERT_TRUE(w.drain().ok());
  EXPECT_EQ(store.committed(), (std::vector<int64_t>{1, 3}));
}

TEST(CommitWorkerGrouping, GroupsOnlyRowsWhoseOrderTheStoreKeeps) {
  store::SinkBatch a = batch_at(1), b = batch_at(2);
  EXPECT_TRUE(CommitWorker::can_group(a, b));
  b.group = "other";
  EXPECT_FALSE(CommitWorker::can_group(a, b));  // offsets of another consumer group
  b.group = a.group;
  for (auto add : std::initializer_list<void (*)(store::SinkBatch&)>{
           [](store::SinkBatch& x) { x.requests.emplace_back(); },
           [](store::SinkBatch& x) { x.outcomes.emplace_back(); },
           [](store::SinkBatch& x) { x.observations.emplace_back(); },
           [](store::SinkBatch& x) { x.evaluations.emplace_back(); }}) {
    store::SinkBatch with = batch_at(3);
    add(with);
    EXPECT_FALSE(CommitWorker::can_group(a, with));
    EXPECT_FALSE(CommitWorker::can_group(with, a));
  }
}

TEST(CommitWorkerGrouping, GroupedBatchKeepsRowOrderAndTheLatestOffsetPerPartition) {
  store::SinkBatch first, later;
  first.group = later.group = "g";
  first.offsets = {{"requests", 0, 10}, {"requests", 1, 20}};
  later.offsets = {{"requests", 1, 25}, {"requests", 2, 5}, {"other", 0, 7}};
  first.predictions = {prediction("a", 1), prediction("b", 2)};
  later.predictions = {prediction("a", 3), prediction("c", 4)};
  later.metrics.emplace_back();
  CommitWorker::group_into(first, later);
  EXPECT_EQ(first.offsets,
            (std::vector<store::OffsetEntry>{
                {"requests", 0, 10}, {"requests", 1, 25}, {"requests", 2, 5}, {"other", 0, 7}}));
  ASSERT_EQ(first.predictions.size(), 4u);
  // In order: the store keeps the first prediction of a key and version, as it would have.
  EXPECT_EQ(first.predictions[0].prediction, 1);
  EXPECT_EQ(first.predictions[2].key, "a");
  EXPECT_EQ(first.predictions[2].prediction, 3);
  EXPECT_EQ(first.predictions[3].key, "c");
  EXPECT_EQ(first.metrics.size(), 1u);
  EXPECT_TRUE(later.predictions.empty());
  EXPECT_TRUE(later.offsets.empty());
  EXPECT_TRUE(later.metrics.empty());
}

}  // namespace
}  // namespace flowcast::stages
