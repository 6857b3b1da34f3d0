#include "core/record.h"

#include <algorithm>
#include <utility>

namespace flowcast {

std::vector<uint32_t> key_order(const std::vector<Record>& records) {
  return key_order(records.size(), [&](size_t i) -> std::string_view { return records[i].key; });
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
