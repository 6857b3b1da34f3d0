// The whole taxi pipeline in one process on the embedded default, on generated data: every
// request gets exactly one prediction, every outcome is joined, metrics are published, and bad
// input goes to the dead-letter topic without stopping anything.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>

#include "cli/backends.h"
#include "stages/pipeline.h"
#include "stages/train_stage.h"
#include "support/test_support.h"

namespace flowcast::stages {
namespace {

std::vector<std::string> read_topic(bus::Bus& bus, const std::string& topic) {
  auto consumer = bus.consumer("test-reader-" + topic);
  EXPECT_TRUE(consumer.ok());
  EXPECT_TRUE((*consumer)->subscribe({topic}, {}).ok());
  std::vector<std::string> out;
  bus::MessageBatch batch;
  for (int empty = 0; empty < 3;) {
    EXPECT_TRUE((*consumer)->poll(batch, 10000, 200).ok());
    if (batch.empty()) ++empty;
    for (size_t i = 0; i < batch.size(); ++i) out.emplace_back(batch[i].value);
  }
  return out;
}

Status run_pipeline(const Config& config, bus::Bus& bus, store::Store& store) {
  Pipeline pipeline(config, bus, store, {"produce", "ingest", "train", "predict", "evaluate"}, {});
  FC_RETURN_IF_ERROR(pipeline.prepare());
  RunOptions options;
  options.status_line = false;
  options.drain_timeout_ms = 60000;
  std::atomic<int> interrupted{0};
  return pipeline.run(options, interrupted);
}

TEST(PipelineE2E, TaxiOnGeneratedDataLosesAndDoublesNothing) {
  testing::TempDir dir;
  const int64_t kTrips = 2000;
  std::vector<std::string> overrides = {
      "bus=local:" + dir.str() + "/bus",
      "store=sqlite:" + dir.str() + "/flowcast.db",
      "log_level=warn",
      "stages.produce.generator=taxi",
      "stages.produce.rate=4000",
      "stages.produce.speedup=3000",
      "stages.produce.limit=" + std::to_string(kTrips),
      "stages.train.min_rows=300",
      "stages.train.mature_after=0",
      "stages.train.poll_interval=200ms",
      "stages.evaluate.publish_interval=300ms",
      "datasets.taxi.model.params.rounds=60",
  };
  auto with = [&](std::vector<std::string> extra) {
    extra.insert(extra.begin(), overrides.begin(), overrides.end());
    return testing::taxi_config(extra);
  };
  Config config = with({"stages.produce.seed=7"});
  auto bus = cli::open_bus(config);
  auto store = cli::open_store(config);
  ASSERT_TRUE(bus.ok() && store.ok());
  const DatasetSpec& ds = config.dataset("taxi");

  // Bad input waiting on the topics before the stages start.
  {
    auto producer = (*bus)->producer();
    ASSERT_TRUE(producer.ok());
    std::vector<std::string> bad_requests = {
        "{not json",
        R"({"id":"bad1","vendor_id":1,"passenger_count":1,"pickup_longitude":-73.9,"pickup_latitude":40.7,"dropoff_longitude":-73.9,"dropoff_latitude":40.7})",
        R"({"id":"bad2","vendor_id":"one","pickup_datetime":"2016-03-07 10:00:00","passenger_count":1,"pickup_longitude":-73.9,"pickup_latitude":40.7,"dropoff_longitude":-73.9,"dropoff_latitude":40.7})",
        R"({"dataset":"realty","id":"bad3"})",
        std::string("\xff\xfe binary", 9),
    };
    std::vector<bus::OutMessage> msgs;
    for (const auto& b : bad_requests) msgs.push_back({"bad", b});
    ASSERT_TRUE((*producer)->produce(ds.topics().requests, msgs).ok());
    std::string bad_outcome = R"({"id":"x","trip_duration":1e999})";
    ASSERT_TRUE((*producer)->produce(ds.topics().outcomes, {{bus::OutMessage{"x", bad_outcome}}}).ok());
    ASSERT_TRUE((*producer)->flush(5000).ok());
  }

  // Run 1: bounded, from an empty store (version 0, then perhaps a first model).
  Status s = run_pipeline(config, **bus, **store);
  ASSERT_TRUE(s.ok()) << s.to_string();
  // A model trained now is the one run 2 must serve from its first request on.
  TrainStage trainer({config, ds, **bus, **store}, TrainSettings::parse(config.stage("train")));
  auto trained = trainer.train_once();
  ASSERT_TRUE(trained.ok()) << trained.status().to_string();
  // Run 2: more trips, new keys.
  Config config2 = with({"stages.produce.seed=8"});
  s = run_pipeline(config2, **bus, **store);
  ASSERT_TRUE(s.ok()) << s.to_string();
  const int64_t total = 2 * kTrips;

  auto stats = (*store)->stats(ds);
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->requests, total);
  EXPECT_EQ(stats->outcomes, total);
  EXPECT_EQ(stats->labelled, total);
  EXPECT_EQ(stats->predicted_keys, total) << "a request without a prediction";
  EXPECT_EQ(stats->predictions, total) << "a request scored twice in one run";
  EXPECT_EQ(stats->evaluations, total) << "an outcome left unjoined";
  EXPECT_GT(stats->metrics, 0);

