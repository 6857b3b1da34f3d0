// PostgresParams: the parameters of one query, kept in the arrays PQexecParams takes. Integers
// and text travel in text format (the server infers their type from the statement), bytes and
// timestamps in binary format with an explicit type, so nothing is ever quoted into SQL text.
//
// Values are copied in; the object must outlive the query call. Not thread-safe.
#pragma once

#include <libpq-fe.h>

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "store/postgres_result.h"

namespace flowcast::store {

class PostgresParams {
 public:
  // Type OIDs from PostgreSQL's catalog (pg_type.dat); stable across versions.
  static constexpr Oid kByteaOid = 17;
  static constexpr Oid kTimestamptzOid = 1184;

  PostgresParams& text(std::string_view v) { return add(std::string(v), 0, 0); }
  PostgresParams& int64(int64_t v) { return add(std::to_string(v), 0, 0); }
  PostgresParams& bytes(std::string_view v) { return add(std::string(v), kByteaOid, 1); }
  // Microseconds since 1970-01-01 UTC. REQUIRES: within PostgreSQL's timestamp range.
  PostgresParams& timestamp_micros(int64_t v) {
    const uint64_t pg = static_cast<uint64_t>(v - kPostgresEpochOffsetMicros);
    std::string b(8, '\0');
    for (int i = 0; i < 8; ++i) b[size_t(i)] = static_cast<char>((pg >> (56 - 8 * i)) & 0xff);
    return add(std::move(b), kTimestamptzOid, 1);
  }
  PostgresParams& null() {
    values_.push_back(nullptr);
    lengths_.push_back(0);
    formats_.push_back(0);
    types_.push_back(0);
    return *this;
  }

  int size() const { return static_cast<int>(values_.size()); }
  const Oid* types() const { return types_.empty() ? nullptr : types_.data(); }
  const char* const* values() const { return values_.empty() ? nullptr : values_.data(); }
  const int* lengths() const { return lengths_.empty() ? nullptr : lengths_.data(); }
  const int* formats() const { return formats_.empty() ? nullptr : formats_.data(); }

 private:
  PostgresParams& add(std::string v, Oid type, int format) {
    storage_.push_back(std::move(v));  // a deque: earlier strings never move
    const std::string& s = storage_.back();
    values_.push_back(s.data());
    lengths_.push_back(static_cast<int>(s.size()));
    formats_.push_back(format);
    types_.push_back(type);
    return *this;
  }

  std::deque<std::string> storage_;
  std::vector<const char*> values_;
  std::vector<int> lengths_, formats_;
  std::vector<Oid> types_;
};

}  // namespace flowcast::store
