// `flowcast run` with its HTTP server, as a user starts it: the port file, readiness once a model
// serves, the live stream, and POST .../predict answering exactly what the stream predicted for
// the same record and model version. Also `flowcast serve` on a busy port.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <httplib.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "support/test_support.h"

namespace flowcast {
namespace {

using nlohmann::json;

using testing::slurp;
using testing::wait_exit;

pid_t spawn(const std::vector<std::string>& args, const std::string& out_prefix) {
  return testing::spawn_flowcast(args, out_prefix + ".stdout", out_prefix + ".stderr");
}

int read_port(const std::string& path, int seconds) {
  for (int i = 0; i < seconds * 10; ++i) {
    std::string t = slurp(path);
    if (!t.empty() && t.back() == '\n') return std::stoi(t);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return 0;
}

TEST(ServerE2e, RunServesPredictionsEqualToTheStreams) {
  testing::TempDir dir;
  const std::string d = dir.str();
  pid_t pid = spawn({"run", (testing::source_dir() / "examples" / "taxi.yaml").string(), "--no-status",
                     "--listen", "127.0.0.1:0", "--port-file", d + "/port",
                     "--set", "bus=local:" + d + "/bus", "--set", "store=sqlite:" + d + "/flowcast.db",
                     "--set", "log_level=warn", "--set", "stages.produce.speedup=3000",
                     "--set", "stages.produce.rate=400", "--set", "stages.train.min_rows=300",
                     "--set", "stages.train.retrain_rows=100000000", "--set", "stages.train.retrain_interval=1h",
                     "--set", "stages.train.poll_interval=300ms", "--set", "datasets.taxi.model.params.rounds=30",
                     "--set", "stages.evaluate.publish_interval=1s", "--duration", "120s"},
                    d + "/run");
  const int port = read_port(d + "/port", 30);
  ASSERT_GT(port, 0) << slurp(d + "/run.stderr");
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(10, 0);

  // Ready once the first model serves.
  bool ready = false;
  for (int i = 0; i < 900 && !ready; ++i) {
    auto r = c.Get("/readyz");
    ready = r && r->status == 200;
    if (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(ready) << slurp(d + "/run.stderr");
  auto models = c.Get("/v1/datasets/taxi/models");
  ASSERT_TRUE(models);
  const int64_t serving = json::parse(models->body)["serving_version"].get<int64_t>();
  ASSERT_GE(serving, 1);

  // Watch the live stream until a key's request and its prediction by the serving version came.
  std::map<std::string, json> requests;
  std::map<std::string, json> predictions;
  std::string matched;
  std::string buffer;
  bool saw_stats = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  httplib::Client sc("127.0.0.1", port);
  sc.set_read_timeout(5, 0);
  sc.Get("/v1/stream?dataset=taxi&max_rate=1000", [&](const char* data, size_t n) {
    buffer.append(data, n);
    size_t end;
    while ((end = buffer.find("\n\n")) != std::string::npos) {
      std::string ev = buffer.substr(0, end);
      buffer.erase(0, end + 2);
      auto type_at = ev.find("event: "), data_at = ev.find("\ndata: ");
      if (type_at != 0 || data_at == std::string::npos) continue;
      std::string type = ev.substr(7, data_at - 7);
      json j = json::parse(ev.substr(data_at + 7), nullptr, false);
      if (type == "stats") saw_stats = true;
      if (type == "request") requests[j["key"]] = j["record"];
      if (type == "prediction" && j["model_version"] == serving) predictions[j["key"]] = j;
      for (const auto& [k, p] : predictions)
        if (requests.count(k)) matched = k;
    }
    return matched.empty() || !saw_stats ? std::chrono::steady_clock::now() < deadline : false;
  });
  ASSERT_FALSE(matched.empty()) << "no request and prediction of one key on the stream";
  EXPECT_TRUE(saw_stats);

  auto r = c.Post("/v1/datasets/taxi/predict", requests[matched].dump(), "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  json answer = json::parse(r->body);
  EXPECT_EQ(answer["key"], matched);
  EXPECT_EQ(answer["model_version"], serving);
  EXPECT_EQ(answer["prediction"].get<double>(), predictions[matched]["prediction"].get<double>());

  // The Prometheus page reads the pipeline's counters.
  auto m = c.Get("/metrics");
  ASSERT_TRUE(m);
  for (const char* s : {"flowcast_stage_records_in_total{dataset=\"taxi\",stage=\"ingest\"}",
                        "flowcast_consumer_lag{dataset=\"taxi\",stage=\"predict\"}",
                        "flowcast_stage_errors_total{dataset=\"taxi\",stage=\"ingest\"} 0",
                        "flowcast_consumer_partition_lag{dataset=\"taxi\",stage=\"predict\","
                        "topic=\"new_trips\",partition=\"0\"}",
                        "flowcast_prediction_latency_seconds_bucket{dataset=\"taxi\",le=\"+Inf\"}",
                        "flowcast_serving_model_version{dataset=\"taxi\"} " })
    EXPECT_NE(m->body.find(s), std::string::npos) << s;

  // A second server on the same address fails with one line naming it.
  pid_t busy = spawn({"serve", (testing::source_dir() / "examples" / "taxi.yaml").string(), "--listen",
                      "127.0.0.1:" + std::to_string(port), "--set", "bus=local:" + d + "/bus2",
                      "--set", "store=sqlite:" + d + "/other.db", "--set", "log_level=warn"},
                     d + "/busy");
  EXPECT_EQ(wait_exit(busy, 30), 1);
  EXPECT_EQ(slurp(d + "/busy.stderr"), "flowcast: cannot listen on 127.0.0.1:" + std::to_string(port) +
                                           ": the address is already in use\n");

  kill(pid, SIGINT);
  EXPECT_EQ(wait_exit(pid, 60), 0) << slurp(d + "/run.stderr");
}

}  // namespace
}  // namespace flowcast
