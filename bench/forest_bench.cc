// CompiledForest against XGBoost's own C API on a taxi-sized model: 300 trees of depth 8 over 16
// features, trained once on synthetic trips. Both score the same rows (5% missing values) at
// batch sizes 1 to 4096 on one thread; figures are rows/s (items_per_second). Consecutive
// iterations take consecutive rows of a 64k-row pool, so neither side sees one row again and
// again (which would let the branch predictor learn XGBoost's paths).
//
//   build/release/bench/forest_bench --benchmark_repetitions=5
//   --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>
#include <xgboost/c_api.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "ml/compiled_forest.h"

namespace flowcast {
namespace {

constexpr size_t kFeatures = 16;
constexpr size_t kPoolRows = 65536;

void check(int rc, const char* what) {
  if (rc != 0) {
    std::fprintf(stderr, "xgboost %s: %s\n", what, XGBGetLastError());
    std::exit(1);
  }
}

// RAII owners of the XGBoost handles.
struct Matrix {
  DMatrixHandle h = nullptr;
  ~Matrix() {
    if (h) XGDMatrixFree(h);
  }
};
struct Booster {
  BoosterHandle h = nullptr;
  ~Booster() {
    if (h) XGBoosterFree(h);
  }
};

// Trip-like rows: coordinates, distances, bearing, time of day and week, counts and flags.
std::vector<float> make_rows(size_t n, uint64_t seed, std::vector<float>* y) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0, 1);
  std::uniform_real_distribution<float> u(0, 1);
  std::vector<float> x(n * kFeatures);
  for (size_t i = 0; i < n; ++i) {
    float* r = &x[i * kFeatures];
    const float plat = 40.75f + 0.03f * g(rng), plon = -73.98f + 0.03f * g(rng);
    const float dlat = 40.75f + 0.04f * g(rng), dlon = -73.98f + 0.04f * g(rng);
    const float dist = std::hypot((dlat - plat) * 111.0f, (dlon - plon) * 84.0f);
    const float hour = std::floor(24 * u(rng)), weekday = std::floor(7 * u(rng));
    const float values[kFeatures] = {
        dist,
        std::fabs(dlat - plat) * 111.0f + std::fabs(dlon - plon) * 84.0f,
        std::atan2(dlat - plat, dlon - plon) * 57.3f,
        plat,
        plon,
        dlat,
        dlon,
        hour,
        weekday,
        std::floor(1 + 6 * u(rng)),
        std::floor(1 + 6 * u(rng) * u(rng)),
        1.0f + (u(rng) < 0.5f),
        u(rng) < 0.01f ? 1.0f : 0.0f,
        std::hypot((plat - 40.64f) * 111.0f, (plon + 73.78f) * 84.0f),
        std::hypot((dlat - 40.64f) * 111.0f, (dlon + 73.78f) * 84.0f),
        g(rng)};
    const bool rush = (hour >= 7 && hour <= 10) || (hour >= 16 && hour <= 19);
    const float speed = (rush && weekday < 5 ? 14.0f : 22.0f) * std::exp(0.3f * g(rng));
    if (y) y->push_back(std::log1p(60.0f * (2.0f + dist / speed * 60.0f)));
    for (size_t c = 0; c < kFeatures; ++c) r[c] = u(rng) < 0.05f ? NAN : values[c];
  }
  return x;
}

struct Fixture {
  Booster booster;
  ml::CompiledForest forest;
  std::vector<float> pool;
};

// XGBoosterPredictFromDense, type 0; the result is XGBoost's buffer, valid until the next call.
const float* xgboost_predict(BoosterHandle h, const float* rows, size_t n) {
  static const char* kConfig =
      R"({"type":0,"training":false,"iteration_begin":0,"iteration_end":0,"strict_shape":false,"cache_id":0,"missing":NaN})";
  // The array interface is built per call, as a server scoring fresh rows would.
  char array[200];
  std::snprintf(array, sizeof array,
                R"({"data":[%llu,true],"shape":[%zu,%zu],"typestr":"<f4","version":3})",
                static_cast<unsigned long long>(reinterpret_cast<uintptr_t>(rows)), n, kFeatures);
  const bst_ulong* shape = nullptr;
  bst_ulong dim = 0;
  const float* result = nullptr;
  check(XGBoosterPredictFromDense(h, array, kConfig, nullptr, &shape, &dim, &result), "predict");
  return result;
}

