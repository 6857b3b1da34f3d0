// Reads an XGBoost model (the document XGBoosterSaveModelToBuffer writes as JSON or UBJSON,
// parsed into an nlohmann::json) into a ForestSpec.
//
// Supported: boosters gbtree and dart (its weight_drop scales each tree), any num_parallel_tree,
// one output; objectives reg:squarederror, reg:squaredlogerror, reg:pseudohubererror,
// reg:absoluteerror, binary:logitraw (identity), reg:logistic, binary:logistic (sigmoid),
// count:poisson, reg:gamma, reg:tweedie (exp). base_score is turned into margin space as XGBoost
// does (logit for reg:logistic and binary:logistic, log for the exp ones, as given otherwise --
// binary:logitraw included).
//
// Refused with kInvalidArgument and a message naming the problem: a document that is not an
// XGBoost model, an unknown objective or booster, several outputs (multi-class or multi-target),
// vector leaves, categorical splits, a split on a feature index >= num_feature, a non-finite split
// condition or leaf output (a diverged model), and trees whose arrays disagree in length or whose
// children do not form a tree.
#pragma once

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "ml/forest_spec.h"

namespace flowcast::ml {

Result<ForestSpec> read_xgboost_forest(const nlohmann::json& doc);

}  // namespace flowcast::ml
