// PostgresResult: RAII owner of one PGresult (PQclear on destruction), with typed accessors for
// results in binary format (every query PostgresStore runs asks for binary results).
//
// Binary formats read here: int2/int4/int8 and float8 big-endian, bool one byte, timestamptz
// int64 microseconds since 2000-01-01 UTC (converted to flowcast's microseconds since 1970),
// text and bytea as raw bytes. Views returned by text()/bytes() stay valid while the result lives.
//
// Thread-safety: none needed; a result is owned by one thread. Move-only.
#pragma once

#include <libpq-fe.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace flowcast::store {

// Microseconds between the Unix epoch and PostgreSQL's epoch (2000-01-01 00:00:00 UTC).
inline constexpr int64_t kPostgresEpochOffsetMicros = 946'684'800'000'000;

class PostgresResult {
 public:
  PostgresResult() = default;
  explicit PostgresResult(PGresult* res) : res_(res) {}

  PGresult* get() const { return res_.get(); }
  explicit operator bool() const { return res_ != nullptr; }
  ExecStatusType status() const { return PQresultStatus(res_.get()); }
  // "" when the result carries no SQLSTATE (e.g. a client-side failure).
  std::string_view sqlstate() const;
  // The server's primary message, one line ("" when none).
  std::string message() const;

  int rows() const { return PQntuples(res_.get()); }
  int columns() const { return PQnfields(res_.get()); }
  bool is_null(int row, int col) const { return PQgetisnull(res_.get(), row, col) != 0; }

  std::string_view text(int row, int col) const {
    return {PQgetvalue(res_.get(), row, col),
            static_cast<size_t>(PQgetlength(res_.get(), row, col))};
  }
  std::string_view bytes(int row, int col) const { return text(row, col); }
  // Integers of any width (int2, int4, int8), by the column's length.
  int64_t int64(int row, int col) const;
  double float8(int row, int col) const;
  bool boolean(int row, int col) const { return *PQgetvalue(res_.get(), row, col) != 0; }
  // Microseconds since 1970-01-01 UTC; +-infinity are clamped to the int64 range.
  int64_t timestamp_micros(int row, int col) const;

 private:
  struct Clear {
    void operator()(PGresult* r) const { PQclear(r); }
  };
  std::unique_ptr<PGresult, Clear> res_;
};

// Big-endian readers for binary wire values.
int64_t read_be_int64(const char* p);
int32_t read_be_int32(const char* p);
int16_t read_be_int16(const char* p);
double read_be_double(const char* p);

}  // namespace flowcast::store
