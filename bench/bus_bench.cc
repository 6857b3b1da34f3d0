// Throughput of the local bus with 200-byte records (10-byte key, 190-byte value), keyed over the
// default 4 partitions, produced in batches of 1000:
//   BM_LocalProduce    produce only (one thread)
//   BM_LocalConsume    consume only, from a pre-filled log in the page cache (one thread)
//   BM_LocalPipeline   a producer thread and a consumer thread at once; items = records consumed
//   BM_LocalLatency    one record produced, then waited for until a consumer thread polled it:
//                      end-to-end latency through the in-process wake-up (p50_us, p99_us)
// The argument is the fsync policy: 0 = interval (the default, every 1 s), 1 = never.
//
//   bus_bench --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
//
// The log lives in a fresh directory under $FLOWCAST_BENCH_DIR (default: the system temp dir),
// removed after each benchmark.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bus/local_bus.h"
#include "core/log.h"
#include "core/time_util.h"

namespace flowcast::bus {
namespace {

constexpr size_t kBatch = 1000;
constexpr size_t kKeySize = 10;
constexpr size_t kValueSize = 190;

class BenchDir {
 public:
  BenchDir() {
    const char* base = std::getenv("FLOWCAST_BENCH_DIR");
    std::filesystem::path root = base && *base ? base : std::filesystem::temp_directory_path();
    std::random_device rd;
    path_ = root / ("flowcast-bench-" + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~BenchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string str() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

// One batch of kBatch records with distinct keys.
struct Batch {
  std::vector<std::string> keys;
  std::string value;
  std::vector<OutMessage> messages;
  Batch() : value(kValueSize, 'v') {
    for (size_t i = 0; i < kBatch; ++i) {
      char key[kKeySize + 1];
      std::snprintf(key, sizeof key, "k%09zu", i);
      keys.emplace_back(key);
    }
    for (const auto& k : keys) messages.push_back(OutMessage{k, value, 0, -1});
  }
};

LocalBusOptions options_for(const benchmark::State& state) {
  LocalBusOptions o;
  o.fsync =
      state.range(0) == 0 ? LocalBusOptions::Fsync::kInterval : LocalBusOptions::Fsync::kNever;
  return o;
}

std::unique_ptr<LocalBus> open_or_skip(benchmark::State& state, const BenchDir& dir) {
  auto bus = LocalBus::open(dir.str(), options_for(state));
  if (!bus.ok()) {
    state.SkipWithError(bus.status().to_string().c_str());
    return nullptr;
  }
  return std::move(bus).value();
}

void set_counters(benchmark::State& state, int64_t records) {
  state.SetItemsProcessed(records);
  state.SetBytesProcessed(records * static_cast<int64_t>(kKeySize + kValueSize));
  state.SetLabel(state.range(0) == 0 ? "fsync=interval" : "fsync=never");
}

void BM_LocalProduce(benchmark::State& state) {
  BenchDir dir;
  auto bus = open_or_skip(state, dir);
  if (!bus) return;
  auto producer = std::move(bus->producer()).value();
  Batch batch;
  for (auto _ : state) {
    Status s = producer->produce("bench", batch.messages);
    if (!s.ok()) {
      state.SkipWithError(s.to_string().c_str());
      break;
    }
  }
  set_counters(state, state.iterations() * static_cast<int64_t>(kBatch));
}

void BM_LocalConsume(benchmark::State& state) {
  constexpr int64_t kPrefilled = 2'000'000;
  BenchDir dir;
  auto bus = open_or_skip(state, dir);
  if (!bus) return;
  {
    auto producer = std::move(bus->producer()).value();
    Batch batch;
    for (int64_t i = 0; i < kPrefilled; i += kBatch) {
      if (!producer->produce("bench", batch.messages).ok()) {
        state.SkipWithError("prefill failed");
        return;
      }
    }
  }
  auto consumer = std::move(bus->consumer("bench")).value();
  if (!consumer->subscribe({"bench"}, {}).ok()) {
    state.SkipWithError("subscribe failed");
    return;
  }
  MessageBatch out;
  int64_t consumed = 0, since_rewind = 0;
  for (auto _ : state) {
    Status s = consumer->poll(out, kBatch, 1000);
    if (!s.ok() || out.empty()) {
      state.SkipWithError(s.ok() ? "poll returned nothing" : s.to_string().c_str());
      break;
    }
    benchmark::DoNotOptimize(out[out.size() - 1].value.data());
    consumed += static_cast<int64_t>(out.size());
    since_rewind += static_cast<int64_t>(out.size());
    if (since_rewind == kPrefilled) {  // read it all: start over
      for (const auto& tp : consumer->assignment()) (void)consumer->seek(tp, 0);
      since_rewind = 0;
    }
  }
  set_counters(state, consumed);
}

void BM_LocalPipeline(benchmark::State& state) {
  constexpr int64_t kPerIteration = 200'000;
  BenchDir dir;
  auto bus = open_or_skip(state, dir);
  if (!bus) return;
  auto producer = std::move(bus->producer()).value();
  auto consumer = std::move(bus->consumer("bench")).value();
  if (!consumer->subscribe({"bench"}, {}).ok()) {
    state.SkipWithError("subscribe failed");
    return;
  }
  Batch batch;
  MessageBatch out;
  int64_t consumed = 0;
  for (auto _ : state) {
    std::thread writer([&] {
      for (int64_t i = 0; i < kPerIteration; i += kBatch) {
        if (!producer->produce("bench", batch.messages).ok()) return;
      }
    });
    int64_t got = 0;
    while (got < kPerIteration) {
      Status s = consumer->poll(out, kBatch, 5000);
      if (!s.ok() || out.empty()) break;
      got += static_cast<int64_t>(out.size());
    }
    writer.join();
    consumed += got;
    if (got != kPerIteration) {
      state.SkipWithError("the consumer fell short");
      break;
    }
  }
  set_counters(state, consumed);
}

void BM_LocalLatency(benchmark::State& state) {
  BenchDir dir;
  auto bus = open_or_skip(state, dir);
  if (!bus) return;
  if (!bus->ensure_topic("latency", TopicSettings{1}).ok()) {
    state.SkipWithError("ensure_topic failed");
    return;
  }
  auto producer = std::move(bus->producer()).value();
  auto consumer = std::move(bus->consumer("bench")).value();
  if (!consumer->subscribe({"latency"}, {}).ok()) {
    state.SkipWithError("subscribe failed");
    return;
  }
  std::atomic<int64_t> seen{-1};
  std::atomic<bool> stop{false};
  std::thread reader([&] {
    MessageBatch out;
    while (!stop.load()) {
      if (!consumer->poll(out, 100, 100).ok()) return;
      if (!out.empty()) seen.store(out[out.size() - 1].offset);
    }
  });
  std::string value(kValueSize, 'v');
  std::vector<OutMessage> one{OutMessage{"k000000000", value, 0, 0}};
  std::vector<double> micros;
  int64_t next = 0;
  for (auto _ : state) {
    int64_t t0 = mono_nanos();
    if (!producer->produce("latency", one).ok()) {
      state.SkipWithError("produce failed");
      break;
    }
    while (seen.load() < next) std::this_thread::yield();
    micros.push_back(static_cast<double>(mono_nanos() - t0) / 1000.0);
    ++next;
  }
  stop.store(true);
  reader.join();
  if (micros.empty()) return;
  std::sort(micros.begin(), micros.end());
  state.counters["p50_us"] = micros[micros.size() / 2];
  state.counters["p99_us"] = micros[micros.size() * 99 / 100];
  state.SetItemsProcessed(state.iterations());
  state.SetLabel("fsync=interval");
}

BENCHMARK(BM_LocalProduce)->Arg(0)->Arg(1)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LocalConsume)->Arg(0)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LocalPipeline)->Arg(0)->Arg(1)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LocalLatency)->Arg(0)->UseRealTime()->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace flowcast::bus

int main(int argc, char** argv) {
  flowcast::init_logging("warn");
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
