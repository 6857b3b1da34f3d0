// Checks and message helpers both store backends apply to the records of a SinkBatch.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "core/dataset_spec.h"
#include "core/record.h"
#include "core/status.h"

namespace flowcast::store {

// `text` made safe for an error message: printable ASCII (others become '?'), at most 64 bytes
// then "...".
std::string shown_text(std::string_view text);

// What a Value holds, by its variant index, for messages: "nothing", "an integer", "a float",
// "a bool" or "text".
const char* value_kind_name(size_t variant_index);

// The checks every backend makes before writing a record: as many values as the dataset has
// fields, a non-empty key, and each present value of the kind its field is stored as
// (`value_index[f]` is the Value variant index field f must hold). On failure, kInvalidArgument
// naming the record (`where()`, e.g. "request 3 (key 'x')", built only then) and the field.
Status record_shape_error(const DatasetSpec& spec, const std::vector<size_t>& value_index,
                          const Record& record, const std::string& where);
template <class Where>
Status check_record_shape(const DatasetSpec& spec, const std::vector<size_t>& value_index,
                          const Record& record, const Where& where) {
  bool ok = record.values.size() == value_index.size() && !record.key.empty();
  for (size_t f = 0; ok && f < record.values.size(); ++f) {
    const size_t got = record.values[f].index();
    ok = got == 0 || got == value_index[f];
  }
  return ok ? Status::ok_status() : record_shape_error(spec, value_index, record, where());
}

}  // namespace flowcast::store
