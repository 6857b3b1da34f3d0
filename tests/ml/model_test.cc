#include "ml/model.h"

#include <gtest/gtest.h>

#include <random>

#include "core/config.h"
#include "core/time_util.h"
#include "ml/trainer.h"

namespace flowcast::ml {
namespace {

const char* kYaml = R"(
datasets:
  d:
    key: id
    event_time: ts
    target: y
    fields: {id: string, ts: timestamp, x: float, c: {type: category, required: false}, y: float}
    features:
      - {transform: numeric, input: x}
      - {transform: one_hot, input: c}
    model: {learner: xgboost, target_transform: log1p, params: {rounds: 50}}
)";

std::vector<Record> rows(const DatasetSpec& spec, size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0, 10);
  std::vector<Record> out;
  for (size_t i = 0; i < n; ++i) {
    Record r;
    r.values.assign(spec.fields().size(), std::monostate{});
    r.key = "k" + std::to_string(i);
    r.values[0] = r.key;
    r.values[1] = int64_t(1'450'000'000'000'000 + int64_t(i) * 1'000'000);
    double x = u(rng);
    r.values[2] = x;
    r.values[3] = std::string(i % 3 ? "a" : "b");
    r.values[4] = 100 * x + (i % 3 ? 0 : 300);
    out.push_back(r);
  }
  return out;
}

TEST(Model, ArtifactRoundTripPredictsTheSame) {
  Config c = Config::parse(kYaml, {});
  const DatasetSpec& spec = c.dataset("d");
  auto outcome = train_model(spec, rows(spec, 1000, 1), {});
  ASSERT_TRUE(outcome.ok()) << outcome.status().to_string();
  EXPECT_LT(outcome->validation.mape, 0.15);
  auto bytes = outcome->model->serialize();
  ASSERT_TRUE(bytes.ok());
  auto loaded = Model::load(*bytes, spec);
  ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
  auto test = rows(spec, 50, 2);
  for (const auto& r : test) {
    double a, b;
    ASSERT_TRUE(outcome->model->predict_one(r, a).ok());
    ASSERT_TRUE((*loaded)->predict_one(r, b).ok());
    EXPECT_DOUBLE_EQ(a, b);
    EXPECT_GT(a, 0);
  }
  EXPECT_EQ((*loaded)->card()["training"]["rows"], 1000);
}

TEST(Model, RefusesTruncatedForeignOrMismatchedArtifacts) {
  Config c = Config::parse(kYaml, {});
  const DatasetSpec& spec = c.dataset("d");
  auto outcome = train_model(spec, rows(spec, 200, 3), {});
  ASSERT_TRUE(outcome.ok());
  std::string bytes = *outcome->model->serialize();

  EXPECT_FALSE(Model::load("not a model", spec).ok());
  auto truncated = Model::load(bytes.substr(0, 40), spec);
  ASSERT_FALSE(truncated.ok());
  EXPECT_NE(truncated.status().message().find("truncated"), std::string::npos);
  auto cut_body = Model::load(bytes.substr(0, bytes.size() - 100), spec);
  EXPECT_FALSE(cut_body.ok());

  Config other = Config::parse(kYaml, {"datasets.d.fields.x=int"});
  auto mismatch = Model::load(bytes, other.dataset("d"));
  ASSERT_FALSE(mismatch.ok());
  EXPECT_NE(mismatch.status().message().find("different schema"), std::string::npos);
}

}  // namespace
}  // namespace flowcast::ml
