// CompiledForest against XGBoost itself: models trained through the C API, saved as JSON and
// UBJSON, must predict what XGBoosterPredictFromDense predicts on rows with missing values and
// values sitting exactly on split thresholds; broken or unsupported models are refused.
#include "ml/compiled_forest.h"

#include <gtest/gtest.h>
#include <xgboost/c_api.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace flowcast::ml {
namespace {

constexpr size_t kCols = 8;

// RAII owners of the XGBoost handles.
struct XgbMatrix {
  DMatrixHandle h = nullptr;
  XgbMatrix(const std::vector<float>& x, size_t cols) {
    EXPECT_EQ(XGDMatrixCreateFromMat(x.data(), x.size() / cols, cols, std::nanf(""), &h), 0)
        << XGBGetLastError();
  }
  ~XgbMatrix() {
    if (h) XGDMatrixFree(h);
  }
  XgbMatrix(const XgbMatrix&) = delete;
  XgbMatrix& operator=(const XgbMatrix&) = delete;
};

struct XgbBooster {
  BoosterHandle h = nullptr;
  XgbBooster() = default;
  ~XgbBooster() {
    if (h) XGBoosterFree(h);
  }
  XgbBooster(const XgbBooster&) = delete;
  XgbBooster& operator=(const XgbBooster&) = delete;

  std::string save(const char* format) const {
    bst_ulong len = 0;
    const char* buf = nullptr;
    std::string config = std::string(R"({"format":")") + format + "\"}";
    EXPECT_EQ(XGBoosterSaveModelToBuffer(h, config.c_str(), &len, &buf), 0) << XGBGetLastError();
    return std::string(buf, len);
  }

  // XGBoosterPredictFromDense, type 0 (transformed prediction), as flowcast's learner calls it.
  std::vector<float> predict(const std::vector<float>& x, size_t cols) const {
    const size_t rows = x.size() / cols;
    char array[200];
    std::snprintf(array, sizeof array,
                  R"({"data":[%llu,true],"shape":[%zu,%zu],"typestr":"<f4","version":3})",
                  static_cast<unsigned long long>(reinterpret_cast<uintptr_t>(x.data())), rows,
                  cols);
    const char* config =
        R"({"type":0,"training":false,"iteration_begin":0,"iteration_end":0,"strict_shape":false,"cache_id":0,"missing":NaN})";
    const bst_ulong* shape = nullptr;
    bst_ulong dim = 0;
    const float* result = nullptr;
    EXPECT_EQ(XGBoosterPredictFromDense(h, array, config, nullptr, &shape, &dim, &result), 0)
        << XGBGetLastError();
    return result ? std::vector<float>(result, result + rows) : std::vector<float>(rows, NAN);
  }
};

struct Data {
  std::vector<float> x, y;
};

// A nonlinear target over kCols features with interactions; 10% of the features missing, and
// missingness itself informative so that learned default directions differ between splits.
Data make_data(size_t rows, uint64_t seed, bool binary) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0, 1);
  std::uniform_real_distribution<float> u(0, 1);
  Data d;
  d.x.resize(rows * kCols);
  d.y.resize(rows);
  for (size_t i = 0; i < rows; ++i) {
    float* r = &d.x[i * kCols];
    for (size_t c = 0; c < kCols; ++c) r[c] = g(rng);
    float signal = 2 * r[0] - r[1] * r[2] + std::sin(3 * r[3]) + (r[4] > 0.5f ? 1.5f : -0.5f) +
                   0.3f * r[5] + 0.2f * g(rng);
    for (size_t c = 0; c < kCols; ++c)
      if (u(rng) < 0.1f) {
        r[c] = NAN;
        signal += c % 2 ? 1.0f : -1.0f;
      }
    d.y[i] = binary ? (signal + 0.5f * g(rng) > 0 ? 1.0f : 0.0f) : signal;
  }
  return d;
}

std::unique_ptr<XgbBooster> train(const Data& d, const std::map<std::string, std::string>& params,
                                  int rounds) {
  XgbMatrix m(d.x, kCols);
  EXPECT_EQ(XGDMatrixSetFloatInfo(m.h, "label", d.y.data(), d.y.size()), 0);
  auto b = std::make_unique<XgbBooster>();
  EXPECT_EQ(XGBoosterCreate(&m.h, 1, &b->h), 0);
  std::map<std::string, std::string> all = {
      {"tree_method", "hist"}, {"nthread", "1"}, {"verbosity", "0"}, {"seed", "7"}};
  for (const auto& [k, v] : params) all[k] = v;
  for (const auto& [k, v] : all)
    EXPECT_EQ(XGBoosterSetParam(b->h, k.c_str(), v.c_str()), 0) << k << ": " << XGBGetLastError();
  for (int i = 0; i < rounds; ++i)
    EXPECT_EQ(XGBoosterUpdateOneIter(b->h, i, m.h), 0) << XGBGetLastError();
  return b;
}

