#include "store/postgres_result.h"

#include <bit>
#include <cstring>
#include <limits>

namespace flowcast::store {

int64_t read_be_int64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  if constexpr (std::endian::native == std::endian::little) v = __builtin_bswap64(v);
  return static_cast<int64_t>(v);
}

int32_t read_be_int32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  if constexpr (std::endian::native == std::endian::little) v = __builtin_bswap32(v);
  return static_cast<int32_t>(v);
}

int16_t read_be_int16(const char* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  if constexpr (std::endian::native == std::endian::little) v = __builtin_bswap16(v);
  return static_cast<int16_t>(v);
}

double read_be_double(const char* p) { return std::bit_cast<double>(read_be_int64(p)); }

std::string_view PostgresResult::sqlstate() const {
  const char* s = res_ ? PQresultErrorField(res_.get(), PG_DIAG_SQLSTATE) : nullptr;
  return s != nullptr ? std::string_view(s) : std::string_view();
}

std::string PostgresResult::message() const {
  const char* s = res_ ? PQresultErrorField(res_.get(), PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  return s != nullptr ? std::string(s) : std::string();
}

int64_t PostgresResult::int64(int row, int col) const {
  const char* p = PQgetvalue(res_.get(), row, col);
  switch (PQgetlength(res_.get(), row, col)) {
    case 2:
      return read_be_int16(p);
    case 4:
      return read_be_int32(p);
    default:
      return read_be_int64(p);
  }
}

double PostgresResult::float8(int row, int col) const {
  return read_be_double(PQgetvalue(res_.get(), row, col));
}

int64_t PostgresResult::timestamp_micros(int row, int col) const {
  int64_t pg = read_be_int64(PQgetvalue(res_.get(), row, col));
  // 'infinity' and '-infinity' are the int64 extremes; anything else fits after the shift,
  // except values within the offset of the top, which only 'infinity' reaches.
  if (pg > std::numeric_limits<int64_t>::max() - kPostgresEpochOffsetMicros)
    return std::numeric_limits<int64_t>::max();
  if (pg == std::numeric_limits<int64_t>::min()) return pg;
  return pg + kPostgresEpochOffsetMicros;
}

}  // namespace flowcast::store
