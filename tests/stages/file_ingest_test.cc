// flowcast ingest-file: column mapping (rename, units, date format), rejects with line numbers,
// a missing required column failing before anything loads, and idempotent re-loads.
#include "stages/file_ingest.h"

#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <thread>

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
  EXPECT_EQ(
      slurp(options.rejects_path),
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
  auto summary =
      ingest_file(config.dataset("flats"), **store, {csv, dir.str() + "/r.csv", 10, false}, stop);
  ASSERT_FALSE(summary.ok());
  EXPECT_EQ(summary.status().message(),
            csv + ": missing required column 'Цена (тыс)' (for field 'price')");
  EXPECT_EQ((*store)->stats(config.dataset("flats"))->records, 0);
}

// Many small batches, so the loader recycles each committed batch's Records for new rows and
// sorts every batch by key before the store sees it: every good row is loaded, a key repeated
// (in one batch or in another) ends as applying its rows in file order leaves it (a later row's
// values win, an empty optional cell keeps the stored value), and bad rows are rejected with
// their line numbers, their Record reused for the next row.
TEST(FileIngest, ManySmallBatchesLoadEveryRowInFileOrderPerKey) {
  const char* yaml = R"(
datasets:
  flats:
    key: id
    event_time: listed_at
    target: price
    fields:
      id: string
      city: category
      floor: {type: int, required: false}
      total_area: float
      price: float
      listed_at: timestamp
    features: [{transform: log1p, input: total_area}]
)";
  testing::TempDir dir;
  Config config = Config::parse(yaml, {"store=sqlite:" + dir.str() + "/db"});
  const DatasetSpec& ds = config.dataset("flats");
  auto store = cli::open_store(config);
  ASSERT_TRUE(store.ok());
  struct Want {
    std::string city;
    std::optional<int64_t> floor;
    double area = 0, price = 0;
  };
  std::map<std::string, Want> want;
  std::string expected_rejects = "line,reason\n";
  int64_t good = 0, bad = 0;
  std::string csv = dir.str() + "/flats.csv";
  {
    std::ofstream out(csv);
    out << "id,city,floor,total_area,price,listed_at\n";
    uint32_t rng = 3;
    for (int i = 0; i < 3000; ++i) {
      rng = rng * 1664525u + 1013904223u;
      const std::string key = "f" + std::to_string(rng % 1000);  // about 3 rows per key
      const std::string city = i % 2 ? "Омск" : "Казань-" + std::to_string(i);  // long: heap
      const bool has_floor = i % 3 != 0;
      const int line = i + 2;
      if (i % 97 == 5) {
        out << key << "," << city << ",1,abc,100,2024-01-01\n";
        expected_rejects +=
            std::to_string(line) + ",\"field 'total_area': expected a number, got 'abc'\"\n";
        ++bad;
        continue;
      }
      out << key << "," << city << "," << (has_floor ? std::to_string(i % 20) : "") << "," << 30 + i
          << "," << 1000 * i << ",2024-01-01\n";
      Want& w = want[key];
      w.city = city;
      if (has_floor) w.floor = i % 20;
      w.area = 30 + i;
      w.price = 1000 * i;
      ++good;
    }
  }
  FileIngestOptions options{csv, dir.str() + "/rejects.csv", 64, false};
  std::atomic<int> stop{0};
  auto summary = ingest_file(ds, **store, options, stop);
  ASSERT_TRUE(summary.ok()) << summary.status().to_string();
  EXPECT_EQ(summary->loaded, good);
  EXPECT_EQ(summary->rejected, bad);
  EXPECT_GT(bad, 20);
  EXPECT_EQ(slurp(options.rejects_path), expected_rejects);
  EXPECT_EQ((*store)->stats(ds)->records, int64_t(want.size()));
  const int city = ds.field_index("city"), floor = ds.field_index("floor"),
            area = ds.field_index("total_area");
  for (const auto& [key, w] : want) {
    auto r = (*store)->get_record(ds, key);
    ASSERT_TRUE(r.ok() && r->has_value()) << key;
    const Record& rec = **r;
    EXPECT_EQ(*rec.text(city), w.city) << key;
    if (w.floor)
      EXPECT_EQ(rec.number(floor), double(*w.floor)) << key;
    else
      EXPECT_FALSE(rec.has(floor)) << key;
    EXPECT_EQ(rec.number(area), w.area) << key;
    EXPECT_EQ(rec.number(ds.target_index()), w.price) << key;
  }
}

