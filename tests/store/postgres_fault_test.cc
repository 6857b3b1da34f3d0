// PostgreSQL restarts while the taxi pipeline streams into it: the whole pipeline (produce,
// ingest, train, predict, evaluate) runs in-process on the local bus and the PostgreSQL store,
// and the server is stopped and started again (scripts/with-postgres's restart helper) while
// requests and outcomes are flowing. Afterwards nothing is lost or doubled: every request is
// stored once with its outcome, has exactly one prediction, and every outcome is joined once.
//
// Runs alone (RUN_SERIAL): the restart cuts every session on the server.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "cli/backends.h"
#include "stages/pipeline.h"
#include "store/postgres_test_server.h"
#include "support/test_support.h"

namespace flowcast::store::testing {
namespace {

const stages::StageStats* stats_of(const stages::Pipeline& p, const std::string& stage) {
  for (const auto& e : p.stages())
    if (e.stage->name() == stage) return &e.stage->stats();
  return nullptr;
}

TEST(PostgresFault, RestartWhileIngestAndPredictStreamLosesAndDoublesNothing) {
  const PostgresTestServer* server = PostgresTestServer::get();
  if (server == nullptr) GTEST_SKIP() << PostgresTestServer::skip_message();
  if (std::getenv("FLOWCAST_TEST_POSTGRES_RESTART") == nullptr)
    GTEST_SKIP() << "FLOWCAST_TEST_POSTGRES_RESTART is not set: no way to restart the server "
                    "(run under scripts/with-postgres)";
  flowcast::testing::TempDir dir;
  const std::string schema = server->create_schema();
  constexpr int64_t kTrips = 6000;
  Config config = flowcast::testing::taxi_config({
      "bus=local:" + dir.str() + "/bus",
      "store=" + server->schema_url(schema),
      "log_level=warn",
      "postgresql.retry_for=30s",
      "stages.produce.generator=taxi",
      "stages.produce.seed=11",
      "stages.produce.rate=1000",
      "stages.produce.speedup=3000",
      "stages.produce.limit=" + std::to_string(kTrips),
      "stages.ingest.batch_size=500",
      "stages.predict.batch_size=500",
      "stages.train.min_rows=500",
      "stages.train.poll_interval=300ms",
      "stages.train.retrain_rows=1500",
      "stages.evaluate.publish_interval=300ms",
      "datasets.taxi.model.params.rounds=20",
  });
  auto bus = cli::open_bus(config);
  ASSERT_TRUE(bus.ok()) << bus.status().to_string();
  auto store = cli::open_store(config);
  ASSERT_TRUE(store.ok()) << store.status().to_string();
  const DatasetSpec& ds = config.dataset("taxi");

  stages::Pipeline pipeline(config, **bus, **store,
                            {"produce", "ingest", "train", "predict", "evaluate"}, {});
  ASSERT_TRUE(pipeline.prepare().ok());
  const stages::StageStats* ingest = stats_of(pipeline, "ingest");
  const stages::StageStats* produce = stats_of(pipeline, "produce");
  const stages::StageStats* evaluate = stats_of(pipeline, "evaluate");
  ASSERT_TRUE(ingest && produce && evaluate);

  Status run_status;
  std::atomic<int> interrupted{0};
  std::thread runner([&] {
    stages::RunOptions options;
    options.status_line = false;
    options.drain_timeout_ms = 90000;
    run_status = pipeline.run(options, interrupted);
  });
  // Restart once a first part of the trips is stored, while the producer is still sending.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (ingest->out.load() < kTrips / 6 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const int64_t produced_before = produce->in.load();
  const bool restarted = server->restart(1.5);
  const int64_t produced_after = produce->in.load();
  runner.join();
  ASSERT_TRUE(restarted) << "the restart helper failed";
  ASSERT_TRUE(run_status.ok()) << run_status.to_string();
  // The fault hit a live stream: trips were still being produced around the restart.
  ASSERT_LT(produced_before, kTrips) << "the producer had finished before the restart";
  EXPECT_GT(produced_after, produced_before);

  auto stats = (*store)->stats(ds);
  ASSERT_TRUE(stats.ok()) << stats.status().to_string();
  EXPECT_EQ(stats->records, kTrips);
  EXPECT_EQ(stats->requests, kTrips);
  EXPECT_EQ(stats->outcomes, kTrips) << "an outcome was lost";
  EXPECT_EQ(stats->labelled, kTrips);
  EXPECT_EQ(stats->predicted_keys, kTrips) << "a request without a prediction";
  EXPECT_EQ(stats->predictions, kTrips) << "a request scored twice";
  EXPECT_EQ(stats->evaluations, kTrips) << "an outcome left unjoined";
  // Each join was counted once by evaluate, although commits were retried through the restart.
  EXPECT_EQ(evaluate->out.load(), kTrips);

  // Every stored evaluation is its request's prediction joined with its stored outcome.
  EXPECT_EQ(server->query("SELECT count(*) FROM taxi_evaluations e JOIN taxi_records r ON "
                          "r.id = e.key JOIN taxi_predictions p ON p.key = e.key AND "
                          "p.model_version = e.model_version WHERE e.actual = r.trip_duration "
                          "AND e.prediction = p.prediction",
                          schema),
            (std::vector<std::string>{std::to_string(kTrips)}));
  // The offsets stored with the rows account for every message ingest read, no more.
  auto offsets = (*store)->load_offsets("flowcast.ingest.taxi");
  ASSERT_TRUE(offsets.ok());
  int64_t consumed = 0;
  for (const auto& o : *offsets) consumed += o.next_offset;
  EXPECT_EQ(consumed, 2 * kTrips);
  // A model was trained and served from the store across the restart.
  auto models = (*store)->list_models("taxi");
  ASSERT_TRUE(models.ok());
  EXPECT_FALSE(models->empty());

  store->reset();
  server->drop_schema(schema);
}

}  // namespace
}  // namespace flowcast::store::testing
