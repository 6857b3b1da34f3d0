// CompiledForest: a tree ensemble laid out for fast scoring, loaded from an XGBoost model.
//
// Loads what XGBoosterSaveModelToBuffer writes (JSON, or UBJSON as Python's xgboost saves to
// .ubj) and predicts exactly what XGBoosterPredictFromDense with type 0 returns: the margin is
// summed in float, tree by tree in model order, from base_score's margin, then the objective's
// link is applied (identity, sigmoid or exp). See forest_xgboost_reader.h for what is supported
// and what is refused.
//
// Layout (see compiled_forest.cc): the nodes of all trees in one flat array of 8-byte nodes, each
// tree breadth-first with a split's two children side by side, so one step is
// `node = left(node) + 1 - (z[node.z_offset] < node.threshold)`. Missing values and default
// directions are folded into a per-row vector z, and a leaf points to itself, so every row takes
// the same number of steps through a tree with no data-dependent branch. Sixteen rows (or, for a
// single row, sixteen trees) are walked at once so that the latencies of their steps overlap; a
// block of 128 rows is scored tree by tree so that each tree's nodes are fetched once per block.
// A step is bound by load latency (node, then z): about 6 instructions and 1.5-2 cycles per row
// and level on the machine measured in bench/forest_bench.cc.
//
// Batches of kBinnedMinRows rows or more take the binned kernel instead (binned_forest.h) where
// the CPU has AVX-512 VBMI and the forest fits it: 64 rows a step, several times the rate of the
// kernel above at the same results (bench/forest_bench.cc).
//
// Thread-safety: immutable after loading; predict() may be called from any number of threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "ml/binned_forest.h"
#include "ml/forest_spec.h"

namespace flowcast::ml {

class CompiledForest {
 public:
  // Parses an XGBoost model saved as JSON ({"format":"json"}) or UBJSON ({"format":"ubj"}).
  // A truncated or invalid document, or a model forest_xgboost_reader.h refuses, gives
  // kInvalidArgument with the reason.
  static Result<CompiledForest> from_xgboost_json(std::string_view json);
  static Result<CompiledForest> from_xgboost_ubjson(std::string_view ubjson);
  // Lays out an already-read ensemble. REQUIRES: `spec` passed a reader's checks.
  static CompiledForest compile(const ForestSpec& spec);

  // Writes n_rows predictions. `rows` is row-major with n_cols floats per row, NaN = missing; only
  // the first num_features() columns are read. REQUIRES: n_cols >= num_features().
  void predict(const float* rows, size_t n_rows, size_t n_cols, float* out) const;

  size_t num_features() const { return num_features_; }
  size_t num_trees() const { return roots_.size(); }
  size_t num_nodes() const;
  // "compact" (8-byte nodes with 16-bit offsets: up to 4095 features) or "wide" (any forest).
  const char* layout() const { return compact_.empty() ? "wide" : "compact"; }
  const std::string& objective() const { return objective_; }

  // The kernel predict() uses for batches of kBinnedMinRows rows or more: "binned-avx512" (see
  // binned_forest.h) where the CPU has AVX-512 VBMI and the forest fits its layout, "portable"
  // otherwise; kernel_note() says why it is not the binned one ("" when it is). Smaller batches
  // always take the portable kernel. FLOWCAST_FOREST_KERNEL=portable in the environment at load
  // time turns the binned kernel off.
  const char* kernel() const { return binned_ ? "binned-avx512" : "portable"; }
  const std::string& kernel_note() const { return kernel_note_; }
  // Turns the binned kernel off for this forest (tests and benchmarks compare the two).
  void use_portable_kernel();
  static constexpr size_t kBinnedMinRows = 16;

 private:
  // Node layouts (see compiled_forest.cc). A node sends a row left when
  // z[z_offset] < threshold; its right child follows its left child; a leaf holds its output in
  // `threshold` and is its own left child.
  // Compact, 8 bytes: the left child is this node + left_delta. Used when offsets fit 16 bits.
  struct CompactNode {
    float threshold;
    uint16_t z_offset;
    uint16_t left_delta;
  };
  // Wide, 8 bytes plus the left child's index in wide_left_: any forest.
  struct WideNode {
    float threshold;
    uint32_t z_offset;
  };
  static_assert(sizeof(CompactNode) == 8 && sizeof(WideNode) == 8);

  float apply_link(float margin) const;
  void choose_kernel(const ForestSpec& spec);

  // The nodes of all trees, each tree breadth-first; exactly one layout is filled.
  std::vector<CompactNode> compact_;
  std::vector<WideNode> wide_;
  std::vector<uint32_t> wide_left_;
  std::vector<uint32_t> roots_;        // first node of each tree
  std::vector<uint32_t> steps_;        // depth of each tree: steps from root to any leaf
  std::vector<uint32_t> group_steps_;  // deepest tree of each group of kTreeGroup trees
  size_t num_features_ = 0;
  size_t z_columns_ = 0;  // 2 * num_features + 1
  float base_margin_ = 0;
  ForestLink link_ = ForestLink::kIdentity;
  std::string objective_;
  std::shared_ptr<const BinnedForest> binned_;
  std::string kernel_note_;
};

}  // namespace flowcast::ml