// Split conditions per feature, from the model's JSON.
std::vector<std::vector<float>> thresholds(const nlohmann::json& doc) {
  std::vector<std::vector<float>> out(kCols);
  const auto& gb = doc["learner"]["gradient_booster"];
  const auto& trees = gb.contains("model") ? gb["model"]["trees"] : gb["gbtree"]["model"]["trees"];
  for (const auto& t : trees)
    for (size_t i = 0; i < t["left_children"].size(); ++i)
      if (t["left_children"][i].get<int>() != -1)
        out[t["split_indices"][i].get<size_t>()].push_back(t["split_conditions"][i].get<float>());
  return out;
}

// Test rows: 10% missing, and about 15% of the values exactly on one of the model's thresholds
// for that feature (or one float step either side of it).
std::vector<float> make_test_rows(size_t rows, uint64_t seed,
                                  const std::vector<std::vector<float>>& cuts) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0, 1.2f);
  std::uniform_real_distribution<float> u(0, 1);
  std::vector<float> x(rows * kCols);
  for (size_t i = 0; i < rows * kCols; ++i) {
    const size_t c = i % kCols;
    const float p = u(rng);
    if (p < 0.10f) {
      x[i] = NAN;
    } else if (p < 0.25f && !cuts[c].empty()) {
      float t = cuts[c][rng() % cuts[c].size()];
      const float q = u(rng);
      x[i] = q < 0.6f ? t : std::nextafter(t, q < 0.8f ? INFINITY : -INFINITY);
    } else {
      x[i] = g(rng);
    }
  }
  return x;
}

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    double d = std::fabs(double(a[i]) - double(b[i]));
    if (std::isnan(d)) return INFINITY;
    m = std::max(m, d);
  }
  return m;
}

std::vector<float> forest_predict(const CompiledForest& f, const std::vector<float>& x) {
  std::vector<float> out(x.size() / kCols, NAN);
  f.predict(x.data(), out.size(), kCols, out.data());
  return out;
}

// Both formats compile and agree with XGBoost on `test` rows within 1e-5 (whole batch, and row by
// row for the first rows, which takes the single-row path), with the kernel chosen for this CPU
// and with the portable one.
void expect_matches_xgboost(const XgbBooster& b, const std::vector<float>& test) {
  const std::vector<float> want = b.predict(test, kCols);
  for (const char* format : {"json", "ubj"})
    for (bool portable : {false, true}) {
      SCOPED_TRACE(format);
      std::string bytes = b.save(format);
      auto forest = std::string(format) == "json" ? CompiledForest::from_xgboost_json(bytes)
                                                  : CompiledForest::from_xgboost_ubjson(bytes);
      ASSERT_TRUE(forest.ok()) << forest.status().to_string();
      EXPECT_EQ(forest->num_features(), kCols);
      if (portable) forest->use_portable_kernel();
      // These models (depth <= 8, few features) fit the binned layout: where the CPU runs it, it
      // must be the one tested first.
      if (!portable && BinnedForest::cpu_supported()) {
        ASSERT_STREQ(forest->kernel(), "binned-avx512") << forest->kernel_note();
      }
      SCOPED_TRACE(forest->kernel());
      std::vector<float> got = forest_predict(*forest, test);
      EXPECT_LE(max_abs_diff(got, want), 1e-5);
      // Odd batch sizes exercise the tails of the row tiles and blocks.
      for (size_t n : {1, 3, 4, 7, 8, 9, 12, 13, 15, 16, 17, 29, 65, 130, 300}) {
        std::vector<float> part(n);
        forest->predict(test.data(), n, kCols, part.data());
        for (size_t i = 0; i < n; ++i)
          ASSERT_NEAR(part[i], want[i], 1e-5) << "batch " << n << " row " << i;
      }
    }
}

struct Case {
  int depth, trees;
  const char* objective;
};

class ForestVsXgboost : public ::testing::TestWithParam<Case> {};

