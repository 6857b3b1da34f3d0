// Predict stage throughput on the local bus with the taxi XGBoost model: requests are written to
// the requests topic first, then one predict stage (one thread) scores them all, publishing every
// prediction and committing it with its offsets to SQLite. Reported as items/s (requests/s).
//
//   build/release/bench/predict_stage_bench
//   (one iteration per run; repeat the command for a median)
#include <benchmark/benchmark.h>

#include <filesystem>
#include <sys/resource.h>

#include <thread>

#include "bus/local_bus.h"
#include "core/config.h"
#include "core/json_codec.h"
#include "core/time_util.h"
#include "ml/trainer.h"
#include "stages/pipeline.h"
#include "stages/taxi_generator.h"
#include "store/sqlite_store.h"

namespace flowcast {
namespace {

std::filesystem::path source_dir() {
  return std::filesystem::path(__FILE__).parent_path().parent_path();
}

double process_cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

void BM_PredictStage(benchmark::State& state) {
  const int64_t n = state.range(0);
  double cpu = 0;
  const auto dir = std::filesystem::temp_directory_path() / ("flowcast-bench-" + std::to_string(getpid()));
  for (auto _ : state) {
    state.PauseTiming();
    std::filesystem::remove_all(dir);
    Config config = Config::load((source_dir() / "examples" / "taxi.yaml").string(),
                                 {"bus=local:" + (dir / "bus").string(),
                                  "store=sqlite:" + (dir / "db").string(), "log_level=error"});
    const DatasetSpec& ds = config.dataset("taxi");
    auto bus = std::move(bus::LocalBus::open((dir / "bus").string())).value();
    auto store = std::move(store::SqliteStore::open((dir / "db").string(), {})).value();
    (void)store->ensure_dataset(ds);
    // A taxi model (300 rounds max, early stopping) trained on generated trips.
    stages::TaxiGenerator gen(ds, 1, 0, "train-");
    std::vector<Record> rows;
    stages::GeneratedEvent ev;
    for (int i = 0; i < 20000; ++i) {
      gen.next(ev, *parse_timestamp_micros("2016-03-07 00:00:00") + int64_t(i) * 4'000'000);
      rows.push_back(ev.record);
    }
    auto trained = std::move(ml::train_model(ds, std::move(rows), {})).value();
    store::ModelInfo info{"taxi", 0, now_millis(), 0, "xgboost", "", "{}", 20000};
    (void)store->register_model(info, *trained.model->serialize(), true);
    // The requests, already on the bus.
    JsonCodec codec(ds);
    stages::TaxiGenerator req(ds, 2, 0, "r-");
    auto producer = std::move(bus->producer()).value();
    std::vector<std::string> keys, values;
    for (int64_t i = 0; i < n; ++i) {
      req.next(ev, *parse_timestamp_micros("2016-03-08 00:00:00") + i * 1'000'000);
      keys.push_back(ev.record.key);
      values.emplace_back();
      codec.encode(ev.record, RecordRole::kRequest, values.back());
      if (keys.size() == 10000 || i == n - 1) {
        std::vector<bus::OutMessage> msgs;
        for (size_t k = 0; k < keys.size(); ++k) msgs.push_back({keys[k], values[k]});
        (void)producer->produce(ds.topics().requests, msgs);
        keys.clear();
        values.clear();
      }
    }
    (void)producer->flush(10000);
    stages::Pipeline pipeline(config, *bus, *store, {"predict"}, {});
    (void)pipeline.prepare();
    std::atomic<int> stop{0};
    stages::RunOptions options;
    options.status_line = false;
    state.ResumeTiming();
    const double cpu_start = process_cpu_seconds();

    std::thread t([&] { (void)pipeline.run(options, stop); });
    const auto& stats = pipeline.stages()[0].stage->stats();
    while (stats.out.load() < n) std::this_thread::sleep_for(std::chrono::microseconds(200));
    cpu += process_cpu_seconds() - cpu_start;
    state.PauseTiming();
    stop = 1;
    t.join();
    state.ResumeTiming();
  }
  std::filesystem::remove_all(dir);
  state.SetItemsProcessed(state.iterations() * n);
  // CPU time of the whole process while the stage ran: requests per CPU-second says what one
  // core does, whatever else the machine is busy with.
  state.counters["cpu_s"] = cpu;
  state.counters["requests_per_cpu_s"] = double(state.iterations() * n) / cpu;
}
BENCHMARK(BM_PredictStage)->Arg(200000)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);

}  // namespace
}  // namespace flowcast

BENCHMARK_MAIN();
