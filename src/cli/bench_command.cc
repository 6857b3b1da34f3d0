#include "cli/bench_command.h"

#include <CLI/CLI.hpp>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>
#include <unordered_map>

#include "cli/backends.h"
#include "cli/bench_process.h"
#include "core/config.h"
#include "core/config_error.h"
#include "core/json_codec.h"
#include "core/log.h"
#include "core/time_util.h"
#include "ml/trainer.h"
#include "stages/prediction_message.h"
#include "stages/pipeline.h"
#include "stages/produce_stage.h"
#include "stages/stage.h"

namespace flowcast::cli {
namespace {

using Clock = std::chrono::steady_clock;

int64_t mono_micros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now().time_since_epoch()).count();
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// An exact quantile of sorted values (nearest rank).
double quantile(const std::vector<int64_t>& sorted, double q) {
  if (sorted.empty()) return 0;
  size_t rank = size_t(std::ceil(q * double(sorted.size())));
  if (rank < 1) rank = 1;
  return double(sorted[std::min(rank, sorted.size()) - 1]);
}

std::string tail_of(const std::string& path, size_t bytes = 2000) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  std::string t = s.str();
  return t.size() > bytes ? t.substr(t.size() - bytes) : t;
}

int64_t duration_option(const std::string& text, const char* name) {
  auto ms = parse_duration_millis(text);
  if (!ms || *ms <= 0) throw ConfigError(name, "expected a duration such as 500ms, 5s or 1m, got '" + text + "'");
  return *ms;
}

// One dataset's fixed ingredients: the configuration overrides every run shares, the trained
// model's artifact and the generated messages.
struct Workload {
  std::string dataset;
  std::vector<std::string> overrides;  // --set and the model's parameters
  std::string artifact;
  std::string learner;
  int trees = 0, depth = 0;
  bool exact_trees = false;  // no early stopping: exactly `trees` trees
  int64_t train_rows = 0;
  double train_seconds = 0;
  int64_t batch_size = 0;
  std::string fsync;
  // Requests: key and JSON value.
  std::vector<std::string> request_keys, request_values;
  // Ingest input: role (0 requests, 1 outcomes, 2 observations), key, JSON value.
  std::vector<int> ingest_roles;
  std::vector<std::string> ingest_keys, ingest_values;
};

// Paths and configuration of one measured run.
struct RunSetup {
  std::filesystem::path dir;
  std::vector<std::string> overrides;  // everything the harness and the child are given
  std::unique_ptr<Config> config;
};

class Bench {
 public:
  explicit Bench(const BenchOptions& o) : o_(o) {}
  int run();

 private:
  void prepare(const DatasetSpec& ds);
  RunSetup setup(const std::string& tag, const std::string& store_url);
  std::vector<std::string> child_args(const std::string& stage, const RunSetup& rs) const;
  Status register_model(store::Store& store, const DatasetSpec& ds);
  Status produce_all(bus::Producer& producer, const std::string& topic,
                     const std::vector<std::string>& keys, const std::vector<std::string>& values,
                     size_t begin, size_t end);
  // Sum of the offsets `group` has committed to the store for `topics`.
  int64_t committed(store::Store& store, const std::string& group, const std::vector<std::string>& topics);

  Result<nlohmann::json> throughput_run(int run);
  Result<nlohmann::json> latency_run(int run);
  Result<nlohmann::json> ingest_run(int run, const std::string& store_url);
  Status wait_for_commits(store::Store& store, ChildProcess& child, const std::string& log,
                          const std::string& group, const std::vector<std::string>& topics,
                          int64_t total, nlohmann::json& r);

  const BenchOptions& o_;
  std::filesystem::path root_;
  Workload w_;
  size_t latency_keys_begin_ = 0;  // w_.request_keys from here on are the latency run's
};

