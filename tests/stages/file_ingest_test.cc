// flowcast ingest-file: column mapping (rename, units, date format), rejects with line numbers,
// a missing required column failing before anything loads, and idempotent re-loads.
#include "stages/file_ingest.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "cli/backends.h"
#include "core/time_util.h"
#include "support/test_support.h"

namespace flowcast::stages {
namespace {

const char* kYaml = R"(
datasets:
  flats:
    key: id
    event_time: listed_at
    target: price
    fields:
      id: string
      city: category
      total_area: {type: float, min: 8, max: 2000}
      rooms: {type: int, min: 0, max: 20}
      price: {type: float, min: 100000}
      listed_at: timestamp
    columns:
      Номер: id
      Город: city
      Площадь: total_area
      Цена (тыс): {field: price, scale: 1000}
      Дата: {field: listed_at, format: "%d.%m.%Y"}
    features: [{transform: log1p, input: total_area}]
)";

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(FileIngest, MapsColumnsRejectsBadRowsAndReloadsIdempotently) {
  testing::TempDir dir;
  Config config = Config::parse(kYaml, {"store=sqlite:" + dir.str() + "/db"});
  const DatasetSpec& ds = config.dataset("flats");
  auto store = cli::open_store(config);
  ASSERT_TRUE(store.ok());
  std::string csv = dir.str() + "/listings.csv";
  std::ofstream(csv) << "Номер,Город,rooms,Площадь,Цена (тыс),Дата\n"
                        "a1,Казань,2,\"54,3\",6150,03.02.2024\n"
                        "a2,Казань,два,40,5000,03.02.2024\n"
                        "a3,Омск,1,35,,04.02.2024\n"
                        "a4,Омск,1,35,4100,2024-02-04\n"
                        "a5,Тверь,3,70,7000,05.02.2024\n";
  FileIngestOptions options{csv, dir.str() + "/rejects.csv", 2, false};
  std::atomic<int> stop{0};
  auto summary = ingest_file(ds, **store, options, stop);
  ASSERT_TRUE(summary.ok()) << summary.status().to_string();
  EXPECT_EQ(summary->loaded, 2);
  EXPECT_EQ(summary->rejected, 3);
  EXPECT_EQ(slurp(options.rejects_path),
            "line,reason\n"
            "3,\"field 'rooms': expected an integer, got 'два'\"\n"
            "4,\"missing required field 'price'\"\n"
            "5,\"field 'listed_at': expected a timestamp in the format %d.%m.%Y, got '2024-02-04'\"\n");
  auto a1 = (*store)->get_record(ds, "a1");
  ASSERT_TRUE(a1.ok() && a1->has_value());
  EXPECT_DOUBLE_EQ((*a1)->number(ds.field_index("total_area")), 54.3);
  EXPECT_DOUBLE_EQ((*a1)->number(ds.target_index()), 6150000);
  EXPECT_EQ(std::get<int64_t>((*a1)->values[size_t(ds.field_index("listed_at"))]),
            *parse_timestamp_micros("2024-02-03"));

  auto again = ingest_file(ds, **store, options, stop);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*store)->stats(ds)->records, 2);
}

TEST(FileIngest, MissingRequiredColumnFailsBeforeLoading) {
  testing::TempDir dir;
  Config config = Config::parse(kYaml, {"store=sqlite:" + dir.str() + "/db"});
  auto store = cli::open_store(config);
  ASSERT_TRUE(store.ok());
  std::string csv = dir.str() + "/bad.csv";
  std::ofstream(csv) << "Номер,Город,rooms,Площадь,Дата\na1,Казань,2,54,03.02.2024\n";
  std::atomic<int> stop{0};
  auto summary = ingest_file(config.dataset("flats"), **store, {csv, dir.str() + "/r.csv", 10, false}, stop);
  ASSERT_FALSE(summary.ok());
  EXPECT_EQ(summary.status().message(), csv + ": missing required column 'Цена (тыс)' (for field 'price')");
  EXPECT_EQ((*store)->stats(config.dataset("flats"))->records, 0);
}

}  // namespace
}  // namespace flowcast::stages
