// ForestSpec: a tree ensemble as read from a model file, before CompiledForest lays it out.
//
// Plain data in the source's own node numbering (XGBoost's: node 0 is the root, -1 marks a leaf's
// missing children). Readers (forest_xgboost_reader.h) fill it and check its structure; the
// prediction is `link(base_margin + sum over trees of weight * leaf)`, the sum taken in float in
// tree order, as XGBoost does.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace flowcast::ml {

// How the summed margin becomes a prediction.
enum class ForestLink {
  kIdentity,  // regression objectives, binary:logitraw
  kSigmoid,   // reg:logistic, binary:logistic
  kExp,       // count:poisson, reg:gamma, reg:tweedie
};

struct ForestSpec {
  struct Tree {
    // One entry per node. For a leaf, left == right == -1 and `value` is the leaf's output; for a
    // split, a row goes left when x[feature] < value, and to `default_left ? left : right` when
    // x[feature] is missing (NaN).
    std::vector<int32_t> left, right;
    std::vector<uint32_t> feature;
    std::vector<float> value;
    std::vector<uint8_t> default_left;
    float weight = 1.0f;  // DART's weight_drop; 1 for gbtree
  };

  std::vector<Tree> trees;
  size_t num_features = 0;
  float base_margin = 0;  // base_score in margin space (logit or log for non-identity links)
  // DART: XGBoost scores each tree as (base_margin + leaf) - base_margin before scaling it by the
  // tree's weight, which rounds differently from weight * leaf.
  bool dart = false;
  ForestLink link = ForestLink::kIdentity;
  std::string objective;  // the source's name, for messages and model cards

  // What leaf `node` of tree `t` adds to a row's margin. A row gets exactly one leaf per tree, so
  // a DART tree's weight is folded into its leaves, rounded as XGBoost rounds it.
  float leaf_output(const Tree& t, size_t node) const {
    const float value = t.value[node];
    return dart ? ((base_margin + value) - base_margin) * t.weight : value;
  }
};

}  // namespace flowcast::ml