// A file saved in Windows-1251 (`iconv -t cp1251`): its text cells are not UTF-8 and must not
// reach the store (training serialises them as JSON and would fail on every run). Each such row
// is rejected with its line and the field; the UTF-8 rows load.
TEST(FileIngest, RowsThatAreNotUtf8AreRejectedWithTheFieldAndTheEncoding) {
  testing::TempDir dir;
  Config config = Config::parse(kYaml, {"store=sqlite:" + dir.str() + "/db"});
  const DatasetSpec& ds = config.dataset("flats");
  auto store = cli::open_store(config);
  ASSERT_TRUE(store.ok());
  std::string csv = dir.str() + "/listings.csv";
  std::ofstream(csv) << "Номер,Город,rooms,Площадь,Цена (тыс),Дата\n"
                        "a1,Казань,2,54,6150,03.02.2024\n"
                        "a2,\xCA\xE0\xE7\xE0\xED\xFC,2,40,5000,03.02.2024\n"  // Казань in cp1251
                        "a3,Омск,1,35,4100,04.02.2024\n";
  FileIngestOptions options{csv, dir.str() + "/rejects.csv", 10, false};
  std::atomic<int> stop{0};
  auto summary = ingest_file(ds, **store, options, stop);
  ASSERT_TRUE(summary.ok()) << summary.status().to_string();
  EXPECT_EQ(summary->loaded, 2);
  EXPECT_EQ(summary->rejected, 1);
  EXPECT_EQ(slurp(options.rejects_path),
            "line,reason\n"
            "3,\"field 'city': not valid UTF-8 (is the file in another encoding, e.g. "
            "Windows-1251? convert it with iconv -f cp1251 -t utf-8)\"\n");
  auto a2 = (*store)->get_record(ds, "a2");
  ASSERT_TRUE(a2.ok());
  EXPECT_FALSE(a2->has_value());
}

// A file saved on Windows (CRLF), or by a text-mode writer given CRLF (CR CR LF): the last column
// is found in the header and every row loads.
TEST(FileIngest, WindowsLineEndingsLoad) {
  for (const std::string eol : {"\r\n", "\r\r\n"}) {
    testing::TempDir dir;
    Config config = Config::parse(kYaml, {"store=sqlite:" + dir.str() + "/db"});
    const DatasetSpec& ds = config.dataset("flats");
    auto store = cli::open_store(config);
    ASSERT_TRUE(store.ok());
    std::string csv = dir.str() + "/listings.csv";
    std::ofstream(csv, std::ios::binary)
        << "Номер,Город,rooms,Площадь,Цена (тыс),Дата" << eol << "a1,Казань,2,54,6150,03.02.2024"
        << eol << "a2,Омск,1,35,4100,04.02.2024" << eol;
    FileIngestOptions options{csv, dir.str() + "/rejects.csv", 10, false};
    std::atomic<int> stop{0};
    auto summary = ingest_file(ds, **store, options, stop);
    ASSERT_TRUE(summary.ok()) << summary.status().to_string();
    EXPECT_EQ(summary->loaded, 2);
    EXPECT_EQ(summary->rejected, 0) << slurp(options.rejects_path);
  }
}