TEST_P(ForestVsXgboost, PredictsWhatXgboostPredicts) {
  const Case c = GetParam();
  const bool binary = std::string(c.objective) == "binary:logistic";
  Data train_data = make_data(4000, 11 + c.depth, binary);
  auto b =
      train(train_data,
            {{"objective", c.objective}, {"max_depth", std::to_string(c.depth)}, {"eta", "0.2"}},
            c.trees);
  const nlohmann::json doc = nlohmann::json::parse(b->save("json"));
  // The model must exercise what the test is about: both default directions (depth > 1).
  size_t dl = 0, dr = 0;
  for (const auto& t : doc["learner"]["gradient_booster"]["model"]["trees"])
    for (size_t i = 0; i < t["left_children"].size(); ++i)
      if (t["left_children"][i].get<int>() != -1) (t["default_left"][i].get<int>() ? dl : dr)++;
  if (c.depth > 1 || c.trees > 1) {
    EXPECT_GT(dl, 0u);
    EXPECT_GT(dr, 0u);
  }
  std::vector<float> test = make_test_rows(100'000, 99, thresholds(doc));
  expect_matches_xgboost(*b, test);
}

std::vector<Case> all_cases() {
  std::vector<Case> out;
  for (const char* objective : {"reg:squarederror", "binary:logistic"})
    for (int depth : {1, 3, 8})
      for (int trees : {1, 50, 300}) out.push_back({depth, trees, objective});
  return out;
}

INSTANTIATE_TEST_SUITE_P(DepthsTreesObjectives, ForestVsXgboost, ::testing::ValuesIn(all_cases()),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           std::string name = std::string(info.param.objective) + "_depth" +
                                              std::to_string(info.param.depth) + "_trees" +
                                              std::to_string(info.param.trees);
                           for (char& ch : name)
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return name;
                         });

