#include "store/sqlite_statement.h"

#include <cstring>

#include <climits>

namespace flowcast::store {

void SqliteStatement::bind_text(int i, std::string_view v) {
  if (v.size() > static_cast<size_t>(INT_MAX)) return note(SQLITE_TOOBIG);
  // data() of an empty view may be null, which SQLite would store as NULL, not ''.
  const char* data = v.data() != nullptr ? v.data() : "";
  note(sqlite3_bind_text(stmt_.get(), i, data, static_cast<int>(v.size()), SQLITE_STATIC));
}

void SqliteStatement::bind_blob(int i, std::string_view v) {
  if (v.size() > static_cast<size_t>(INT_MAX)) return note(SQLITE_TOOBIG);
  const char* data = v.data() != nullptr ? v.data() : "";
  note(sqlite3_bind_blob(stmt_.get(), i, data, static_cast<int>(v.size()), SQLITE_STATIC));
}

Result<bool> SqliteStatement::step() {
  if (bind_rc_ != SQLITE_OK) return sqlite_status(bind_rc_, db_, "binding " + sql());
  int rc = sqlite3_step(stmt_.get());
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  Status s = sqlite_status(rc, db_, sql());
  // The statement is unusable until reset; callers that bail out on the error rely on that.
  sqlite3_reset(stmt_.get());
  return s;
}

Status SqliteStatement::run() {
  for (;;) {
    Result<bool> r = step();  // resets the statement itself on failure
    if (!r.ok()) return r.status();
    if (!r.value()) break;
  }
  reset();
  return Status::ok_status();
}

std::string_view SqliteStatement::column_text(int i) const {
  const auto* p = sqlite3_column_text(stmt_.get(), i);
  int n = sqlite3_column_bytes(stmt_.get(), i);  // after the pointer, as SQLite requires
  if (p == nullptr) return {};
  return {reinterpret_cast<const char*>(p), static_cast<size_t>(n)};
}

std::string_view SqliteStatement::column_blob(int i) const {
  const void* p = sqlite3_column_blob(stmt_.get(), i);
  int n = sqlite3_column_bytes(stmt_.get(), i);
  if (p == nullptr) return {};
  return {static_cast<const char*>(p), static_cast<size_t>(n)};
}

std::string SqliteStatement::sql() const {
  const char* s = sqlite3_sql(stmt_.get());
  std::string out = s != nullptr ? s : "?";
  // Long generated statements would drown the message; the start names the table.
  if (out.size() > 120) out = out.substr(0, 117) + "...";
  return out;
}

Status sqlite_status(int rc, sqlite3* db, std::string_view what) {
  std::string msg(what);
  msg += ": ";
  // The connection's message matches rc only when rc came from the last call on it.
  const char* db_msg = db != nullptr ? sqlite3_errmsg(db) : nullptr;
  bool db_msg_matches = db != nullptr && sqlite3_extended_errcode(db) == rc;
  msg += db_msg_matches && db_msg != nullptr ? db_msg : sqlite3_errstr(rc);
  // "unable to open database file" and I/O errors: the system's reason, when SQLite kept it.
  if (db != nullptr && ((rc & 0xff) == SQLITE_CANTOPEN || (rc & 0xff) == SQLITE_IOERR ||
                        (rc & 0xff) == SQLITE_FULL || (rc & 0xff) == SQLITE_READONLY)) {
    if (const int e = sqlite3_system_errno(db); e != 0) {
      msg += " (";
      msg += std::strerror(e);
      msg += ")";
    }
  }
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Status::busy(std::move(msg));
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PERM:
      return Status::io_error(std::move(msg));
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return Status::corruption(std::move(msg));
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH:
    case SQLITE_TOOBIG:
    case SQLITE_RANGE:
      return Status::invalid(std::move(msg));
    default:
      return Status::internal(std::move(msg));
  }
}

}  // namespace flowcast::store