int Bench::run() {
  std::vector<std::string> overrides = {"log_level=warn"};
  overrides.insert(overrides.end(), o_.overrides.begin(), o_.overrides.end());
  Config base = Config::load(o_.config_path, overrides);
  init_logging(base.log_level());
  if (o_.datasets.size() > 1) throw ConfigError("--dataset", "bench measures one dataset at a time");
  if (o_.datasets.empty() && base.datasets().size() > 1)
    throw ConfigError("--dataset", "bench needs --dataset NAME: the configuration has several");
  const DatasetSpec& ds = o_.datasets.empty() ? base.datasets().front() : base.dataset(o_.datasets[0]);
  std::vector<std::string> measures;
  {
    std::stringstream s(o_.measure);
    std::string m;
    while (std::getline(s, m, ',')) {
      if (m != "throughput" && m != "latency" && m != "ingest")
        throw ConfigError("--measure", "expected throughput, latency or ingest, got '" + m + "'");
      measures.push_back(m);
    }
  }
  auto has = [&](const char* m) { return std::find(measures.begin(), measures.end(), m) != measures.end(); };
  duration_option(o_.latency_duration, "--latency-duration");
  duration_option(o_.warmup, "--warmup");
  // What every command checks (features, learner parameters), then what bench needs: its
  // requests and outcomes come from a built-in generator. Both before anything is written.
  stages::Pipeline::validate_datasets(base, {ds.name()});
  const stages::ProduceSettings produce = stages::ProduceSettings::parse(base.stage("produce"), ds);
  if (produce.generator != "taxi" && produce.generator != "realty")
    throw ConfigError("--dataset", "bench generates its workload with a built-in generator (taxi or "
                                   "realty); dataset '" + ds.name() + "' has " +
                                   (produce.generator.empty() ? std::string("none")
                                                              : "'" + produce.generator + "'"));

  if (o_.cpu >= 0) {
    if (Status s = leave_cpu_to_children(o_.cpu); !s.ok()) throw ConfigError("--cpu", s.message());
  }

  std::string parent = o_.dir;
  if (parent.empty()) parent = std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp";
  root_ = std::filesystem::path(parent) / ("flowcast-bench-" + std::to_string(getpid()));
  std::filesystem::remove_all(root_);
  std::filesystem::create_directories(root_);

  std::printf("flowcast bench %s (dataset %s)\n", o_.config_path.c_str(), ds.name().c_str());
  std::printf("machine: %s\n", describe_machine().c_str());
  std::printf("load average at start: %s\n", load_average().c_str());
  std::fflush(stdout);
  prepare(ds);
  std::printf(
      "settings: model %s, %s%d trees of depth %d, trained on %lld generated rows in %.1f s; "
      "predict batch_size %lld; bus local (fsync %s) and store sqlite in %s; runs %d%s\n",
      w_.learner.c_str(), w_.exact_trees ? "" : "early-stopped, at most ", w_.trees, w_.depth, (long long)w_.train_rows, w_.train_seconds,
      (long long)w_.batch_size, w_.fsync.c_str(), root_.c_str(), o_.runs,
      o_.cpu >= 0 ? ("; each stage on CPU " + std::to_string(o_.cpu) + " alone").c_str() : "");
  std::printf("settings: throughput over %lld requests on the bus; latency at %.0f requests/s offered for %s "
              "after %s of warm-up; ingest of %lld records\n",
              (long long)latency_keys_begin_, o_.rate, o_.latency_duration.c_str(), o_.warmup.c_str(),
              (long long)w_.ingest_keys.size());
  std::fflush(stdout);

  nlohmann::json report = {{"config", o_.config_path},
                           {"dataset", ds.name()},
                           {"machine", describe_machine()},
                           {"settings",
                            {{"learner", w_.learner},
                             {"trees", w_.trees},
                             {"exact_trees", w_.exact_trees},
                             {"depth", w_.depth},
                             {"train_rows", w_.train_rows},
                             {"batch_size", w_.batch_size},
                             {"fsync", w_.fsync},
                             {"requests", latency_keys_begin_},
                             {"rate", o_.rate},
                             {"latency_duration_ms", duration_option(o_.latency_duration, "")},
                             {"ingest_records", w_.ingest_keys.size()},
                             {"runs", o_.runs},
                             {"cpu", o_.cpu}}}};
  int rc = 0;
  std::map<std::string, std::vector<nlohmann::json>> results;
  std::vector<std::string> ingest_stores = {"sqlite"};
  for (const auto& s : o_.stores) ingest_stores.push_back(s);

  for (int run = 1; run <= o_.runs; ++run) {
    auto record = [&](const std::string& what, Result<nlohmann::json> r) {
      if (!r.ok()) {
        std::printf("run %d %s: FAILED: %s\n", run, what.c_str(), r.status().to_string().c_str());
        rc = 1;
      } else {
        results[what].push_back(*r);
      }
      std::fflush(stdout);
    };
    if (has("throughput")) {
      auto r = throughput_run(run);
      if (r.ok())
        std::printf(
            "run %d throughput: %.0f requests/s wall, %.0f requests per CPU-second, %lld requests in "
            "%.3f s (%.3f CPU-s%s), peak RSS %.1f MB, stored %lld, on CPUs %s, load %s\n",
            run, (*r)["requests_per_s"].get<double>(), (*r)["requests_per_cpu_s"].get<double>(),
            (long long)(*r)["measured_requests"].get<int64_t>(), (*r)["seconds"].get<double>(),
            (*r)["cpu_seconds"].get<double>(),
            (*r)["startup_included"].get<bool>() ? ", whole run with start-up" : "",
            (*r)["peak_rss_mb"].get<double>(), (long long)(*r)["stored_predictions"].get<int64_t>(),
            (*r)["cpus"].get<std::string>().c_str(), (*r)["load"].get<std::string>().c_str());
      record("throughput", std::move(r));
    }
    if (has("latency")) {
      auto r = latency_run(run);
      if (r.ok())
        std::printf(
            "run %d latency: p50 %.0f us, p99 %.0f us, p999 %.0f us, max %.0f us over %lld requests at "
            "%.0f requests/s offered (%.0f achieved), %.3f CPU-s, peak RSS %.1f MB, load %s\n",
            run, (*r)["p50_us"].get<double>(), (*r)["p99_us"].get<double>(), (*r)["p999_us"].get<double>(),
            (*r)["max_us"].get<double>(), (long long)(*r)["measured_requests"].get<int64_t>(), o_.rate,
            (*r)["achieved_rate"].get<double>(), (*r)["cpu_seconds"].get<double>(),
            (*r)["peak_rss_mb"].get<double>(), (*r)["load"].get<std::string>().c_str());
      record("latency", std::move(r));
    }
    if (has("ingest")) {
      for (const auto& url : ingest_stores) {
        auto r = ingest_run(run, url == "sqlite" ? "" : url);
        const std::string what = "ingest " + (url == "sqlite" ? std::string("sqlite") : redact_url(url));
        if (r.ok())
          std::printf("run %d %s: %.0f records/s wall, %.0f records per CPU-second of the stage, %lld "
                      "records in %.3f s (%.3f CPU-s%s), load %s\n",
                      run, what.c_str(), (*r)["records_per_s"].get<double>(),
                      (*r)["records_per_cpu_s"].get<double>(),
                      (long long)(*r)["measured_records"].get<int64_t>(), (*r)["seconds"].get<double>(),
                      (*r)["cpu_seconds"].get<double>(),
                      (*r)["startup_included"].get<bool>() ? ", whole run with start-up" : "",
                      (*r)["load"].get<std::string>().c_str());
        record(what, std::move(r));
      }
    }
  }

  // Medians over the runs that succeeded.
  nlohmann::json medians = nlohmann::json::object();
  for (const auto& [what, runs] : results) {
    auto med = [&](const char* field) {
      std::vector<double> v;
      for (const auto& r : runs) v.push_back(r[field].get<double>());
      return median(v);
    };
    nlohmann::json m;
    if (what == "throughput") {
      m = {{"requests_per_s", med("requests_per_s")},
           {"requests_per_cpu_s", med("requests_per_cpu_s")},
           {"peak_rss_mb", med("peak_rss_mb")}};
      std::printf("median throughput (%zu runs): %.0f requests/s wall, %.0f requests per CPU-second, "
                  "peak RSS %.1f MB\n",
                  runs.size(), m["requests_per_s"].get<double>(), m["requests_per_cpu_s"].get<double>(),
                  m["peak_rss_mb"].get<double>());
    } else if (what == "latency") {
      m = {{"p50_us", med("p50_us")},   {"p99_us", med("p99_us")},
           {"p999_us", med("p999_us")}, {"achieved_rate", med("achieved_rate")},
           {"peak_rss_mb", med("peak_rss_mb")}};
      std::printf("median latency (%zu runs): p50 %.0f us, p99 %.0f us, p999 %.0f us at %.0f requests/s "
                  "offered, peak RSS %.1f MB\n",
                  runs.size(), m["p50_us"].get<double>(), m["p99_us"].get<double>(),
                  m["p999_us"].get<double>(), o_.rate, m["peak_rss_mb"].get<double>());
    } else {
      m = {{"records_per_s", med("records_per_s")}, {"records_per_cpu_s", med("records_per_cpu_s")}};
      std::printf("median %s (%zu runs): %.0f records/s wall, %.0f records per CPU-second\n", what.c_str(),
                  runs.size(), m["records_per_s"].get<double>(), m["records_per_cpu_s"].get<double>());
    }
    medians[what] = m;
    report["runs"][what] = runs;
  }
  report["medians"] = medians;
  std::printf("load average at end: %s\n", load_average().c_str());
  if (!o_.json_path.empty()) {
    std::ofstream out(o_.json_path);
    out << report.dump(2) << "\n";
    if (!out) {
      std::fprintf(stderr, "flowcast: cannot write %s\n", o_.json_path.c_str());
      rc = 1;
    }
  }
  if (!o_.keep) std::filesystem::remove_all(root_);
  else std::printf("kept %s\n", root_.c_str());
  return rc;
}

