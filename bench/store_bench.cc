// Store throughput (Google Benchmark), for both backends:
//
//   BM_CommitTaxiRequests/sqlite, /postgres: Store::commit() of 1,000,000 taxi-shaped request
//     records (11 fields, keys in random order as Kaggle ids arrive) in batches of 50,000, each
//     batch one transaction with its offsets, into an empty store. Only commit() is timed
//     (building the batches is not); items/s = records/s.
//   BM_PostgresPartitionedIngest/N (PostgreSQL): the same records, each batch split into N
//     partitions committed concurrently on their own sessions, each with its own offset
//     (a measurement of per-partition parallel commits; N=1 is the baseline).
//   BM_CommitPredictions/sqlite, /postgres: Store::commit() of 400,000 predictions in batches of
//     2,000 with their offsets, as the predict stage commits them. items/s = predictions/s.
//   BM_PostgresCopyCalibration/raw_4_columns, /keyed_taxi_table: PostgreSQL alone, for scale
//     (see the comment there).
//   BM_PostgresTrainingRead: what the train stage does before XGBoost starts, on 1,000,000
//     stored labelled taxi rows: scan_labelled() into Records, then the feature matrix
//     (FeaturePipeline fit + transform). items/s = rows/s.
//   BM_XgboostTraining: the XGBoost part of training on that matrix with examples/taxi.yaml's
//     parameters (fit with early stopping on the newest 10%, then the refit on all rows).
//
// PostgreSQL benchmarks need a server: FLOWCAST_BENCH_POSTGRES_URL, else
// FLOWCAST_TEST_POSTGRES_URL (scripts/with-postgres sets it); without either they are skipped.
// Each PostgreSQL run works in a fresh schema, dropped afterwards. Run (see docs/postgresql.md):
//
//   scripts/with-postgres build/release/bench/store_bench --benchmark_repetitions=3
//       --benchmark_report_aggregates_only=true     (one command line)
#include <benchmark/benchmark.h>
#include <libpq-fe.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/config.h"
#include "core/time_util.h"
#include "ml/feature_pipeline.h"
#include "ml/learner.h"
#include "stages/taxi_generator.h"
#include "store/postgres_copy_buffer.h"
#include "store/postgres_store.h"
#include "store/sqlite_store.h"

