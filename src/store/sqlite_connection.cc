#include "store/sqlite_connection.h"

#include <algorithm>
#include <climits>

namespace flowcast::store {

Result<std::unique_ptr<SqliteConnection>> SqliteConnection::open(
    const std::string& path, const SqliteConnectionSettings& settings) {
  sqlite3* raw = nullptr;
  // NOMUTEX: each connection is used by one thread at a time (see the class comment), so
  // SQLite's per-connection mutex would only cost time.
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  // sqlite3_open_v2 hands back a handle even on failure; own it before anything can return.
  std::unique_ptr<SqliteConnection> conn(new SqliteConnection(raw));
  if (rc != SQLITE_OK) {
    if (raw == nullptr) return Status::internal("sqlite3_open_v2(" + path + "): out of memory");
    return conn->error(rc, "opening " + path);
  }
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw,
                       static_cast<int>(std::clamp<int64_t>(settings.busy_timeout_ms, 0, INT_MAX)));
  // A page size takes effect only while the file has no tables (and must precede WAL mode);
  // afterwards SQLite ignores it, so an existing file keeps the size it was created with.
  if (settings.page_size > 0)
    FC_RETURN_IF_ERROR(conn->exec("PRAGMA page_size=" + std::to_string(settings.page_size)));
  // journal_mode=WAL is persistent in the file and answers with the resulting mode; anything
  // else (a read-only medium, a network file system without shared memory) is refused rather
  // than silently running with a rollback journal.
  if (settings.set_wal) {
    FC_ASSIGN_OR_RETURN(SqliteStatement * wal, conn->statement("PRAGMA journal_mode=WAL"));
    auto guard = wal->reset_on_exit();
    FC_ASSIGN_OR_RETURN(bool row, wal->step());
    std::string mode = row ? std::string(wal->column_text(0)) : "";
    if (mode != "wal")
      return Status::io_error("cannot switch " + path + " to WAL mode (journal mode is '" + mode +
                              "')");
  }
  FC_RETURN_IF_ERROR(conn->exec("PRAGMA synchronous=" + settings.synchronous));
  FC_RETURN_IF_ERROR(conn->exec("PRAGMA cache_size=-" + std::to_string(settings.cache_kib)));
  FC_RETURN_IF_ERROR(conn->exec("PRAGMA temp_store=MEMORY"));
  if (settings.wal_autocheckpoint_bytes > 0) {
    FC_ASSIGN_OR_RETURN(int64_t page, conn->page_size());
    FC_RETURN_IF_ERROR(
        conn->exec("PRAGMA wal_autocheckpoint=" +
                   std::to_string(std::max<int64_t>(1, settings.wal_autocheckpoint_bytes / page))));
  }
  FC_RETURN_IF_ERROR(
      conn->exec("PRAGMA journal_size_limit=" + std::to_string(settings.journal_size_limit_bytes)));
  if (settings.query_only) FC_RETURN_IF_ERROR(conn->exec("PRAGMA query_only=1"));
  return conn;
}

Result<int64_t> SqliteConnection::page_size() {
  FC_ASSIGN_OR_RETURN(SqliteStatement * st, statement("PRAGMA page_size"));
  auto guard = st->reset_on_exit();
  FC_ASSIGN_OR_RETURN(bool row, st->step());
  if (!row || st->column_int64(0) <= 0) return Status::internal("PRAGMA page_size gave no size");
  return st->column_int64(0);
}

Status SqliteConnection::exec(const std::string& sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db_.get(), sql.c_str(), nullptr, nullptr, &err);
  if (rc == SQLITE_OK) return Status::ok_status();
  // sqlite3_exec's message is the one to report; free it before building the Status.
  std::string what = sql.size() > 120 ? sql.substr(0, 117) + "..." : sql;
  std::string msg = err != nullptr ? err : sqlite3_errstr(rc);
  sqlite3_free(err);
  Status s = sqlite_status(rc, nullptr, what);
  return Status(s.code(), what + ": " + msg);
}

Result<SqliteStatement*> SqliteConnection::statement(const std::string& sql) {
  auto it = statements_.find(sql);
  if (it != statements_.end()) return it->second.get();
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v3(db_.get(), sql.c_str(), static_cast<int>(sql.size() + 1),
                              SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
  auto stmt = std::make_unique<SqliteStatement>(db_.get(), raw);
  if (rc != SQLITE_OK) {
    std::string what = sql.size() > 120 ? sql.substr(0, 117) + "..." : sql;
    return error(rc, "preparing " + what);
  }
  if (raw == nullptr) return Status::internal("preparing an empty statement");
  SqliteStatement* out = stmt.get();
  statements_.emplace(sql, std::move(stmt));
  return out;
}

void SqliteConnection::reset_all_statements() {
  for (sqlite3_stmt* s = sqlite3_next_stmt(db_.get(), nullptr); s != nullptr;
       s = sqlite3_next_stmt(db_.get(), s)) {
    if (sqlite3_stmt_busy(s) != 0) sqlite3_reset(s);
  }
}

}  // namespace flowcast::store
