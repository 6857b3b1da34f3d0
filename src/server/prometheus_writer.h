// PrometheusWriter: builds a page in the Prometheus text exposition format (version 0.0.4).
//
// Each metric family is announced once with # HELP and # TYPE (family() is idempotent for a
// name), then samples follow with their labels; label values are escaped as the format requires.
// Not thread-safe: one writer per scrape.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/latency_histogram.h"

namespace flowcast::server {

using Labels = std::vector<std::pair<std::string_view, std::string>>;

class PrometheusWriter {
 public:
  // `type`: counter, gauge or histogram.
  void family(std::string_view name, std::string_view type, std::string_view help);
  void sample(std::string_view name, const Labels& labels, double value);
  void sample(std::string_view name, const Labels& labels, int64_t value);
  // A histogram in seconds from a LatencyHistogram snapshot (microseconds), with the buckets
  // at the octave bounds from `min_us` to `max_us` (powers of two) and +Inf.
  void histogram(std::string_view name, const Labels& labels,
                 const LatencyHistogram::Snapshot& snapshot, double min_us = 128,
                 double max_us = 67108864);

  const std::string& text() const { return out_; }
  std::string take() { return std::move(out_); }

 private:
  void labels(const Labels& labels, std::string_view extra_name = {},
              std::string_view extra_value = {});
  std::string out_;
  std::vector<std::string> announced_;
};

}  // namespace flowcast::server
