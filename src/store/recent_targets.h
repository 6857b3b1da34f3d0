// Shared by the store backends: Store::recent_targets reads targets with an event time and targets
// of outcome-only rows (ordered by when they were labelled) separately; this merges the two lists,
// each sorted newest first by its int64 time, into the newest `limit` targets (0: all).
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace flowcast::store {

inline std::vector<double> merge_newest_first(const std::vector<std::pair<int64_t, double>>& timed,
                                              const std::vector<std::pair<int64_t, double>>& untimed,
                                              int64_t limit) {
  std::vector<double> targets;
  size_t a = 0, b = 0;
  const size_t want = limit == 0 ? timed.size() + untimed.size() : static_cast<size_t>(limit);
  while (targets.size() < want && (a < timed.size() || b < untimed.size())) {
    bool take_timed =
        b >= untimed.size() || (a < timed.size() && timed[a].first >= untimed[b].first);
    targets.push_back(take_timed ? timed[a++].second : untimed[b++].second);
  }
  return targets;
}

}  // namespace flowcast::store
