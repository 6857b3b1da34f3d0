#include "ml/model.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
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

// Rebuilds an artifact with its learner bytes (XGBoost's JSON) edited by `edit`.
std::string with_edited_learner(const std::string& artifact,
                                const std::function<void(nlohmann::json&)>& edit) {
  auto u = [&](size_t i) { return static_cast<uint32_t>(static_cast<unsigned char>(artifact[i])); };
  const size_t body = 12 + (u(8) | (u(9) << 8) | (u(10) << 16) | (u(11) << 24));
  nlohmann::json doc = nlohmann::json::parse(artifact.substr(body));
  edit(doc);
  return artifact.substr(0, body) + doc.dump();
}

// A loaded XGBoost model is scored by the CompiledForest without XGBoost loading its own copy; the
// artifact's learner bytes pass through unchanged. When the forest cannot score a model, XGBoost
// loads it at once: it serves a model the forest does not support, and a model neither can read is
// refused at load, not at its first prediction.
TEST(Model, XgboostLoadsItsCopyOnlyWhenTheForestCannotScore) {
  Config c = Config::parse(kYaml, {});
  const DatasetSpec& spec = c.dataset("d");
  auto outcome = train_model(spec, rows(spec, 300, 8), {});
  ASSERT_TRUE(outcome.ok()) << outcome.status().to_string();
  const std::string bytes = *outcome->model->serialize();
  auto test = rows(spec, 20, 9);

  auto loaded = Model::load(bytes, spec);
  ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
  EXPECT_EQ((*loaded)->scorer(), "compiled_forest");
  EXPECT_EQ((*loaded)->scorer_description().rfind("compiled forest, ", 0), 0u)
      << (*loaded)->scorer_description();
  auto again = (*loaded)->serialize();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, bytes);

  // survival:cox is an objective XGBoost reads and the forest refuses.
  auto cox = Model::load(with_edited_learner(bytes,
                                             [](nlohmann::json& d) {
                                               d["learner"]["objective"] =
                                                   {{"name", "survival:cox"}};
                                             }),
                         spec);
  ASSERT_TRUE(cox.ok()) << cox.status().to_string();
  EXPECT_EQ((*cox)->scorer(), "xgboost");
  EXPECT_NE((*cox)->forest_status().message().find("survival:cox"), std::string::npos);
  EXPECT_NE((*cox)->scorer_description().find("cannot score it"), std::string::npos)
      << (*cox)->scorer_description();
  double one = 0;
  EXPECT_TRUE((*cox)->predict_one(test[0], one).ok());

  // A feature count that matches neither the forest's check nor XGBoost's.
  auto wide = Model::load(with_edited_learner(bytes,
                                              [](nlohmann::json& d) {
                                                d["learner"]["learner_model_param"]
                                                 ["num_feature"] = "99";
                                              }),
                          spec);
  ASSERT_FALSE(wide.ok());
  EXPECT_NE(wide.status().message().find("expects 99 features"), std::string::npos)
      << wide.status().message();
}

// Model scores XGBoost models with the CompiledForest; it must give XGBoost's own numbers, for the
// trained model and for the same model loaded from its artifact, on rows with missing values.
TEST(Model, CompiledForestScoresLikeXgboost) {
  Config c = Config::parse(
      kYaml, {"datasets.d.model.params.rounds=120", "datasets.d.model.params.max_depth=6"});
  const DatasetSpec& spec = c.dataset("d");
  auto outcome = train_model(spec, rows(spec, 3000, 4), {});
  ASSERT_TRUE(outcome.ok()) << outcome.status().to_string();
  auto loaded = Model::load(*outcome->model->serialize(), spec);
  ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();

  auto test = rows(spec, 5000, 5);
  std::mt19937_64 rng(6);
  for (auto& r : test) {
    if (rng() % 10 == 0) r.values[2] = std::monostate{};  // x missing: NaN feature
    if (rng() % 10 == 0) r.values[3] = std::monostate{};  // no category
    if (rng() % 10 == 0) r.values[3] = std::string("unseen");
  }
  std::vector<const Record*> ptrs;
  for (const auto& r : test) ptrs.push_back(&r);

  for (const Model* m : {outcome->model.get(), loaded->get()}) {
    EXPECT_EQ(m->scorer(), "compiled_forest") << m->forest_status().to_string();
    const size_t w = m->pipeline().width();
    std::vector<float> features(test.size() * w), xgb(test.size());
    for (size_t i = 0; i < test.size(); ++i) m->pipeline().transform(test[i], &features[i * w]);
    size_t missing = 0;
    for (float f : features) missing += std::isnan(f);
    EXPECT_GT(missing, 0u);  // the rows do exercise default directions
    ASSERT_TRUE(m->learner().predict(Matrix{features.data(), test.size(), w}, xgb.data()).ok());
    std::vector<double> got(test.size());
    ASSERT_TRUE(m->predict(ptrs, got.data()).ok());
    for (size_t i = 0; i < test.size(); ++i) {
      // Model undoes log1p; compare in the learner's units.
      ASSERT_NEAR(std::log1p(got[i]), xgb[i], 1e-5) << "row " << i;
      double one = 0;
      if (i % 500 == 0) {
        ASSERT_TRUE(m->predict_one(test[i], one).ok());
        EXPECT_DOUBLE_EQ(one, got[i]);
      }
    }
  }
}

TEST(Model, RidgeModelsAreScoredByTheLearner) {
  Config c = Config::parse(kYaml, {"datasets.d.model.learner=ridge"});
  const DatasetSpec& spec = c.dataset("d");
  auto outcome = train_model(spec, rows(spec, 500, 7), {});
  ASSERT_TRUE(outcome.ok()) << outcome.status().to_string();
  EXPECT_EQ(outcome->model->scorer(), "ridge");
  EXPECT_TRUE(outcome->model->forest_status().ok());
}

}  // namespace
}  // namespace flowcast::ml
