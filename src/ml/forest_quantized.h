// QuantizedForest: the CompiledForest's second kernel, for CPUs with AVX-512 (F and BW).
//
// The portable kernel (compiled_forest.cc) walks one tree per row and level in about six scalar
// instructions. This one walks sixteen trees of one row per instruction sequence, lanes = trees:
//
// - Thresholds become bins. Per feature, the split thresholds the forest uses are sorted and made
//   unique; a row's value becomes its bin, the number of those thresholds <= the value (found once
//   per row and feature). `x < threshold[k]` exactly when `bin <= k`, so a node holds k instead
//   of a float, and the answers are XGBoost's bit for bit (no rounding: bins are exact).
// - A row is one register. Each feature has two 16-bit slots in a 64-slot table: slot f holds the
//   bin with a missing value as 0xFFFF (goes right at any split), slot 32 + f the bin with a
//   missing value as 0 (goes left). A split reads the slot of its default direction, so a missing
//   value costs nothing at the split. Up to 32 features fit the table, which is two 512-bit
//   registers: one `vpermt2w` fetches sixteen trees' slots at once, where the portable kernel
//   needs a load per tree.
// - Trees are complete. Each tree is padded to the forest's depth D (at most kMaxDepth) in heap
//   order (root 1, children 2p and 2p + 1), so a step is `p = 2p + (bin > k)`: no child indices.
//   A leaf above depth D becomes splits that always go left (k = 0xFFFF) down to its leftmost
//   position. Sixteen trees are interleaved, node p of lane t at [p * 16 + t], so a step is one
//   gather of sixteen 32-bit nodes (k << 16 | slot).
// - Margins are summed in tree order, in float, as XGBoost and the portable kernel sum them:
//   sixteen rows are scored together and their leaves transposed, so one vector add takes a tree
//   for sixteen rows.
//
// build() says whether a forest fits (features, depth, threshold counts); available() whether this
// CPU has the instructions. CompiledForest uses the kernel when both hold.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "ml/forest_spec.h"

namespace flowcast::ml {

struct QuantizedForest {
  static constexpr uint32_t kLanes = 16;
  static constexpr uint32_t kMaxFeatures = 32;
  static constexpr uint32_t kMaxDepth = 10;

  uint32_t depth = 0;     // D: steps from root to every (padded) leaf
  uint32_t trees = 0;
  uint32_t features = 0;
  float base_margin = 0;
  // Per group of 16 trees: 2^D nodes of 16 lanes (position 0 unused), then 2^D leaves of 16 lanes.
  std::vector<uint32_t> nodes;
  std::vector<float> leaves;
  // Feature f's sorted, unique thresholds: thresholds[threshold_begin[f] .. threshold_begin[f+1]).
  std::vector<float> thresholds;
  std::vector<uint32_t> threshold_begin;

  uint32_t groups() const { return (trees + kLanes - 1) / kLanes; }

  // The layout for `spec`, or nullopt when it does not fit: more than kMaxFeatures features, a tree
  // deeper than kMaxDepth, or a feature with more than 65,534 distinct thresholds.
  static std::optional<QuantizedForest> build(const ForestSpec& spec);
  // Whether this CPU runs the kernel (AVX-512 F and BW).
  static bool available();
  // Writes n_rows margins (the link is not applied). `rows` as CompiledForest::predict takes them.
  // REQUIRES: available().
  void margins(const float* rows, size_t n_rows, size_t n_cols, float* out) const;
};

}  // namespace flowcast::ml