// Every other supported objective, with base_score away from its default where it matters, plus
// DART and random-forest style boosters.
TEST(CompiledForest, OtherObjectivesAndBoosters) {
  Data reg = make_data(3000, 5, false), bin = make_data(3000, 6, true);
  Data positive = reg;
  for (float& y : positive.y) y = std::exp(0.3f * y);
  struct Variant {
    const Data* data;
    std::map<std::string, std::string> params;
  };
  const std::vector<Variant> variants = {
      {&reg, {{"objective", "reg:squarederror"}, {"base_score", "1.75"}}},
      {&positive, {{"objective", "reg:squaredlogerror"}}},
      {&reg, {{"objective", "reg:pseudohubererror"}, {"base_score", "0.25"}}},
      {&reg, {{"objective", "reg:absoluteerror"}}},
      {&bin, {{"objective", "binary:logitraw"}, {"base_score", "0.3"}}},
      {&bin, {{"objective", "reg:logistic"}, {"base_score", "0.7"}}},
      {&positive, {{"objective", "count:poisson"}, {"base_score", "2.5"}}},
      {&positive, {{"objective", "reg:gamma"}}},
      {&positive, {{"objective", "reg:tweedie"}, {"tweedie_variance_power", "1.3"}}},
      {&reg, {{"objective", "reg:squarederror"}, {"booster", "dart"}, {"rate_drop", "0.3"}}},
      {&bin,
       {{"objective", "binary:logistic"},
        {"booster", "dart"},
        {"rate_drop", "0.2"},
        {"normalize_type", "forest"}}},
      {&reg,
       {{"objective", "reg:squarederror"},
        {"num_parallel_tree", "4"},
        {"subsample", "0.7"},
        {"colsample_bynode", "0.8"}}},
  };
  for (const Variant& v : variants) {
    SCOPED_TRACE(nlohmann::json(v.params).dump());
    auto params = v.params;
    params["max_depth"] = "5";
    auto b = train(*v.data, params, 25);
    const nlohmann::json doc = nlohmann::json::parse(b->save("json"));
    if (params.count("booster")) {
      bool scaled = false;
      for (const auto& w : doc["learner"]["gradient_booster"]["weight_drop"]) scaled |= w != 1.0;
      EXPECT_TRUE(scaled) << "DART should have dropped some trees";
    }
    expect_matches_xgboost(*b, make_test_rows(20'000, 3, thresholds(doc)));
  }
}

TEST(CompiledForest, ReadsOnlyTheFirstNumFeaturesColumns) {
  Data d = make_data(1000, 8, false);
  auto b = train(d, {{"max_depth", "4"}}, 10);
  auto forest = CompiledForest::from_xgboost_json(b->save("json"));
  ASSERT_TRUE(forest.ok());
  std::vector<float> test = make_test_rows(100, 4, std::vector<std::vector<float>>(kCols));
  std::vector<float> wide;
  for (size_t r = 0; r < 100; ++r) {
    wide.insert(wide.end(), test.begin() + long(r * kCols), test.begin() + long((r + 1) * kCols));
    wide.push_back(1e30f);
  }
  std::vector<float> a(100), w(100);
  forest->predict(test.data(), 100, kCols, a.data());
  forest->predict(wide.data(), 100, kCols + 1, w.data());
  EXPECT_EQ(a, w);
  EXPECT_EQ(forest->num_trees(), 10u);
}

// More than 4095 features do not fit the compact layout's 16-bit offsets: the wide layout must
// give the same answers.
TEST(CompiledForest, WideLayoutForManyFeatures) {
  constexpr size_t kWide = 4200;
  std::mt19937_64 rng(21);
  std::normal_distribution<float> g(0, 1);
  std::uniform_real_distribution<float> u(0, 1);
  auto make = [&](size_t rows, std::vector<float>* y) {
    std::vector<float> x(rows * kWide, 0.0f);
    for (size_t i = 0; i < rows; ++i) {
      float* r = &x[i * kWide];
      for (size_t c : {size_t{0}, size_t{17}, size_t{4100}, kWide - 1})
        r[c] = u(rng) < 0.1f ? NAN : g(rng);
      auto v = [&](size_t c) { return std::isnan(r[c]) ? 1.5f : r[c]; };
      if (y) y->push_back(v(0) - 2 * v(4100) + (v(kWide - 1) > 0 ? 1.0f : 0.0f) + v(17));
    }
    return x;
  };
  std::vector<float> y;
  std::vector<float> x = make(1500, &y);
  XgbMatrix m(x, kWide);
  ASSERT_EQ(XGDMatrixSetFloatInfo(m.h, "label", y.data(), y.size()), 0) << XGBGetLastError();
  XgbBooster b;
  ASSERT_EQ(XGBoosterCreate(&m.h, 1, &b.h), 0);
  for (auto [k, v] : {std::pair{"tree_method", "hist"}, {"max_depth", "4"}, {"nthread", "1"}})
    ASSERT_EQ(XGBoosterSetParam(b.h, k, v), 0);
  for (int i = 0; i < 20; ++i) ASSERT_EQ(XGBoosterUpdateOneIter(b.h, i, m.h), 0);
  auto forest = CompiledForest::from_xgboost_json(b.save("json"));
  ASSERT_TRUE(forest.ok()) << forest.status().to_string();
  EXPECT_STREQ(forest->layout(), "wide");
  EXPECT_EQ(forest->num_features(), kWide);
  std::vector<float> test = make(300, nullptr);
  const std::vector<float> want = b.predict(test, kWide);
  for (size_t n : {size_t{1}, size_t{9}, size_t{300}}) {
    std::vector<float> got(n);
    forest->predict(test.data(), n, kWide, got.data());
    for (size_t i = 0; i < n; ++i)
      ASSERT_NEAR(got[i], want[i], 1e-5) << "batch " << n << " row " << i;
  }
  // A model over few features takes the compact layout.
  Data d = make_data(500, 22, false);
  auto small = CompiledForest::from_xgboost_json(train(d, {{"max_depth", "3"}}, 3)->save("json"));
  ASSERT_TRUE(small.ok());
  EXPECT_STREQ(small->layout(), "compact");
}

// --- Edge values ---------------------------------------------------------------------------------

// A tree that splits `depth` times down its left side on `feature`, thresholds t0, t0 + 1, ...,
// default directions alternating; every right child a leaf.
ForestSpec::Tree left_chain(int depth, uint32_t feature, float t0) {
  ForestSpec::Tree t;
  const size_t n = 2 * size_t(depth) + 1;
  t.left.assign(n, -1);
  t.right.assign(n, -1);
  t.feature.assign(n, 0);
  t.value.assign(n, 0);
  t.default_left.assign(n, 0);
  for (int l = 0; l < depth; ++l) {
    const size_t i = 2 * size_t(l);
    t.left[i] = int32_t(i + 2);
    t.right[i] = int32_t(i + 1);
    t.feature[i] = feature;
    t.value[i] = t0 + float(l);
    t.default_left[i] = l % 2;
    t.value[i + 1] = 0.5f + float(l);
  }
  t.value[n - 1] = -1.0f;
  return t;
}

// Signed zeros, infinities, the largest floats and missing values, against a plain walk of the
// spec: every value must go where `x < threshold` (or the default direction) sends it, whichever
// column of the widened row (value or negated value) a split reads.
TEST(CompiledForest, EdgeValuesGoWhereXgboostSendsThem) {
  const float big = std::numeric_limits<float>::max(), inf = INFINITY;
  const std::vector<float> cuts = {-big, -3.5f, -0.0f, 0.0f, 1e-30f, 2.0f, big};
  ForestSpec spec;
  spec.num_features = 3;
  spec.base_margin = 0.25f;
  for (size_t i = 0; i < 40; ++i) {
    ForestSpec::Tree t = left_chain(1 + int(i % 4), uint32_t(i % 3), 0);
    for (size_t n = 0; n < t.value.size(); ++n)
      if (t.left[n] != -1) {
        t.value[n] = cuts[(i + n) % cuts.size()];
        t.default_left[n] = (i + n) % 3 == 0;
      } else {
        t.value[n] = float(i) * 0.01f + float(n);
      }
    spec.trees.push_back(t);
  }
  std::vector<float> values = {NAN, -inf, inf, 7.0f};
  for (float c : cuts)
    for (float v : {c, std::nextafter(c, -inf), std::nextafter(c, inf)}) values.push_back(v);
  std::vector<float> rows;
  for (float a : values)
    for (float b : values) rows.insert(rows.end(), {a, b, values[(rows.size() / 3) % values.size()]});
  const size_t n = rows.size() / 3;
  auto reference = [&](const float* x) {
    float m = spec.base_margin;
    for (const ForestSpec::Tree& t : spec.trees) {
      size_t i = 0;
      while (t.left[i] != -1) {
        const float v = x[t.feature[i]];
        const bool left = std::isnan(v) ? t.default_left[i] != 0 : v < t.value[i];
        i = size_t(left ? t.left[i] : t.right[i]);
      }
      m += t.value[i];
    }
    return m;
  };
  const CompiledForest forest = CompiledForest::compile(spec);
  std::vector<float> got(n);
  forest.predict(rows.data(), n, 3, got.data());
  for (size_t r = 0; r < n; ++r)
    ASSERT_EQ(got[r], reference(&rows[r * 3]))
        << "row " << r << ": " << rows[r * 3] << ", " << rows[r * 3 + 1] << ", " << rows[r * 3 + 2];
  // One row at a time takes the single-row path.
  for (size_t r = 0; r < n; r += 7) {
    float one = 0;
    forest.predict(&rows[r * 3], 1, 3, &one);
    ASSERT_EQ(one, reference(&rows[r * 3])) << "row " << r;
  }
}

// --- The binned kernel
// -----------------------------------------------------------------------------

// A random tree of at most `depth` levels over `features` features, its conditions drawn from
// `conditions[feature]`, default directions at random, some leaves high up.
ForestSpec::Tree random_tree(std::mt19937_64& rng, int depth, size_t features,
                             const std::vector<std::vector<float>>& conditions) {
  ForestSpec::Tree t;
  std::uniform_real_distribution<float> u(0, 1);
  struct Pending {
    size_t node;
    int level;
  };
  std::vector<Pending> todo{{0, 0}};
  auto add = [&t] {
    t.left.push_back(-1);
    t.right.push_back(-1);
    t.feature.push_back(0);
    t.value.push_back(0);
    t.default_left.push_back(0);
    return t.left.size() - 1;
  };
  add();
  while (!todo.empty()) {
    const Pending p = todo.back();
    todo.pop_back();
    if (p.level == depth || (p.level > 0 && u(rng) < 0.15f)) {
      t.value[p.node] = std::round((u(rng) - 0.5f) * 1000) / 64;
      continue;
    }
    const auto f = static_cast<uint32_t>(rng() % features);
    const std::vector<float>& c = conditions[f];
    t.feature[p.node] = f;
    t.value[p.node] = c[rng() % c.size()];
    t.default_left[p.node] = rng() % 2;
    const size_t l = add(), r = add();
    t.left[p.node] = int32_t(l);
    t.right[p.node] = int32_t(r);
    todo.push_back({l, p.level + 1});
    todo.push_back({r, p.level + 1});
  }
  return t;
}

struct RandomForest {
  ForestSpec spec;
  std::vector<std::vector<float>> conditions;
};

// `trees` random trees; feature f has `distinct[f % distinct.size()]` distinct conditions.
RandomForest random_forest(uint64_t seed, int depth, size_t features, size_t trees,
                           const std::vector<size_t>& distinct) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0, 3);
  RandomForest r;
  r.spec.num_features = features;
  r.spec.base_margin = 0.5f;
  r.conditions.resize(features);
  for (size_t f = 0; f < features; ++f) {
    std::vector<float>& c = r.conditions[f];
    while (c.size() < distinct[f % distinct.size()]) {
      const float v = g(rng);
      if (std::find(c.begin(), c.end(), v) == c.end()) c.push_back(v);
    }
    if (f % 3 == 0) c.push_back(-0.0f);  // with 0 below, -0 and +0 as one condition
    if (f % 3 == 0) c.push_back(0.0f);
  }
  for (size_t i = 0; i < trees; ++i)
    r.spec.trees.push_back(random_tree(rng, depth, features, r.conditions));
  return r;
}

