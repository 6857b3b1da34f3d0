// SqliteTransaction: an open transaction on a SqliteConnection that rolls back unless committed.
//
// Writers use kImmediate: BEGIN IMMEDIATE takes the write lock up front, waiting through the busy
// timeout, so a transaction never fails half-way with SQLITE_BUSY when another connection or
// process writes (a deferred transaction upgrading to a writer cannot wait, it just fails).
// Readers use kDeferred for a consistent WAL snapshot across several statements.
//
// REQUIRES: the connection outlives the transaction and has no transaction open at begin().
#pragma once

#include "core/status.h"
#include "store/sqlite_connection.h"

namespace flowcast::store {

class SqliteTransaction {
 public:
  enum class Mode { kDeferred, kImmediate };

  static Result<SqliteTransaction> begin(SqliteConnection& conn, Mode mode);
  SqliteTransaction(SqliteTransaction&& other) noexcept : conn_(other.conn_), open_(other.open_) {
    other.open_ = false;
  }
  SqliteTransaction& operator=(SqliteTransaction&&) = delete;
  SqliteTransaction(const SqliteTransaction&) = delete;
  SqliteTransaction& operator=(const SqliteTransaction&) = delete;
  // Rolls back when still open (an error path returned before commit()).
  ~SqliteTransaction();

  // Commits; on failure the transaction is rolled back (by the destructor) and the error returned.
  Status commit();

 private:
  explicit SqliteTransaction(SqliteConnection& conn) : conn_(&conn), open_(true) {}
  SqliteConnection* conn_;
  bool open_;
};

}  // namespace flowcast::store
