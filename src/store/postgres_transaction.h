// PostgresTransaction: an open transaction on a PostgresConnection that rolls back unless
// committed.
//
// Writers use kReadWrite (READ COMMITTED, PostgreSQL's default: upserts with ON CONFLICT need no
// stronger isolation to stay correct). Readers that run several statements use kSnapshot
// (REPEATABLE READ READ ONLY): every statement sees the same snapshot, as a SQLite read
// transaction does.
//
// commit() tells apart a COMMIT that certainly failed from one whose outcome is unknown: when
// the connection breaks while COMMIT is in flight, the server may or may not have committed.
// Callers that retry must then be ready to find their own writes (see committed_unknown()).
//
// REQUIRES: the connection outlives the transaction and has no transaction open at begin().
#pragma once

#include "core/status.h"
#include "store/postgres_connection.h"

namespace flowcast::store {

class PostgresTransaction {
 public:
  enum class Mode { kReadWrite, kSnapshot };

  static Result<PostgresTransaction> begin(PostgresConnection& conn, Mode mode);
  PostgresTransaction(PostgresTransaction&& other) noexcept
      : conn_(other.conn_), open_(other.open_) {
    other.open_ = false;
  }
  PostgresTransaction& operator=(PostgresTransaction&&) = delete;
  PostgresTransaction(const PostgresTransaction&) = delete;
  PostgresTransaction& operator=(const PostgresTransaction&) = delete;
  // Rolls back when still open (an error path returned before commit()).
  ~PostgresTransaction();

  // Commits. On failure the transaction is over (rolled back, or of unknown outcome when the
  // connection broke during COMMIT: committed_unknown() then returns true).
  Status commit();
  bool committed_unknown() const { return committed_unknown_; }

 private:
  explicit PostgresTransaction(PostgresConnection& conn) : conn_(&conn), open_(true) {}
  PostgresConnection* conn_;
  bool open_;
  bool committed_unknown_ = false;
};

}  // namespace flowcast::store
