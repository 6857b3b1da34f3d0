#include "core/record.h"

#include <algorithm>
#include <utility>

namespace flowcast {

std::vector<uint32_t> key_order(const std::vector<Record>& records) {
  std::vector<std::pair<uint64_t, uint32_t>> refs(records.size());
  for (size_t i = 0; i < records.size(); ++i)
    refs[i] = {key_prefix(records[i].key), static_cast<uint32_t>(i)};
  // The index breaks ties between equal keys: std::sort is then as stable as stable_sort, and
  // faster on these small pairs.
  std::sort(refs.begin(), refs.end(), [&](const auto& a, const auto& b) {
    if (a.first != b.first) return a.first < b.first;
    const int c = records[a.second].key.compare(records[b.second].key);
    return c != 0 ? c < 0 : a.second < b.second;
  });
  std::vector<uint32_t> order(refs.size());
  for (size_t i = 0; i < refs.size(); ++i) order[i] = refs[i].second;
  return order;
}

bool in_key_order(const std::vector<Record>& records) {
  return std::is_sorted(records.begin(), records.end(),
                        [](const Record& a, const Record& b) { return a.key < b.key; });
}

void sort_by_key(std::vector<Record>& records) {
  if (in_key_order(records)) return;
  const std::vector<uint32_t> order = key_order(records);
  // Position p receives the record at order[p]: follow each cycle of the permutation once,
  // swapping, so every record moves at most once more than needed and none is copied.
  std::vector<bool> placed(records.size(), false);
  for (size_t start = 0; start < records.size(); ++start) {
    if (placed[start]) continue;
    size_t p = start;
    while (order[p] != start) {
      std::swap(records[p], records[order[p]]);
      placed[p] = true;
      p = order[p];
    }
    placed[p] = true;
  }
}

}  // namespace flowcast
