// The taxi dataset's feature pipeline (examples/taxi.yaml: haversine, manhattan, bearing, two
// distances from JFK, hour, weekday, month, ...) on one decoded request: what the predict stage
// runs for every request before the trees. Reported as rows/s (items_per_second).
//
//   build/release/bench/features_bench --benchmark_repetitions=5
//   --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <filesystem>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/json_codec.h"
#include "ml/feature_pipeline.h"

namespace flowcast {
namespace {

constexpr const char* kRequest =
    R"({"id":"id2875421","vendor_id":2,"pickup_datetime":"2016-03-14 17:24:55",)"
    R"("passenger_count":1,"pickup_longitude":-73.982154846191406,)"
    R"("pickup_latitude":40.767936706542969,"dropoff_longitude":-73.964630126953125,)"
    R"("dropoff_latitude":40.765602111816406,"store_and_fwd_flag":"N"})";

void BM_TaxiFeatures(benchmark::State& state) {
  const Config config = Config::load(
      (std::filesystem::path(__FILE__).parent_path().parent_path() / "examples" / "taxi.yaml")
          .string(),
      {});
  const DatasetSpec& spec = config.dataset("taxi");
  Record record;
  if (Status s = JsonCodec(spec).decode(kRequest, RecordRole::kRequest, record); !s.ok()) {
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
