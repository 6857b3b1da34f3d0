#include "ml/forest_quantized.h"

#include <algorithm>
#include <array>
#include <cassert>
#include <cmath>
#include <cstdlib>
#include <utility>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define FLOWCAST_QUANTIZED 1
#define FC_AVX512 __attribute__((target("avx512f,avx512bw")))
#endif

namespace flowcast::ml {
namespace {

constexpr uint32_t kLanes = QuantizedForest::kLanes;
constexpr uint32_t kMissingSlot = QuantizedForest::kMaxFeatures;  // slot 32 + f: missing -> 0
constexpr uint16_t kMissingRight = 0xFFFF;  // above every node's k, so a missing value goes right
constexpr uint32_t kAlwaysLeft = uint32_t{0xFFFF} << 16;  // k = 0xFFFF, slot 0: bin <= k always
constexpr size_t kMaxThresholds = 0xFFFE;  // k < 0xFFFF, so kMissingRight still goes right

// The number of t[0..n) that are <= x, for sorted t. The loop runs log2(n) times whatever x is,
// and the compare becomes a conditional move: no branch for the predictor to miss.
inline uint32_t count_at_most(const float* t, uint32_t n, float x) {
  if (n == 0) return 0;
  const float* base = t;
  while (n > 1) {
    const uint32_t half = n / 2;
    base = base[half] <= x ? base + half : base;
    n -= half;
  }
  return static_cast<uint32_t>(base - t) + (*base <= x ? 1 : 0);
}

// Row x as its 64 slots (see the header). Slots of features the forest does not have stay 0.
inline void bin_row(const QuantizedForest& q, const float* x, uint16_t* slots) {
  for (uint32_t f = 0; f < q.features; ++f) {
    const float v = x[f];
    if (std::isnan(v)) {
      slots[f] = kMissingRight;
      slots[kMissingSlot + f] = 0;
      continue;
    }
    const uint32_t begin = q.threshold_begin[f];
    const auto bin = static_cast<uint16_t>(
        count_at_most(q.thresholds.data() + begin, q.threshold_begin[f + 1] - begin, v));
    slots[f] = bin;
    slots[kMissingSlot + f] = bin;
  }
}

using Slots = std::array<uint16_t, 2 * QuantizedForest::kMaxFeatures>;

#ifdef FLOWCAST_QUANTIZED

// R rows through one group of sixteen trees, interleaved so that their gathers overlap; each
// row's sixteen leaves to out[r] (lane = tree).
template <int R>
FC_AVX512 inline void walk(const uint32_t* nodes, const float* leaves, const Slots* rows,
                           uint32_t depth, __m512* out) {
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i sixteen = _mm512_set1_epi32(kLanes);
  const __m512i low16 = _mm512_set1_epi32(0xFFFF);
  // The masked forms with explicit inputs: GCC 12's unmasked ones start from an "undefined"
  // register that -Wmaybe-uninitialized reports.
  const __m512i zero = _mm512_setzero_si512();
  const __mmask16 all = 0xFFFF;
  __m512i lo[R], hi[R], q[R];
  for (int r = 0; r < R; ++r) {
    lo[r] = _mm512_loadu_si512(rows[r].data());
    hi[r] = _mm512_loadu_si512(rows[r].data() + 32);
    q[r] = _mm512_add_epi32(sixteen, lane);  // position 1, the root: q = 16 p + lane
  }
  for (uint32_t l = 0; l < depth; ++l) {
    for (int r = 0; r < R; ++r) {
      const __m512i node = _mm512_mask_i32gather_epi32(zero, all, q[r], nodes, 4);
      // The low word of each lane indexes the row's 64 slots; the high word (k) fetches a slot
      // too, which the mask drops.
      const __m512i bins = _mm512_permutex2var_epi16(lo[r], node, hi[r]);
      const __mmask16 right =
          _mm512_cmpgt_epu32_mask(_mm512_and_si512(bins, low16), _mm512_maskz_srli_epi32(all, node, 16));
      // p' = 2p + right, so q' = 16 p' + lane = 2q - lane + 16 right.
      const __m512i twice = _mm512_sub_epi32(_mm512_add_epi32(q[r], q[r]), lane);
      q[r] = _mm512_mask_add_epi32(twice, right, twice, sixteen);
    }
  }
  const __m512i first_leaf = _mm512_set1_epi32(static_cast<int>(kLanes << depth));
  for (int r = 0; r < R; ++r)
    out[r] = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), all, _mm512_sub_epi32(q[r], first_leaf),
                                      leaves, 4);
}