// Rows over the forest's features: conditions and their float neighbours, missing values,
// infinities, signed zeros and values in between.
std::vector<float> rows_for(const RandomForest& r, size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(0, 1);
  std::normal_distribution<float> g(0, 4);
  const size_t features = r.spec.num_features;
  std::vector<float> x(n * features);
  for (size_t i = 0; i < x.size(); ++i) {
    const std::vector<float>& c = r.conditions[i % features];
    const float p = u(rng);
    if (p < 0.08f) {
      x[i] = NAN;
    } else if (p < 0.10f) {
      x[i] = p < 0.09f ? INFINITY : -INFINITY;
    } else if (p < 0.12f) {
      x[i] = p < 0.11f ? 0.0f : -0.0f;
    } else if (p < 0.5f) {
      const float t = c[rng() % c.size()];
      x[i] = p < 0.3f ? t : std::nextafter(t, p < 0.4f ? INFINITY : -INFINITY);
    } else {
      x[i] = g(rng);
    }
  }
  return x;
}

// The binned kernel against the portable one (which is checked against XGBoost above): both add
// the same leaves in the same order, so every prediction must be equal, bit for bit.
void expect_kernels_agree(const RandomForest& r, const char* what) {
  SCOPED_TRACE(what);
  const CompiledForest binned = CompiledForest::compile(r.spec);
  ASSERT_STREQ(binned.kernel(), "binned-avx512") << binned.kernel_note();
  CompiledForest portable = binned;
  portable.use_portable_kernel();
  const size_t features = r.spec.num_features;
  const std::vector<float> x = rows_for(r, 1000, 5);
  std::vector<float> want(1000), got(1000);
  portable.predict(x.data(), 1000, features, want.data());
  for (size_t n : {size_t{16}, size_t{63}, size_t{64}, size_t{65}, size_t{200}, size_t{1000}}) {
    binned.predict(x.data(), n, features, got.data());
    for (size_t i = 0; i < n; ++i) {
      ASSERT_EQ(got[i], want[i]) << "batch " << n << " row " << i;
    }
  }
}