  auto models = (*store)->list_models("taxi");
  ASSERT_TRUE(models.ok());
  ASSERT_FALSE(models->empty()) << "no model was trained";

  // Every request key is on the predictions topic; run 2's all come from the trained model.
  std::set<std::string> keys;
  int64_t run2 = 0, run2_by_model = 0;
  for (const auto& v : read_topic(**bus, ds.topics().predictions)) {
    auto j = nlohmann::json::parse(v);
    std::string key = j["key"].get<std::string>();
    keys.insert(key);
    if (key.rfind("t8-", 0) == 0) {
      ++run2;
      if (j["model_version"].get<int64_t>() >= *trained) ++run2_by_model;
    }
    EXPECT_GT(j["prediction"].get<double>(), 0);
  }
  EXPECT_EQ(int64_t(keys.size()), total);
  EXPECT_EQ(run2, kTrips);
  EXPECT_EQ(run2_by_model, kTrips) << "run 2 scored requests without the trained model";

  // Quality was published per version, and the trained model beats a constant by far.
  auto metrics = read_topic(**bus, ds.topics().metrics);
  ASSERT_FALSE(metrics.empty());
  auto last = nlohmann::json::parse(metrics.back());
  EXPECT_EQ(last["dataset"], "taxi");
  for (const char* k : {"model_version", "count", "mae", "rmse", "rmsle", "mape", "within_30"})
    EXPECT_TRUE(last.contains(k)) << k;
  auto recent = (*store)->recent_metrics("taxi", 50);
  ASSERT_TRUE(recent.ok());
  double best = 9;
  for (const auto& m : *recent)
    if (m.model_version >= 1) best = std::min(best, m.rmsle);
  EXPECT_LT(best, 0.5);

  // Each stage that saw bad input sent it to the dead-letter topic with the reason.
  std::map<std::string, int> by_stage;
  bool named_field = false, has_base64 = false;
  for (const auto& v : read_topic(**bus, ds.topics().dlq)) {
    auto j = nlohmann::json::parse(v);
    by_stage[j["stage"].get<std::string>()]++;
    named_field |= j["reason"].get<std::string>().find("field 'vendor_id'") != std::string::npos;
    has_base64 |= j.contains("original_base64");
    EXPECT_TRUE(j.contains("reason") && j.contains("topic") && j.contains("offset"));
  }
  EXPECT_EQ(by_stage["ingest"], 6);
  EXPECT_EQ(by_stage["predict"], 5);
  EXPECT_EQ(by_stage["evaluate"], 1);
  EXPECT_TRUE(named_field);
  EXPECT_TRUE(has_base64);
}

}  // namespace
}  // namespace flowcast::stages
