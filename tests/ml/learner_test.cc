#include "ml/learner.h"

#include <gtest/gtest.h>

#include <map>

#include <cmath>
#include <random>

#include <nlohmann/json.hpp>

#include "ml/xgboost_learner.h"

namespace flowcast::ml {
namespace {

struct Data {
  std::vector<float> x, y;
  size_t rows, cols = 3;
};

// y = 3 a - 2 b + 0.5 + noise; c is irrelevant; some values missing.
Data make(size_t rows, uint64_t seed, bool missing) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0, 1);
  Data d;
  d.rows = rows;
  for (size_t i = 0; i < rows; ++i) {
    float a = g(rng), b = g(rng), c = g(rng);
    d.y.push_back(3 * a - 2 * b + 0.5f + 0.05f * g(rng));
    if (missing && i % 17 == 0) c = std::nanf("");
    d.x.insert(d.x.end(), {a, b, c});
  }
  return d;
}

double rmse(const std::vector<float>& p, const std::vector<float>& y) {
  double s = 0;
  for (size_t i = 0; i < p.size(); ++i) s += (p[i] - y[i]) * (p[i] - y[i]);
  return std::sqrt(s / double(p.size()));
}

class LearnerTest : public ::testing::TestWithParam<std::string> {};

TEST_P(LearnerTest, LearnsALinearSignalAndRoundTrips) {
  Data train = make(3000, 1, true), test = make(500, 2, true);
  auto learner = make_learner(GetParam(), {{"rounds", "200"}, {"lambda", "0.1"}});
  ASSERT_TRUE(learner.ok());
  Matrix tm{train.x.data(), train.rows, train.cols};
  Matrix vm{test.x.data(), test.rows, test.cols};
  ASSERT_TRUE((*learner)->fit(tm, train.y.data(), vm, test.y.data()).ok());
  std::vector<float> p(test.rows);
  ASSERT_TRUE((*learner)->predict(vm, p.data()).ok());
  EXPECT_LT(rmse(p, test.y), GetParam() == "ridge" ? 0.1 : 0.5);

  auto bytes = (*learner)->save();
  ASSERT_TRUE(bytes.ok());
  auto loaded = load_learner(GetParam(), *bytes, 3);
  ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
  std::vector<float> q(test.rows);
  ASSERT_TRUE((*loaded)->predict(vm, q.data()).ok());
  for (size_t i = 0; i < q.size(); ++i) EXPECT_FLOAT_EQ(p[i], q[i]);

  EXPECT_FALSE(load_learner(GetParam(), *bytes, 4).ok());  // wrong feature count
  Matrix wrong{test.x.data(), 10, 2};
  EXPECT_FALSE((*loaded)->predict(wrong, q.data()).ok());
}

INSTANTIATE_TEST_SUITE_P(All, LearnerTest, ::testing::Values("xgboost", "ridge"));

TEST(XgboostLearner, EarlyStoppingKeepsTheBestRound) {
  Data train = make(2000, 3, false), val = make(300, 4, false);
  XgboostLearner l({{"rounds", "2000"}, {"early_stopping_rounds", "10"}, {"eta", "0.3"}});
  ASSERT_TRUE(l.fit({train.x.data(), train.rows, 3}, train.y.data(), {val.x.data(), val.rows, 3},
                    val.y.data())
                  .ok());
  auto summary = nlohmann::json::parse(l.summary_json());
  EXPECT_LT(summary["rounds"].get<int>(), 2000);
  EXPECT_GT(summary["rounds"].get<int>(), 5);
}

TEST(Learner, BadParametersAreReported) {
  auto l = make_learner("xgboost", {{"max_depth", "deep"}});
  ASSERT_TRUE(l.ok());
  Data d = make(100, 5, false);
  Status s = (*l)->fit({d.x.data(), d.rows, 3}, d.y.data(), {}, nullptr);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("max_depth"), std::string::npos);
  EXPECT_FALSE(make_learner("forest", {}).ok());
}

// check_learner refuses at start-up what training would refuse minutes later, in one line that
// names the parameter and carries none of XGBoost's native stack trace.
TEST(Learner, CheckRefusesWhatTrainingWouldRefuse) {
  EXPECT_TRUE(check_learner("xgboost", {}).ok());
  EXPECT_TRUE(check_learner("xgboost", {{"objective", "reg:gamma"}, {"max_depth", "4"}}).ok());
  EXPECT_TRUE(check_learner("xgboost", {{"objective", "binary:logistic"}}).ok());
  EXPECT_TRUE(check_learner("ridge", {{"lambda", "0.5"}}).ok());
  struct Bad {
    const char* kind;
    std::map<std::string, std::string> params;
    const char* names;
  };
  for (const Bad& b : {Bad{"xgboost", {{"objective", "reg:bogus"}}, "reg:bogus"},
                       Bad{"xgboost", {{"max_depth", "banana"}}, "max_depth"},
                       Bad{"xgboost", {{"eta", "-1"}}, "-1"},
                       Bad{"xgboost", {{"rounds", "many"}}, "rounds"},
                       Bad{"ridge", {{"lambda", "-1"}}, "lambda"},
                       Bad{"ridge", {{"lambda", "1x"}}, "lambda"},
                       Bad{"forest", {}, "forest"}}) {
    Status s = check_learner(b.kind, b.params);
    ASSERT_FALSE(s.ok()) << b.names;
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.to_string();
    EXPECT_NE(s.message().find(b.names), std::string::npos) << s.message();
    EXPECT_EQ(s.message().find("Stack trace"), std::string::npos) << s.message();
    EXPECT_EQ(s.message().find('\n'), std::string::npos) << s.message();
  }
}

}  // namespace
}  // namespace flowcast::ml