// The lane permutations of a 16 x 16 transpose in four stages: stage s swaps blocks of s lanes
// between rows i and i + s.
struct TransposeIndex {
  alignas(64) std::array<int32_t, 16> first, second;
};
constexpr TransposeIndex transpose_index(int s) {
  TransposeIndex t{};
  for (int j = 0; j < 16; ++j) {
    t.first[j] = (j & s) ? 16 + j - s : j;
    t.second[j] = (j & s) ? 16 + j : j + s;
  }
  return t;
}
constexpr std::array<TransposeIndex, 4> kTranspose = {transpose_index(8), transpose_index(4),
                                                      transpose_index(2), transpose_index(1)};

// v[r][t] -> v[t][r].
FC_AVX512 inline void transpose16(__m512* v) {
  for (int stage = 0; stage < 4; ++stage) {
    const int s = 8 >> stage;
    const __m512i first = _mm512_load_si512(kTranspose[stage].first.data());
    const __m512i second = _mm512_load_si512(kTranspose[stage].second.data());
    for (int i = 0; i < 16; ++i) {
      if (i & s) continue;
      const __m512 a = v[i], b = v[i + s];
      v[i] = _mm512_permutex2var_ps(a, first, b);
      v[i + s] = _mm512_permutex2var_ps(a, second, b);
    }
  }
}

// Margins of sixteen binned rows (rows beyond `count` are padding); writes out[0..count).
FC_AVX512 void score_sixteen(const QuantizedForest& q, const Slots* rows, size_t count,
                             float* out) {
  const size_t group_floats = (size_t{1} << q.depth) * kLanes;
  __m512 acc = _mm512_set1_ps(q.base_margin);
  for (uint32_t g = 0; g < q.groups(); ++g) {
    const uint32_t* nodes = q.nodes.data() + g * group_floats;
    const float* leaves = q.leaves.data() + g * group_floats;
    __m512 v[16];
    for (int r = 0; r < 16; r += 4) walk<4>(nodes, leaves, rows + r, q.depth, v + r);
    transpose16(v);
    // Tree by tree, in model order: float addition is not associative.
    const uint32_t n = std::min(kLanes, q.trees - g * kLanes);
    for (uint32_t t = 0; t < n; ++t) acc = _mm512_add_ps(acc, v[t]);
  }
  alignas(64) float margins[16];
  _mm512_store_ps(margins, acc);
  std::copy(margins, margins + count, out);
}

FC_AVX512 float score_one(const QuantizedForest& q, const Slots& row) {
  const size_t group_floats = (size_t{1} << q.depth) * kLanes;
  float acc = q.base_margin;
  alignas(64) float leaf[16];
  for (uint32_t g = 0; g < q.groups(); ++g) {
    __m512 v;
    walk<1>(q.nodes.data() + g * group_floats, q.leaves.data() + g * group_floats, &row, q.depth,
            &v);
    _mm512_store_ps(leaf, v);
    const uint32_t n = std::min(kLanes, q.trees - g * kLanes);
    for (uint32_t t = 0; t < n; ++t) acc += leaf[t];
  }
  return acc;
}

#endif  // FLOWCAST_QUANTIZED

}  // namespace

