// SqliteConnection: RAII owner of one sqlite3* handle and of its prepared-statement cache.
//
// Lifecycle: open() configures the connection (busy timeout, WAL, synchronous, cache size) and
// returns it ready to use; the destructor finalizes every cached statement, then closes.
// statement(sql) prepares `sql` on first use and hands back the same SqliteStatement afterwards,
// so callers pass constant (or per-dataset, built once) SQL text and never re-prepare per call.
//
// Thread-safety: none. A connection is used by one thread at a time; SqliteStore serialises the
// writer behind a mutex and leases reader connections from a pool.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

#include "core/status.h"
#include "store/sqlite_statement.h"

namespace flowcast::store {

struct SqliteConnectionSettings {
  int64_t busy_timeout_ms = 10000;
  std::string synchronous = "normal";     // off | normal | full | extra
  int64_t cache_kib = 16384;              // page cache per connection
  int64_t page_size = 0;                  // bytes; applied only to a file with no tables yet
  int64_t wal_autocheckpoint_bytes = 0;   // 0: SQLite's default (1000 pages)
  int64_t journal_size_limit_bytes = -1;  // WAL size kept after a checkpoint; -1: no limit
  bool set_wal = true;                    // switch the file to WAL (persistent; done by the writer)
  bool query_only = false;                // reader connections refuse writes
};

class SqliteConnection {
 public:
  // Opens (creating if missing) the database file at `path`.
  static Result<std::unique_ptr<SqliteConnection>> open(const std::string& path,
                                                        const SqliteConnectionSettings& settings);
  ~SqliteConnection() = default;  // members are destroyed statements first, handle last
  SqliteConnection(const SqliteConnection&) = delete;
  SqliteConnection& operator=(const SqliteConnection&) = delete;

  // Runs SQL without parameters or results (DDL, PRAGMA, several statements separated by ';').
  Status exec(const std::string& sql);
  // The cached prepared statement for `sql`, prepared on first use. The pointer stays valid for
  // the connection's lifetime.
  Result<SqliteStatement*> statement(const std::string& sql);
  // Rows changed by the last INSERT/UPDATE/DELETE on this connection.
  int64_t changes() const { return sqlite3_changes64(db_.get()); }
  // True while an explicit transaction is open.
  bool in_transaction() const { return sqlite3_get_autocommit(db_.get()) == 0; }
  // Resets every statement still mid-result (used before a connection returns to a pool).
  void reset_all_statements();
  Status error(int rc, std::string_view what) const { return sqlite_status(rc, db_.get(), what); }
  sqlite3* handle() const { return db_.get(); }
  // The file's page size in bytes (PRAGMA page_size).
  Result<int64_t> page_size();

 private:
  struct Closer {
    void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
  };
  explicit SqliteConnection(sqlite3* db) : db_(db) {}

  std::unique_ptr<sqlite3, Closer> db_;  // declared first: destroyed after the statements
  std::unordered_map<std::string, std::unique_ptr<SqliteStatement>> statements_;
};

}  // namespace flowcast::store
