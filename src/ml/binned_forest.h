// BinnedForest: a tree ensemble scored 64 rows at a time with AVX-512, without a load per node.
//
// CompiledForest's portable kernel walks a row through a tree one node at a time: a load of the
// node, a load of the row's value and a compare, about six instructions per row and level. Here
// the same ensemble is re-encoded so that one instruction serves 64 rows:
//
// - Thresholds become bins. For feature f, the model's distinct split conditions sorted,
//   t_0 < ... < t_{m-1}; a value x gets bin(x) = the number of t_k <= x (two vector compares
//   for up to 256 conditions, a binary search beyond). XGBoost sends x left at t_k when
//   x < t_k, which holds exactly when bin(x) <= k, so the node stores k + 1 and a row goes right
//   when bin >= k + 1: an unsigned byte compare, exact. Real values take bins 0..254, so a
//   feature with more than 254 conditions (XGBoost's hist method makes up to 256) gets a column
//   per run of 254: run s holds min(254, max(0, bin - 254s)) and serves conditions 254s ..
//   254s + 253.
// - A missing value is bin 255, which goes right at every node. A default-left node compares
//   bin + 1 (mod 256) against its threshold + 1 instead: the same answer for real values, and a
//   missing value becomes 0 and goes left. The node's column byte carries that flag in bit 7.
// - Every tree is a complete tree of the forest's depth D <= 8: a leaf above the bottom becomes a
//   chain of "always right" nodes (threshold 0) and its output fills the leaves below it. A row's
//   place in level d is an index j < 2^d, and the next is 2j + (right ? 1 : 0).
// - A block of 64 rows holds one byte per row and column: one 64-byte register per column. At
//   each level, 64 rows look up their node's column and threshold with one VPERMB/VPERMT2B each
//   (a tree's nodes of levels 0-6 in 128 bytes, level 7 in 128 more), take their bin from the
//   columns the level uses (for each distinct column: a compare and a masked load, ORed
//   together), compare, and step; two trees are walked at once so that their steps overlap.
//   The leaves (256 floats a tree, stored as four planes of bytes) are looked up a byte plane at
//   a time for all 64 rows (two VPERMT2B and a blend each), interleaved back into floats and
//   added in tree order, so the sum is XGBoost's, rounding for rounding.
//
// On bench/forest_bench.cc's taxi-like model (300 trees of depth 8) the levels read 1, 1.7, 3.2,
// 5.3, 7.6, 9.3, 10.2 and 10.7 distinct columns on average; choosing among them is most of the
// work.
//
// Needs AVX-512 F, BW and VBMI at run time (cpu_supported()); CompiledForest falls back to its
// portable kernel otherwise, and for forests this layout cannot hold (build() says why).
//
// Thread-safety: immutable after build(); margins() may be called from any number of threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ml/forest_spec.h"

namespace flowcast::ml {

class BinnedForest {
 public:
  // Rows scored together.
  static constexpr size_t kBlockRows = 64;

  // The layout of `spec`, or null with the reason in *why_not: deeper than 8 levels, or more
  // than 127 columns of bins (one per run of 254 distinct conditions of each feature a split
  // reads; a feature no split reads takes none).
  // REQUIRES: `spec` passed a reader's checks (finite conditions and leaves).
  static std::shared_ptr<const BinnedForest> build(const ForestSpec& spec, std::string* why_not);

  // Whether this CPU runs margins(): AVX-512 F, BW and VBMI.
  static bool cpu_supported();

  // out[r] = base_margin + the trees' outputs for row r, summed in float in tree order.
  // `rows` is row-major with n_cols floats a row, NaN = missing. REQUIRES: cpu_supported(),
  // n_cols >= the spec's num_features.
  void margins(const float* rows, size_t n_rows, size_t n_cols, float* out) const;

  size_t depth() const { return depth_; }
  size_t bytes() const;

  // A feature some split reads: where its bins are found and written.
  struct Feature {
    static constexpr uint32_t kNoSearch = 0xffffffff;
    uint32_t index = 0;                 // in a row
    uint32_t search_begin = kNoSearch;  // in search_, for up to 256 conditions
    uint32_t cut_begin = 0;             // in cuts_, for more
    uint8_t cut_steps = 0;
    uint16_t column_begin = 0;  // its first column: one per run of 254 conditions
    uint16_t segments = 0;
  };

  // One tree's nodes and leaves, laid out for the lookups above.
  struct alignas(64) TreeTables {
    uint8_t column_top[128];     // levels 0-6 in heap order: level d, place j at 2^d - 1 + j
    uint8_t threshold_top[128];  // 0 = always right
    uint8_t column_last[128];    // level 7, place j at j
    uint8_t threshold_last[128];
    // The leaves' floats as four planes of bytes (plane k: bits 8k..8k+7): place j at level D.
    uint8_t leaf_bytes[4][256];
  };

 private:
  size_t depth_ = 0;
  float base_margin_ = 0;
  // How a value's bin is found (binned_forest.cc): for a feature of up to 256 conditions, two
  // vector compares over search_[search_begin...]; for more, a binary search of its conditions
  // at cuts_[cut_begin...], padded with NaN to 2^cut_steps entries.
  std::vector<float> search_;
  std::vector<float> cuts_;
  std::vector<Feature> used_;  // the features some split reads, in feature order
  size_t columns_ = 0;
  std::vector<TreeTables> trees_;
  // The distinct columns level d of tree t reads: level_columns_[level_begin_[t * D + d] ...
  // level_begin_[t * D + d + 1]), the first also standing in for the padding nodes.
  std::vector<uint16_t> level_columns_;  // each column's offset in a block (binned_forest.cc)
  std::vector<uint32_t> level_begin_;
};

}  // namespace flowcast::ml