void Bench::prepare(const DatasetSpec& base_ds) {
  w_.dataset = base_ds.name();
  const bool taxi = w_.dataset == "taxi";
  w_.trees = o_.trees > 0 ? o_.trees : (taxi ? 300 : 0);
  w_.depth = o_.depth > 0 ? o_.depth : (taxi ? 8 : 0);
  // Quiet stages unless told otherwise: --set log_level=debug comes after and wins.
  w_.overrides = {"log_level=warn"};
  w_.overrides.insert(w_.overrides.end(), o_.overrides.begin(), o_.overrides.end());
  const std::string params = "datasets." + w_.dataset + ".model.params.";
  if (w_.trees > 0) {
    // An exact number of trees: no early stopping, no validation split.
    w_.overrides.push_back(params + "rounds=" + std::to_string(w_.trees));
    w_.overrides.push_back(params + "early_stopping_rounds=" + std::to_string(w_.trees));
  }
  if (w_.depth > 0) w_.overrides.push_back(params + "max_depth=" + std::to_string(w_.depth));
  if (o_.batch_size > 0)
    w_.overrides.push_back("stages.predict.batch_size=" + std::to_string(o_.batch_size));
  Config config = Config::load(o_.config_path, w_.overrides);
  const DatasetSpec& ds = config.dataset(w_.dataset);
  w_.learner = ds.model().learner;
  auto params_of = [&](const char* k) {
    auto it = ds.model().params.find(k);
    return it == ds.model().params.end() ? 0 : std::atoi(it->second.c_str());
  };
  if (w_.trees <= 0) w_.trees = params_of("rounds");
  if (w_.depth <= 0) w_.depth = params_of("max_depth");
  w_.batch_size = config.stage("predict").get_int("batch_size", 2000, 1, 1000000);
  w_.fsync = config.section("local").get_string("fsync", "interval");

  stages::ProduceSettings ps = stages::ProduceSettings::parse(config.stage("produce"), ds);
  ps.limit = 0;
  ps.seed = o_.seed;
  const int64_t t0 = ps.start_time_us ? ps.start_time_us : *parse_timestamp_micros("2016-03-07 00:00:00");
  auto source = stages::make_event_source(ps, ds);
  if (!source.ok()) throw ConfigError("stages.produce", source.status().message());

  // Training rows, a simulated 4 s apart; then the requests and the ingest input follow in time.
  std::printf("training the model on %lld generated rows...\n", (long long)o_.train_rows);
  std::fflush(stdout);
  stages::GeneratedEvent ev;
  std::vector<Record> rows;
  int64_t sim = t0;
  for (int64_t i = 0; i < o_.train_rows && (*source)->next(ev, sim); ++i, sim += 4'000'000)
    rows.push_back(ev.record);
  w_.train_rows = int64_t(rows.size());
  ml::TrainOptions to;
  w_.exact_trees = o_.trees > 0 || taxi;
  if (w_.exact_trees) to = {0.0, false};
  auto trained = ml::train_model(ds, std::move(rows), to);
  if (!trained.ok()) throw ConfigError("model", "training failed: " + trained.status().message());
  w_.train_seconds = trained->seconds;
  w_.artifact = *trained->model->serialize();

  JsonCodec codec(ds);
  const int64_t n_requests = o_.requests;
  for (int64_t i = 0; i < n_requests && (*source)->next(ev, sim); ++i, sim += 1'000'000) {
    w_.request_keys.push_back(ev.record.key);
    w_.request_values.emplace_back();
    codec.encode(ev.record, RecordRole::kRequest, w_.request_values.back());
  }
  // The latency run needs its own requests (every key once): enough for warm-up and duration.
  const int64_t latency_n =
      int64_t(o_.rate * double(duration_option(o_.latency_duration, "") + duration_option(o_.warmup, "")) / 1000.0) + 1;
  latency_keys_begin_ = w_.request_keys.size();
  for (int64_t i = 0; i < latency_n && (*source)->next(ev, sim); ++i, sim += 1'000'000) {
    w_.request_keys.push_back(ev.record.key);
    w_.request_values.emplace_back();
    codec.encode(ev.record, RecordRole::kRequest, w_.request_values.back());
  }
  // Ingest input as the produce stage writes it: a request and later its outcome, or an
  // observation.
  while (int64_t(w_.ingest_keys.size()) < o_.ingest_records && (*source)->next(ev, sim)) {
    sim += 1'000'000;
    auto add = [&](int role, RecordRole rr) {
      w_.ingest_roles.push_back(role);
      w_.ingest_keys.push_back(ev.record.key);
      w_.ingest_values.emplace_back();
      codec.encode(ev.record, rr, w_.ingest_values.back());
    };
    if (ev.kind == stages::GeneratedEvent::Kind::kObservation) {
      add(2, RecordRole::kObservation);
    } else {
      add(0, RecordRole::kRequest);
      if (ev.kind == stages::GeneratedEvent::Kind::kRequestThenOutcome &&
          int64_t(w_.ingest_keys.size()) < o_.ingest_records)
        add(1, RecordRole::kOutcome);
    }
  }
}