class BinnedKernel : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!BinnedForest::cpu_supported())
      GTEST_SKIP() << "this CPU lacks AVX-512 VBMI: the binned kernel is not used here";
  }
};

TEST_F(BinnedKernel, AgreesWithThePortableKernelAtEveryDepth) {
  for (int depth = 0; depth <= 8; ++depth)
    expect_kernels_agree(random_forest(100 + depth, depth, 6, 37, {3, 40, 200}),
                         ("depth " + std::to_string(depth)).c_str());
}

// A byte tells 254 conditions apart: a feature with more takes a column per run of 254, and past
// 256 its bins are found by binary search instead of the two vector compares.
TEST_F(BinnedKernel, AgreesOnFeaturesWithManyConditions) {
  expect_kernels_agree(random_forest(7, 8, 4, 300, {253, 254, 255, 256}), "253 to 256");
  expect_kernels_agree(random_forest(8, 8, 3, 300, {257, 600, 1000}), "257 to 1000");
}

// Columns are numbered in 7 bits, 0x7f excepted: 127 features that splits read fit (one column
// each), 128 do not.
RandomForest reading_every_feature(uint64_t seed, size_t features) {
  RandomForest r = random_forest(seed, 6, features, features, {5});
  for (uint32_t f = 0; f < features; ++f) {
    r.spec.trees[f].feature[0] = f;
    r.spec.trees[f].value[0] = r.conditions[f][0];
  }
  return r;
}

TEST_F(BinnedKernel, HoldsUpTo127ColumnsAndSaysWhyNotBeyond) {
  expect_kernels_agree(reading_every_feature(9, 127), "127 features");
  const CompiledForest forest = CompiledForest::compile(reading_every_feature(10, 128).spec);
  EXPECT_STREQ(forest.kernel(), "portable");
  EXPECT_NE(forest.kernel_note().find("128 columns"), std::string::npos) << forest.kernel_note();
}

// A feature no split reads takes no column and is never binned: a model over 300 features whose
// trees read 20 of them fits.
TEST_F(BinnedKernel, FeaturesNoSplitReadsTakeNoColumn) {
  RandomForest r = random_forest(13, 8, 20, 100, {30, 300});
  r.spec.num_features = 300;
  r.conditions.resize(300, std::vector<float>{1.0f});
  expect_kernels_agree(r, "20 of 300 features read");
}

