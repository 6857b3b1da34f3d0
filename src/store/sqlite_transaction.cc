#include "store/sqlite_transaction.h"

#include "core/log.h"

namespace flowcast::store {

Result<SqliteTransaction> SqliteTransaction::begin(SqliteConnection& conn, Mode mode) {
  FC_ASSIGN_OR_RETURN(SqliteStatement * stmt,
                      conn.statement(mode == Mode::kImmediate ? "BEGIN IMMEDIATE" : "BEGIN"));
  FC_RETURN_IF_ERROR(stmt->run());
  return SqliteTransaction(conn);
}

SqliteTransaction::~SqliteTransaction() {
  if (!open_) return;
  // Statements still mid-result would make ROLLBACK fail with SQLITE_BUSY on older SQLite and
  // keep the snapshot; reset them first.
  conn_->reset_all_statements();
  if (!conn_->in_transaction()) return;  // SQLite already rolled back (e.g. on SQLITE_FULL)
  Status s = conn_->exec("ROLLBACK");
  if (!s.ok()) logger("store.sqlite")->error("rollback failed: {}", s.to_string());
}

Status SqliteTransaction::commit() {
  FC_ASSIGN_OR_RETURN(SqliteStatement * stmt, conn_->statement("COMMIT"));
  FC_RETURN_IF_ERROR(stmt->run());
  open_ = false;
  return Status::ok_status();
}

}  // namespace flowcast::store