namespace flowcast {
namespace {

constexpr int kRecords = 1'000'000;
// Records per commit(): the ingest stage's default batch_size (FLOWCAST_BENCH_BATCH overrides).
const int kBatch = [] {
  const char* e = std::getenv("FLOWCAST_BENCH_BATCH");
  return e != nullptr && std::atoi(e) > 0 ? std::atoi(e) : 50'000;
}();
constexpr int64_t kT0 = 1'700'000'000'000'000;

std::filesystem::path source_dir() {
  return std::filesystem::path(__FILE__).parent_path().parent_path();
}

const Config& taxi_config() {
  static const Config config =
      Config::load((source_dir() / "examples" / "taxi.yaml").string(), {"log_level=error"});
  return config;
}

const char* postgres_url() {
  for (const char* name : {"FLOWCAST_BENCH_POSTGRES_URL", "FLOWCAST_TEST_POSTGRES_URL"}) {
    const char* v = std::getenv(name);
    if (v != nullptr && *v != '\0') return v;
  }
  return nullptr;
}

// Runs SQL on the server as the URL's user; false on failure.
bool admin(const std::string& sql) {
  std::unique_ptr<PGconn, void (*)(PGconn*)> conn(PQconnectdb(postgres_url()), PQfinish);
  if (PQstatus(conn.get()) != CONNECTION_OK) return false;
  PQsetNoticeProcessor(
      conn.get(), [](void*, const char*) {}, nullptr);
  PGresult* r = PQexec(conn.get(), sql.c_str());
  bool ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
  PQclear(r);
  return ok;
}

// A fresh schema; the store's sessions use only it.
std::string new_schema(std::string* url) {
  static int counter = 0;
  std::string schema = "fc_bench_" + std::to_string(getpid()) + "_" + std::to_string(++counter);
  admin("DROP SCHEMA IF EXISTS " + schema + " CASCADE; CREATE SCHEMA " + schema);
  std::string base = postgres_url();
  *url = base + (base.find('?') == std::string::npos ? "?" : "&") + "options=-csearch_path%3D" +
         schema;
  return schema;
}

std::unique_ptr<store::Store> open_store(const std::string& backend, const std::string& where) {
  if (backend == "sqlite") {
    auto s = store::SqliteStore::open(where, {});
    return s.ok() ? std::unique_ptr<store::Store>(std::move(s).value()) : nullptr;
  }
  auto s = store::PostgresStore::open(where, {});
  return s.ok() ? std::unique_ptr<store::Store>(std::move(s).value()) : nullptr;
}

// One batch of taxi-shaped requests, as the SQLite throughput test builds them.
void taxi_requests(int start, uint32_t& rng, store::SinkBatch& batch) {
  auto next = [&] { return rng = rng * 1664525u + 1013904223u; };
  batch = store::SinkBatch{};
  batch.group = "flowcast.ingest.taxi";
  batch.offsets = {{"new_trips", start % 4, start + kBatch}};
  batch.requests.reserve(kBatch);
  for (int i = start; i < start + kBatch; ++i) {
    // Kaggle ids look like "id2875421": unique, in no particular order.
    uint32_t id = (uint32_t(i) * 2654435761u) & 0x0fffffffu;
    Record r;
    r.key = "id" + std::to_string(id);
    r.values = {r.key,
                int64_t(1 + next() % 2),
                kT0 + int64_t(i) * 1'000'000,
                std::monostate{},
                int64_t(1 + next() % 6),
                -74.0 + (next() % 10000) * 1e-5,
                40.7 + (next() % 10000) * 1e-5,
                -73.9 + (next() % 10000) * 1e-5,
                40.8 + (next() % 10000) * 1e-5,
                std::string(next() % 100 == 0 ? "Y" : "N"),
                std::monostate{}};
    batch.requests.push_back(std::move(r));
  }
}

// One iteration of a commit benchmark: a fresh store of `backend` with the taxi dataset,
// Store::commit() of every batch `next_batch` fills (until it returns false), timed commit by
// commit, then the store removed. Skips the benchmark (and returns false) on an error.
bool time_commits(benchmark::State& state, const std::string& backend,
                  const std::function<bool(store::SinkBatch&)>& next_batch) {
  const DatasetSpec& taxi = taxi_config().dataset("taxi");
  std::string where, schema;
  std::filesystem::path dir;
  if (backend == "sqlite") {
    dir = std::filesystem::temp_directory_path() /
          ("flowcast-store-bench-" + std::to_string(getpid()));
    std::filesystem::remove_all(dir);
    where = (dir / "taxi.db").string();
  } else {
    schema = new_schema(&where);
  }
  auto remove_store = [&] {
    if (backend == "sqlite")
      std::filesystem::remove_all(dir);
    else
      admin("DROP SCHEMA IF EXISTS " + schema + " CASCADE");
  };
  auto store = open_store(backend, where);
  if (!store || !store->ensure_dataset(taxi).ok()) {
    state.SkipWithError("cannot open the store");
    return false;
  }
  int64_t timed_ns = 0;
  store::SinkBatch batch;
  while (next_batch(batch)) {
    const int64_t t0 = mono_nanos();
    auto r = store->commit(taxi, batch);
    timed_ns += mono_nanos() - t0;
    if (!r.ok()) {
      state.SkipWithError(r.status().to_string().c_str());
      store.reset();
      remove_store();
      return false;
    }
  }
  state.SetIterationTime(double(timed_ns) / 1e9);
  store.reset();
  remove_store();
  return true;
}

bool skip_without_postgres(benchmark::State& state, const std::string& backend) {
  if (backend != "postgres" || postgres_url() != nullptr) return false;
  state.SkipWithError(
      "no PostgreSQL server (set FLOWCAST_TEST_POSTGRES_URL or run under scripts/with-postgres)");
  return true;
}

void BM_CommitTaxiRequests(benchmark::State& state, const std::string& backend) {
  if (skip_without_postgres(state, backend)) return;
  for (auto _ : state) {
    uint32_t rng = 12345;
    int start = 0;
    const bool ok = time_commits(state, backend, [&](store::SinkBatch& batch) {
      if (start >= kRecords) return false;
      taxi_requests(start, rng, batch);
      start += kBatch;
      return true;
    });
    if (!ok) return;
  }
  state.SetItemsProcessed(state.iterations() * kRecords);
}
BENCHMARK_CAPTURE(BM_CommitTaxiRequests, sqlite, std::string("sqlite"))
    ->Unit(benchmark::kMillisecond)
    ->UseManualTime()
    ->Iterations(1);
BENCHMARK_CAPTURE(BM_CommitTaxiRequests, postgres, std::string("postgres"))
    ->Unit(benchmark::kMillisecond)
    ->UseManualTime()
    ->Iterations(1);

// Parallel commits per partition, measured: the ingest stage's batch split by bus partition,
// each partition's rows and its own offset committed in its own transaction, the parts run
// concurrently on their own sessions (the store's pool), the next batch only after all parts
// committed. Same 1,000,000 records and batch size as BM_CommitTaxiRequests; the records of a
// batch go to partition (key hash mod N). items/s = records/s.
void BM_PostgresPartitionedIngest(benchmark::State& state) {
  if (skip_without_postgres(state, "postgres")) return;
  const int parts = static_cast<int>(state.range(0));
  for (auto _ : state) {
    uint32_t rng = 12345;
    int start = 0;
    std::vector<store::SinkBatch> split(static_cast<size_t>(parts));
    const DatasetSpec& taxi = taxi_config().dataset("taxi");
    std::string url;
    const std::string schema = new_schema(&url);
    auto store = open_store("postgres", url);
    if (!store || !store->ensure_dataset(taxi).ok()) {
      state.SkipWithError("cannot open the store");
      return;
    }
    int64_t timed_ns = 0;
    store::SinkBatch batch;
    std::string error;
    for (; start < kRecords && error.empty(); start += kBatch) {
      taxi_requests(start, rng, batch);
      for (int p = 0; p < parts; ++p) {
        split[size_t(p)] = store::SinkBatch{};
        split[size_t(p)].group = batch.group;
        split[size_t(p)].offsets = {{"new_trips", p, start + kBatch}};
      }
      for (Record& r : batch.requests)
        split[std::hash<std::string>{}(r.key) % size_t(parts)].requests.push_back(std::move(r));
      const int64_t t0 = mono_nanos();
      std::vector<std::string> errors(static_cast<size_t>(parts));
      std::vector<std::thread> threads;
      for (int p = 1; p < parts; ++p)
        threads.emplace_back([&, p] {
          auto r = store->commit(taxi, split[size_t(p)]);
          if (!r.ok()) errors[size_t(p)] = r.status().to_string();
        });
      auto r = store->commit(taxi, split[0]);
      if (!r.ok()) errors[0] = r.status().to_string();
      for (auto& t : threads) t.join();
      timed_ns += mono_nanos() - t0;
      for (auto& e : errors)
        if (!e.empty()) error = e;
    }
    store.reset();
    admin("DROP SCHEMA IF EXISTS " + schema + " CASCADE");
    if (!error.empty()) {
      state.SkipWithError(error.c_str());
      return;
    }
    state.SetIterationTime(double(timed_ns) / 1e9);
  }
  state.SetItemsProcessed(state.iterations() * kRecords);
}
BENCHMARK(BM_PostgresPartitionedIngest)
    ->Arg(1)
    ->Arg(2)
    ->Unit(benchmark::kMillisecond)
    ->UseManualTime()
    ->Iterations(1);

// The predict stage's store commit: Store::commit() of predictions in batches of 2,000 (its
// default batch_size) with one offset each, as PredictStage commits them, into an empty store;
// keys in random order, as taxi request ids arrive. FLOWCAST_BENCH_PREDICTIONS sets the total
// (default 400,000; fewer under callgrind: instructions per prediction are the inclusive count
// of SqliteStore::commit divided by it), FLOWCAST_BENCH_PREDICT_BATCH the rows per commit (the
// stage's group commit makes up to 8 batches one). items/s = predictions/s.
void BM_CommitPredictions(benchmark::State& state, const std::string& backend) {
  if (skip_without_postgres(state, backend)) return;
  const char* env = std::getenv("FLOWCAST_BENCH_PREDICTIONS");
  const int total = env != nullptr && std::atoi(env) > 0 ? std::atoi(env) : 400'000;
  const char* batch_env = std::getenv("FLOWCAST_BENCH_PREDICT_BATCH");
  const int kPredictBatch =
      batch_env != nullptr && std::atoi(batch_env) > 0 ? std::atoi(batch_env) : 2000;
  for (auto _ : state) {
    int start = 0;
    const bool ok = time_commits(state, backend, [&](store::SinkBatch& batch) {
      if (start >= total) return false;
      batch.group = "flowcast.predict.taxi";
      batch.predictions.clear();
      batch.offsets = {{"new_trips", start % 4, start + kPredictBatch}};
      for (int i = start; i < std::min(total, start + kPredictBatch); ++i) {
        uint32_t id = (uint32_t(i) * 2654435761u) & 0x0fffffffu;
        batch.predictions.push_back(
            {"id" + std::to_string(id), 3, 600.0 + i % 1000, kT0 / 1000 + i});
      }
      start += kPredictBatch;
      return true;
    });
    if (!ok) return;
  }
  state.SetItemsProcessed(state.iterations() * total);
}
BENCHMARK_CAPTURE(BM_CommitPredictions, sqlite, std::string("sqlite"))
    ->Unit(benchmark::kMillisecond)
    ->UseManualTime()
    ->Iterations(1);
BENCHMARK_CAPTURE(BM_CommitPredictions, postgres, std::string("postgres"))
    ->Unit(benchmark::kMillisecond)
    ->UseManualTime()
    ->Iterations(1);

// Calibration: what PostgreSQL itself costs on this machine, with no flowcast code in the loop.
// Binary COPY of 1,000,000 rows in transactions of 5,000 (a) into a 4-column table without
// indexes (the figure the PostgreSQL issue quotes as "raw"), and (b) straight into an empty taxi
// records table with its primary key and index, skipping the staging table and the upsert: the
// ceiling for any design that keeps one row per key. Compare with BM_CommitTaxiRequests/postgres.
void BM_PostgresCopyCalibration(benchmark::State& state, bool keyed) {
  if (postgres_url() == nullptr) {
    state.SkipWithError("no PostgreSQL server");
    return;
  }
  const DatasetSpec& taxi = taxi_config().dataset("taxi");
  for (auto _ : state) {
    std::string url;
    const std::string schema = new_schema(&url);
    if (keyed) {
      // The table exactly as the store creates it.
      auto store = open_store("postgres", url);
      if (!store || !store->ensure_dataset(taxi).ok()) {
        state.SkipWithError("cannot create the table");
        return;
      }
    }
    std::unique_ptr<PGconn, void (*)(PGconn*)> conn(PQconnectdb(url.c_str()), PQfinish);
    if (PQstatus(conn.get()) != CONNECTION_OK) {
      state.SkipWithError("cannot connect");
      return;
    }
    auto exec = [&](const char* sql) {
      PGresult* r = PQexec(conn.get(), sql);
      bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
      PQclear(r);
      return ok;
    };
    if (!keyed) exec("CREATE TABLE raw4 (a bigint, b double precision, c text, d bigint)");
    const char* copy = keyed ? "COPY taxi_records (id, vendor_id, pickup_datetime, "
                               "passenger_count, pickup_longitude, pickup_latitude, "
                               "dropoff_longitude, dropoff_latitude, store_and_fwd_flag, "
                               "_ingested_at_ms) FROM STDIN (FORMAT binary)"
                             : "COPY raw4 FROM STDIN (FORMAT binary)";
    int64_t timed_ns = 0;
    uint32_t rng = 12345;
    store::SinkBatch batch;
    store::PostgresCopyBuffer buf;
    for (int start = 0; start < kRecords; start += kBatch) {
      taxi_requests(start, rng, batch);
      buf.clear();
      for (const Record& r : batch.requests) {
        if (keyed) {
          buf.begin_row(10);
          buf.add_text(r.key);
          buf.add_int64(std::get<int64_t>(r.values[1]));
          buf.add_timestamp_micros(std::get<int64_t>(r.values[2]));
          buf.add_int64(std::get<int64_t>(r.values[4]));
          for (int f = 5; f <= 8; ++f) buf.add_double(std::get<double>(r.values[size_t(f)]));
          buf.add_text(std::get<std::string>(r.values[9]));
          buf.add_int64(1);
        } else {
          buf.begin_row(4);
          buf.add_int64(std::get<int64_t>(r.values[1]));
          buf.add_double(std::get<double>(r.values[5]));
          buf.add_text(r.key);
          buf.add_int64(std::get<int64_t>(r.values[2]));
        }
      }
      buf.finish();
      const int64_t t0 = mono_nanos();
      bool ok = exec("BEGIN");
      PGresult* r = PQexec(conn.get(), copy);
      ok = ok && PQresultStatus(r) == PGRES_COPY_IN;
      PQclear(r);
      ok = ok && PQputCopyData(conn.get(), buf.data().data(), int(buf.data().size())) == 1 &&
           PQputCopyEnd(conn.get(), nullptr) == 1;
      while ((r = PQgetResult(conn.get())) != nullptr) {
        ok = ok && PQresultStatus(r) == PGRES_COMMAND_OK;
        PQclear(r);
      }
      ok = ok && exec("COMMIT");
      timed_ns += mono_nanos() - t0;
      if (!ok) {
        state.SkipWithError(PQerrorMessage(conn.get()));
        return;
      }
    }
    state.SetIterationTime(double(timed_ns) / 1e9);
    conn.reset();
    admin("DROP SCHEMA IF EXISTS " + schema + " CASCADE");
  }
  state.SetItemsProcessed(state.iterations() * kRecords);
}
BENCHMARK_CAPTURE(BM_PostgresCopyCalibration, raw_4_columns, false)
    ->Unit(benchmark::kMillisecond)
    ->UseManualTime()
    ->Iterations(1);
BENCHMARK_CAPTURE(BM_PostgresCopyCalibration, keyed_taxi_table, true)
    ->Unit(benchmark::kMillisecond)
    ->UseManualTime()
    ->Iterations(1);

// 1,000,000 labelled generated trips in a PostgreSQL schema of their own, filled on first use
// and dropped at exit.
struct TrainingData {
  std::string schema, url;
  std::unique_ptr<store::Store> store;
  std::vector<float> matrix;  // the last matrix built by BM_PostgresTrainingRead
  std::vector<float> y;
  size_t width = 0;
  ~TrainingData() {
    store.reset();
    if (!schema.empty()) admin("DROP SCHEMA IF EXISTS " + schema + " CASCADE");
  }
};

TrainingData* training_data() {
  static TrainingData* data = [] {
    auto* d = new TrainingData;
    std::atexit([] { delete training_data(); });
    d->schema = new_schema(&d->url);
    d->store = open_store("postgres", d->url);
    const DatasetSpec& taxi = taxi_config().dataset("taxi");
    if (!d->store || !d->store->ensure_dataset(taxi).ok()) return d;
    stages::TaxiGenerator gen(taxi, 7, 0, "t-");
    stages::GeneratedEvent ev;
    const int64_t start = *parse_timestamp_micros("2016-01-01 00:00:00");
    store::SinkBatch batch;
    for (int i = 0; i < kRecords; ++i) {
      gen.next(ev, start + int64_t(i) * 2'000'000);
      batch.observations.push_back(ev.record);
      if (batch.observations.size() == size_t(kBatch)) {
        if (!d->store->commit(taxi, batch).ok()) {
          d->store.reset();
          return d;
        }
        batch.observations.clear();
      }
    }
    return d;
  }();
  return data;
}

void BM_PostgresTrainingRead(benchmark::State& state) {
  if (postgres_url() == nullptr) {
    state.SkipWithError("no PostgreSQL server");
    return;
  }
  TrainingData* data = training_data();
  if (!data->store) {
    state.SkipWithError("could not fill the training table");
    return;
  }
  const DatasetSpec& taxi = taxi_config().dataset("taxi");
  const int target = taxi.target_index();
  double scan_s = 0, matrix_s = 0;
  for (auto _ : state) {
    // As TrainStage::train_once: the most recent max_rows labelled rows, oldest first.
    const int64_t t0 = mono_nanos();
    std::vector<Record> rows;
    rows.reserve(kRecords);
    Status s =
        data->store->scan_labelled(taxi, kRecords, [&](const Record& r) { rows.push_back(r); });
    const int64_t t1 = mono_nanos();
    if (!s.ok() || rows.size() != size_t(kRecords)) {
      state.SkipWithError(s.ok() ? "wrong row count" : s.to_string().c_str());
      return;
    }
    // As ml::train_model: log1p targets, the pipeline fitted on the rows, the float matrix.
    std::vector<double> y(rows.size());
    for (size_t i = 0; i < rows.size(); ++i)
      y[i] = std::log1p(std::max(rows[i].number(target), 0.0));
    ml::FeaturePipeline pipeline = ml::FeaturePipeline::from_spec(taxi);
    pipeline.fit(rows, y);
    const size_t w = pipeline.width();
    data->matrix.assign(rows.size() * w, 0.f);
    data->y.assign(rows.size(), 0.f);
    for (size_t i = 0; i < rows.size(); ++i) {
      pipeline.transform(rows[i], &data->matrix[i * w]);
      data->y[i] = static_cast<float>(y[i]);
    }
    data->width = w;
    benchmark::DoNotOptimize(data->matrix.data());
    scan_s += double(t1 - t0) / 1e9;
    matrix_s += double(mono_nanos() - t1) / 1e9;
  }
  state.counters["scan_s"] = scan_s / double(state.iterations());
  state.counters["matrix_s"] = matrix_s / double(state.iterations());
  state.SetItemsProcessed(state.iterations() * kRecords);
}
BENCHMARK(BM_PostgresTrainingRead)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);

void BM_XgboostTraining(benchmark::State& state) {
  TrainingData* data = postgres_url() != nullptr ? training_data() : nullptr;
  if (data == nullptr || data->matrix.empty()) {
    state.SkipWithError("run BM_PostgresTrainingRead first (it builds the matrix)");
    return;
  }
  const DatasetSpec& taxi = taxi_config().dataset("taxi");
  const size_t n = data->y.size(), w = data->width;
  const size_t n_val = n / 10, n_train = n - n_val;
  int rounds = 0;
  for (auto _ : state) {
    auto learner = ml::make_learner("xgboost", taxi.model().params);
    if (!learner.ok()) {
      state.SkipWithError(learner.status().to_string().c_str());
      return;
    }
    ml::Matrix train{data->matrix.data(), n_train, w};
    ml::Matrix val{data->matrix.data() + n_train * w, n_val, w};
    Status s = (*learner)->fit(train, data->y.data(), val, data->y.data() + n_train);
    if (!s.ok()) {
      state.SkipWithError(s.to_string().c_str());
      return;
    }
    // The refit on all rows with the rounds early stopping chose, as train_model does.
    auto params = taxi.model().params;
    auto summary = nlohmann::json::parse((*learner)->summary_json());
    if (summary.contains("rounds")) {
      rounds = summary["rounds"].get<int>();
      params["rounds"] = std::to_string(rounds);
      params["early_stopping_rounds"] = "1000000";
    }
    auto refit = ml::make_learner("xgboost", params);
    s = (*refit)->fit(ml::Matrix{data->matrix.data(), n, w}, data->y.data(), ml::Matrix{}, nullptr);
    if (!s.ok()) {
      state.SkipWithError(s.to_string().c_str());
      return;
    }
  }
  state.counters["rounds"] = rounds;
  state.SetItemsProcessed(state.iterations() * int64_t(n));
}
BENCHMARK(BM_XgboostTraining)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);

}  // namespace
}  // namespace flowcast

BENCHMARK_MAIN();
