#include "ml/binned_forest.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <utility>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define FLOWCAST_BINNED_AVX512 1
// GCC 12's AVX-512 headers start some intrinsics from _mm512_undefined_*(), which
// -W(maybe-)uninitialized reports when they are inlined (a known false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

namespace flowcast::ml {
namespace {

constexpr size_t kMaxDepth = 8;
// A node's column byte holds the column's number in bits 0-6 and, in bit 7, whether a missing
// value goes left (see binned_forest.h).
constexpr size_t kMaxColumns = 127;  // 0x7f and 0xff are never a node's column byte
constexpr uint8_t kDefaultLeft = 0x80;
constexpr size_t kSegmentCuts = 254;  // conditions one column tells apart: bins 0..254
constexpr size_t kTopLevels = 7;      // levels in TreeTables::column_top
constexpr size_t kSearchCuts = 256;   // conditions search_bin() handles: 16 chunks of 16
// A block's column c: 64 bins (one per row) at c * kColumnStride, then 64 copies of c, so that
// finding the rows that read c and loading their bins take one address.
constexpr size_t kColumnStride = 128;

}  // namespace

bool BinnedForest::cpu_supported() {
#ifdef FLOWCAST_BINNED_AVX512
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vbmi");
#else
  return false;
#endif
}

std::shared_ptr<const BinnedForest> BinnedForest::build(const ForestSpec& spec,
                                                        std::string* why_not) {
  auto fail = [why_not](std::string reason) {
    if (why_not) *why_not = std::move(reason);
    return nullptr;
  };
  const size_t features = spec.num_features;

  // Depth of each tree in split levels, and the forest's.
  size_t depth = 0;
  for (const ForestSpec::Tree& t : spec.trees) {
    std::vector<std::pair<int32_t, size_t>> stack{{0, 0}};
    while (!stack.empty()) {
      const auto [node, d] = stack.back();
      stack.pop_back();
      const auto n = static_cast<size_t>(node);
      if (t.left[n] == -1) {
        depth = std::max(depth, d);
        continue;
      }
      if (d + 1 > kMaxDepth)
        return fail("a tree deeper than " + std::to_string(kMaxDepth) + " levels");
      stack.push_back({t.left[n], d + 1});
      stack.push_back({t.right[n], d + 1});
    }
  }

  // Each feature's distinct split conditions, sorted.
  std::vector<std::vector<float>> cuts(features);
  for (const ForestSpec::Tree& t : spec.trees)
    for (size_t n = 0; n < t.left.size(); ++n)
      if (t.left[n] != -1) cuts[t.feature[n]].push_back(t.value[n]);
  auto forest = std::make_shared<BinnedForest>();
  BinnedForest& b = *forest;
  // Only the features some split reads get bins and columns: a value no node looks at is never
  // turned into a bin.
  std::vector<uint16_t> column_of(features, 0);
  size_t columns = 0;
  for (size_t f = 0; f < features; ++f) {
    std::vector<float>& c = cuts[f];
    if (c.empty()) continue;
    std::sort(c.begin(), c.end());
    // -0 and +0 compare equal, and so send every value the same way: one cut.
    c.erase(std::unique(c.begin(), c.end()), c.end());
    Feature feature;
    feature.index = static_cast<uint32_t>(f);
    if (c.size() <= kSearchCuts) {
      // The last condition of each whole chunk of 16, then the chunks, one more than there are
      // whole ones; NaN pads both.
      const size_t whole = c.size() / 16;
      feature.search_begin = static_cast<uint32_t>(b.search_.size());
      const size_t first = b.search_.size();
      b.search_.resize(first + 16 + 16 * (whole + 1), std::numeric_limits<float>::quiet_NaN());
      for (size_t i = 0; i < whole; ++i) b.search_[first + i] = c[16 * i + 15];
      std::copy(c.begin(), c.end(), b.search_.begin() + long(first + 16));
    } else {
      // Sorted and padded with NaN to a power of two, for a branch-free binary search.
      while ((size_t{1} << feature.cut_steps) < c.size() + 1) ++feature.cut_steps;
      feature.cut_begin = static_cast<uint32_t>(b.cuts_.size());
      b.cuts_.insert(b.cuts_.end(), c.begin(), c.end());
      b.cuts_.resize(b.cuts_.size() + (size_t{1} << feature.cut_steps) - c.size(),
                     std::numeric_limits<float>::quiet_NaN());
    }
    const size_t segments = (c.size() + kSegmentCuts - 1) / kSegmentCuts;
    feature.column_begin = static_cast<uint16_t>(std::min(columns, kMaxColumns));
    feature.segments = static_cast<uint16_t>(std::min(segments, kMaxColumns));
    column_of[f] = feature.column_begin;
    b.used_.push_back(feature);
    columns += segments;
  }
  if (columns > kMaxColumns)
    return fail(std::to_string(columns) +
                " columns of bins (one per run of 254 conditions of each feature a split reads; "
                "the binned layout holds " +
                std::to_string(kMaxColumns) + ")");
  b.columns_ = columns;
  b.depth_ = depth;
  b.base_margin_ = spec.base_margin;

  b.trees_.resize(spec.trees.size());
  b.level_begin_.push_back(0);
  constexpr uint8_t kUnset = 0xff;
  for (size_t ti = 0; ti < spec.trees.size(); ++ti) {
    const ForestSpec::Tree& t = spec.trees[ti];
    TreeTables& tables = b.trees_[ti];
    std::memset(&tables, 0, sizeof tables);
    // Per level and place: the column read (kUnset below a leaf until padded) and the threshold.
    std::vector<std::vector<uint8_t>> column(depth), threshold(depth);
    for (size_t d = 0; d < depth; ++d) {
      column[d].assign(size_t{1} << d, kUnset);
      threshold[d].assign(size_t{1} << d, 0);
    }
    struct Place {
      int32_t node;
      size_t level, j;
    };
    std::vector<Place> stack{{0, 0, 0}};
    while (!stack.empty()) {
      const Place p = stack.back();
      stack.pop_back();
      const auto n = static_cast<size_t>(p.node);
      if (t.left[n] == -1) {
        // The leaf's output fills every bottom place below it; the nodes between stay unset and
        // become "always right" below.
        const size_t span = size_t{1} << (depth - p.level);
        const float value = spec.leaf_output(t, n);
        uint32_t bits;
        std::memcpy(&bits, &value, sizeof bits);
        for (size_t plane = 0; plane < 4; ++plane)
          std::fill_n(tables.leaf_bytes[plane] + p.j * span, span,
                      static_cast<uint8_t>(bits >> (8 * plane)));
        continue;
      }
      const uint32_t f = t.feature[n];
      const std::vector<float>& c = cuts[f];
      const size_t k =
          static_cast<size_t>(std::lower_bound(c.begin(), c.end(), t.value[n]) - c.begin());
      const size_t segment = k / kSegmentCuts;
      const bool left = t.default_left[n] != 0;
      column[p.level][p.j] =
          static_cast<uint8_t>((column_of[f] + segment) | (left ? kDefaultLeft : 0));
      // A default-left node compares bin + 1 (mod 256), so its threshold is one more.
      threshold[p.level][p.j] = static_cast<uint8_t>(k - segment * kSegmentCuts + 1 + left);
      stack.push_back({t.left[n], p.level + 1, 2 * p.j});
      stack.push_back({t.right[n], p.level + 1, 2 * p.j + 1});
    }
    for (size_t d = 0; d < depth; ++d) {
      // The level's distinct columns; padding nodes read the first (their threshold 0 sends every
      // row right whatever it reads), or column 0 when the level has no split at all.
      std::vector<uint8_t> distinct;
      for (uint8_t c : column[d]) {
        c &= ~kDefaultLeft;
        if (c != (kUnset & ~kDefaultLeft) &&
            std::find(distinct.begin(), distinct.end(), c) == distinct.end())
          distinct.push_back(c);
      }
      if (distinct.empty()) distinct.push_back(0);
      for (size_t j = 0; j < column[d].size(); ++j) {
        const uint8_t c = column[d][j] == kUnset ? distinct[0] : column[d][j];
        if (d < kTopLevels) {
          tables.column_top[(size_t{1} << d) - 1 + j] = c;
          tables.threshold_top[(size_t{1} << d) - 1 + j] = threshold[d][j];
        } else {
          tables.column_last[j] = c;
          tables.threshold_last[j] = threshold[d][j];
        }
      }
      for (uint8_t c : distinct)
        b.level_columns_.push_back(static_cast<uint16_t>(c * kColumnStride));
      b.level_begin_.push_back(static_cast<uint32_t>(b.level_columns_.size()));
    }
  }
  return forest;
}

size_t BinnedForest::bytes() const {
  return (cuts_.size() + search_.size()) * sizeof(float) + trees_.size() * sizeof(TreeTables) +
         level_columns_.size() * sizeof(uint16_t) + level_begin_.size() * sizeof(uint32_t);
}

#ifdef FLOWCAST_BINNED_AVX512

#define FLOWCAST_AVX512_TARGET __attribute__((target("avx512f,avx512bw,avx512vbmi,popcnt")))

namespace {

// What the kernel reads of a BinnedForest.
struct BinnedTrees {
  const BinnedForest::TreeTables* trees;
  size_t count;
  const uint16_t* level_columns;
  const uint32_t* level_begin;
};

#define FLOWCAST_AVX512_INLINE FLOWCAST_AVX512_TARGET __attribute__((always_inline)) inline

// What the binning reads of a BinnedForest.
struct BinnedCuts {
  const BinnedForest::Feature* used;
  size_t count;
  size_t columns;
  const float* search;
  const float* cuts;
};

// bin(x) for a feature of up to 256 conditions: how many of the 16 chunks of 16 sorted
// conditions lie wholly at or below x (their last conditions, `search`[0..16), against x in one
// compare), then how many of the next chunk's do. NaN padding is never <= x.
FLOWCAST_AVX512_INLINE size_t search_bin(const float* search, float x) {
  const __m512 v = _mm512_set1_ps(x);
  const unsigned whole =
      __builtin_popcount(_mm512_cmp_ps_mask(_mm512_loadu_ps(search), v, _CMP_LE_OQ));
  return 16 * whole + __builtin_popcount(_mm512_cmp_ps_mask(
                          _mm512_loadu_ps(search + 16 + 16 * whole), v, _CMP_LE_OQ));
}

// bin(x) for a feature of more: a branch-free binary search of the conditions, which are padded
// with NaN (never <= x) to 2^steps, so the answer is below 2^steps.
inline size_t scalar_bin(const float* c, uint8_t steps, float x) {
  size_t pos = 0;
  for (size_t step = (size_t{1} << steps) >> 1; step > 0; step >>= 1)
    pos += c[pos + step - 1] <= x ? step : 0;
  return pos;
}

// Writes the bins of `count` rows into the block's columns (column c at columns + 64c, row r at
// byte r); the rows past `count` get zeros.
FLOWCAST_AVX512_TARGET void bin_block(const BinnedCuts& b, const float* rows, size_t count,
                                      size_t n_cols, uint8_t* columns) {
  constexpr size_t kRows = BinnedForest::kBlockRows;
  if (count < kRows)
    for (size_t c = 0; c < b.columns; ++c) std::memset(columns + c * kColumnStride, 0, kRows);
  for (size_t r = 0; r < count; ++r) {
    const float* x = rows + r * n_cols;
    for (size_t i = 0; i < b.count; ++i) {
      const BinnedForest::Feature& f = b.used[i];
      const float v = x[f.index];
      const bool missing = std::isnan(v);
      size_t full = 0;
      if (!missing)
        full = f.search_begin != BinnedForest::Feature::kNoSearch
                   ? search_bin(b.search + f.search_begin, v)
                   : scalar_bin(b.cuts + f.cut_begin, f.cut_steps, v);
      uint8_t* column = columns + size_t{f.column_begin} * kColumnStride + r;
      // Segment s tells apart conditions 254s .. 254s + 253: its bin is the full bin less 254s,
      // within 0..254; a missing value is 255.
      for (size_t s = 0; s < f.segments; ++s, column += kColumnStride) {
        const size_t below = s * kSegmentCuts;
        const auto bin =
            static_cast<uint8_t>(full <= below ? 0 : std::min(full - below, kSegmentCuts));
        *column = missing ? 255 : bin;
      }
    }
  }
}

// The bins of the rows whose node reads the column at `offset`, 0 for the others.
FLOWCAST_AVX512_INLINE __m512i bins_of(__m512i column, uint16_t offset, const uint8_t* columns) {
  const uint8_t* at = columns + offset;
  const __mmask64 reads = _mm512_cmpeq_epi8_mask(column, _mm512_load_si512(at + 64));
  return _mm512_maskz_loadu_epi8(reads, at);
}

// One level of one tree for the block: looks up each row's node, takes its bin and steps j.
// (Plain functions rather than lambdas: a lambda does not inherit its caller's target.)
template <int d>
FLOWCAST_AVX512_INLINE __m512i step_level(const BinnedForest::TreeTables& tt, const uint16_t* cols,
                                          uint32_t n, const uint8_t* columns, __m512i j) {
  __m512i threshold, column;
  if constexpr (d < 6) {
    // Levels 0-5 are the first 63 bytes of column_top.
    const __m512i place = d == 0 ? j : _mm512_add_epi8(j, _mm512_set1_epi8((1 << d) - 1));
    threshold = _mm512_permutexvar_epi8(place, _mm512_load_si512(tt.threshold_top));
    column = _mm512_permutexvar_epi8(place, _mm512_load_si512(tt.column_top));
  } else if constexpr (d == 6) {
    const __m512i place = _mm512_add_epi8(j, _mm512_set1_epi8(63));
    threshold = _mm512_permutex2var_epi8(_mm512_load_si512(tt.threshold_top), place,
                                         _mm512_load_si512(tt.threshold_top + 64));
    column = _mm512_permutex2var_epi8(_mm512_load_si512(tt.column_top), place,
                                      _mm512_load_si512(tt.column_top + 64));
  } else {
    threshold = _mm512_permutex2var_epi8(_mm512_load_si512(tt.threshold_last), j,
                                         _mm512_load_si512(tt.threshold_last + 64));
    column = _mm512_permutex2var_epi8(_mm512_load_si512(tt.column_last), j,
                                      _mm512_load_si512(tt.column_last + 64));
  }
  const __mmask64 left = _mm512_movepi8_mask(column);
  column = _mm512_and_si512(column, _mm512_set1_epi8(0x7f));
  // Each row's bin from the column its node reads. With one column at the level every row reads
  // it; otherwise each column's rows are loaded apart (zero elsewhere) and the loads ORed, in
  // four independent chains, so that the loads overlap rather than wait on each other.
  __m512i bins;
  if (n == 1) {
    bins = _mm512_load_si512(columns + cols[0]);
  } else {
    __m512i a = bins_of(column, cols[0], columns), b = bins_of(column, cols[1], columns);
    __m512i c = _mm512_setzero_si512(), e = _mm512_setzero_si512();
    uint32_t k = 2;
    for (; k + 4 <= n; k += 4) {
      a = _mm512_or_si512(a, bins_of(column, cols[k], columns));
      b = _mm512_or_si512(b, bins_of(column, cols[k + 1], columns));
      c = _mm512_or_si512(c, bins_of(column, cols[k + 2], columns));
      e = _mm512_or_si512(e, bins_of(column, cols[k + 3], columns));
    }
    if (k < n) a = _mm512_or_si512(a, bins_of(column, cols[k], columns));
    if (k + 1 < n) b = _mm512_or_si512(b, bins_of(column, cols[k + 1], columns));
    if (k + 2 < n) c = _mm512_or_si512(c, bins_of(column, cols[k + 2], columns));
    // a | b | c in one instruction (truth table 0xFE), then | e.
    bins = _mm512_or_si512(_mm512_ternarylogic_epi32(a, b, c, 0xFE), e);
  }
  // Default-left nodes compare bin + 1 (mod 256): a missing value (255) becomes 0 and goes left.
  bins = _mm512_mask_add_epi8(bins, left, bins, _mm512_set1_epi8(1));
  const __mmask64 right = _mm512_cmpge_epu8_mask(bins, threshold);
  j = _mm512_add_epi8(j, j);
  return _mm512_mask_sub_epi8(j, right, j, _mm512_set1_epi8(-1));
}

// Levels d..D-1 of two trees at once (their steps are independent, so they overlap).
template <int d, int D>
FLOWCAST_AVX512_INLINE void walk_two(const BinnedForest::TreeTables& t0,
                                     const BinnedForest::TreeTables& t1,
                                     const uint16_t* level_columns, const uint32_t* r0,
                                     const uint32_t* r1, const uint8_t* columns, __m512i& j0,
                                     __m512i& j1) {
  if constexpr (d < D) {
    j0 = step_level<d>(t0, level_columns + r0[d], r0[d + 1] - r0[d], columns, j0);
    j1 = step_level<d>(t1, level_columns + r1[d], r1[d + 1] - r1[d], columns, j1);
    walk_two<d + 1, D>(t0, t1, level_columns, r0, r1, columns, j0, j1);
  }
}

template <int d, int D>
FLOWCAST_AVX512_INLINE void walk_one(const BinnedForest::TreeTables& t0,
                                     const uint16_t* level_columns, const uint32_t* r0,
                                     const uint8_t* columns, __m512i& j0) {
  if constexpr (d < D) {
    j0 = step_level<d>(t0, level_columns + r0[d], r0[d + 1] - r0[d], columns, j0);
    walk_one<d + 1, D>(t0, level_columns, r0, columns, j0);
  }
}

// Adds each row's leaf, at its place in j, to the accumulators. A leaf's float is looked up as
// four bytes, one plane of 256 bytes each: two VPERMT2B (128 entries each) and a blend on the
// place's top bit per plane, for all 64 rows at once; the four planes are then interleaved back
// into floats (VPUNPCK), which leaves rows in the order acc_rows() describes.
FLOWCAST_AVX512_INLINE void add_leaves(__m512* acc, const BinnedForest::TreeTables& tt, __m512i j) {
  const __mmask64 upper = _mm512_movepi8_mask(j);
  __m512i plane[4];
  for (int k = 0; k < 4; ++k) {
    const uint8_t* p = tt.leaf_bytes[k];
    const __m512i lower_half =
        _mm512_permutex2var_epi8(_mm512_load_si512(p), j, _mm512_load_si512(p + 64));
    const __m512i upper_half =
        _mm512_permutex2var_epi8(_mm512_load_si512(p + 128), j, _mm512_load_si512(p + 192));
    plane[k] = _mm512_mask_blend_epi8(upper, lower_half, upper_half);
  }
  const __m512i low01 = _mm512_unpacklo_epi8(plane[0], plane[1]);
  const __m512i high01 = _mm512_unpackhi_epi8(plane[0], plane[1]);
  const __m512i low23 = _mm512_unpacklo_epi8(plane[2], plane[3]);
  const __m512i high23 = _mm512_unpackhi_epi8(plane[2], plane[3]);
  acc[0] = _mm512_add_ps(acc[0], _mm512_castsi512_ps(_mm512_unpacklo_epi16(low01, low23)));
  acc[1] = _mm512_add_ps(acc[1], _mm512_castsi512_ps(_mm512_unpackhi_epi16(low01, low23)));
  acc[2] = _mm512_add_ps(acc[2], _mm512_castsi512_ps(_mm512_unpacklo_epi16(high01, high23)));
  acc[3] = _mm512_add_ps(acc[3], _mm512_castsi512_ps(_mm512_unpackhi_epi16(high01, high23)));
}

// The unpacking keeps each 128-bit lane apart: lane L of acc[m] holds rows 16L + 4m .. 16L + 4m
// + 3.
FLOWCAST_AVX512_INLINE __m512 load_acc_rows(const float* out, int m) {
  __m512 v = _mm512_castps128_ps512(_mm_loadu_ps(out + 4 * m));
  v = _mm512_insertf32x4(v, _mm_loadu_ps(out + 16 + 4 * m), 1);
  v = _mm512_insertf32x4(v, _mm_loadu_ps(out + 32 + 4 * m), 2);
  return _mm512_insertf32x4(v, _mm_loadu_ps(out + 48 + 4 * m), 3);
}

FLOWCAST_AVX512_INLINE void store_acc_rows(float* out, int m, __m512 v) {
  _mm_storeu_ps(out + 4 * m, _mm512_extractf32x4_ps(v, 0));
  _mm_storeu_ps(out + 16 + 4 * m, _mm512_extractf32x4_ps(v, 1));
  _mm_storeu_ps(out + 32 + 4 * m, _mm512_extractf32x4_ps(v, 2));
  _mm_storeu_ps(out + 48 + 4 * m, _mm512_extractf32x4_ps(v, 3));
}

// Adds every tree's output to out[0..64) (which holds the base margin), for the block of rows
// whose bins are `columns` (column c at columns + 64c).
template <int D>
FLOWCAST_AVX512_TARGET void score_binned_block(const BinnedTrees& forest, const uint8_t* columns,
                                               float* out) {
  __m512 acc[4] = {load_acc_rows(out, 0), load_acc_rows(out, 1), load_acc_rows(out, 2),
                   load_acc_rows(out, 3)};
  const uint16_t* level_columns = forest.level_columns;
  const uint32_t* level_begin = forest.level_begin;
  size_t t = 0;
  for (; t + 2 <= forest.count; t += 2) {
    const BinnedForest::TreeTables& t0 = forest.trees[t];
    const BinnedForest::TreeTables& t1 = forest.trees[t + 1];
    __m512i j0 = _mm512_setzero_si512(), j1 = _mm512_setzero_si512();
    walk_two<0, D>(t0, t1, level_columns, level_begin + t * D, level_begin + (t + 1) * D, columns,
                   j0, j1);
    add_leaves(acc, t0, j0);
    add_leaves(acc, t1, j1);
  }
  if (t < forest.count) {
    const BinnedForest::TreeTables& t0 = forest.trees[t];
    __m512i j0 = _mm512_setzero_si512();
    walk_one<0, D>(t0, level_columns, level_begin + t * D, columns, j0);
    add_leaves(acc, t0, j0);
  }
  store_acc_rows(out, 0, acc[0]);
  store_acc_rows(out, 1, acc[1]);
  store_acc_rows(out, 2, acc[2]);
  store_acc_rows(out, 3, acc[3]);
}

}  // namespace

void BinnedForest::margins(const float* rows, size_t n_rows, size_t n_cols, float* out) const {
  alignas(64) uint8_t columns[kMaxColumns * kColumnStride];
  for (size_t c = 0; c < columns_; ++c)
    std::memset(columns + c * kColumnStride + kBlockRows, static_cast<int>(c), kBlockRows);
  alignas(64) float block[kBlockRows];
  using Kernel = void (*)(const BinnedTrees&, const uint8_t*, float*);
  static constexpr Kernel kKernels[kMaxDepth + 1] = {
      score_binned_block<0>, score_binned_block<1>, score_binned_block<2>,
      score_binned_block<3>, score_binned_block<4>, score_binned_block<5>,
      score_binned_block<6>, score_binned_block<7>, score_binned_block<8>};
  const Kernel kernel = kKernels[depth_];
  const BinnedTrees trees{trees_.data(), trees_.size(), level_columns_.data(), level_begin_.data()};
  const BinnedCuts cuts{used_.data(), used_.size(), columns_, search_.data(), cuts_.data()};
  for (size_t start = 0; start < n_rows; start += kBlockRows) {
    const size_t count = std::min(kBlockRows, n_rows - start);
    bin_block(cuts, rows + start * n_cols, count, n_cols, columns);
    std::fill_n(block, kBlockRows, base_margin_);
    kernel(trees, columns, block);
    std::copy_n(block, count, out + start);
  }
}

#else

void BinnedForest::margins(const float*, size_t, size_t, float*) const {
  // cpu_supported() is false where the kernel is not built, and margins() requires it.
  std::abort();
}

#endif

}  // namespace flowcast::ml
