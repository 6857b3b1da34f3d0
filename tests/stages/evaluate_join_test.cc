// The evaluate stage joins in either order and, across a restart, neither loses a waiting
// prediction or outcome nor counts a pair twice.
#include <gtest/gtest.h>

#include <functional>
#include <thread>

#include "cli/backends.h"
#include "core/json_codec.h"
#include "core/time_util.h"
#include "stages/evaluate_stage.h"
#include "stages/pipeline.h"
#include "stages/prediction_message.h"
#include "support/test_support.h"

namespace flowcast::stages {
namespace {

class EvaluateJoinTest : public ::testing::Test {
 protected:
  testing::TempDir dir_;
  Config config_ = testing::taxi_config({"bus=local:" + dir_.str() + "/bus",
                                         "store=sqlite:" + dir_.str() + "/db", "log_level=warn",
                                         "stages.evaluate.publish_interval=200ms",
                                         "stages.evaluate.store_lookup_after=100ms"});
  const DatasetSpec& ds_ = config_.dataset("taxi");
  std::unique_ptr<bus::Bus> bus_ = std::move(cli::open_bus(config_)).value();
  std::unique_ptr<store::Store> store_ = std::move(cli::open_store(config_)).value();

  void predictions(int from, int to, const std::string& prefix) {
    std::vector<std::string> keys, values;
    for (int i = from; i < to; ++i) {
      PredictionMessage p{prefix + std::to_string(i), 1, 600.0 + i, 0, now_millis()};
      keys.push_back(p.key);
      values.emplace_back();
      encode_prediction("taxi", p, values.back());
    }
    send(ds_.topics().predictions, keys, values);
  }
  void outcomes(int from, int to, const std::string& prefix) {
    std::vector<std::string> keys, values;
    for (int i = from; i < to; ++i) {
      keys.push_back(prefix + std::to_string(i));
      values.push_back(R"({"id":")" + keys.back() + R"(","trip_duration":)" + std::to_string(500 + i) + "}");
    }
    send(ds_.topics().outcomes, keys, values);
  }
  void send(const std::string& topic, const std::vector<std::string>& keys,
            const std::vector<std::string>& values) {
    auto producer = std::move(bus_->producer()).value();
    std::vector<bus::OutMessage> msgs;
    for (size_t i = 0; i < keys.size(); ++i) msgs.push_back({keys[i], values[i]});
    ASSERT_TRUE(producer->produce(topic, msgs).ok());
    ASSERT_TRUE(producer->flush(5000).ok());
  }
  // Runs the evaluate stage until the store holds `expected` evaluations (at most 30 s).
  int64_t run_until(int64_t expected) {
    Pipeline pipeline(config_, *bus_, *store_, {"evaluate"}, {});
    EXPECT_TRUE(pipeline.prepare().ok());
    std::atomic<int> interrupted{0};
    RunOptions options;
    options.status_line = false;
    std::thread t([&] { EXPECT_TRUE(pipeline.run(options, interrupted).ok()); });
    for (int i = 0; i < 300; ++i) {
      auto st = store_->stats(ds_);
      if (st.ok() && st->evaluations >= expected) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // anything extra would show
    interrupted = 1;
    t.join();
    return static_cast<EvaluateStage*>(pipeline.stages()[0].stage.get())->joined();
  }
};

TEST_F(EvaluateJoinTest, JoinsInEitherOrderAndCountsOnceAcrossARestart) {
  ASSERT_TRUE(store_->ensure_dataset(ds_).ok());
  predictions(0, 100, "k");   // k0..k99 predicted
  outcomes(0, 50, "k");       // k0..k49 finished
  outcomes(0, 10, "o");       // o0..o9 finished before any prediction
  EXPECT_EQ(run_until(50), 50);
  EXPECT_EQ(store_->stats(ds_)->evaluations, 50);

  // While evaluate is down, the rest arrives. The restarted stage re-reads what was waiting.
  outcomes(50, 100, "k");
  predictions(0, 10, "o");
  EXPECT_EQ(run_until(110), 60) << "pairs joined before the restart were counted again";
  EXPECT_EQ(store_->stats(ds_)->evaluations, 110);

  auto recent = store_->recent_metrics("taxi", 10);
  ASSERT_TRUE(recent.ok());
  ASSERT_FALSE(recent->empty());
  EXPECT_EQ(recent->front().model_version, 1);
}

// Outcomes already stored (ingest-file loaded them) join predictions from the store; when the
// same outcomes then come by on the bus, as a replay sends them, they join nothing new and are
// not held for join_ttl, in the same run or after a restart: evaluate's offsets pass them.
TEST_F(EvaluateJoinTest, OutcomesOfPairsJoinedFromTheStoreAreNotHeld) {
  ASSERT_TRUE(store_->ensure_dataset(ds_).ok());
  store::SinkBatch stored;
  stored.group = "test";
  JsonCodec codec(ds_);
  for (const char* prefix : {"s", "t"}) {
    for (int i = 0; i < 10; ++i) {
      Record r;
      const std::string key = prefix + std::to_string(i);
      ASSERT_TRUE(codec.decode(R"({"id":")" + key + R"(","trip_duration":)" +
                                   std::to_string(500 + i) + "}",
                               RecordRole::kOutcome, r)
                      .ok());
      stored.outcomes.push_back(r);
      // The predict stage stores what it publishes.
      stored.predictions.push_back({key, 1, 600.0 + i, now_millis()});
    }
  }
  ASSERT_TRUE(store_->commit(ds_, stored).ok());
  const std::string group = group_name("evaluate", ds_);
  auto outcome_offsets = [&] {
    int64_t sum = 0;
    auto o = store_->load_offsets(group);
    if (o.ok())
      for (const auto& e : *o)
        if (e.topic == ds_.topics().outcomes) sum += e.next_offset;
    return sum;
  };
  auto wait_for = [](const std::function<bool()>& done) {
    for (int i = 0; i < 150 && !done(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    return done();
  };

  // t0..t9: predicted and joined from the store in one run; their outcomes come after a restart.
  predictions(0, 10, "t");
  EXPECT_EQ(run_until(10), 10);
  {
    Pipeline pipeline(config_, *bus_, *store_, {"evaluate"}, {});
    ASSERT_TRUE(pipeline.prepare().ok());
    std::atomic<int> interrupted{0};
    RunOptions options;
    options.status_line = false;
    std::thread t([&] { EXPECT_TRUE(pipeline.run(options, interrupted).ok()); });
    outcomes(0, 10, "t");
    EXPECT_TRUE(wait_for([&] { return outcome_offsets() == 10; }))
        << "outcomes after a restart held at " << outcome_offsets();
    // s0..s9: joined from the store, then their outcomes come by in the same run.
    predictions(0, 10, "s");
    EXPECT_TRUE(wait_for([&] { return store_->stats(ds_)->evaluations == 20; }));
    outcomes(0, 10, "s");
    EXPECT_TRUE(wait_for([&] { return outcome_offsets() == 20; }))
        << "outcomes in the same run held at " << outcome_offsets();
    interrupted = 1;
    t.join();
    EXPECT_EQ(static_cast<EvaluateStage*>(pipeline.stages()[0].stage.get())->joined(), 10)
        << "a pair was counted twice";
  }
  EXPECT_EQ(store_->stats(ds_)->evaluations, 20);
}

}  // namespace
}  // namespace flowcast::stages
