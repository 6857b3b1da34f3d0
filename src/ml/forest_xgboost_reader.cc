#include "ml/forest_xgboost_reader.h"

#include <charconv>
#include <cmath>
#include <string_view>

namespace flowcast::ml {
namespace {

using nlohmann::json;

// Every refusal goes through here so messages read alike.
Status refuse(const std::string& why) {
  return Status::invalid("not a usable XGBoost model: " + why);
}

// Looks up `key` in an object; nullptr when `j` is no object or has no such member.
const json* member(const json& j, const char* key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  return it == j.end() ? nullptr : &*it;
}

// XGBoost writes its parameters as strings ("5E-1", "16"); accept plain numbers too.
bool param_number(const json* j, double& out) {
  if (!j) return false;
  if (j->is_number()) {
    out = j->get<double>();
    return true;
  }
  if (!j->is_string()) return false;
  const std::string& s = j->get_ref<const std::string&>();
  const char* end = s.data() + s.size();
  auto [p, ec] = std::from_chars(s.data(), end, out);
  return ec == std::errc() && p == end;
}

bool param_float(const json* j, float& out) {
  if (j && j->is_string()) {
    // Parse as float directly: base_score was printed from a float, so this gives its exact bits.
    const std::string& s = j->get_ref<const std::string&>();
    const char* end = s.data() + s.size();
    auto [p, ec] = std::from_chars(s.data(), end, out);
    return ec == std::errc() && p == end;
  }
  double d = 0;
  if (!param_number(j, d)) return false;
  out = static_cast<float>(d);
  return true;
}

// Copies a numeric array of exactly `n` elements (UBJSON typed arrays arrive as arrays of numbers;
// JSON booleans are taken as 0/1).
template <typename T>
Status numeric_array(const json& tree, const char* key, size_t n, size_t tree_index,
                     std::vector<T>& out) {
  const json* a = member(tree, key);
  const std::string where = "tree " + std::to_string(tree_index) + " " + key;
  if (!a || !a->is_array()) return refuse(where + " is missing");
  if (a->size() != n)
    return refuse(where + " has " + std::to_string(a->size()) + " entries, expected " +
                  std::to_string(n) + " (num_nodes)");
  out.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const json& v = (*a)[i];
    if (v.is_boolean()) {
      out[i] = static_cast<T>(v.get<bool>() ? 1 : 0);
    } else if (v.is_number_integer()) {
      out[i] = static_cast<T>(v.get<int64_t>());
    } else if (v.is_number()) {
      out[i] = static_cast<T>(v.get<double>());
    } else {
      return refuse(where + "[" + std::to_string(i) + "] is not a number");
    }
  }
  return Status();
}

struct Objective {
  const char* name;
  ForestLink link;
  enum class Base { kIdentity, kLogit, kLog } base;
};

constexpr Objective kObjectives[] = {
    {"reg:squarederror", ForestLink::kIdentity, Objective::Base::kIdentity},
    {"reg:squaredlogerror", ForestLink::kIdentity, Objective::Base::kIdentity},
    {"reg:pseudohubererror", ForestLink::kIdentity, Objective::Base::kIdentity},
    {"reg:absoluteerror", ForestLink::kIdentity, Objective::Base::kIdentity},
    {"binary:logitraw", ForestLink::kIdentity, Objective::Base::kIdentity},  // base_score as margin
    {"reg:logistic", ForestLink::kSigmoid, Objective::Base::kLogit},
    {"binary:logistic", ForestLink::kSigmoid, Objective::Base::kLogit},
    {"count:poisson", ForestLink::kExp, Objective::Base::kLog},
    {"reg:gamma", ForestLink::kExp, Objective::Base::kLog},
    {"reg:tweedie", ForestLink::kExp, Objective::Base::kLog},
};

Status read_objective(const json& learner, ForestSpec& spec) {
  const json* obj = member(learner, "objective");
  const json* name = obj ? member(*obj, "name") : nullptr;
  if (!name || !name->is_string()) return refuse("learner.objective.name is missing");
  spec.objective = name->get<std::string>();
  const Objective* found = nullptr;
  for (const Objective& o : kObjectives)
    if (spec.objective == o.name) found = &o;
  if (!found) {
    std::string known;
    for (const Objective& o : kObjectives) known += std::string(known.empty() ? "" : ", ") + o.name;
    return refuse("unsupported objective '" + spec.objective + "' (supported: " + known + ")");
  }
  spec.link = found->link;

  const json* mp = member(learner, "learner_model_param");
  if (!mp) return refuse("learner.learner_model_param is missing");
  float base = 0;
  if (!param_float(member(*mp, "base_score"), base) || !std::isfinite(base))
    return refuse("learner_model_param.base_score is missing or not a number");
  // The same float arithmetic as XGBoost's ProbToMargin, so the margins agree bit for bit.
  switch (found->base) {
    case Objective::Base::kIdentity:
      spec.base_margin = base;
      break;
    case Objective::Base::kLogit:
      if (!(base > 0.0f && base < 1.0f))
        return refuse("base_score must be in (0, 1) for " + spec.objective);
      spec.base_margin = -std::log(1.0f / base - 1.0f);
      break;
    case Objective::Base::kLog:
      if (!(base > 0.0f)) return refuse("base_score must be positive for " + spec.objective);
      spec.base_margin = std::log(base);
      break;
  }

  double features = 0;
  if (!param_number(member(*mp, "num_feature"), features) || features < 1 ||
      features != std::floor(features) || features > 1e8)
    return refuse("learner_model_param.num_feature is missing or not a positive whole number");
  spec.num_features = static_cast<size_t>(features);
  double outputs = 0;
  if (param_number(member(*mp, "num_class"), outputs) && outputs > 1)
    return refuse("multi-class models (num_class " + std::to_string(int64_t(outputs)) +
                  ") are not supported");
  if (param_number(member(*mp, "num_target"), outputs) && outputs > 1)
    return refuse("multi-target models are not supported");
  return Status();
}

// Checks that the children arrays form one tree rooted at node 0 (every reachable node reached
// once, children in range, splits on known features, finite split conditions).
Status check_tree(const ForestSpec::Tree& t, size_t index, size_t num_features) {
  const std::string where = "tree " + std::to_string(index);
  const size_t n = t.left.size();
  if (n == 0) return refuse(where + " has no nodes");
  std::vector<uint8_t> seen(n, 0);
  std::vector<int32_t> stack = {0};
  seen[0] = 1;
  while (!stack.empty()) {
    const auto i = static_cast<size_t>(stack.back());
    stack.pop_back();
    const int32_t l = t.left[i], r = t.right[i];
    if (l == -1 && r == -1) {
      if (!std::isfinite(t.value[i]))
        return refuse(where + " node " + std::to_string(i) + " is a leaf with a non-finite output");
      continue;
    }
    const std::string node = where + " node " + std::to_string(i);
    if (l <= 0 || r <= 0 || size_t(l) >= n || size_t(r) >= n || l == r)
      return refuse(node + " has invalid children " + std::to_string(l) + ", " + std::to_string(r));
    if (seen[size_t(l)] || seen[size_t(r)])
      return refuse(node + ": a node is reached twice (the children do not form a tree)");
    if (t.feature[i] >= num_features)
      return refuse(node + " splits on feature " + std::to_string(t.feature[i]) +
                    ", beyond num_feature " + std::to_string(num_features));
    if (!std::isfinite(t.value[i])) return refuse(node + " has a non-finite split condition");
    seen[size_t(l)] = seen[size_t(r)] = 1;
    stack.push_back(l);
    stack.push_back(r);
  }
  return Status();
}

Status read_tree(const json& jt, size_t index, size_t num_features, ForestSpec::Tree& t) {
  const std::string where = "tree " + std::to_string(index);
  if (!jt.is_object()) return refuse(where + " is not an object");
  const json* tp = member(jt, "tree_param");
  double nodes = 0;
  if (!tp || !param_number(member(*tp, "num_nodes"), nodes) || nodes < 1 ||
      nodes != std::floor(nodes) || nodes > 1e9)
    return refuse(where + " tree_param.num_nodes is missing or invalid");
  double leaf_vector = 0;
  if (param_number(member(*tp, "size_leaf_vector"), leaf_vector) && leaf_vector > 1)
    return refuse(where + " has vector leaves (multi-target trees are not supported)");
  const auto n = static_cast<size_t>(nodes);

  // Categorical splits: refused, whether marked per node or by a categories table.
  if (const json* types = member(jt, "split_type"); types && types->is_array())
    for (const json& v : *types)
      if (!v.is_number() || v.get<double>() != 0)
        return refuse(where + " has categorical splits, which are not supported");
  if (const json* cats = member(jt, "categories_nodes"); cats && cats->is_array() && !cats->empty())
    return refuse(where + " has categorical splits, which are not supported");

  FC_RETURN_IF_ERROR(numeric_array(jt, "left_children", n, index, t.left));
  FC_RETURN_IF_ERROR(numeric_array(jt, "right_children", n, index, t.right));
  FC_RETURN_IF_ERROR(numeric_array(jt, "split_indices", n, index, t.feature));
  // XGBoost keeps a leaf's output in split_conditions (base_weights holds the unscaled weight).
  FC_RETURN_IF_ERROR(numeric_array(jt, "split_conditions", n, index, t.value));
  FC_RETURN_IF_ERROR(numeric_array(jt, "default_left", n, index, t.default_left));
  return check_tree(t, index, num_features);
}

}  // namespace

