// PostgresCopyBuffer: builds the data of one `COPY ... FROM STDIN (FORMAT binary)` in memory.
//
// The binary COPY format: an 11-byte signature, flags and header-extension length; then per row
// an int16 field count followed by each field as an int32 length (-1 for NULL) and its bytes in
// the type's binary send format; then an int16 -1 trailer. All integers are big-endian.
// Binary COPY skips the server's text parsing, which is most of the cost of a text COPY.
//
// Usage: begin_row(n), exactly n add_*() calls, ... then finish(). Not thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace flowcast::store {

class PostgresCopyBuffer {
 public:
  PostgresCopyBuffer() { clear(); }

  // Starts over with an empty COPY (header only).
  void clear();
  void reserve(size_t bytes) { data_.reserve(bytes); }

  void begin_row(int16_t fields) {
    put16(static_cast<uint16_t>(fields));
    ++rows_;
  }
  void add_null() { put32(0xffffffffu); }
  void add_text(std::string_view v) {
    put32(static_cast<uint32_t>(v.size()));
    data_.append(v.data(), v.size());
  }
  void add_bytes(std::string_view v) { add_text(v); }
  void add_int64(int64_t v) {
    put32(8);
    put64(static_cast<uint64_t>(v));
  }
  void add_int32(int32_t v) {
    put32(4);
    put32(static_cast<uint32_t>(v));
  }
  // NaN is written as NULL: flowcast stores NaN as "no value", as the SQLite backend must.
  void add_double(double v);
  void add_bool(bool v) {
    put32(1);
    data_.push_back(v ? '\1' : '\0');
  }
  // Microseconds since 1970-01-01 UTC. REQUIRES: within PostgreSQL's range (see
  // kMinPostgresTimestampMicros).
  void add_timestamp_micros(int64_t v);

  // Appends the trailer. The buffer is then complete; data() is what COPY reads.
  void finish() { put16(0xffffu); }

  const std::string& data() const { return data_; }
  int64_t rows() const { return rows_; }

 private:
  void put16(uint16_t v) {
    char b[2] = {static_cast<char>(v >> 8), static_cast<char>(v)};
    data_.append(b, 2);
  }
  void put32(uint32_t v) {
    char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
                 static_cast<char>(v)};
    data_.append(b, 4);
  }
  void put64(uint64_t v) {
    put32(static_cast<uint32_t>(v >> 32));
    put32(static_cast<uint32_t>(v));
  }

  std::string data_;
  int64_t rows_ = 0;
};

// The earliest time PostgreSQL's timestamptz holds (4714-11-24 00:00:00 BC, UTC), in
// microseconds since 1970. Later values up to INT64_MAX all fit after the epoch shift.
inline constexpr int64_t kMinPostgresTimestampMicros = -210'866'803'200'000'000;

}  // namespace flowcast::store
