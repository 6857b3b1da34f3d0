// `flowcast bench` on a tiny configuration: the report is well formed and its figures are
// positive and consistent with each other. No timing is asserted: the machine may be busy.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include <filesystem>

#include "store/postgres_test_server.h"
#include "support/test_support.h"

namespace flowcast {
namespace {

using testing::slurp;

// Runs the binary with `args`, stdout and stderr into `out`; returns the exit code.
int run(const std::vector<std::string>& args, const std::string& out, int seconds) {
  return testing::wait_exit(testing::spawn_flowcast(args, out, out), seconds, "flowcast bench");
}

TEST(BenchCommand, HelpExplainsEveryMeasurement) {
  testing::TempDir dir;
  const std::string out = dir.str() + "/out";
  ASSERT_EQ(run({"bench", "--help"}, out, 30), 0);
  const std::string help = slurp(out);
  for (const char* word : {"throughput", "latency", "ingest", "--rate", "--runs", "--requests", "--store",
                           "VmHWM", "/proc/PID/stat", "p999", "--json"})
    EXPECT_NE(help.find(word), std::string::npos) << word << " missing from:\n" << help;
}

TEST(BenchCommand, TinyTaxiRunIsWellFormed) {
  testing::TempDir dir;
  const std::string out = dir.str() + "/out", json = dir.str() + "/report.json";
  const std::string taxi = (testing::source_dir() / "examples" / "taxi.yaml").string();
  ASSERT_EQ(run({"bench", taxi, "--runs", "2", "--requests", "3000", "--rate", "2000",
                 "--latency-duration", "1s", "--warmup", "200ms", "--trees", "20", "--depth", "4",
                 "--train-rows", "2000", "--ingest-records", "3000", "--batch-size", "500",
                 "--dir", dir.str(), "--json", json},
                out, 300),
            0)
      << slurp(out);
  const std::string text = slurp(out);
  for (const char* line : {"machine: ", "settings: ", "run 1 throughput: ", "run 2 throughput: ",
                           "run 1 latency: ", "run 2 ingest sqlite: ", "median throughput (2 runs)",
                           "median latency (2 runs)", "median ingest sqlite (2 runs)", "load average at start"})
    EXPECT_NE(text.find(line), std::string::npos) << line << " missing from:\n" << text;
  EXPECT_EQ(text.find("FAILED"), std::string::npos) << text;

  auto r = nlohmann::json::parse(slurp(json));
  EXPECT_EQ(r["dataset"], "taxi");
  EXPECT_EQ(r["settings"]["trees"], 20);
  EXPECT_EQ(r["settings"]["depth"], 4);
  ASSERT_EQ(r["runs"]["throughput"].size(), 2u);
  for (const auto& t : r["runs"]["throughput"]) {
    EXPECT_EQ(t["stored_predictions"], 3000);
    EXPECT_FALSE(t["cpus"].get<std::string>().empty());
    EXPECT_GT(t["measured_requests"].get<int64_t>(), 0);
    EXPECT_LE(t["measured_requests"].get<int64_t>(), 3000);
    EXPECT_GT(t["requests_per_s"].get<double>(), 0);
    EXPECT_GT(t["requests_per_cpu_s"].get<double>(), 0);
    EXPECT_GT(t["peak_rss_mb"].get<double>(), 1);
    // One thread of work: the stage cannot use much more CPU than wall-clock time.
    EXPECT_LE(t["cpu_seconds"].get<double>(), 2 * t["seconds"].get<double>() + 0.05);
  }
  ASSERT_EQ(r["runs"]["latency"].size(), 2u);
  for (const auto& l : r["runs"]["latency"]) {
    EXPECT_GT(l["measured_requests"].get<int64_t>(), 1000);
    EXPECT_GT(l["p50_us"].get<double>(), 0);
    EXPECT_LE(l["min_us"].get<double>(), l["p50_us"].get<double>());
    EXPECT_LE(l["p50_us"].get<double>(), l["p99_us"].get<double>());
    EXPECT_LE(l["p99_us"].get<double>(), l["p999_us"].get<double>());
    EXPECT_LE(l["p999_us"].get<double>(), l["max_us"].get<double>());
    EXPECT_GT(l["achieved_rate"].get<double>(), 0);
    EXPECT_GT(l["peak_rss_mb"].get<double>(), 1);
  }
  ASSERT_EQ(r["runs"]["ingest sqlite"].size(), 2u);
  for (const auto& i : r["runs"]["ingest sqlite"]) {
    EXPECT_EQ(i["records"], 3000);
    EXPECT_GT(i["records_per_s"].get<double>(), 0);
  }
  const auto& m = r["medians"];
  EXPECT_GT(m["throughput"]["requests_per_s"].get<double>(), 0);
  EXPECT_LE(m["latency"]["p50_us"].get<double>(), m["latency"]["p99_us"].get<double>());
  EXPECT_GT(m["ingest sqlite"]["records_per_s"].get<double>(), 0);
  // The temporary directory is removed unless --keep.
  for (const auto& e : std::filesystem::directory_iterator(dir.path()))
    EXPECT_EQ(e.path().filename().string().rfind("flowcast-bench-", 0), std::string::npos) << e.path();
}

// --cpu N runs the stage on CPU N alone (all its threads: the child is pinned before it starts
// them), and a CPU the process may not use is refused before anything is written.
TEST(BenchCommand, CpuPinsTheStageToOneCpu) {
  if (sysconf(_SC_NPROCESSORS_ONLN) < 2) GTEST_SKIP() << "pinning needs two CPUs";
  testing::TempDir dir;
  const std::string out = dir.str() + "/out", json = dir.str() + "/report.json";
  const std::string taxi = (testing::source_dir() / "examples" / "taxi.yaml").string();
  ASSERT_EQ(run({"bench", taxi, "--measure", "throughput", "--runs", "1", "--requests", "2000",
                 "--trees", "10", "--depth", "3", "--train-rows", "1000", "--cpu", "1",
                 "--dir", dir.str(), "--json", json},
                out, 300),
            0)
      << slurp(out);
  EXPECT_NE(slurp(out).find("each stage on CPU 1 alone"), std::string::npos) << slurp(out);
  auto r = nlohmann::json::parse(slurp(json));
  EXPECT_EQ(r["settings"]["cpu"], 1);
  ASSERT_EQ(r["runs"]["throughput"].size(), 1u);
  EXPECT_EQ(r["runs"]["throughput"][0]["cpus"], "1");

  EXPECT_EQ(run({"bench", taxi, "--cpu", "4096", "--dir", dir.str() + "/b"}, out, 30), 2);
  EXPECT_NE(slurp(out).find("--cpu: 4096 is not one of the CPUs"), std::string::npos) << slurp(out);
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "b")) << "bench wrote before failing";
}

