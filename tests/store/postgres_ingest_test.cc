// The ingest stage on the PostgreSQL store with text PostgreSQL cannot hold: a JSON "\u0000"
// decodes to a NUL byte, which SQLite stores but PostgreSQL text refuses. Such a record must go
// to the dlq with the field named, and every other record of its batch must be stored: one bad
// message may never stall the stream by failing each commit of its batch.
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

using ::testing::HasSubstr;

std::string trip(const std::string& id, const std::string& flag) {
  return R"({"id":")" + id +
         R"(","vendor_id":1,"pickup_datetime":"2016-03-07 10:00:00","passenger_count":1,)"
         R"("pickup_longitude":-73.98,"pickup_latitude":40.75,"dropoff_longitude":-73.96,)"
         R"("dropoff_latitude":40.77,"store_and_fwd_flag":")" +
         flag + R"("})";
}

TEST(PostgresIngest, RecordsPostgresCannotStoreGoToTheDlqAndTheRestIsStored) {
  const PostgresTestServer* server = PostgresTestServer::get();
  if (server == nullptr) GTEST_SKIP() << PostgresTestServer::skip_message();
  flowcast::testing::TempDir dir;
  const std::string schema = server->create_schema();
  Config config = flowcast::testing::taxi_config({
      "bus=local:" + dir.str() + "/bus",
      "store=" + server->schema_url(schema),
      "log_level=warn",
      "stages.ingest.batch_size=1000",
      "stages.ingest.max_wait=100ms",
  });
  auto bus = cli::open_bus(config);
  ASSERT_TRUE(bus.ok()) << bus.status().to_string();
  auto store = cli::open_store(config);
  ASSERT_TRUE(store.ok()) << store.status().to_string();
  const DatasetSpec& ds = config.dataset("taxi");

  // One batch: good trips around a NUL in a category and a NUL in the key.
  constexpr int kGood = 50;
  std::vector<bus::OutMessage> msgs;
  std::vector<std::string> values;
  for (int i = 0; i < kGood; ++i) {
    values.push_back(trip("good" + std::to_string(i), "N"));
    if (i == 10) values.push_back(trip("nulflag", "Y\\u0000N"));
    if (i == 20) values.push_back(trip("nul\\u0000key", "N"));
  }
  for (const auto& v : values) msgs.push_back({"k", v});
  {
    auto producer = (*bus)->producer();
    ASSERT_TRUE(producer.ok());
    ASSERT_TRUE((*producer)->produce(ds.topics().requests, msgs).ok());
    ASSERT_TRUE((*producer)->flush(5000).ok());
  }

  stages::Pipeline pipeline(config, **bus, **store, {"ingest"}, {});
  ASSERT_TRUE(pipeline.prepare().ok());
  const stages::StageStats& stats = pipeline.stages().front().stage->stats();
  std::atomic<int> interrupted{0};
  Status run_status;
  std::thread runner([&] {
    stages::RunOptions options;
    options.status_line = false;
    options.duration_ms = 60000;
    run_status = pipeline.run(options, interrupted);
  });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (stats.out.load() + stats.dlq.load() < int64_t(values.size()) &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  interrupted = 1;
  runner.join();
  ASSERT_TRUE(run_status.ok()) << run_status.to_string();

  EXPECT_EQ(stats.out.load(), kGood);
  EXPECT_EQ(stats.dlq.load(), 2);
  auto st = (*store)->stats(ds);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->requests, kGood);
  EXPECT_FALSE((*store)->get_record(ds, "nulflag").value());
  EXPECT_TRUE((*store)->get_record(ds, "good49").value());
  // The offsets moved past the whole batch, bad records included.
  auto offsets = (*store)->load_offsets("flowcast.ingest.taxi");
  ASSERT_TRUE(offsets.ok());
  int64_t next = 0;
  for (const auto& o : *offsets)
    if (o.topic == ds.topics().requests) next += o.next_offset;
  EXPECT_EQ(next, int64_t(values.size()));

  // The dlq holds both with the field named and the original bytes.
  auto consumer = (*bus)->consumer("test-dlq-reader");
  ASSERT_TRUE(consumer.ok());
  ASSERT_TRUE((*consumer)->subscribe({ds.topics().dlq}, {}).ok());
  std::vector<std::string> dlq;
  bus::MessageBatch batch;
  for (int empty = 0; empty < 3;) {
    ASSERT_TRUE((*consumer)->poll(batch, 1000, 200).ok());
    if (batch.empty()) ++empty;
    for (size_t i = 0; i < batch.size(); ++i) dlq.emplace_back(batch[i].value);
  }
  ASSERT_EQ(dlq.size(), 2u);
  std::string all = dlq[0] + dlq[1];
  EXPECT_THAT(all, HasSubstr("store_and_fwd_flag"));
  EXPECT_THAT(all, HasSubstr("NUL"));
  EXPECT_THAT(all, HasSubstr("nulflag"));
  server->drop_schema(schema);
}

}  // namespace
}  // namespace flowcast::store::testing
