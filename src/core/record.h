// Record: one event of a dataset in memory. values[i] holds field i of the DatasetSpec
// (std::monostate when absent). Timestamps are int64 microseconds since the epoch.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
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

}  // namespace flowcast
