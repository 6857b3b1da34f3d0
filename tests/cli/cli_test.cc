// The flowcast binary as a user runs it: help, configuration errors, and a kill -9 in the middle
// of a run followed by a restart, after which nothing is lost or doubled in the store.
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "support/test_support.h"

namespace flowcast {
namespace {

using testing::slurp;

// Starts the binary with `args`; stdout and stderr go to files in `dir`.
pid_t spawn(const std::vector<std::string>& args, const std::string& dir) {
  return testing::spawn_flowcast(args, dir + "/stdout", dir + "/stderr");
}

int run(const std::vector<std::string>& args, const std::string& dir, int seconds = 120) {
  return testing::wait_exit(spawn(args, dir), seconds);
}

int64_t query(sqlite3* db, const std::string& sql) {
  sqlite3_stmt* st = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  int64_t v = -1;
  if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return v;
}

std::string taxi_yaml() { return (testing::source_dir() / "examples" / "taxi.yaml").string(); }

TEST(Cli, HelpListsEveryCommand) {
  testing::TempDir dir;
  EXPECT_EQ(run({"--help"}, dir.str()), 0);
  std::string help = slurp(dir.str() + "/stdout");
  for (const char* cmd : {"run", "produce", "ingest", "train", "predict", "evaluate", "status", "check"})
    EXPECT_NE(help.find(cmd), std::string::npos) << cmd;
  EXPECT_EQ(run({"predict", "--help"}, dir.str()), 0);
  EXPECT_NE(slurp(dir.str() + "/stdout").find("--once"), std::string::npos);
  EXPECT_EQ(run({"no-such-command"}, dir.str()), 2);
}

TEST(Cli, BadConfigurationIsOneLineAndExitCode2AndWritesNothing) {
  testing::TempDir dir;
  std::string cfg = dir.str() + "/bad.yaml";
  std::ofstream(cfg) << slurp(taxi_yaml()) << "\n";
  EXPECT_EQ(run({"run", cfg, "--set", "bus=local:" + dir.str() + "/bus", "--set",
                 "stages.train.min_rows=lots"},
                dir.str()),
            2);
  std::string err = slurp(dir.str() + "/stderr");
  // The value came from --set, so --set is named rather than the file.
  EXPECT_EQ(err, "flowcast: --set stages.train.min_rows: expected a whole number, got 'lots'\n");
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "bus"));

  EXPECT_EQ(run({"check", cfg, "--set", "datasets.taxi.fields.vendor_id.type=integer"}, dir.str()), 2);
  EXPECT_NE(slurp(dir.str() + "/stderr").find("datasets.taxi.fields.vendor_id.type: unknown type 'integer'"),
            std::string::npos);
  EXPECT_EQ(run({"check", cfg}, dir.str()), 0);
  EXPECT_EQ(run({"check", dir.str() + "/missing.yaml"}, dir.str()), 2);
}

// status only reads: a store path with nothing behind it (a typo, say) is reported, and neither
// the file nor its directories are created to look like an empty store.
TEST(Cli, StatusOfAStoreThatDoesNotExistSaysSoAndCreatesNothing) {
  testing::TempDir dir;
  const std::string url = "sqlite:" + dir.str() + "/typo/flowcast.db";
  EXPECT_EQ(run({"status", taxi_yaml(), "--set", "store=" + url}, dir.str()), 1);
  EXPECT_EQ(slurp(dir.str() + "/stderr"),
            "flowcast: no store at " + url +
                ": nothing has been stored there yet (is `store:` right?)\n");
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "typo"));
}

TEST(Cli, KillNineMidStreamThenRestartLosesAndDoublesNothing) {
  testing::TempDir dir;
  std::vector<std::string> common = {
      taxi_yaml(), "--no-status", "--listen", "127.0.0.1:0",
      "--set", "bus=local:" + dir.str() + "/bus",
      "--set", "store=sqlite:" + dir.str() + "/flowcast.db",
      "--set", "log_level=warn",
      "--set", "stages.produce.generator=taxi",
      "--set", "stages.produce.speedup=2000",
      "--set", "stages.train.min_rows=300",
      "--set", "stages.train.poll_interval=300ms",
      "--set", "stages.evaluate.join_ttl=15s",
      "--set", "datasets.taxi.model.params.rounds=40"};
  // First run: endless, killed without warning while every stage is busy.
  std::vector<std::string> first = {"run"};
  first.insert(first.end(), common.begin(), common.end());
  first.insert(first.end(), {"--rate", "3000"});
  pid_t pid = spawn(first, dir.str());
  std::this_thread::sleep_for(std::chrono::seconds(6));
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  waitpid(pid, nullptr, 0);

  // Second run: a bounded producer; the stages resume from the stored offsets and drain.
  std::vector<std::string> second = {"run"};
  second.insert(second.end(), common.begin(), common.end());
  second.insert(second.end(), {"--rate", "3000", "--limit", "3000", "--set", "stages.produce.seed=99"});
  ASSERT_EQ(run(second, dir.str(), 180), 0) << slurp(dir.str() + "/stderr");

  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir.str() + "/flowcast.db").c_str(), &db), SQLITE_OK);
  int64_t requests = query(db, "SELECT count(*) FROM taxi_records WHERE pickup_datetime IS NOT NULL");
  EXPECT_GT(requests, 3000) << "the first run stored nothing before it was killed";
  EXPECT_EQ(query(db, "SELECT count(*) FROM taxi_records r WHERE pickup_datetime IS NOT NULL AND "
                      "NOT EXISTS (SELECT 1 FROM taxi_predictions p WHERE p.key = r.id)"),
            0)
      << "a stored request has no prediction";
  EXPECT_EQ(query(db, "SELECT count(*) FROM taxi_predictions p WHERE NOT EXISTS "
                      "(SELECT 1 FROM taxi_records r WHERE r.id = p.key)"),
            0)
      << "a prediction for a request the store never saw";
  // Every outcome whose trip was predicted is joined, once per model version.
  EXPECT_EQ(query(db, "SELECT count(*) FROM taxi_records r JOIN taxi_predictions p ON p.key = r.id "
                      "WHERE r.trip_duration IS NOT NULL AND NOT EXISTS (SELECT 1 FROM "
                      "taxi_evaluations e WHERE e.key = p.key AND e.model_version = p.model_version)"),
            0)
      << "an outcome left unjoined";
  EXPECT_EQ(query(db, "SELECT count(*) FROM taxi_evaluations e JOIN taxi_records r ON r.id = e.key "
                      "WHERE e.actual != r.trip_duration"),
            0);
  EXPECT_GT(query(db, "SELECT count(*) FROM taxi_evaluations"), 2000);
  sqlite3_close(db);
}

}  // namespace
}  // namespace flowcast
