#include "ml/compiled_forest.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstddef>
#include <cstdlib>
#include <exception>
#include <limits>
#include <utility>

#include <nlohmann/json.hpp>

#include "ml/forest_xgboost_reader.h"

// The step is written in x86-64 assembly where available (see CompactView::step_lane); define
// FLOWCAST_FOREST_NO_ASM to build the portable C++ step instead (same results).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(FLOWCAST_FOREST_NO_ASM)
#define FLOWCAST_FOREST_ASM 1
#endif

namespace flowcast::ml {
namespace {

// Why z: XGBoost sends a missing value to the node's default child and otherwise goes left when
// x < threshold. Testing for NaN at every step costs a compare and a select. Instead each row is
// widened once into 2F + 1 columns (F features):
//   column f      = x[f], or +inf when missing
//   column F + f  = -x[f], or +inf when missing
//   column 2F     = -inf
// A default-right split keeps its feature f and threshold t: +inf < t is false, so a missing
// value goes right, as does a real +inf. A default-left split reads column F + f with threshold
// nextafter(-t, +inf) and swaps its children: for a real value, -x < nextafter(-t, +inf) exactly
// when -x <= -t, that is x >= t, which is the original right child (now placed on the left); a
// missing value reads +inf, fails the test and takes the right slot, which holds the original
// left child. Negation is exact, so values equal to a threshold go where XGBoost sends them.
//
// A leaf reads column 2F (-inf) against its own output as the threshold, so it always "goes
// left", and its left child is itself: extra steps leave a row on its leaf, every row takes a
// tree's full depth in steps with no data-dependent branch, and the output is read from the
// threshold of the node the row ends on. (The reader refuses non-finite leaf outputs.)
//
// Tile layout: kLanes rows are widened together, column-major: z[column * kLanes + lane]. A node
// stores column * kLanes, so lane k of a tile reads z[z_offset + k], and with k a compile-time
// constant a step is a handful of instructions: load the node, load z at a constant
// displacement, compare, and add (1 - (z < threshold)) to the left child's index.

// Rows walked through a tree together (the lanes of a tile), and trees walked together for a
// single row: enough independent chains of loads to keep the core busy.
constexpr size_t kLanes = 16;
constexpr size_t kTreeGroup = 16;
// Rows widened and scored together. Trees are walked one at a time over the whole block, so each
// tree's nodes come into L1 once per block; z for 128 rows of 16 features is 17 KiB.
constexpr size_t kBlockRows = 128;
constexpr size_t kBlockTiles = kBlockRows / kLanes;
constexpr size_t kStackFloats = 8192;
constexpr float kInf = std::numeric_limits<float>::infinity();

// Views that know how to take one step; the kernels below are written once for both layouts.
// next = base + 1 - (z < threshold). On x86-64 the compare's carry flag is folded into the sum
// with one sbb; compilers otherwise spend a setcc, a zeroing xor and a sub on it.
inline size_t advance(size_t base, float z, const float& threshold) {
#ifdef FLOWCAST_FOREST_ASM
  // comiss sets CF exactly when z < threshold (neither is ever NaN here); sbb $-1 adds 1 - CF.
  asm("comiss %[t], %[z]\n\tsbb $-1, %[b]"
      : [b] "+r"(base)
      : [z] "x"(z), [t] "m"(threshold)
      : "cc");
  return base;
#else
  return base + 1 - static_cast<size_t>(z < threshold);
#endif
}

template <typename CompactNode>
struct CompactView {
  const CompactNode* nodes;
  size_t step(size_t i, const float* z) const {
    const CompactNode& n = nodes[i];
    return advance(i + n.left_delta, z[n.z_offset], n.threshold);
  }
  // The same step for lane kLane of the tile at z, as six instructions: load the offset, load z,
  // load the child distance, compare z with the threshold in memory, lea the left child + 1 and
  // subtract the carry (z < threshold). The compiler's own version of the step is eight or nine
  // instructions and measured about 20% slower in bench/forest_bench.cc.
  template <size_t kLane>
  size_t step_lane(size_t i, const float* z) const {
#ifdef FLOWCAST_FOREST_ASM
    static_assert(sizeof(CompactNode) == 8 && offsetof(CompactNode, z_offset) == 4 &&
                  offsetof(CompactNode, left_delta) == 6);
    size_t off, delta;
    float zv;
    asm("movzwl 4(%[n],%[i],8), %k[off]\n\t"
        "movss %c[lane](%[z],%[off],4), %[zv]\n\t"
        "movzwl 6(%[n],%[i],8), %k[delta]\n\t"
        "comiss (%[n],%[i],8), %[zv]\n\t"
        "lea 1(%[i],%[delta]), %[i]\n\t"
        "sbb $0, %[i]"
        : [i] "+r"(i), [off] "=&r"(off), [delta] "=&r"(delta), [zv] "=&x"(zv)
        : [n] "r"(nodes), [z] "r"(z), [lane] "i"(kLane * sizeof(float)),
          // Tell the compiler what memory the asm reads (the nodes and the tile), so that the
          // stores widening z are neither dropped nor moved past it, without a "memory" clobber
          // that would make it reload everything else too.
          "m"(*reinterpret_cast<const char(*)[]>(nodes)), "m"(*reinterpret_cast<const char(*)[]>(z))
        : "cc");
    return i;
#else
    return step(i, z + kLane);
#endif
  }
  float output(size_t i) const { return nodes[i].threshold; }
};

template <typename WideNode>
struct WideView {
  const WideNode* nodes;
  const uint32_t* left;
  size_t step(size_t i, const float* z) const {
    const WideNode& n = nodes[i];
    return advance(left[i], z[n.z_offset], n.threshold);
  }
  template <size_t kLane>
  size_t step_lane(size_t i, const float* z) const {
    return step(i, z + kLane);
  }
  float output(size_t i) const { return nodes[i].threshold; }
};

// Per-forest facts the kernels need besides the nodes.
struct Shape {
  const uint32_t* roots;
  const uint32_t* steps;
  const uint32_t* group_steps;
  size_t trees;
  size_t tile_floats;
  float base_margin;
};

// One tree, K lanes of a tile starting at z's lane.
template <size_t K, typename View>
inline void walk_lanes(const View& v, uint32_t root, uint32_t steps, const float* z, float* acc) {
  // Indices are size_t so that they address the nodes without a zero-extension per step.
  size_t idx[K];
#pragma GCC unroll 16
  for (size_t k = 0; k < K; ++k) idx[k] = root;
  for (uint32_t s = 0; s < steps; ++s) {
    [&]<size_t... k>(std::index_sequence<k...>) {
      ((idx[k] = v.template step_lane<k>(idx[k], z)), ...);
    }
    (std::make_index_sequence<K>());
  }
#pragma GCC unroll 16
  for (size_t k = 0; k < K; ++k) acc[k] += v.output(idx[k]);
}

// G trees, one lane (z points at it).
template <size_t G, typename View>
inline float walk_trees(const View& v, const uint32_t* roots, uint32_t steps, const float* z,
                        float acc) {
  size_t idx[G];
#pragma GCC unroll 16
  for (size_t g = 0; g < G; ++g) idx[g] = roots[g];
  for (uint32_t s = 0; s < steps; ++s) {
#pragma GCC unroll 16
    for (size_t g = 0; g < G; ++g) idx[g] = v.template step_lane<0>(idx[g], z);
  }
  // Added in tree order: float addition is not associative, and XGBoost adds tree by tree.
#pragma GCC unroll 16
  for (size_t g = 0; g < G; ++g) acc += v.output(idx[g]);
  return acc;
}

// Every tree for the row in lane `lane` of the tile at `z`.
template <typename View>
float score_lane(const View& v, const Shape& s, const float* z, size_t lane) {
  z += lane;
  float acc = s.base_margin;
  size_t t = 0;
  for (; t + kTreeGroup <= s.trees; t += kTreeGroup)
    acc = walk_trees<kTreeGroup>(v, s.roots + t, s.group_steps[t / kTreeGroup], z, acc);
  // The last trees in smaller groups, each as deep as its deepest tree.
  auto deepest = [&](size_t n) { return *std::max_element(s.steps + t, s.steps + t + n); };
  if (t + 8 <= s.trees) {
    acc = walk_trees<8>(v, s.roots + t, deepest(8), z, acc);
    t += 8;
  }
  if (t + 4 <= s.trees) {
    acc = walk_trees<4>(v, s.roots + t, deepest(4), z, acc);
    t += 4;
  }
  for (; t < s.trees; ++t) acc = walk_trees<1>(v, s.roots + t, s.steps[t], z, acc);
  return acc;
}

// Every tree for `count` widened rows at `z`; margins to acc[0..count).
template <typename View>
void score_block(const View& v, const Shape& s, const float* z, size_t count, float* acc) {
  const size_t full_tiles = count / kLanes;
  // The last, partial tile: a run of kLanes / 2 lanes, then a run of kLanes / 4 if rows remain.
  const size_t tail = count % kLanes;
  const size_t half = tail >= kLanes / 2 ? kLanes / 2 : 0;
  const size_t quarter = tail - half >= kLanes / 4 ? kLanes / 4 : 0;
  const size_t walked = full_tiles * kLanes + half + quarter;
  std::fill(acc, acc + walked, s.base_margin);
  const float* last = z + full_tiles * s.tile_floats;
  float* last_acc = acc + full_tiles * kLanes;
  // Tree by tree across the block's tiles: a tree's nodes stay in L1 while every tile uses them.
  for (size_t t = 0; t < s.trees; ++t) {
    for (size_t i = 0; i < full_tiles; ++i)
      walk_lanes<kLanes>(v, s.roots[t], s.steps[t], z + i * s.tile_floats, acc + i * kLanes);
    if (half) walk_lanes<kLanes / 2>(v, s.roots[t], s.steps[t], last, last_acc);
    if (quarter) walk_lanes<kLanes / 4>(v, s.roots[t], s.steps[t], last + half, last_acc + half);
  }
  // The few rows left go one by one, several trees at a time.
  for (size_t r = walked; r < count; ++r)
    acc[r] = score_lane(v, s, z + (r / kLanes) * s.tile_floats, r % kLanes);
}

// Widens row `x` into lane `lane` of the tile at `z`.
void widen_row(const float* x, size_t features, float* z, size_t lane) {
  float* value = z + lane;
  float* negated = z + features * kLanes + lane;
  for (size_t f = 0; f < features; ++f) {
    const float v = x[f];
    const bool missing = std::isnan(v);
    value[f * kLanes] = missing ? kInf : v;
    negated[f * kLanes] = missing ? kInf : -v;
  }
  z[2 * features * kLanes + lane] = -kInf;
}

// XGBoost writes non-finite floats as bare NaN, Infinity and -Infinity (categorical splits have a
// NaN split condition), which strict JSON parsers reject. Turns them into null outside strings so
// the reader can say what is wrong with the model rather than that the JSON does not parse.
std::string null_non_finite(std::string_view json) {
  std::string out;
  out.reserve(json.size());
  bool in_string = false;
  for (size_t i = 0; i < json.size(); ++i) {
    const char c = json[i];
    if (in_string) {
      out += c;
      if (c == '\\' && i + 1 < json.size())
        out += json[++i];
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    size_t len = 0;
    for (std::string_view token : {"NaN", "Infinity", "-Infinity"})
      if (json.substr(i, token.size()) == token) len = token.size();
    if (len > 0) {
      out += "null";
      i += len - 1;
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

Result<CompiledForest> CompiledForest::from_xgboost_json(std::string_view json) {
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(json);
  } catch (const std::exception& e) {
    try {
      doc = nlohmann::json::parse(null_non_finite(json));
    } catch (const std::exception&) {
      return Status::invalid(std::string("the XGBoost model is not valid JSON: ") + e.what());
    }
  }
  FC_ASSIGN_OR_RETURN(ForestSpec spec, read_xgboost_forest(doc));
  return compile(spec);
}

Result<CompiledForest> CompiledForest::from_xgboost_ubjson(std::string_view ubjson) {
  nlohmann::json doc;
  try {
    doc = nlohmann::json::from_ubjson(ubjson);
  } catch (const std::exception& e) {
    return Status::invalid(std::string("the XGBoost model is not valid UBJSON: ") + e.what());
  }
  FC_ASSIGN_OR_RETURN(ForestSpec spec, read_xgboost_forest(doc));
  return compile(spec);
}

CompiledForest CompiledForest::compile(const ForestSpec& spec) {
  CompiledForest f;
  const auto features = static_cast<uint32_t>(spec.num_features);
  const auto lanes = static_cast<uint32_t>(kLanes);
  const uint32_t leaf_column = 2 * features * lanes;
  f.num_features_ = spec.num_features;
  f.z_columns_ = 2 * spec.num_features + 1;
  f.base_margin_ = spec.base_margin;
  f.link_ = spec.link;
  f.objective_ = spec.objective;

  // First the wide layout, which holds any forest.
  struct Pending {
    int32_t source;  // node in the spec's tree
    uint32_t slot;   // its place in the compiled arrays
    uint32_t depth;
  };
  std::vector<Pending> queue;
  auto add_nodes = [&f](size_t n) {
    f.wide_.resize(f.wide_.size() + n);
    f.wide_left_.resize(f.wide_left_.size() + n);
  };
  for (const ForestSpec::Tree& t : spec.trees) {
    const auto root = static_cast<uint32_t>(f.wide_.size());
    add_nodes(1);
    uint32_t depth = 0;
    queue.assign(1, Pending{0, root, 0});
    // Breadth-first: a tree's top levels share cache lines, and children are allocated in pairs.
    for (size_t q = 0; q < queue.size(); ++q) {
      const Pending p = queue[q];
      const auto s = static_cast<size_t>(p.source);
      if (t.left[s] == -1) {
        const float value = spec.leaf_output(t, s);
        assert(std::isfinite(value));
        f.wide_[p.slot] = WideNode{value, leaf_column};
        f.wide_left_[p.slot] = p.slot;
        depth = std::max(depth, p.depth);
        continue;
      }
      const auto children = static_cast<uint32_t>(f.wide_.size());
      add_nodes(2);
      f.wide_left_[p.slot] = children;
      if (t.default_left[s]) {
        f.wide_[p.slot] =
            WideNode{std::nextafter(-t.value[s], kInf), (features + t.feature[s]) * lanes};
        queue.push_back({t.right[s], children, p.depth + 1});
        queue.push_back({t.left[s], children + 1, p.depth + 1});
      } else {
        f.wide_[p.slot] = WideNode{t.value[s], t.feature[s] * lanes};
        queue.push_back({t.left[s], children, p.depth + 1});
        queue.push_back({t.right[s], children + 1, p.depth + 1});
      }
    }
    f.roots_.push_back(root);
    f.steps_.push_back(depth);
  }
  for (size_t g = 0; g < f.steps_.size(); g += kTreeGroup) {
    const size_t end = std::min(f.steps_.size(), g + kTreeGroup);
    f.group_steps_.push_back(
        *std::max_element(f.steps_.begin() + long(g), f.steps_.begin() + long(end)));
  }

  // Then the compact layout, half the bytes, when offsets and child distances fit 16 bits
  // (up to 4095 features, trees of up to tens of thousands of nodes).
  bool fits = leaf_column <= std::numeric_limits<uint16_t>::max();
  for (size_t i = 0; fits && i < f.wide_.size(); ++i)
    fits = f.wide_left_[i] - i <= std::numeric_limits<uint16_t>::max();
  if (fits) {
    f.compact_.resize(f.wide_.size());
    for (size_t i = 0; i < f.wide_.size(); ++i)
      f.compact_[i] = CompactNode{f.wide_[i].threshold, static_cast<uint16_t>(f.wide_[i].z_offset),
                                  static_cast<uint16_t>(f.wide_left_[i] - i)};
    f.wide_.clear();
    f.wide_.shrink_to_fit();
    f.wide_left_.clear();
    f.wide_left_.shrink_to_fit();
  }
  f.choose_kernel(spec);
  return f;
}

void CompiledForest::choose_kernel(const ForestSpec& spec) {
  const char* forced = std::getenv("FLOWCAST_FOREST_KERNEL");
  if (forced != nullptr && std::string_view(forced) == "portable") {
    kernel_note_ = "FLOWCAST_FOREST_KERNEL=portable";
    return;
  }
  if (!BinnedForest::cpu_supported()) {
    kernel_note_ = "this CPU lacks AVX-512 VBMI";
    return;
  }
  binned_ = BinnedForest::build(spec, &kernel_note_);
}

void CompiledForest::use_portable_kernel() {
  binned_.reset();
  kernel_note_ = "turned off by the caller";
}

size_t CompiledForest::num_nodes() const {
  return compact_.empty() ? wide_.size() : compact_.size();
}

float CompiledForest::apply_link(float margin) const {
  switch (link_) {
    case ForestLink::kIdentity:
      return margin;
    case ForestLink::kSigmoid:
      return 1.0f / (1.0f + std::exp(-margin));
    case ForestLink::kExp:
      return std::exp(margin);
  }
  return margin;
}

void CompiledForest::predict(const float* rows, size_t n_rows, size_t n_cols, float* out) const {
  assert(n_cols >= num_features_);
  if (binned_ && n_rows >= kBinnedMinRows) {
    binned_->margins(rows, n_rows, n_cols, out);
    for (size_t r = 0; r < n_rows; ++r) out[r] = apply_link(out[r]);
    return;
  }
  const size_t tile_floats = z_columns_ * kLanes;
  const Shape shape{roots_.data(), steps_.data(), group_steps_.data(),
                    roots_.size(), tile_floats,   base_margin_};
  // z for a block of tiles: on the stack unless the rows are very wide.
  float stack_z[kStackFloats];
  std::vector<float> heap_z;
  const size_t tiles = std::clamp<size_t>(kStackFloats / tile_floats, 1, kBlockTiles);
  float* z = stack_z;
  if (tiles * tile_floats > kStackFloats) {
    heap_z.resize(tile_floats);
    z = heap_z.data();
  }
  const size_t block = tiles * kLanes;
  float acc[kBlockRows];
  for (size_t start = 0; start < n_rows; start += block) {
    const size_t count = std::min(block, n_rows - start);
    for (size_t r = 0; r < count; ++r)
      widen_row(rows + (start + r) * n_cols, num_features_, z + (r / kLanes) * tile_floats,
                r % kLanes);
    if (!compact_.empty()) {
      const CompactView<CompactNode> view{compact_.data()};
      score_block(view, shape, z, count, acc);
    } else {
      const WideView<WideNode> view{wide_.data(), wide_left_.data()};
      score_block(view, shape, z, count, acc);
    }
    for (size_t r = 0; r < count; ++r) out[start + r] = apply_link(acc[r]);
  }
}

}  // namespace flowcast::ml
