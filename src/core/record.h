// Record: one event of a dataset in memory. values[i] holds field i of the DatasetSpec
// (std::monostate when absent). Timestamps are int64 microseconds since the epoch.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace flowcast {

using Value = std::variant<std::monostate, int64_t, double, bool, std::string>;

// Which message a record came in: a request to score, a later outcome, or a complete labelled row.
enum class RecordRole { kRequest, kOutcome, kObservation };
const char* record_role_name(RecordRole role);

struct Record {
  std::string key;            // the key field's value as text
  std::vector<Value> values;  // one slot per schema field

  bool has(int i) const { return !std::holds_alternative<std::monostate>(values[size_t(i)]); }
  // Numeric view of a field: int, float, bool and timestamp as double; NaN when absent or text.
  double number(int i) const {
    const Value& v = values[size_t(i)];
    if (auto* d = std::get_if<double>(&v)) return *d;
    if (auto* n = std::get_if<int64_t>(&v)) return static_cast<double>(*n);
    if (auto* b = std::get_if<bool>(&v)) return *b ? 1.0 : 0.0;
    return std::nan("");
  }
  const std::string* text(int i) const { return std::get_if<std::string>(&values[size_t(i)]); }
};

// The first 8 bytes of a key as a big-endian number, zero-padded: comparing prefixes orders keys
// as std::string's operator< does, except that keys equal in their first 8 bytes (or differing
// only by trailing NULs there) tie and need the whole keys compared.
inline uint64_t key_prefix(std::string_view key) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8; ++i)
    v = (v << 8) | (i < key.size() ? static_cast<unsigned char>(key[i]) : 0u);
  return v;
}

// True when `records` are in key order already (std::string's operator<), as a batch sorted by
// sort_by_key is: then key_order would be the identity, and is not worth building.
bool in_key_order(const std::vector<Record>& records);

// The indices 0..n-1 of n items in the order of their keys (`key_of(i)`, a string_view),
// stable: the items of one key keep their order, so applying them in this order still lets the
// last one win, and inserting them still lets the first one stay. Compares key prefixes first
// and reads the keys only on a tie (items are scattered in memory; touching them is what costs).
template <typename KeyOf>
std::vector<uint32_t> key_order(size_t n, KeyOf key_of) {
  std::vector<std::pair<uint64_t, uint32_t>> refs(n);
  for (size_t i = 0; i < n; ++i) refs[i] = {key_prefix(key_of(i)), static_cast<uint32_t>(i)};
  // The index breaks ties between equal keys: std::sort is then as stable as stable_sort, and
  // faster on these small pairs.
  std::sort(refs.begin(), refs.end(), [&](const auto& a, const auto& b) {
    if (a.first != b.first) return a.first < b.first;
    const int c = std::string_view(key_of(a.second)).compare(key_of(b.second));
    return c != 0 ? c < 0 : a.second < b.second;
  });
  std::vector<uint32_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = refs[i].second;
  return order;
}

// key_order of records, by their keys.
std::vector<uint32_t> key_order(const std::vector<Record>& records);

// Sorts `records` by key in place, stably (see key_order). Records are swapped, not copied, so
// each keeps its buffers.
void sort_by_key(std::vector<Record>& records);

}  // namespace flowcast
