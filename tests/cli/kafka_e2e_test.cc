// Every stage as its own process on the kafka:// bus, against librdkafka's mock cluster running in
// a process of its own (flowcast_kafka_mock): two predict processes share the requests, one is
// killed with SIGKILL mid-stream and a third takes its place, a broker fails over, a second wave
// of requests follows once the group has settled, and the store (SQLite, shared by the
// processes) must hold every request, exactly one prediction per request and model version, and
// every outcome joined. Then interop: requests written with kcat, predictions read back with kcat.
//
// Every process listens on or connects to 127.0.0.1 only, each wait is bounded, and every process
// a test starts is stopped by it, on failure too (RAII below; the mock also exits when its stdin
// closes or after --max-seconds).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "bus/bus.h"
#include "cli/backends.h"
#include "support/test_support.h"

#ifndef FLOWCAST_KAFKA_MOCK
#error "FLOWCAST_KAFKA_MOCK (the flowcast_kafka_mock binary) must be defined by CMake"
#endif

namespace flowcast {
namespace {

using Clock = std::chrono::steady_clock;

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A child process with a bounded life: the destructor kills it (SIGKILL) if it is still running.
class Child {
 public:
  // stdout and stderr go to `log_base`.out / .err; stdin from /dev/null unless `stdin_fd` >= 0.
  Child(const std::string& bin, const std::vector<std::string>& args, const std::string& log_base,
        int stdin_fd = -1, int stdout_fd = -1) {
    pid_ = fork();
    if (pid_ == 0) {
      int in = stdin_fd >= 0 ? stdin_fd : open("/dev/null", O_RDONLY);
      int out = stdout_fd >= 0
                    ? stdout_fd
                    : open((log_base + ".out").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      int err = open((log_base + ".err").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(in, 0);
      dup2(out, 1);
      dup2(err, 2);
      std::vector<std::string> copy = args;
      std::string b = bin;
      std::vector<char*> argv{b.data()};
      for (auto& a : copy) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(b.c_str(), argv.data());
      _exit(127);
    }
  }
  ~Child() {
    if (running()) kill9();
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0 && !exited_; }
  // Waits at most `seconds` for the process to exit; returns its exit code, -1 when killed by a
  // signal, -2 on timeout (the process keeps running).
  int wait(int seconds) {
    for (auto until = Clock::now() + std::chrono::seconds(seconds);;) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        exited_ = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      if (Clock::now() > until) return -2;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  // SIGTERM, then SIGKILL after `seconds`. Returns the exit code (or -1 when it had to be killed).
  int stop(int seconds = 30) {
    if (!running()) return -1;
    kill(pid_, SIGTERM);
    int rc = wait(seconds);
    if (rc == -2) {
      ADD_FAILURE() << "pid " << pid_ << " did not stop within " << seconds << " s of SIGTERM";
      kill9();
      return -1;
    }
    return rc;
  }
  void kill9() {
    if (!running()) return;
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    exited_ = true;
  }

 private:
  pid_t pid_ = -1;
  bool exited_ = false;
};

// flowcast_kafka_mock, driven through a pipe: one command, one answer line.
class MockProcess {
 public:
  explicit MockProcess(const std::string& dir) {
    int to_child[2], from_child[2];
    if (pipe(to_child) != 0 || pipe(from_child) != 0) return;
    const std::string file = dir + "/bootstrap";
    child_ = std::make_unique<Child>(
        FLOWCAST_KAFKA_MOCK,
        std::vector<std::string>{"--bootstrap-file", file, "--max-seconds", "600"}, dir + "/mock",
        to_child[0], from_child[1]);
    close(to_child[0]);
    close(from_child[1]);
    in_ = to_child[1];
    out_ = from_child[0];
    fcntl(in_, F_SETFD, FD_CLOEXEC);
    fcntl(out_, F_SETFD, FD_CLOEXEC);
    for (auto until = Clock::now() + std::chrono::seconds(10); Clock::now() < until;) {
      if (std::filesystem::exists(file)) {
        bootstrap_ = slurp(file);
        while (!bootstrap_.empty() && bootstrap_.back() == '\n') bootstrap_.pop_back();
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  ~MockProcess() {
    if (in_ >= 0) {
      (void)!write(in_, "quit\n", 5);
      close(in_);
    }
    if (child_ && child_->wait(5) == -2) child_->kill9();
    if (out_ >= 0) close(out_);
  }
  const std::string& bootstrap() const { return bootstrap_; }

  // Sends one command; returns its answer ("ok", "error: ..."), or "timeout".
  std::string command(const std::string& line) {
    std::string l = line + "\n";
    if (write(in_, l.data(), l.size()) != ssize_t(l.size())) return "write failed";
    std::string answer;
    for (auto until = Clock::now() + std::chrono::seconds(10); Clock::now() < until;) {
      pollfd p{out_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      char c;
      if (read(out_, &c, 1) != 1) return "eof";
      if (c == '\n') return answer;
      answer += c;
    }
    return "timeout";
  }

 private:
  std::unique_ptr<Child> child_;
  int in_ = -1, out_ = -1;
  std::string bootstrap_;
};

int64_t query(sqlite3* db, const std::string& sql) {
  sqlite3_stmt* st = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  int64_t v = -1;
  if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return v;
}

// Runs `sql` on a fresh connection (the stages write concurrently; -1 while the tables are not
// there yet).
int64_t query_file(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    return -1;
  }
  sqlite3_busy_timeout(db, 5000);
  sqlite3_stmt* st = nullptr;
  int64_t v = -1;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW)
    v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return v;
}

const char* kTopics[] = {"new_trips",     "finished_trips",    "ml_predictions",
                         "model_metrics", "taxi_observations", "taxi_dlq"};

// Topics made up front: the mock has no CreateTopics (a real cluster would be asked by the
// first stage, with kafka.flowcast.* settings).
void make_topics(MockProcess& mock, int partitions) {
  for (const char* t : kTopics)
    ASSERT_EQ(mock.command("topic " + std::string(t) + " " + std::to_string(partitions)), "ok")
        << t;
}

std::vector<std::string> common_args(const std::string& bootstrap, const std::string& db) {
  return {(testing::source_dir() / "examples" / "taxi.yaml").string(), "--set",
          "bus=kafka://" + bootstrap, "--set", "store=sqlite:" + db, "--set", "log_level=info",
          // The mock's rebalances wait session.timeout.ms - 1 s; a short fetch wait keeps latency
          // low on the mock.
          "--set", "kafka.session.timeout.ms=4000", "--set", "kafka.heartbeat.interval.ms=500",
          "--set", "kafka.fetch.wait.max.ms=10", "--set", "kafka.reconnect.backoff.max.ms=1000",
          "--set", "stages.evaluate.join_ttl=60s"};
}

std::vector<std::string> with(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// The last "predicted N" a predict process reported in its status line.
int64_t last_predicted(const std::string& err_file) {
  std::string text = slurp(err_file);
  static const std::regex re("predicted ([0-9]+)");
  int64_t last = -1;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), re); it != std::sregex_iterator();
       ++it)
    last = std::stoll((*it)[1]);
  return last;
}

TEST(KafkaE2e, StagesAsProcessesShareThePartitionsAndSurviveKillNineAndABrokerFailure) {
  testing::TempDir dir;
  const std::string d = dir.str();
  const std::string db = d + "/flowcast.db";
  MockProcess mock(d);
  ASSERT_FALSE(mock.bootstrap().empty()) << slurp(d + "/mock.err");
  make_topics(mock, 6);
  // Group coordinators spread over the brokers; broker 3 (predict's) fails over later.
  ASSERT_EQ(mock.command("coordinator flowcast.ingest.taxi 1"), "ok");
  ASSERT_EQ(mock.command("coordinator flowcast.evaluate.taxi 2"), "ok");
  ASSERT_EQ(mock.command("coordinator flowcast.predict.taxi 3"), "ok");
  const auto common = common_args(mock.bootstrap(), db);
  const std::string bin = testing::flowcast_binary();

  // The store's tables first, so that the stage processes do not race to create them.
  {
    Config config = testing::taxi_config({"store=sqlite:" + db});
    auto store = cli::open_store(config);
    ASSERT_TRUE(store.ok()) << store.status().to_string();
    ASSERT_TRUE((*store)->ensure_dataset(config.dataset("taxi")).ok());
  }
  auto ingest = std::make_unique<Child>(bin, with({"ingest"}, common), d + "/ingest");
  auto evaluate = std::make_unique<Child>(bin, with({"evaluate"}, common), d + "/evaluate");
  auto predict_a = std::make_unique<Child>(bin, with({"predict"}, common), d + "/predict-a");
  auto predict_b = std::make_unique<Child>(bin, with({"predict"}, common), d + "/predict-b");
  std::this_thread::sleep_for(std::chrono::seconds(4));  // the group forms (the mock waits 3 s)

  // Wave 1 while things go wrong; wave 2 once the group has settled, so that both surviving
  // predict processes are sure to hold partitions while requests flow.
  auto produce_wave = [&](int seed, int count, const std::string& name) {
    return std::make_unique<Child>(
        bin,
        with({"produce"},
             with(common, {"--set", "stages.produce.generator=taxi", "--set",
                           "stages.produce.seed=" + std::to_string(seed), "--rate", "1500",
                           "--limit", std::to_string(count), "--speedup", "600"})),
        d + "/" + name);
  };
  const int kWave1 = 9000, kWave2 = 3000, kRequests = kWave1 + kWave2;
  auto produce = produce_wave(41, kWave1, "produce-1");

  // Mid-stream: predict A dies without warning and predict C takes its place.
  std::this_thread::sleep_for(std::chrono::seconds(2));
  predict_a->kill9();
  auto predict_c = std::make_unique<Child>(bin, with({"predict"}, common), d + "/predict-c");
  const auto c_started = Clock::now();
  // Then broker 3 fails: its leaderships and predict's coordinator move to brokers 1 and 2.
  std::this_thread::sleep_for(std::chrono::seconds(2));
  ASSERT_EQ(mock.command("failover 3"), "ok");
  ASSERT_EQ(produce->wait(120), 0) << slurp(d + "/produce-1.err");

  // Every request stored, predicted and (its outcome) joined, within a bounded wait.
  const std::string requests_sql =
      "SELECT count(*) FROM taxi_records WHERE pickup_datetime IS NOT NULL";
  const std::string unpredicted_sql =
      "SELECT count(*) FROM taxi_records r WHERE pickup_datetime IS NOT NULL AND NOT EXISTS "
      "(SELECT 1 FROM taxi_predictions p WHERE p.key = r.id)";
  const std::string unjoined_sql =
      "SELECT count(*) FROM taxi_records r JOIN taxi_predictions p ON p.key = r.id WHERE "
      "r.trip_duration IS NOT NULL AND NOT EXISTS (SELECT 1 FROM taxi_evaluations e WHERE "
      "e.key = p.key AND e.model_version = p.model_version)";
  const std::string outcomes_sql =
      "SELECT count(*) FROM taxi_records WHERE trip_duration IS NOT NULL";
  auto settle = [&](int64_t expected, int seconds) {
    for (auto until = Clock::now() + std::chrono::seconds(seconds); Clock::now() < until;) {
      if (query_file(db, requests_sql) == expected && query_file(db, unpredicted_sql) == 0 &&
          query_file(db, outcomes_sql) == expected && query_file(db, unjoined_sql) == 0)
        return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
    return false;
  };
  EXPECT_TRUE(settle(kWave1, 90)) << "wave 1 did not reach the store in full";
  // The group has had time to settle (the mock's rebalances wait up to session.timeout.ms).
  std::this_thread::sleep_until(c_started + std::chrono::seconds(12));
  produce = produce_wave(42, kWave2, "produce-2");
  ASSERT_EQ(produce->wait(120), 0) << slurp(d + "/produce-2.err");
  EXPECT_TRUE(settle(kRequests, 90)) << "wave 2 did not reach the store in full";

  EXPECT_EQ(predict_b->stop(), 0) << slurp(d + "/predict-b.err");
  EXPECT_EQ(predict_c->stop(), 0) << slurp(d + "/predict-c.err");
  EXPECT_EQ(ingest->stop(), 0) << slurp(d + "/ingest.err");
  EXPECT_EQ(evaluate->stop(), 0) << slurp(d + "/evaluate.err");

  sqlite3* conn = nullptr;
  ASSERT_EQ(sqlite3_open(db.c_str(), &conn), SQLITE_OK);
  EXPECT_EQ(query(conn, requests_sql), kRequests) << "requests lost between produce and the store";
  EXPECT_EQ(query(conn, unpredicted_sql), 0) << "a stored request has no prediction";
  EXPECT_EQ(query(conn,
                  "SELECT count(*) FROM taxi_predictions p WHERE NOT EXISTS "
                  "(SELECT 1 FROM taxi_records r WHERE r.id = p.key)"),
            0)
      << "a prediction for a request the store never saw";
  EXPECT_EQ(query(conn,
                  "SELECT count(*) FROM (SELECT key, model_version FROM taxi_predictions "
                  "GROUP BY key, model_version HAVING count(*) > 1)"),
            0)
      << "a request predicted twice by one model version";
  EXPECT_EQ(query(conn, outcomes_sql), kRequests) << "outcomes lost";
  EXPECT_EQ(query(conn, unjoined_sql), 0) << "an outcome left unjoined";
  EXPECT_EQ(query(conn,
                  "SELECT count(*) FROM taxi_evaluations e JOIN taxi_records r ON "
                  "r.id = e.key WHERE e.actual != r.trip_duration"),
            0);
  EXPECT_EQ(query(conn,
                  "SELECT count(*) FROM (SELECT key, model_version FROM taxi_evaluations "
                  "GROUP BY key, model_version HAVING count(*) > 1)"),
            0);
  sqlite3_close(conn);

  // The two predict processes that lived to the end both did part of the work.
  EXPECT_GT(last_predicted(d + "/predict-b.err"), 0) << slurp(d + "/predict-b.err");
  EXPECT_GT(last_predicted(d + "/predict-c.err"), 0) << slurp(d + "/predict-c.err");
}

bool have_kcat() { return std::system("command -v kcat > /dev/null 2>&1") == 0; }

TEST(KafkaE2e, KcatWritesRequestsAndReadsPredictions) {
  if (!have_kcat()) GTEST_SKIP() << "kcat is not installed (Debian: apt-get install kcat)";
  testing::TempDir dir;
  const std::string d = dir.str();
  MockProcess mock(d);
  ASSERT_FALSE(mock.bootstrap().empty()) << slurp(d + "/mock.err");
  make_topics(mock, 6);
  const auto common = common_args(mock.bootstrap(), d + "/flowcast.db");
  Child predict(testing::flowcast_binary(), with({"predict"}, common), d + "/predict");

  // Plain JSON values keyed by the record key, as any client writes them.
  const int kCount = 40;
  {
    std::ofstream in(d + "/requests.txt");
    for (int i = 0; i < kCount; ++i) {
      in << "kc" << i << ":{\"id\":\"kc" << i << "\",\"vendor_id\":2,"
         << "\"pickup_datetime\":\"2016-03-14 17:24:55\",\"passenger_count\":1,"
         << "\"pickup_longitude\":-73.982,\"pickup_latitude\":40.768,"
         << "\"dropoff_longitude\":-73.965,\"dropoff_latitude\":40.766,"
         << "\"store_and_fwd_flag\":\"N\"}\n";
    }
  }
  // murmur2_random: the Java client's partitioner, which flowcast uses too.
  Child writer(
      "/bin/sh",
      {"-c", "exec kcat -P -b " + mock.bootstrap() +
                 " -t new_trips -K: -X partitioner=murmur2_random < " + d + "/requests.txt"},
      d + "/kcat-p");
  ASSERT_EQ(writer.wait(60), 0) << slurp(d + "/kcat-p.err");

  std::map<std::string, std::string> predictions;
  for (auto until = Clock::now() + std::chrono::seconds(60);
       Clock::now() < until && predictions.size() < size_t(kCount);) {
    Child reader("/bin/sh",
                 {"-c", "exec kcat -C -b " + mock.bootstrap() +
                            " -t ml_predictions -o beginning -e -q -f '%k\\t%s\\n'"},
                 d + "/kcat-c");
    if (reader.wait(30) == -2) reader.kill9();
    std::istringstream lines(slurp(d + "/kcat-c.out"));
    for (std::string line; std::getline(lines, line);) {
      auto tab = line.find('\t');
      if (tab != std::string::npos) predictions[line.substr(0, tab)] = line.substr(tab + 1);
    }
    if (predictions.size() < size_t(kCount))
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  EXPECT_EQ(predict.stop(), 0) << slurp(d + "/predict.err");
  ASSERT_EQ(predictions.size(), size_t(kCount)) << slurp(d + "/predict.err");
  for (const auto& [key, value] : predictions) {
    EXPECT_NE(value.find("\"key\":\"" + key + "\""), std::string::npos) << value;
    EXPECT_NE(value.find("\"model_version\":0"), std::string::npos) << value;
    EXPECT_NE(value.find("\"prediction\":"), std::string::npos) << value;
  }

  // kcat put each request where flowcast's partitioner would have.
  Child partitions("/bin/sh",
                   {"-c", "exec kcat -C -b " + mock.bootstrap() +
                              " -t new_trips -o beginning -e -q -f '%k %p\\n'"},
                   d + "/kcat-k");
  ASSERT_EQ(partitions.wait(30), 0) << slurp(d + "/kcat-k.err");
  std::istringstream lines(slurp(d + "/kcat-k.out"));
  int checked = 0;
  for (std::string key; lines >> key;) {
    int32_t p = -1;
    lines >> p;
    EXPECT_EQ(p, bus::partition_for_key(key, 6)) << key;
    ++checked;
  }
  EXPECT_EQ(checked, kCount);
}

}  // namespace
}  // namespace flowcast