RunSetup Bench::setup(const std::string& tag, const std::string& store_url) {
  RunSetup rs;
  rs.dir = root_ / tag;
  std::filesystem::create_directories(rs.dir);
  rs.overrides = w_.overrides;
  rs.overrides.push_back("bus=local:" + (rs.dir / "bus").string());
  rs.overrides.push_back("store=" + (store_url.empty() ? "sqlite:" + (rs.dir / "db").string() : store_url));
  // Topics of their own: offsets a shared store (PostgreSQL) holds from earlier runs do not apply.
  const std::string prefix = "datasets." + w_.dataset + ".topics.";
  const std::string name = "bench" + std::to_string(getpid()) + "-" + tag + ".";
  for (const char* role : {"requests", "outcomes", "observations", "predictions", "metrics", "dlq"})
    rs.overrides.push_back(prefix + role + "=" + name + role);
  rs.config = std::make_unique<Config>(Config::load(o_.config_path, rs.overrides));
  return rs;
}

std::vector<std::string> Bench::child_args(const std::string& stage, const RunSetup& rs) const {
  std::vector<std::string> args = {stage, o_.config_path, "--dataset", w_.dataset, "--no-status"};
  for (const auto& s : rs.overrides) {
    args.push_back("--set");
    args.push_back(s);
  }
  // The command line, for running the stage again by hand (under a profiler, say) with --keep.
  std::ofstream cmd(rs.dir / (stage + ".command"));
  cmd << "flowcast";
  for (const auto& a : args) cmd << " '" << a << "'";
  cmd << "\n";
  return args;
}

Status Bench::register_model(store::Store& store, const DatasetSpec& ds) {
  FC_RETURN_IF_ERROR(store.ensure_dataset(ds));
  store::ModelInfo info{ds.name(), 0, now_millis(), 0, w_.learner, "", "{}", w_.train_rows};
  return store.register_model(info, w_.artifact, true).status();
}