// Two 'rooms' columns: which one would load is an accident of their order, so nothing loads.
TEST(FileIngest, DuplicateColumnFailsBeforeLoading) {
  testing::TempDir dir;
  Config config = Config::parse(kYaml, {"store=sqlite:" + dir.str() + "/db"});
  auto store = cli::open_store(config);
  ASSERT_TRUE(store.ok());
  std::string csv = dir.str() + "/dup.csv";
  std::ofstream(csv) << "Номер,Город,rooms,Площадь,Цена (тыс),Дата,rooms\n"
                        "a1,Казань,2,54,6150,03.02.2024,3\n";
  std::atomic<int> stop{0};
  auto summary =
      ingest_file(config.dataset("flats"), **store, {csv, dir.str() + "/r.csv", 10, false}, stop);
  ASSERT_FALSE(summary.ok());
  EXPECT_EQ(summary.status().message(), csv + ": duplicate column 'rooms' (columns 3 and 7)");
  EXPECT_EQ((*store)->stats(config.dataset("flats"))->records, 0);
}

// The reject file cannot be written: the failure says why, not only which file.
TEST(FileIngest, AnUnwritableRejectFileSaysWhy) {
  testing::TempDir dir;
  Config config = Config::parse(kYaml, {"store=sqlite:" + dir.str() + "/db"});
  auto store = cli::open_store(config);
  ASSERT_TRUE(store.ok());
  std::string csv = dir.str() + "/listings.csv";
  std::ofstream(csv) << "Номер,Город,rooms,Площадь,Цена (тыс),Дата\n"
                        "a1,Казань,два,54,6150,03.02.2024\n";
  std::atomic<int> stop{0};
  const std::string missing_dir = dir.str() + "/no/such/dir/r.csv";
  auto summary = ingest_file(config.dataset("flats"), **store, {csv, missing_dir, 10, false}, stop);
  ASSERT_FALSE(summary.ok());
  EXPECT_EQ(summary.status().message(),
            "cannot write the reject file " + missing_dir + ": No such file or directory");
  summary = ingest_file(config.dataset("flats"), **store, {csv, "/dev/full", 10, false}, stop);
  ASSERT_FALSE(summary.ok());
  EXPECT_EQ(summary.status().message(),
            "cannot write the reject file /dev/full: No space left on device");
}

// A CSV of `rows` listings for kYaml, keys in random order.
void write_listings(const std::string& path, int rows) {
  std::ofstream out(path);
  out << "Номер,Город,rooms,Площадь,Цена (тыс),Дата\n";
  uint64_t h = 88172645463325252ull;  // xorshift
  for (int i = 0; i < rows; ++i) {
    h ^= h << 13, h ^= h >> 7, h ^= h << 17;
    out << "k" << (h % 1'000'000'000'000ull) << "-" << i << ",Казань," << i % 5 << ","
        << 20 + i % 100 << "," << 1000 + i % 9000 << "," << 1 + i % 28 << ".02.2024\n";
  }
}

