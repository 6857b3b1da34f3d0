// CsvReplaySource: bad rows (not UTF-8, unparsable) are skipped one by one and the stream goes on;
// outcomes come when the dataset's outcome time says (taxi) or at once (realty, whose target is a
// price, not a duration), so a replay ends when its file ends.
#include "stages/csv_replay_source.h"

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <future>
#include <vector>

#include "cli/backends.h"
#include "stages/pipeline.h"
#include "support/test_support.h"

namespace flowcast::stages {
namespace {

Config realty_config(const std::vector<std::string>& overrides = {}) {
  return Config::load((testing::source_dir() / "examples" / "realty.yaml").string(), overrides);
}

const char* kRealtyHeader =
    "id,region,city,street,rooms,floor,floors_total,total_area,kitchen_area,building_type,"
    "year_built,lat,lon,price,listed_at\n";

std::string realty_row(const std::string& id, const std::string& city) {
  return id + ",Татарстан," + city + ",Баумана,2,3,9,54.5,9,panel,1985,55.79,49.12,6150000," +
         "2024-02-03 10:00:00\n";
}

std::vector<std::string> replay_keys(CsvReplaySource& src) {
  std::vector<std::string> keys;
  GeneratedEvent ev;
  while (src.next(ev, 0)) keys.push_back(ev.record.key);
  return keys;
}

TEST(CsvReplaySource, RowsThatAreNotUtf8AreSkippedAndTheRestReplayed) {
  Config config = realty_config();
  const DatasetSpec& ds = config.dataset("realty");
  testing::TempDir dir;
  std::string csv = dir.str() + "/flats.csv";
  std::ofstream(csv) << kRealtyHeader << realty_row("a1", "Казань")
                     << realty_row("a2", "\xCA\xE0\xE7\xE0\xED\xFC")  // Казань in cp1251
                     << realty_row("a3", "Омск");
  auto src = CsvReplaySource::open(csv, ds, 1, 0);
  ASSERT_TRUE(src.ok()) << src.status().to_string();
  EXPECT_EQ(replay_keys(**src), (std::vector<std::string>{"a1", "a3"}));
  EXPECT_EQ((*src)->skipped(), 1);
}

void write_realty_csv(const std::string& path, int rows) {
  std::ofstream out(path);
  out << kRealtyHeader;
  for (int i = 0; i < rows; ++i) out << realty_row("g" + std::to_string(i), "Казань");
}

TEST(CsvReplaySource, WithoutAnOutcomeTimeOutcomesFollowAtOnceAndLoopsEnd) {
  Config config = realty_config();
  const DatasetSpec& ds = config.dataset("realty");
  ASSERT_EQ(CsvReplaySource::outcome_time_index(ds), -1);
  testing::TempDir dir;
  std::string csv = dir.str() + "/g20.csv";
  write_realty_csv(csv, 20);
  auto src = CsvReplaySource::open(csv, ds, 2, 0);
  ASSERT_TRUE(src.ok()) << src.status().to_string();
  GeneratedEvent ev;
  std::vector<std::string> keys;
  while ((*src)->next(ev, 0)) {
    keys.push_back(ev.record.key);
    EXPECT_EQ(ev.kind, GeneratedEvent::Kind::kRequestThenOutcome);
    EXPECT_EQ(ev.outcome_delay_s, 0)
        << "a price of " << ev.record.number(ds.target_index()) << " is no delay";
  }
  ASSERT_EQ(keys.size(), 40u);
  EXPECT_EQ(keys[0], "g0");
  EXPECT_EQ(keys[20], "g0#2");
  EXPECT_EQ(keys[39], "g19#2");
  EXPECT_FALSE((*src)->next(ev, 0));
}

TEST(CsvReplaySource, TaxiOutcomesComeAtTheirDropoffTime) {
  Config config = testing::taxi_config();
  const DatasetSpec& ds = config.dataset("taxi");
  ASSERT_EQ(CsvReplaySource::outcome_time_index(ds), ds.field_index("dropoff_datetime"));
  testing::TempDir dir;
  std::string csv = dir.str() + "/train.csv";
  std::ofstream(csv)
      << "id,vendor_id,pickup_datetime,dropoff_datetime,passenger_count,pickup_longitude,"
         "pickup_latitude,dropoff_longitude,dropoff_latitude,store_and_fwd_flag,trip_duration\n"
         "t1,2,2016-03-14 17:24:55,2016-03-14 17:32:30,1,-73.98,40.76,-73.96,40.76,N,455\n"
         "t2,1,2016-06-12 00:43:35,,1,-73.98,40.73,-73.99,40.72,N,663\n"  // no dropoff
         "t3,1,2016-06-12 00:43:35,2016-06-12 00:40:00,1,-73.98,40.73,-73.99,40.72,N,5\n"
         "t4,1,2016-01-01 00:00:00,2016-01-05 00:00:00,1,-73.98,40.73,-73.99,40.72,N,86400\n";
  auto src = CsvReplaySource::open(csv, ds, 1, 0);
  ASSERT_TRUE(src.ok()) << src.status().to_string();
  std::vector<double> delays;
  GeneratedEvent ev;
  while ((*src)->next(ev, 0)) delays.push_back(ev.outcome_delay_s);
  // The trip's own duration; at once without a dropoff or with one before the pickup; at most
  // a day later.
  EXPECT_EQ(delays, (std::vector<double>{455, 0, 0, 86400}));
}

// `flowcast produce csv realty.yaml --csv g20.csv` ends when the file ends: with the price as the
// delay, 20 rows at speed-up 3600 held their outcomes for half an hour.
TEST(CsvReplaySource, ARealtyReplayEndsWhenTheFileEnds) {
  testing::TempDir dir;
  std::string csv = dir.str() + "/g20.csv";
  write_realty_csv(csv, 20);
  Config config =
      realty_config({"bus=local:" + dir.str() + "/bus", "store=sqlite:" + dir.str() + "/db",
                     "log_level=warn", "stages.produce.csv=" + csv, "stages.produce.loops=2"});
  auto bus = cli::open_bus(config);
  auto store = cli::open_store(config);
  ASSERT_TRUE(bus.ok() && store.ok());
  Pipeline pipeline(config, **bus, **store, {"produce"}, {});
  ASSERT_TRUE(pipeline.prepare().ok());
  RunOptions options;
  options.status_line = false;
  std::atomic<int> interrupted{0};
  auto run = std::async(std::launch::async, [&] { return pipeline.run(options, interrupted); });
  if (run.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
    interrupted = 2;  // stop it, so the test fails rather than hangs
    run.wait();
    FAIL() << "the replay of 20 rows did not end within 30 s";
  }
  ASSERT_TRUE(run.get().ok());
  ASSERT_EQ(pipeline.stages().size(), 1u);
  // 40 requests and their 40 outcomes.
  EXPECT_EQ(pipeline.stages()[0].stage->stats().out.load(), 80);
}

}  // namespace
}  // namespace flowcast::stages