Status Bench::produce_all(bus::Producer& producer, const std::string& topic,
                          const std::vector<std::string>& keys, const std::vector<std::string>& values,
                          size_t begin, size_t end) {
  std::vector<bus::OutMessage> msgs;
  for (size_t i = begin; i < end; ++i) {
    msgs.push_back({keys[i], values[i]});
    if (msgs.size() == 10000 || i + 1 == end) {
      FC_RETURN_IF_ERROR(producer.produce(topic, msgs));
      msgs.clear();
    }
  }
  return producer.flush(60000);
}

int64_t Bench::committed(store::Store& store, const std::string& group,
                         const std::vector<std::string>& topics) {
  auto offsets = store.load_offsets(group);
  if (!offsets.ok()) return -1;
  int64_t sum = 0;
  for (const auto& e : *offsets)
    if (std::find(topics.begin(), topics.end(), e.topic) != topics.end()) sum += e.next_offset;
  return sum;
}

// Watches the store until `group` has committed `total` messages of `topics`. The rate is taken
// from the first commit seen to the last, so the child's start-up (loading the model, opening
// files) is not counted; CPU time is read from /proc at the same two moments.
Status Bench::wait_for_commits(store::Store& store, ChildProcess& child, const std::string& log,
                               const std::string& group, const std::vector<std::string>& topics,
                               int64_t total, nlohmann::json& r) {
  const auto give_up = Clock::now() + std::chrono::seconds(60 + total / 2000);
  const int64_t spawned = mono_micros();
  int64_t c0 = -1, t0 = 0;
  double cpu0 = 0;
  for (;;) {
    if (!child.running())
      return Status::internal("the stage exited with code " + std::to_string(child.exit_code()) + ":\n" +
                              tail_of(log));
    if (Clock::now() > give_up)
      return Status::timeout("the stage committed " + std::to_string(committed(store, group, topics)) +
                             " of " + std::to_string(total) + " in time:\n" + tail_of(log));
    const int64_t c = committed(store, group, topics);
    const int64_t t = mono_micros();
    if (c > 0 && c0 < 0) {
      c0 = c;
      t0 = t;
      cpu0 = child.cpu_seconds();
    }
    if (c >= total) {
      const double cpu1 = child.cpu_seconds();
      if (c0 > total / 10) {
        // The first commit seen held much of the input (a small run, or large batches): timing
        // from it would leave too much out, so the whole run is timed, start-up included.
        c0 = 0;
        t0 = spawned;
        cpu0 = 0;
        r["startup_included"] = true;
      } else {
        r["startup_included"] = false;
      }
      r["measured_requests"] = total - c0;
      r["seconds"] = double(t - t0) / 1e6;
      r["cpu_seconds"] = cpu1 - cpu0;
      r["total_cpu_seconds"] = cpu1;
      r["peak_rss_mb"] = double(child.peak_rss_bytes()) / 1e6;
      return Status();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

Result<nlohmann::json> Bench::throughput_run(int run) {
  RunSetup rs = setup("throughput-" + std::to_string(run), "");
  const DatasetSpec& ds = rs.config->dataset(w_.dataset);
  const size_t n = latency_keys_begin_;
  nlohmann::json r = {{"load", load_average()}};
  {
    FC_ASSIGN_OR_RETURN(auto bus, open_bus(*rs.config));
    FC_ASSIGN_OR_RETURN(auto producer, bus->producer());
    FC_RETURN_IF_ERROR(produce_all(*producer, ds.topics().requests, w_.request_keys, w_.request_values, 0, n));
  }  // the bus is closed: the stage is the only process using it now
  FC_ASSIGN_OR_RETURN(auto store, open_store(*rs.config));
  FC_RETURN_IF_ERROR(register_model(*store, ds));
  const std::string log = (rs.dir / "predict.log").string();
  FC_ASSIGN_OR_RETURN(auto child, ChildProcess::start(child_args("predict", rs), log, o_.cpu));
  r["cpus"] = child.allowed_cpus();
  FC_RETURN_IF_ERROR(wait_for_commits(*store, child, log, stages::group_name("predict", ds),
                                      {ds.topics().requests}, int64_t(n), r));
  const int code = child.stop(60000);
  if (code != 0) return Status::internal("the predict stage exited with code " + std::to_string(code) + ":\n" + tail_of(log));
  FC_ASSIGN_OR_RETURN(auto st, store->stats(ds));
  r["stored_predictions"] = st.predictions;
  r["requests"] = int64_t(n);
  if (st.predictions != int64_t(n))
    return Status::internal("the store holds " + std::to_string(st.predictions) + " predictions for " +
                            std::to_string(n) + " requests");
  r["requests_per_s"] = r["measured_requests"].get<double>() / std::max(1e-9, r["seconds"].get<double>());
  r["requests_per_cpu_s"] =
      r["measured_requests"].get<double>() / std::max(1e-9, r["cpu_seconds"].get<double>());
  return r;
}

Result<nlohmann::json> Bench::latency_run(int run) {
  RunSetup rs = setup("latency-" + std::to_string(run), "");
  const DatasetSpec& ds = rs.config->dataset(w_.dataset);
  nlohmann::json r = {{"load", load_average()}};
  FC_ASSIGN_OR_RETURN(auto store, open_store(*rs.config));
  FC_RETURN_IF_ERROR(register_model(*store, ds));
  FC_ASSIGN_OR_RETURN(auto bus, open_bus(*rs.config));
  FC_RETURN_IF_ERROR(bus->ensure_topic(ds.topics().requests, {}));
  FC_RETURN_IF_ERROR(bus->ensure_topic(ds.topics().predictions, {}));
  FC_ASSIGN_OR_RETURN(auto producer, bus->producer());
  FC_ASSIGN_OR_RETURN(auto consumer, bus->consumer("flowcast.bench"));
  FC_RETURN_IF_ERROR(consumer->subscribe({ds.topics().predictions}, {}));
  const std::string log = (rs.dir / "predict.log").string();
  FC_ASSIGN_OR_RETURN(auto child, ChildProcess::start(child_args("predict", rs), log, o_.cpu));

  const size_t begin = latency_keys_begin_, end = w_.request_keys.size();
  const size_t n = end - begin;
  std::unordered_map<std::string_view, size_t> seq_of;
  seq_of.reserve(n * 2);
  for (size_t i = begin; i < end; ++i) seq_of.emplace(w_.request_keys[i], i - begin);
  std::vector<std::atomic<int64_t>> sent_us(n);
  std::vector<int64_t> received_us(n, 0);
  const size_t warm_n = size_t(o_.rate * double(duration_option(o_.warmup, "")) / 1000.0);

  // Wait until the stage answers one request (model loaded, partitions assigned).
  {
    sent_us[0] = mono_micros();
    bus::OutMessage m{w_.request_keys[begin], w_.request_values[begin]};
    FC_RETURN_IF_ERROR(producer->produce(ds.topics().requests, {&m, 1}));
    bus::MessageBatch got;
    const auto give_up = Clock::now() + std::chrono::seconds(60);
    while (got.empty()) {
      if (!child.running() || Clock::now() > give_up)
        return Status::internal("the predict stage did not answer a first request:\n" + tail_of(log));
      FC_RETURN_IF_ERROR(consumer->poll(got, 16, 100));
    }
    received_us[0] = mono_micros();
  }
  const double cpu_start = child.cpu_seconds();

  // The reader: every prediction read back is stamped with the time it arrived here. It polls
  // without waiting and sleeps 100 us between empty polls, so it adds at most that to a latency.
  std::atomic<size_t> received{1};
  std::atomic<bool> stop_reader{false};
  Status reader_status;
  std::thread reader([&] {
    bus::MessageBatch batch;
    stages::PredictionMessage pm;
    while (!stop_reader.load() && received.load() < n) {
      Status s = consumer->poll(batch, 10000, 0);
      if (!s.ok()) {
        reader_status = s;
        return;
      }
      if (batch.empty()) {
        std::this_thread::sleep_for(std::chrono::microseconds(100));
        continue;
      }
      const int64_t now = mono_micros();
      for (size_t i = 0; i < batch.size(); ++i) {
        if (!stages::decode_prediction(batch[i].value, pm).ok()) continue;
        auto it = seq_of.find(pm.key);
        if (it == seq_of.end() || received_us[it->second] != 0) continue;
        received_us[it->second] = now;
        received.fetch_add(1);
      }
    }
  });

  // The producer: every 1 ms tick it produces the requests due by then, as one batch.
  const int64_t start = mono_micros();
  size_t sent = 1;
  int64_t first_us = warm_n <= 1 ? start : 0, last_us = 0, max_behind_us = 0;
  Status produce_status;
  std::vector<bus::OutMessage> msgs;
  while (sent < n) {
    const int64_t now = mono_micros();
    size_t due = std::min(n, 1 + size_t(double(now - start) * o_.rate / 1e6));
    if (due > sent) {
      msgs.clear();
      for (size_t i = sent; i < due; ++i) msgs.push_back({w_.request_keys[begin + i], w_.request_values[begin + i]});
      const int64_t t = mono_micros();
      for (size_t i = sent; i < due; ++i) sent_us[i].store(t, std::memory_order_relaxed);
      max_behind_us = std::max(max_behind_us, t - (start + int64_t(double(sent - 1) * 1e6 / o_.rate)));
      produce_status = producer->produce(ds.topics().requests, msgs);
      if (!produce_status.ok()) break;
      if (sent <= warm_n && due > warm_n) first_us = t;
      last_us = t;
      sent = due;
    }
    std::this_thread::sleep_until(Clock::now() + std::chrono::microseconds(1000));
  }
  const auto give_up = Clock::now() + std::chrono::seconds(30);
  while (received.load() < n && Clock::now() < give_up && child.running() && produce_status.ok())
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  stop_reader = true;
  reader.join();
  const double cpu_end = child.cpu_seconds();
  r["peak_rss_mb"] = double(child.peak_rss_bytes()) / 1e6;
  const int code = child.stop(60000);
  FC_RETURN_IF_ERROR(produce_status);
  FC_RETURN_IF_ERROR(reader_status);
  if (received.load() < n)
    return Status::timeout("only " + std::to_string(received.load()) + " of " + std::to_string(n) +
                           " predictions came back:\n" + tail_of(log));
  if (code != 0) return Status::internal("the predict stage exited with code " + std::to_string(code) + ":\n" + tail_of(log));

  std::vector<int64_t> lat;
  for (size_t i = std::max<size_t>(warm_n, 1); i < n; ++i) lat.push_back(received_us[i] - sent_us[i].load());
  std::sort(lat.begin(), lat.end());
  r["measured_requests"] = int64_t(lat.size());
  r["warmup_requests"] = int64_t(n - lat.size());
  r["p50_us"] = quantile(lat, 0.50);
  r["p99_us"] = quantile(lat, 0.99);
  r["p999_us"] = quantile(lat, 0.999);
  r["max_us"] = lat.empty() ? 0.0 : double(lat.back());
  r["min_us"] = lat.empty() ? 0.0 : double(lat.front());
  r["achieved_rate"] = last_us > first_us ? double(lat.size() - 1) * 1e6 / double(last_us - first_us) : 0.0;
  r["producer_max_behind_us"] = max_behind_us;
  r["cpu_seconds"] = cpu_end - cpu_start;
  (void)start;
  return r;
}

Result<nlohmann::json> Bench::ingest_run(int run, const std::string& store_url) {
  RunSetup rs = setup("ingest-" + std::string(store_url.empty() ? "sqlite" : "url") + "-" + std::to_string(run), store_url);
  const DatasetSpec& ds = rs.config->dataset(w_.dataset);
  nlohmann::json r = {{"load", load_average()}, {"store", store_url.empty() ? "sqlite" : redact_url(store_url)}};
  const std::vector<std::string> topics = {ds.topics().requests, ds.topics().outcomes, ds.topics().observations};
  {
    FC_ASSIGN_OR_RETURN(auto bus, open_bus(*rs.config));
    FC_ASSIGN_OR_RETURN(auto producer, bus->producer());
    // A store of the user's (--store URL) outlives the run and is shared by every run: each
    // run's records get keys of their own there ("b<pid>r<run>-" + the generated key), or a
    // second run would find every key stored and measure re-delivery, which writes nothing.
    // SQLite starts from an empty file each run and keeps the generated keys.
    const std::string key_tag =
        store_url.empty() ? "" : "b" + std::to_string(getpid()) + "r" + std::to_string(run) + "-";
    JsonCodec codec(ds);
    const RecordRole roles[] = {RecordRole::kRequest, RecordRole::kOutcome, RecordRole::kObservation};
    Record rec;
    for (int role = 0; role < 3; ++role) {
      std::vector<std::string> keys, values;
      for (size_t i = 0; i < w_.ingest_keys.size(); ++i) {
        if (w_.ingest_roles[i] != role) continue;
        if (key_tag.empty()) {
          keys.push_back(w_.ingest_keys[i]);
          values.push_back(w_.ingest_values[i]);
          continue;
        }
        FC_RETURN_IF_ERROR(codec.decode(w_.ingest_values[i], roles[role], rec));
        if (!std::holds_alternative<std::string>(rec.values[size_t(ds.key_index())]))
          return Status::invalid("bench --store: the generated keys are not text");
        rec.key = key_tag + rec.key;
        rec.values[size_t(ds.key_index())] = rec.key;
        keys.push_back(rec.key);
        values.emplace_back();
        codec.encode(rec, roles[role], values.back());
      }
      FC_RETURN_IF_ERROR(bus->ensure_topic(topics[size_t(role)], {}));
      FC_RETURN_IF_ERROR(produce_all(*producer, topics[size_t(role)], keys, values, 0, keys.size()));
    }
  }
  FC_ASSIGN_OR_RETURN(auto store, open_store(*rs.config));
  FC_RETURN_IF_ERROR(store->ensure_dataset(ds));
  const std::string log = (rs.dir / "ingest.log").string();
  FC_ASSIGN_OR_RETURN(auto child, ChildProcess::start(child_args("ingest", rs), log, o_.cpu));
  const int64_t total = int64_t(w_.ingest_keys.size());
  FC_RETURN_IF_ERROR(wait_for_commits(*store, child, log, stages::group_name("ingest", ds), topics, total, r));
  const int code = child.stop(60000);
  if (code != 0) return Status::internal("the ingest stage exited with code " + std::to_string(code) + ":\n" + tail_of(log));
  r["records"] = total;
  r["measured_records"] = r["measured_requests"];
  r.erase("measured_requests");
  r["records_per_s"] = r["measured_records"].get<double>() / std::max(1e-9, r["seconds"].get<double>());
  r["records_per_cpu_s"] = r["measured_records"].get<double>() / std::max(1e-9, r["cpu_seconds"].get<double>());
  return r;
}

}  // namespace

CLI::App* add_bench_command(CLI::App& app, BenchOptions& o) {
  auto* cmd = app.add_subcommand(
      "bench",
      "Benchmark whole stages: predict throughput, request-to-prediction latency, memory, ingest rate");
  cmd->add_option("CONFIG", o.config_path, "Configuration file (see examples/taxi.yaml)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--dataset", o.datasets, "The dataset to measure (needed when the configuration has several)");
  cmd->add_option("--set", o.overrides,
                  "Override a configuration key for the harness and every stage it starts, e.g. "
                  "--set local.fsync=never (repeatable)");
  cmd->add_option("--measure", o.measure,
                  "Comma-separated list of what to measure: throughput, latency, ingest")
      ->capture_default_str();
  cmd->add_option("--runs", o.runs, "Runs of each measurement; the medians are printed too")
      ->capture_default_str()
      ->check(CLI::Range(1, 100));
  cmd->add_option("--requests", o.requests,
                  "throughput: requests put on the bus before the predict stage starts")
      ->capture_default_str()
      ->check(CLI::Range(int64_t(10), int64_t(100000000)));
  cmd->add_option("--rate", o.rate, "latency: offered requests per second")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 10000000.0));
  cmd->add_option("--latency-duration", o.latency_duration, "latency: how long requests are offered after warm-up")
      ->capture_default_str();
  cmd->add_option("--warmup", o.warmup, "latency: requests offered first and left out of the figures")
      ->capture_default_str();
  cmd->add_option("--batch-size", o.batch_size,
                  "The predict stage's batch_size (default: stages.predict.batch_size of CONFIG)")
      ->check(CLI::Range(int64_t(1), int64_t(1000000)));
  cmd->add_option("--trees", o.trees,
                  "Trees of the benchmark model, with no early stopping (default: 300 for taxi, "
                  "model.params.rounds with early stopping for other datasets)")
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--depth", o.depth, "max_depth of the benchmark model (default: 8 for taxi, model.params.max_depth otherwise)")
      ->check(CLI::Range(1, 30));
  cmd->add_option("--train-rows", o.train_rows, "Generated labelled rows the model is trained on")
      ->capture_default_str()
      ->check(CLI::Range(int64_t(10), int64_t(100000000)));
  cmd->add_option("--ingest-records", o.ingest_records,
                  "ingest: messages (requests, outcomes, observations) put on the bus for the ingest stage")
      ->capture_default_str()
      ->check(CLI::Range(int64_t(10), int64_t(100000000)));
  cmd->add_option("--store", o.stores,
                  "ingest: also measure ingest into this store, e.g. postgresql://user@host/db "
                  "(repeatable; each run writes rows with keys of its own, b<pid>r<run>-..., and topics named bench<pid>-...)");
  cmd->add_option("--dir", o.dir, "Where the temporary directory is made (default: $TMPDIR or /tmp)");
  cmd->add_flag("--keep", o.keep,
                "Keep the temporary directory: stage logs (with --set log_level=debug the predict "
                "stage logs where its batches' time goes), the stage's command line, bus, databases");
  cmd->add_option("--json", o.json_path, "Also write every run's figures and the medians to this JSON file");
  cmd->add_option("--seed", o.seed, "Seed of the generated data")->capture_default_str();
  cmd->add_option("--cpu", o.cpu,
                  "Run each measured stage on this CPU only, all its threads included, and the "
                  "harness on the other CPUs: a stage's rate on one core (default: no pinning)");
  cmd->footer(
      "How it measures. Every measurement starts from an empty local bus and SQLite store in a\n"
      "temporary directory, with the model trained once at the start on generated data (the\n"
      "produce stage's generator: taxi trips, realty listings) and registered as the active version.\n"
      "Stages run as child processes of this binary (`flowcast predict|ingest CONFIG`), so the CPU\n"
      "time (/proc/PID/stat) and peak RSS (VmHWM in /proc/PID/status) are the stage's own.\n"
      "  throughput  --requests requests are put on the bus, then the predict stage is started; the\n"
      "              rate is counted from the first batch committed to the store until the last\n"
      "              (start-up excluded), per wall-clock second and per CPU-second of the stage.\n"
      "              When that first commit already holds over a tenth of the input, the whole\n"
      "              run from the start of the process is timed instead (marked 'with start-up').\n"
      "  latency     the stage is started and answers one request; then requests are produced at\n"
      "              --rate in batches every 1 ms for --warmup plus --latency-duration; each is\n"
      "              stamped (steady clock, microseconds) when produced and when its prediction is\n"
      "              read back from the predictions topic. p50/p99/p999 are exact, over the\n"
      "              requests after the warm-up. The reader polls every 100 us.\n"
      "  ingest      --ingest-records messages (requests then outcomes, or observations) are put on\n"
      "              the bus, then the ingest stage loads them; timed like throughput. SQLite always;\n"
      "              each --store URL as well (CPU-seconds are the stage's own, not the database\n"
      "              server's).\n"
      "Each run reads the stage's progress from the offsets it commits to the store (every 2 ms).\n"
      "The machine may be shared: compare the CPU-second figures and note the load averages.\n"
      "Each run prints its figures and the load average when it started; then the medians.\n"
      "Examples:\n"
      "  flowcast bench examples/taxi.yaml\n"
      "  flowcast bench examples/taxi.yaml --measure latency --rate 50000 --runs 5\n"
      "  flowcast bench examples/realty.yaml --measure ingest --store postgresql://flowcast@localhost/flowcast");
  return cmd;
}

int run_bench_command(const BenchOptions& options) {
  Bench bench(options);
  return bench.run();
}

}  // namespace flowcast::cli
