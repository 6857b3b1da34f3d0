// JsonCodec: decodes bus messages (JSON objects) into Records of one dataset and encodes them back.
//
// Strict: every present field must have the schema's type (an int field takes only integral
// numbers; a float field any number; a timestamp an ISO-8601 string or epoch seconds), bounds
// declared in the schema are checked, and the fields a role requires must be there. Unknown fields
// are ignored so producers may add columns. Errors name the field and the problem.
//
// Thread-safety: not thread-safe (it owns a simdjson parser and a scratch buffer); use one codec
// per thread. The DatasetSpec must outlive the codec.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "core/dataset_spec.h"
#include "core/record.h"
#include "core/status.h"

namespace flowcast {

class JsonCodec {
 public:
  explicit JsonCodec(const DatasetSpec& spec);
  ~JsonCodec();
  JsonCodec(const JsonCodec&) = delete;
  JsonCodec& operator=(const JsonCodec&) = delete;

  // Decodes one message. On failure `out` is unspecified and the Status says why
  // (kInvalidArgument), e.g. "field 'passenger_count': expected an integer, got a string".
  // With require_key false a record without its key field decodes with an empty out.key (the
  // HTTP predict endpoint then names it).
  Status decode(std::string_view json, RecordRole role, Record& out, bool require_key = true);

  // Appends the record's fields that belong to `role` as one JSON object.
  void encode(const Record& record, RecordRole role, std::string& out) const;

  const DatasetSpec& spec() const { return spec_; }

 private:
  struct Impl;
  const DatasetSpec& spec_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace flowcast