TEST_F(BinnedKernel, DeeperTreesTakeThePortableKernel) {
  RandomForest deep = random_forest(11, 9, 4, 30, {20});
  ForestSpec::Tree chain = left_chain(9, 0, 0.5f);
  deep.spec.trees.push_back(chain);
  const CompiledForest forest = CompiledForest::compile(deep.spec);
  EXPECT_STREQ(forest.kernel(), "portable");
  EXPECT_NE(forest.kernel_note().find("deeper than 8"), std::string::npos) << forest.kernel_note();
}

TEST_F(BinnedKernel, TheEnvironmentCanTurnItOff) {
  const RandomForest r = random_forest(12, 4, 4, 10, {10});
  ASSERT_EQ(setenv("FLOWCAST_FOREST_KERNEL", "portable", 1), 0);
  const CompiledForest off = CompiledForest::compile(r.spec);
  ASSERT_EQ(unsetenv("FLOWCAST_FOREST_KERNEL"), 0);
  EXPECT_STREQ(off.kernel(), "portable");
  EXPECT_EQ(off.kernel_note(), "FLOWCAST_FOREST_KERNEL=portable");
  EXPECT_STREQ(CompiledForest::compile(r.spec).kernel(), "binned-avx512");
}

// --- Refusals ---------------------------------------------------------------------------------

class ForestRefusals : public ::testing::Test {
 protected:
  void SetUp() override {
    Data d = make_data(1000, 9, false);
    booster_ = train(d, {{"max_depth", "3"}}, 5);
    json_ = booster_->save("json");
    doc_ = nlohmann::json::parse(json_);
  }
  // Loads an edited copy of the model through both formats and expects both refused with a
  // message containing `needle`.
  void expect_refused(const nlohmann::json& doc, const std::string& needle) {
    for (const auto& r :
         {CompiledForest::from_xgboost_json(doc.dump()), CompiledForest::from_xgboost_ubjson([&] {
            auto v = nlohmann::json::to_ubjson(doc);
            return std::string(v.begin(), v.end());
          }())}) {
      ASSERT_FALSE(r.ok()) << "expected a refusal mentioning '" << needle << "'";
      EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
      EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().message();
    }
  }
  nlohmann::json& tree0() { return doc_["learner"]["gradient_booster"]["model"]["trees"][0]; }

  std::unique_ptr<XgbBooster> booster_;
  std::string json_;
  nlohmann::json doc_;
};

TEST_F(ForestRefusals, TheUneditedModelLoads) {
  ASSERT_TRUE(CompiledForest::from_xgboost_json(json_).ok());
  ASSERT_TRUE(CompiledForest::from_xgboost_ubjson(booster_->save("ubj")).ok());
}

TEST_F(ForestRefusals, TruncatedOrInvalidDocuments) {
  auto cut = CompiledForest::from_xgboost_json(json_.substr(0, json_.size() / 2));
  ASSERT_FALSE(cut.ok());
  EXPECT_NE(cut.status().message().find("not valid JSON"), std::string::npos);
  std::string ubj = booster_->save("ubj");
  auto cut_ubj = CompiledForest::from_xgboost_ubjson(ubj.substr(0, ubj.size() - 10));
  ASSERT_FALSE(cut_ubj.ok());
  EXPECT_NE(cut_ubj.status().message().find("not valid UBJSON"), std::string::npos);
  EXPECT_FALSE(CompiledForest::from_xgboost_json("").ok());
  EXPECT_FALSE(CompiledForest::from_xgboost_ubjson(json_).ok());  // JSON text is no UBJSON
  expect_refused(nlohmann::json::object(), "no 'learner'");
  expect_refused(nlohmann::json::array({1, 2}), "no 'learner'");
}

TEST_F(ForestRefusals, UnknownObjective) {
  doc_["learner"]["objective"]["name"] = "survival:cox";
  expect_refused(doc_, "unsupported objective 'survival:cox'");
}

TEST_F(ForestRefusals, UnknownBooster) {
  doc_["learner"]["gradient_booster"]["name"] = "gbforest";
  expect_refused(doc_, "unsupported booster 'gbforest'");
}

