#include "store/postgres_copy_buffer.h"

#include <bit>
#include <cmath>

#include "store/postgres_result.h"

namespace flowcast::store {

void PostgresCopyBuffer::clear() {
  data_.clear();
  rows_ = 0;
  static constexpr char kSignature[] = "PGCOPY\n\377\r\n";  // 11 bytes with the implicit NUL
  data_.append(kSignature, 11);
  put32(0);  // flags: no OIDs
  put32(0);  // header extension length
}

void PostgresCopyBuffer::add_double(double v) {
  if (std::isnan(v)) return add_null();
  put32(8);
  put64(std::bit_cast<uint64_t>(v));
}

void PostgresCopyBuffer::add_timestamp_micros(int64_t v) {
  put32(8);
  put64(static_cast<uint64_t>(v - kPostgresEpochOffsetMicros));
}

}  // namespace flowcast::store
