// CsvReplaySource: bad rows (not UTF-8, unparsable) are skipped one by one and the stream goes on.
#include "stages/csv_replay_source.h"

#include <gtest/gtest.h>

#include <fstream>
#include <vector>

#include "support/test_support.h"

namespace flowcast::stages {
namespace {

Config realty_config() {
  return Config::load((testing::source_dir() / "examples" / "realty.yaml").string(), {});
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

}  // namespace
}  // namespace flowcast::stages