Result<ForestSpec> read_xgboost_forest(const json& doc) {
  const json* learner = member(doc, "learner");
  if (!learner || !learner->is_object()) return refuse("the document has no 'learner' object");
  ForestSpec spec;
  FC_RETURN_IF_ERROR(read_objective(*learner, spec));

  const json* gb = member(*learner, "gradient_booster");
  const json* gb_name = gb ? member(*gb, "name") : nullptr;
  if (!gb_name || !gb_name->is_string()) return refuse("learner.gradient_booster.name is missing");
  const std::string booster = gb_name->get<std::string>();
  const json* model = nullptr;
  const json* weight_drop = nullptr;
  if (booster == "gbtree") {
    model = member(*gb, "model");
  } else if (booster == "dart") {
    const json* inner = member(*gb, "gbtree");
    model = inner ? member(*inner, "model") : nullptr;
    weight_drop = member(*gb, "weight_drop");
    if (!weight_drop || !weight_drop->is_array()) return refuse("dart model without weight_drop");
  } else {
    return refuse("unsupported booster '" + booster + "' (supported: gbtree, dart)");
  }
  const json* trees = model ? member(*model, "trees") : nullptr;
  if (!trees || !trees->is_array()) return refuse("the booster has no 'trees' array");
  const json* info = member(*model, "tree_info");
  if (!info || !info->is_array() || info->size() != trees->size())
    return refuse("tree_info is missing or does not match the number of trees");
  for (const json& group : *info)
    if (!group.is_number() || group.get<double>() != 0)
      return refuse("the model has several output groups (multi-class is not supported)");
  if (const json* mp = member(*model, "gbtree_model_param")) {
    double declared = 0;
    if (param_number(member(*mp, "num_trees"), declared) && declared != double(trees->size()))
      return refuse("num_trees says " + std::to_string(int64_t(declared)) +
                    " trees, the model has " + std::to_string(trees->size()));
  }
  if (weight_drop && weight_drop->size() != trees->size())
    return refuse("dart weight_drop does not match the number of trees");

  spec.dart = weight_drop != nullptr;
  spec.trees.resize(trees->size());
  for (size_t i = 0; i < trees->size(); ++i) {
    FC_RETURN_IF_ERROR(read_tree((*trees)[i], i, spec.num_features, spec.trees[i]));
    if (weight_drop) {
      const json& w = (*weight_drop)[i];
      if (!w.is_number())
        return refuse("dart weight_drop[" + std::to_string(i) + "] is not a number");
      spec.trees[i].weight = static_cast<float>(w.get<double>());
    }
  }
  return spec;
}

}  // namespace flowcast::ml
