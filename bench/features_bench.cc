// The taxi dataset's feature pipeline (examples/taxi.yaml: haversine, manhattan, bearing, two
// distances from JFK, hour, weekday, month, ...) on one decoded request: what the predict stage
// runs for every request before the trees. Reported as rows/s (items_per_second).
//
//   build/release/bench/features_bench --benchmark_repetitions=5
//   --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <vector>

#include "core/config.h"
#include "core/json_codec.h"
#include "ml/feature_pipeline.h"
#include "taxi_sample.h"

namespace flowcast {
namespace {

void BM_TaxiFeatures(benchmark::State& state) {
  const DatasetSpec& spec = bench::taxi_config().dataset("taxi");
  Record record;
  if (Status s = JsonCodec(spec).decode(bench::kTaxiRequest, RecordRole::kRequest, record);
      !s.ok()) {
    state.SkipWithError(s.to_string().c_str());
    return;
  }
  const ml::FeaturePipeline pipeline = ml::FeaturePipeline::from_spec(spec);
  std::vector<float> row(pipeline.width());
  for (auto _ : state) {
    pipeline.transform(record, row.data());
    benchmark::DoNotOptimize(row.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(int64_t(state.iterations()));
}

BENCHMARK(BM_TaxiFeatures);

}  // namespace
}  // namespace flowcast

BENCHMARK_MAIN();
