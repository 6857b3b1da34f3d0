// SqliteStatement: RAII owner of one prepared sqlite3_stmt (finalized on destruction).
//
// Binding never fails loudly: the first failing bind is remembered and reported by the next
// step(), so hot loops bind by index without checking every call. Text and blobs are bound
// SQLITE_STATIC: REQUIRES the bound bytes stay valid until the statement is reset or rebound.
//
// After a SELECT, reset() (or a ResetGuard) must run before the connection is reused elsewhere:
// a statement left mid-result keeps its read transaction, and so its WAL snapshot, open.
//
// Thread-safety: none; a statement belongs to its connection and is used by one thread at a time.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"

namespace flowcast::store {

class SqliteStatement {
 public:
  // Takes ownership of `stmt` (prepared on `db`).
  SqliteStatement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  SqliteStatement(const SqliteStatement&) = delete;
  SqliteStatement& operator=(const SqliteStatement&) = delete;

  // Parameters are 1-based, as in SQLite.
  void bind_null(int i) { note(sqlite3_bind_null(stmt_.get(), i)); }
  void bind_int64(int i, int64_t v) { note(sqlite3_bind_int64(stmt_.get(), i, v)); }
  void bind_double(int i, double v) { note(sqlite3_bind_double(stmt_.get(), i, v)); }
  void bind_text(int i, std::string_view v);
  void bind_blob(int i, std::string_view v);

  // Advances the statement: true when a row is available, false when done. A failed bind or
  // step is returned as a Status naming the statement.
  Result<bool> step();
  // Steps a statement that returns no rows to completion, then resets it (bindings are kept).
  Status run();
  // Ends the current execution (releasing its read snapshot) and forgets a failed bind.
  void reset() {
    sqlite3_reset(stmt_.get());
    bind_rc_ = SQLITE_OK;
  }

  // Columns are 0-based. column_text/column_blob views stay valid until the next step/reset.
  bool column_is_null(int i) const { return sqlite3_column_type(stmt_.get(), i) == SQLITE_NULL; }
  int64_t column_int64(int i) const { return sqlite3_column_int64(stmt_.get(), i); }
  double column_double(int i) const { return sqlite3_column_double(stmt_.get(), i); }
  std::string_view column_text(int i) const;
  std::string_view column_blob(int i) const;

  // Resets the statement and clears its bindings when the scope ends, whatever path leaves it,
  // so a cached statement never keeps pointers to buffers that die with the caller's scope.
  class ResetGuard {
   public:
    explicit ResetGuard(SqliteStatement& s) : s_(s) {}
    ~ResetGuard() {
      s_.reset();
      sqlite3_clear_bindings(s_.stmt_.get());
    }
    ResetGuard(const ResetGuard&) = delete;
    ResetGuard& operator=(const ResetGuard&) = delete;

   private:
    SqliteStatement& s_;
  };
  [[nodiscard]] ResetGuard reset_on_exit() { return ResetGuard(*this); }

  std::string sql() const;

 private:
  struct Finalizer {
    void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
  };
  void note(int rc) {
    if (rc != SQLITE_OK && bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  }

  sqlite3* db_;
  std::unique_ptr<sqlite3_stmt, Finalizer> stmt_;
  int bind_rc_ = SQLITE_OK;
};

// Maps an SQLite result code to a flowcast Status: busy/locked -> kBusy, I/O and full disk ->
// kIoError, corrupt or not-a-database -> kCorruption, constraint -> kInvalidArgument, others
// kInternal. The message is "<what>: <sqlite message>".
Status sqlite_status(int rc, sqlite3* db, std::string_view what);

}  // namespace flowcast::store
