// A new model version is loaded beside the predict stage, not in its way: while the new version's
// artifact is still being read, requests go on being scored by the version in place, and once it
// is loaded the next batch is scored by it. The store holds the artifact back at a gate, so the
// test does not depend on how long a load takes.
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "cli/backends.h"
#include "stages/pipeline.h"
#include "stages/predict_stage.h"
#include "stages/taxi_generator.h"
#include "stages/train_stage.h"
#include "support/forwarding_store.h"
#include "support/test_support.h"

namespace flowcast::stages {
namespace {

// The real store, except that load_artifact() of a version >= hold_from() waits for release()
// (at most 30 s, so that a failing test still ends).
class GatedStore : public testing::ForwardingStore {
 public:
  explicit GatedStore(store::Store& inner) : ForwardingStore(inner) {}

  void hold_from(int64_t version) {
    std::lock_guard lock(mu_);
    hold_from_ = version;
  }
  void release() {
    {
      std::lock_guard lock(mu_);
      released_ = true;
    }
    cv_.notify_all();
  }
  bool held() const {
    std::lock_guard lock(mu_);
    return held_;
  }

  Result<std::string> load_artifact(const std::string& dataset, int64_t version) override {
    {
      std::unique_lock lock(mu_);
      if (hold_from_ > 0 && version >= hold_from_) {
        held_ = true;
        cv_.wait_for(lock, std::chrono::seconds(30), [this] { return released_; });
      }
    }
    return s_.load_artifact(dataset, version);
  }
  std::string describe() const override { return "gated " + s_.describe(); }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  int64_t hold_from_ = 0;
  bool released_ = false;
  bool held_ = false;
};

class ModelSwapTest : public ::testing::Test {
 protected:
  testing::TempDir dir_;
  Config config_ = testing::taxi_config(
      {"bus=local:" + dir_.str() + "/bus", "store=sqlite:" + dir_.str() + "/db", "log_level=warn",
       "stages.train.min_rows=300", "datasets.taxi.model.params.rounds=20",
       "stages.predict.model_poll=20ms"});
  const DatasetSpec& ds_ = config_.dataset("taxi");
  std::unique_ptr<bus::Bus> bus_ = std::move(cli::open_bus(config_)).value();
  std::unique_ptr<store::Store> store_ = std::move(cli::open_store(config_)).value();
  std::unique_ptr<bus::Producer> producer_;

  void SetUp() override {
    Pipeline prep(config_, *bus_, *store_, {"predict"}, {});
    ASSERT_TRUE(prep.prepare().ok());
    producer_ = std::move(bus_->producer()).value();
    TaxiGenerator gen(ds_, 7, 600, "t");
    store::SinkBatch batch;
    batch.group = "test";
    GeneratedEvent ev;
    int64_t t = 1457308800LL * 1000000;  // 2016-03-07
    while (gen.next(ev, t)) {
      batch.observations.push_back(ev.record);
      t += 30 * 1000000LL;
    }
    ASSERT_TRUE(store_->commit(ds_, batch).ok());
  }

  int64_t train() {
    TrainStage stage({config_, ds_, *bus_, *store_}, TrainSettings::parse(config_.stage("train")));
    auto v = stage.train_once();
    EXPECT_TRUE(v.ok()) << v.status().to_string();
    return v.ok() ? *v : -1;
  }

  void request(const std::string& id) {
    const std::string value =
        R"({"id":")" + id +
        R"(","vendor_id":1,"pickup_datetime":"2016-03-07 10:00:00","passenger_count":1,)"
        R"("pickup_longitude":-73.98,"pickup_latitude":40.75,"dropoff_longitude":-73.96,)"
        R"("dropoff_latitude":40.77})";
    const bus::OutMessage m{id, value};
    ASSERT_TRUE(producer_->produce(ds_.topics().requests, {&m, 1}).ok());
    ASSERT_TRUE(producer_->flush(5000).ok());
  }

  // The model version `key` was predicted with, once its prediction is stored (-1 after 20 s).
  int64_t predicted_version(const std::string& key) {
    for (int i = 0; i < 400; ++i) {
      auto p = store_->predictions_for(ds_, key);
      if (p.ok() && !p->empty()) return p->front().model_version;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return -1;
  }

  // Waits at most 20 s for `done`.
  static bool eventually(const std::function<bool()>& done) {
    for (int i = 0; i < 400; ++i) {
      if (done()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return done();
  }
};

TEST_F(ModelSwapTest, RequestsAreScoredByTheVersionInPlaceWhileTheNextOneLoads) {
  ASSERT_EQ(train(), 1);
  GatedStore gated(*store_);
  PredictStage stage({config_, ds_, *bus_, gated},
                     PredictSettings::parse(config_.stage("predict")));
  std::stop_source stop;
  Status result;
  std::thread t([&] { result = stage.run(stop.get_token()); });

  request("r1");
  EXPECT_EQ(predicted_version("r1"), 1);

  // Version 2 becomes active; reading its artifact waits at the gate.
  gated.hold_from(2);
  ASSERT_EQ(train(), 2);
  ASSERT_TRUE(eventually([&] { return gated.held(); })) << "version 2 was never loaded";
  request("r2");
  EXPECT_EQ(predicted_version("r2"), 1) << "scoring waited for the next model to load";
  EXPECT_EQ(stage.stats().model_version.load(), 1);

  gated.release();
  EXPECT_TRUE(eventually([&] { return stage.stats().model_version.load() == 2; }));
  request("r3");
  EXPECT_EQ(predicted_version("r3"), 2);

  stop.request_stop();
  t.join();
  EXPECT_TRUE(result.ok()) << result.to_string();
}

}  // namespace
}  // namespace flowcast::stages