std::optional<QuantizedForest> QuantizedForest::build(const ForestSpec& spec) {
  if (spec.num_features > kMaxFeatures || spec.trees.empty()) return std::nullopt;
  QuantizedForest q;
  q.features = static_cast<uint32_t>(spec.num_features);
  q.trees = static_cast<uint32_t>(spec.trees.size());
  q.base_margin = spec.base_margin;

  // Every split's threshold, per feature, and the forest's depth.
  std::vector<std::vector<float>> by_feature(q.features);
  struct At {
    int32_t node;
    uint32_t level;
    uint32_t position;
  };
  std::vector<At> stack;
  for (const ForestSpec::Tree& t : spec.trees) {
    stack.assign(1, At{0, 0, 1});
    while (!stack.empty()) {
      const At a = stack.back();
      stack.pop_back();
      const auto s = static_cast<size_t>(a.node);
      if (t.left[s] == -1) {
        q.depth = std::max(q.depth, a.level);
        continue;
      }
      if (a.level >= kMaxDepth) return std::nullopt;
      by_feature[t.feature[s]].push_back(t.value[s]);
      stack.push_back({t.left[s], a.level + 1, 0});
      stack.push_back({t.right[s], a.level + 1, 0});
    }
  }
  q.threshold_begin.push_back(0);
  for (std::vector<float>& th : by_feature) {
    std::sort(th.begin(), th.end());
    th.erase(std::unique(th.begin(), th.end()), th.end());
    if (th.size() > kMaxThresholds) return std::nullopt;
    q.thresholds.insert(q.thresholds.end(), th.begin(), th.end());
    q.threshold_begin.push_back(static_cast<uint32_t>(q.thresholds.size()));
  }

  const size_t group_size = (size_t{1} << q.depth) * kLanes;
  q.nodes.assign(q.groups() * group_size, kAlwaysLeft);
  q.leaves.assign(q.groups() * group_size, 0.0f);
  for (uint32_t i = 0; i < q.trees; ++i) {
    const ForestSpec::Tree& t = spec.trees[i];
    uint32_t* nodes = q.nodes.data() + (i / kLanes) * group_size;
    float* leaves = q.leaves.data() + (i / kLanes) * group_size;
    const uint32_t lane = i % kLanes;
    stack.assign(1, At{0, 0, 1});
    while (!stack.empty()) {
      const At a = stack.back();
      stack.pop_back();
      const auto s = static_cast<size_t>(a.node);
      if (t.left[s] == -1) {
        // As in the portable layout: a DART tree's weight is folded into its leaves, rounded as
        // XGBoost rounds it.
        float value = t.value[s];
        if (spec.dart) value = ((spec.base_margin + value) - spec.base_margin) * t.weight;
        // A shallow leaf sits at its leftmost position at depth D; the padding above it goes left.
        const uint32_t position = a.position << (q.depth - a.level);
        leaves[(position - (uint32_t{1} << q.depth)) * kLanes + lane] = value;
        continue;
      }
      const uint32_t f = t.feature[s];
      const float* begin = q.thresholds.data() + q.threshold_begin[f];
      const float* end = q.thresholds.data() + q.threshold_begin[f + 1];
      const auto k = static_cast<uint32_t>(std::lower_bound(begin, end, t.value[s]) - begin);
      const uint32_t slot = t.default_left[s] ? kMissingSlot + f : f;
      nodes[a.position * kLanes + lane] = k << 16 | slot;
      stack.push_back({t.left[s], a.level + 1, 2 * a.position});
      stack.push_back({t.right[s], a.level + 1, 2 * a.position + 1});
    }
  }
  return q;
}

bool QuantizedForest::available() {
#ifdef FLOWCAST_QUANTIZED
  // libgcc's check includes the OS saving the 512-bit registers (XCR0).
  static const bool yes = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
  return yes;
#else
  return false;
#endif
}

void QuantizedForest::margins(const float* rows, size_t n_rows, size_t n_cols, float* out) const {
#ifdef FLOWCAST_QUANTIZED
  assert(available());
  std::array<Slots, 16> block{};
  size_t i = 0;
  for (; i + 16 <= n_rows; i += 16) {
    for (size_t r = 0; r < 16; ++r) bin_row(*this, rows + (i + r) * n_cols, block[r].data());
    score_sixteen(*this, block.data(), 16, out + i);
  }
  const size_t rest = n_rows - i;
  if (rest >= 4) {
    // A partial block, padded with copies of its last row.
    for (size_t r = 0; r < rest; ++r) bin_row(*this, rows + (i + r) * n_cols, block[r].data());
    for (size_t r = rest; r < 16; ++r) block[r] = block[rest - 1];
    score_sixteen(*this, block.data(), rest, out + i);
  } else {
    for (; i < n_rows; ++i) {
      bin_row(*this, rows + i * n_cols, block[0].data());
      out[i] = score_one(*this, block[0]);
    }
  }
#else
  (void)rows, (void)n_rows, (void)n_cols, (void)out;
  std::abort();
#endif
}

}  // namespace flowcast::ml
