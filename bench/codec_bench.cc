// flowcast's JSON codec on one taxi request (the message the produce stage writes to new_trips
// and ingest/predict decode): strict decode into a Record, and encode back to JSON. Reported as
// records/s (items_per_second) and bytes/s of JSON.
//
//   build/release/bench/codec_bench --benchmark_repetitions=5
//   --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "core/config.h"
#include "core/json_codec.h"
#include "stages/prediction_message.h"

namespace flowcast {
namespace {

// A trip from the Kaggle "NYC Taxi Trip Duration" training file, as a request (no target).
constexpr const char* kRequest =
    R"({"id":"id2875421","vendor_id":2,"pickup_datetime":"2016-03-14 17:24:55",)"
    R"("passenger_count":1,"pickup_longitude":-73.982154846191406,)"
    R"("pickup_latitude":40.767936706542969,"dropoff_longitude":-73.964630126953125,)"
    R"("dropoff_latitude":40.765602111816406,"store_and_fwd_flag":"N"})";

const Config& taxi_config() {
  static const Config config = Config::load(
      (std::filesystem::path(__FILE__).parent_path().parent_path() / "examples" / "taxi.yaml")
          .string(),
      {});
  return config;
}

void BM_DecodeTaxiRequest(benchmark::State& state) {
  const DatasetSpec& spec = taxi_config().dataset("taxi");
  JsonCodec codec(spec);
  const std::string json = kRequest;
  Record record;
  for (auto _ : state) {
    Status s = codec.decode(json, RecordRole::kRequest, record);
    if (!s.ok()) {
      state.SkipWithError(s.to_string().c_str());
      break;
    }
    benchmark::DoNotOptimize(record.values.data());
  }
  state.SetItemsProcessed(int64_t(state.iterations()));
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(json.size()));
}

void BM_EncodeTaxiRequest(benchmark::State& state) {
  const DatasetSpec& spec = taxi_config().dataset("taxi");
  JsonCodec codec(spec);
  Record record;
  if (Status s = codec.decode(kRequest, RecordRole::kRequest, record); !s.ok()) {
    state.SkipWithError(s.to_string().c_str());
    return;
  }
  std::string out;
  size_t bytes = 0;
  for (auto _ : state) {
    out.clear();
    codec.encode(record, RecordRole::kRequest, out);
    bytes += out.size();
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(int64_t(state.iterations()));
  state.SetBytesProcessed(int64_t(bytes));
}

void BM_EncodePrediction(benchmark::State& state) {
  stages::PredictionMessage p{"id2875421", 3, 612.4375, 1457976295000000, 1700000000123};
  const std::string dataset = "taxi";
  std::string out;
  size_t bytes = 0;
  for (auto _ : state) {
    out.clear();
    stages::encode_prediction(dataset, p, out);
    bytes += out.size();
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(int64_t(state.iterations()));
  state.SetBytesProcessed(int64_t(bytes));
}

BENCHMARK(BM_DecodeTaxiRequest);
BENCHMARK(BM_EncodeTaxiRequest);
BENCHMARK(BM_EncodePrediction);

}  // namespace
}  // namespace flowcast

BENCHMARK_MAIN();