TEST_F(ForestRefusals, RealGblinearAndMultiClassModels) {
  Data d = make_data(500, 10, false);
  auto linear = train(d, {{"booster", "gblinear"}}, 3);
  auto r = CompiledForest::from_xgboost_json(linear->save("json"));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("unsupported booster 'gblinear'"), std::string::npos);
  for (float& y : d.y) y = y > 1 ? 2.0f : (y > -1 ? 1.0f : 0.0f);
  auto multi = train(d, {{"objective", "multi:softprob"}, {"num_class", "3"}}, 3);
  auto m = CompiledForest::from_xgboost_json(multi->save("json"));
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("unsupported objective 'multi:softprob'"), std::string::npos);
  auto m2 = nlohmann::json::parse(multi->save("json"));
  m2["learner"]["objective"]["name"] = "reg:squarederror";  // the trees still have 3 groups
  expect_refused(m2, "multi-class");
}

TEST_F(ForestRefusals, CategoricalSplits) {
  // A real categorical model: feature 0 declared categorical.
  Data d = make_data(2000, 12, false);
  for (size_t i = 0; i < d.y.size(); ++i) {
    float& c = d.x[i * kCols];
    if (!std::isnan(c)) c = float(int(std::fabs(c) * 3) % 5);
    d.y[i] += c == 2 ? 3.0f : 0.0f;
  }
  XgbMatrix m(d.x, kCols);
  ASSERT_EQ(XGDMatrixSetFloatInfo(m.h, "label", d.y.data(), d.y.size()), 0);
  const char* types[kCols] = {"c", "q", "q", "q", "q", "q", "q", "q"};
  ASSERT_EQ(XGDMatrixSetStrFeatureInfo(m.h, "feature_type", types, kCols), 0) << XGBGetLastError();
  XgbBooster b;
  ASSERT_EQ(XGBoosterCreate(&m.h, 1, &b.h), 0);
  for (auto [k, v] : {std::pair{"tree_method", "hist"},
                      {"max_depth", "3"},
                      {"nthread", "1"},
                      {"max_cat_to_onehot", "1"}})
    ASSERT_EQ(XGBoosterSetParam(b.h, k, v), 0);
  for (int i = 0; i < 5; ++i)
    ASSERT_EQ(XGBoosterUpdateOneIter(b.h, i, m.h), 0) << XGBGetLastError();
  auto r = CompiledForest::from_xgboost_json(b.save("json"));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("categorical"), std::string::npos) << r.status().message();

  // And a numeric model with one node marked categorical.
  tree0()["split_type"][0] = 1;
  expect_refused(doc_, "categorical");
}

TEST_F(ForestRefusals, FeatureIndexBeyondNumFeature) {
  tree0()["split_indices"][0] = kCols;
  expect_refused(doc_, "splits on feature 8, beyond num_feature 8");
}

TEST_F(ForestRefusals, BrokenTrees) {
  nlohmann::json cycle = doc_;
  cycle["learner"]["gradient_booster"]["model"]["trees"][0]["left_children"][1] = 0;
  expect_refused(cycle, "invalid children");
  nlohmann::json shared = doc_;
  auto& t = shared["learner"]["gradient_booster"]["model"]["trees"][0];
  t["right_children"][0] = t["left_children"][0];
  expect_refused(shared, "invalid children");
  nlohmann::json short_array = doc_;
  short_array["learner"]["gradient_booster"]["model"]["trees"][0]["split_conditions"].erase(0);
  expect_refused(short_array, "split_conditions has");
  nlohmann::json out_of_range = doc_;
  out_of_range["learner"]["gradient_booster"]["model"]["trees"][0]["left_children"][0] = 10000;
  expect_refused(out_of_range, "invalid children");
  nlohmann::json no_trees = doc_;
  no_trees["learner"]["gradient_booster"]["model"]["tree_info"].erase(0);
  expect_refused(no_trees, "tree_info");
  nlohmann::json bad_base = doc_;
  bad_base["learner"]["learner_model_param"]["base_score"] = "half";
  expect_refused(bad_base, "base_score");
  nlohmann::json diverged = doc_;
  auto& dt = diverged["learner"]["gradient_booster"]["model"]["trees"][0];
  for (size_t i = 0; i < dt["left_children"].size(); ++i)
    if (dt["left_children"][i] == -1)
      dt["split_conditions"][i] = std::numeric_limits<float>::infinity();
  auto ubj = nlohmann::json::to_ubjson(diverged);  // UBJSON can carry an infinity; JSON cannot
  auto r = CompiledForest::from_xgboost_ubjson(std::string(ubj.begin(), ubj.end()));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("non-finite output"), std::string::npos)
      << r.status().message();
  nlohmann::json not_a_number = doc_;
  not_a_number["learner"]["gradient_booster"]["model"]["trees"][0]["split_conditions"][0] = "x";
  expect_refused(not_a_number, "is not a number");
}

}  // namespace
}  // namespace flowcast::ml
