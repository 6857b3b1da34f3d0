// What every command checks before it opens anything: a dataset whose learner parameters
// training would refuse fails at start-up, naming the dataset and the parameter.
#include <gtest/gtest.h>

#include "core/config_error.h"
#include "stages/pipeline.h"
#include "support/test_support.h"

namespace flowcast::stages {
namespace {

std::string problem(const std::vector<std::string>& overrides) {
  Config config = testing::taxi_config(overrides);
  try {
    Pipeline::validate_datasets(config, {});
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(PipelineValidate, LearnerParametersTrainingWouldRefuseFailAtStartUp) {
  EXPECT_EQ(problem({}), "");
  EXPECT_EQ(problem({"datasets.taxi.model.params.max_depth=4"}), "");
  const std::string depth = problem({"datasets.taxi.model.params.max_depth=banana"});
  EXPECT_EQ(depth.rfind("datasets.taxi: model.params", 0), 0u) << depth;
  EXPECT_NE(depth.find("max_depth"), std::string::npos) << depth;
  const std::string objective = problem({"datasets.taxi.model.params.objective=reg:bogus"});
  EXPECT_NE(objective.find("reg:bogus"), std::string::npos) << objective;
  EXPECT_EQ(objective.find("Stack trace"), std::string::npos) << objective;
  const std::string lambda =
      problem({"datasets.taxi.model.learner=ridge", "datasets.taxi.model.params.lambda=-1"});
  EXPECT_NE(lambda.find("lambda"), std::string::npos) << lambda;
}

}  // namespace
}  // namespace flowcast::stages