TEST(BenchCommand, BadOptionIsAUsageError) {
  testing::TempDir dir;
  const std::string out = dir.str() + "/out";
  const std::string taxi = (testing::source_dir() / "examples" / "taxi.yaml").string();
  EXPECT_EQ(run({"bench", taxi, "--measure", "speed"}, out, 30), 2);
  EXPECT_NE(slurp(out).find("--measure"), std::string::npos) << slurp(out);
}

// A dataset bench cannot generate a workload for, or one training would refuse, fails before the
// bench writes anything: no flowcast-bench-* directory is left behind.
TEST(BenchCommand, ADatasetItCannotRunFailsBeforeWriting) {
  testing::TempDir dir;
  const std::string out = dir.str() + "/out", cfg = dir.str() + "/bikes.yaml";
  std::ofstream(cfg) << R"(datasets:
  bikes:
    key: id
    event_time: ts
    target: y
    fields: {id: string, ts: timestamp, x: float, y: float}
    features: [{transform: numeric, input: x}]
)";
  EXPECT_EQ(run({"bench", cfg, "--dir", dir.str() + "/b"}, out, 30), 2);
  EXPECT_NE(slurp(out).find("built-in generator"), std::string::npos) << slurp(out);
  const std::string taxi = (testing::source_dir() / "examples" / "taxi.yaml").string();
  EXPECT_EQ(run({"bench", taxi, "--dir", dir.str() + "/b", "--set",
                 "datasets.taxi.model.params.max_depth=banana"},
                out, 30),
            2);
  EXPECT_NE(slurp(out).find("max_depth"), std::string::npos) << slurp(out);
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "b")) << "bench wrote before failing";
}

// A store of the user's (--store URL) is shared by every run. Each run must write keys of its
// own there, or the second run finds every key stored and measures re-delivery, which writes
// nothing (its figure was once the median). Every request's outcome carries the same key, so
// each run's rows are all labelled.
TEST(BenchCommand, EachIngestRunIntoAStoreOfTheUsersWritesRowsOfItsOwn) {
  const auto* pg = store::testing::PostgresTestServer::get();
  if (pg == nullptr) GTEST_SKIP() << store::testing::PostgresTestServer::skip_message();
  const std::string schema = pg->create_schema();
  testing::TempDir dir;
  const std::string out = dir.str() + "/out";
  const std::string taxi = (testing::source_dir() / "examples" / "taxi.yaml").string();
  ASSERT_EQ(run({"bench", taxi, "--measure", "ingest", "--runs", "2", "--ingest-records", "2000",
                 "--trees", "5", "--depth", "3", "--train-rows", "500", "--dir", dir.str(),
                 "--store", pg->schema_url(schema)},
                out, 300),
            0)
      << slurp(out);
  EXPECT_NE(slurp(out).find("median ingest postgresql://"), std::string::npos) << slurp(out);
  EXPECT_EQ(pg->query("SELECT substring(id from '^b[0-9]+r([0-9]+)-'), count(*), "
                      "count(trip_duration) FROM taxi_records GROUP BY 1 ORDER BY 1",
                      schema),
            (std::vector<std::string>{"1|1000|1000", "2|1000|1000"}));
  pg->drop_schema(schema);
}

}  // namespace
}  // namespace flowcast
