#include "store/postgres_transaction.h"

#include "core/log.h"

namespace flowcast::store {

Result<PostgresTransaction> PostgresTransaction::begin(PostgresConnection& conn, Mode mode) {
  FC_RETURN_IF_ERROR(conn.exec(
      mode == Mode::kSnapshot ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" : "BEGIN",
      "BEGIN"));
  return PostgresTransaction(conn);
}

PostgresTransaction::~PostgresTransaction() {
  if (!open_ || conn_->broken()) return;  // a broken session's transaction died with it
  if (conn_->idle()) return;              // nothing open any more
  Status s = conn_->exec("ROLLBACK", "ROLLBACK");
  if (!s.ok()) logger("store.postgres")->debug("rollback failed: {}", s.to_string());
}

Status PostgresTransaction::commit() {
  Status s = conn_->exec("COMMIT", "COMMIT");
  if (!s.ok() && conn_->broken()) committed_unknown_ = true;
  open_ = false;
  if (s.ok() && !conn_->idle()) return Status::internal("COMMIT left a transaction open");
  return s;
}

}  // namespace flowcast::store