// ingest-file killed (SIGKILL) in the middle of a load: the store holds the groups committed
// before it, whole (a multiple of the group size, every index consistent), and loading the file
// again completes it with every row once. The load runs in a child process, with groups of
// 5,000 rows, so that several commit before the kill.
TEST(FileIngest, AKilledLoadLeavesAConsistentStoreThatLoadingAgainCompletes) {
  testing::TempDir dir;
  Config config = Config::parse(kYaml, {"store=sqlite:" + dir.str() + "/db"});
  const DatasetSpec& ds = config.dataset("flats");
  const std::string csv = dir.str() + "/listings.csv";
  constexpr int kRows = 120'000;
  write_listings(csv, kRows);
  FileIngestOptions options{csv, dir.str() + "/rejects.csv", 1000, false};
  options.group_rows = 5000;
  options.group_ms = 3'600'000;
  int go[2];
  ASSERT_EQ(::pipe(go), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {  // the child loads once the parent is ready; the parent kills it
    char c = 0;
    if (::read(go[0], &c, 1) != 1) ::_exit(2);
    auto store = cli::open_store(config);
    std::atomic<int> stop{0};
    ::_exit(store.ok() && ingest_file(ds, **store, options, stop).ok() ? 0 : 1);
  }
  // The parent opens its store and creates the tables first: both take the write lock for a
  // moment, which a load leaves free only between its transactions.
  auto store = cli::open_store(config);
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->ensure_dataset(ds).ok());
  ASSERT_EQ(::write(go[1], "g", 1), 1);
  ::close(go[0]);
  ::close(go[1]);
  int64_t seen = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (seen < 20'000 && std::chrono::steady_clock::now() < deadline) {
    auto st = (*store)->stats(ds);
    if (st.ok()) seen = st->records;
    ::usleep(1000);
  }
  ::kill(pid, SIGKILL);
  int wstatus = 0;
  ASSERT_EQ(::waitpid(pid, &wstatus, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(wstatus)) << "the load ended before it was killed; status " << wstatus;

  auto after_kill = (*store)->stats(ds);
  ASSERT_TRUE(after_kill.ok()) << after_kill.status().to_string();
  EXPECT_GE(after_kill->records, 20'000);
  EXPECT_LT(after_kill->records, kRows);
  EXPECT_EQ(after_kill->records % 5000, 0) << "only whole groups are committed";
  EXPECT_EQ(after_kill->labelled, after_kill->records);
  EXPECT_EQ((*store)->count_labelled(ds).value(), after_kill->records);

  std::atomic<int> stop{0};
  auto again = ingest_file(ds, **store, options, stop);
  ASSERT_TRUE(again.ok()) << again.status().to_string();
  EXPECT_EQ(again->loaded, kRows);
  EXPECT_EQ(again->rejected, 0);
  auto st = (*store)->stats(ds);
  EXPECT_EQ(st->records, kRows);
  EXPECT_EQ(st->labelled, kRows);
  EXPECT_EQ((*store)->count_labelled(ds).value(), kRows);
  int64_t scanned = 0;
  ASSERT_TRUE((*store)->scan_labelled(ds, 0, [&](const Record&) { ++scanned; }).ok());
  EXPECT_EQ(scanned, kRows);
}

// An interrupt (Ctrl-C) mid-load: the rows parsed so far are committed, those of a group not yet
// full included, and the store is consistent; loading again completes the file.
TEST(FileIngest, AnInterruptedLoadCommitsWhatItHandedOver) {
  testing::TempDir dir;
  Config config = Config::parse(kYaml, {"store=sqlite:" + dir.str() + "/db"});
  const DatasetSpec& ds = config.dataset("flats");
  const std::string csv = dir.str() + "/listings.csv";
  constexpr int kRows = 120'000;
  write_listings(csv, kRows);
  auto store = cli::open_store(config);
  ASSERT_TRUE(store.ok());
  FileIngestOptions options{csv, dir.str() + "/rejects.csv", 1000, false};
  options.group_rows = 7000;
  options.group_ms = 3'600'000;
  std::atomic<int> stop{0};
  // Opened (and its dataset checked) before the load: both take the write lock for a moment,
  // which a load leaves free only between its transactions.
  auto other = cli::open_store(config);
  ASSERT_TRUE(other.ok());
  ASSERT_TRUE((*other)->ensure_dataset(ds).ok());
  std::thread interrupter([&] {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < deadline) {
      auto st = (*other)->stats(ds);
      if (st.ok() && st->records >= 14'000) break;
      ::usleep(1000);
    }
    stop = 1;
  });
  auto interrupted = ingest_file(ds, **store, options, stop);
  interrupter.join();
  ASSERT_FALSE(interrupted.ok());
  EXPECT_EQ(interrupted.status().message(), "interrupted; rows loaded so far stay");
  const int64_t kept = (*store)->stats(ds)->records;
  EXPECT_GE(kept, 14'000);
  EXPECT_LT(kept, kRows);
  EXPECT_EQ((*store)->count_labelled(ds).value(), kept);
  stop = 0;
  auto again = ingest_file(ds, **store, options, stop);
  ASSERT_TRUE(again.ok()) << again.status().to_string();
  EXPECT_EQ((*store)->stats(ds)->records, kRows);
}

}  // namespace
}  // namespace flowcast::stages
