#include "store/record_checks.h"

namespace flowcast::store {

std::string shown_text(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, 64)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  if (text.size() > 64) out += "...";
  return out;
}

const char* value_kind_name(size_t variant_index) {
  switch (variant_index) {
    case 0:
      return "nothing";
    case 1:
      return "an integer";
    case 2:
      return "a float";
    case 3:
      return "a bool";
    default:
      return "text";
  }
}

Status record_shape_error(const DatasetSpec& spec, const std::vector<size_t>& value_index,
                          const Record& record, const std::string& where) {
  if (record.values.size() != value_index.size())
    return Status::invalid(where + " has " + std::to_string(record.values.size()) +
                           " values; dataset '" + spec.name() + "' has " +
                           std::to_string(value_index.size()) + " fields");
  if (record.key.empty()) return Status::invalid(where + " has an empty key");
  for (size_t f = 0; f < record.values.size(); ++f) {
    const size_t got = record.values[f].index();
    if (got != 0 && got != value_index[f]) {
      const FieldSpec& fs = spec.field(static_cast<int>(f));
      return Status::invalid(where + ": field '" + fs.name + "' holds " + value_kind_name(got) +
                             " but is declared " + field_type_name(fs.type));
    }
  }
  return Status::internal(where + ": no shape problem found");  // REQUIRES: one exists
}

}  // namespace flowcast::store
