// `flowcast bench CONFIG`: whole-stage benchmarks on one machine, each stage measured as its own
// child process (this binary) so that its CPU time and peak memory are its own.
//
// For one dataset it trains a model on generated data (taxi: 300 trees of depth 8 unless told
// otherwise), then measures, `--runs` times each on a fresh local bus and SQLite store in a
// temporary directory:
//   throughput  the predict stage's peak rate over requests already on the bus, per wall-clock
//               second and per CPU-second of the stage's process, and its peak RSS;
//   latency     request-to-prediction latency (p50/p99/p999, microsecond clocks) at a fixed
//               offered rate: the harness stamps each request when it produces it and again
//               when it reads the prediction back from the predictions topic;
//   ingest      the ingest stage's records/s into SQLite (and into `--store URL` when given).
// It prints the machine, the settings, every run's figures and the medians; `--json FILE`
// writes the same as JSON.
#pragma once

#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace flowcast::cli {

struct BenchOptions {
  std::string config_path;
  std::vector<std::string> overrides;  // --set, applied to the harness and the stages it starts
  std::vector<std::string> datasets;   // --dataset (one)
  std::string measure = "throughput,latency,ingest";
  int runs = 3;
  int64_t requests = 200000;       // throughput: requests on the bus before the stage starts
  double rate = 20000;             // latency: offered requests per second
  std::string latency_duration = "5s";
  std::string warmup = "1s";
  int64_t batch_size = 0;          // 0: stages.predict.batch_size from the configuration
  int trees = -1, depth = -1;      // -1: 300 and 8 for taxi, the dataset's own for others
  int64_t train_rows = 20000;
  int64_t ingest_records = 100000;
  std::vector<std::string> stores;  // --store URL: ingest into these stores too
  std::string dir;                 // parent of the temporary directory (default: TMPDIR or /tmp)
  bool keep = false;
  std::string json_path;
  uint64_t seed = 7;
  int cpu = -1;  // --cpu: the CPU each measured stage runs on (the harness takes the others)
};

// Adds the `bench` subcommand and its options to `app`.
CLI::App* add_bench_command(CLI::App& app, BenchOptions& options);

// Runs the benchmark. Returns the process exit code (0 done, 1 a run failed; configuration
// errors throw ConfigError like every other command).
int run_bench_command(const BenchOptions& options);

}  // namespace flowcast::cli