std::unique_ptr<Fixture> build_fixture() {
  auto fx = std::make_unique<Fixture>();
  std::vector<float> y;
  std::vector<float> x = make_rows(50000, 1, &y);
  Matrix m;
  check(XGDMatrixCreateFromMat(x.data(), y.size(), kFeatures, NAN, &m.h), "matrix");
  check(XGDMatrixSetFloatInfo(m.h, "label", y.data(), y.size()), "labels");
  check(XGBoosterCreate(&m.h, 1, &fx->booster.h), "create");
  for (auto [k, v] : {std::pair{"tree_method", "hist"},
                      {"max_depth", "8"},
                      {"eta", "0.1"},
                      {"subsample", "0.8"},
                      {"colsample_bytree", "0.8"},
                      {"min_child_weight", "5"},
                      {"nthread", "2"},
                      {"verbosity", "0"}})
    check(XGBoosterSetParam(fx->booster.h, k, v), "param");
  for (int i = 0; i < 300; ++i) check(XGBoosterUpdateOneIter(fx->booster.h, i, m.h), "train");
  // Scoring is single-threaded on both sides.
  check(XGBoosterSetParam(fx->booster.h, "nthread", "1"), "nthread");
  bst_ulong len = 0;
  const char* buf = nullptr;
  check(XGBoosterSaveModelToBuffer(fx->booster.h, R"({"format":"json"})", &len, &buf), "save");
  auto forest = ml::CompiledForest::from_xgboost_json(std::string_view(buf, len));
  if (!forest.ok()) {
    std::fprintf(stderr, "%s\n", forest.status().to_string().c_str());
    std::exit(1);
  }
  fx->forest = std::move(forest.value());
  fx->pool = make_rows(kPoolRows, 2, nullptr);
  std::fprintf(stderr, "model: %zu trees, %zu nodes, %s layout, %s kernel%s%s\n",
               fx->forest.num_trees(), fx->forest.num_nodes(), fx->forest.layout(),
               fx->forest.kernel(), fx->forest.kernel_note().empty() ? "" : ": ",
               fx->forest.kernel_note().c_str());
  // Both must agree before either is timed.
  std::vector<float> mine(4096);
  fx->forest.predict(fx->pool.data(), mine.size(), kFeatures, mine.data());
  const float* theirs = xgboost_predict(fx->booster.h, fx->pool.data(), mine.size());
  for (size_t i = 0; i < mine.size(); ++i)
    if (!(std::fabs(mine[i] - theirs[i]) <= 1e-5f)) {
      std::fprintf(stderr, "row %zu: forest %g, xgboost %g\n", i, mine[i], theirs[i]);
      std::exit(1);
    }
  return fx;
}

// Built on first use; released at the end of main(), while XGBoost's own statics still live.
std::unique_ptr<Fixture>& fixture_slot() {
  static std::unique_ptr<Fixture> f;
  return f;
}

Fixture& fixture() {
  if (!fixture_slot()) fixture_slot() = build_fixture();
  return *fixture_slot();
}

void BM_CompiledForest(benchmark::State& state) {
  Fixture& f = fixture();
  const auto batch = static_cast<size_t>(state.range(0));
  std::vector<float> out(batch);
  size_t start = 0;
  for (auto _ : state) {
    if (start + batch > kPoolRows) start = 0;
    f.forest.predict(f.pool.data() + start * kFeatures, batch, kFeatures, out.data());
    benchmark::DoNotOptimize(out.data());
    start += batch;
  }
  state.SetItemsProcessed(int64_t(state.iterations()) * int64_t(batch));
}

void BM_XgboostPredictFromDense(benchmark::State& state) {
  Fixture& f = fixture();
  const auto batch = static_cast<size_t>(state.range(0));
  size_t start = 0;
  float sink = 0;
  for (auto _ : state) {
    if (start + batch > kPoolRows) start = 0;
    sink += xgboost_predict(f.booster.h, f.pool.data() + start * kFeatures, batch)[batch - 1];
    start += batch;
  }
  benchmark::DoNotOptimize(sink);
  state.SetItemsProcessed(int64_t(state.iterations()) * int64_t(batch));
}

BENCHMARK(BM_CompiledForest)->Arg(1)->Arg(8)->Arg(64)->Arg(512)->Arg(4096);
BENCHMARK(BM_XgboostPredictFromDense)->Arg(1)->Arg(8)->Arg(64)->Arg(512)->Arg(4096);

}  // namespace
}  // namespace flowcast

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  flowcast::fixture_slot().reset();
  return 0;
}
