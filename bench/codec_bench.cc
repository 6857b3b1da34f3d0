// flowcast's JSON codec on one taxi request (the message the produce stage writes to new_trips
// and ingest/predict decode): strict decode into a Record, and encode back to JSON; and the
// prediction message the predict stage writes for every request. Reported as records/s
// (items_per_second) and bytes/s of JSON.
//
//   build/release/bench/codec_bench --benchmark_repetitions=5
//   --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <string>

#include "core/config.h"
#include "core/json_codec.h"
#include "stages/prediction_message.h"
#include "taxi_sample.h"

namespace flowcast {
namespace {

using bench::kTaxiRequest;
using bench::taxi_config;

void BM_DecodeTaxiRequest(benchmark::State& state) {
  const DatasetSpec& spec = taxi_config().dataset("taxi");
  JsonCodec codec(spec);
  const std::string json = kTaxiRequest;
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
  if (Status s = codec.decode(kTaxiRequest, RecordRole::kRequest, record); !s.ok()) {
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
