#include "store/postgres_pool.h"

namespace flowcast::store {

Result<PostgresPool::Lease> PostgresPool::lease() {
  {
    std::lock_guard lock(mu_);
    if (!idle_.empty()) {
      auto conn = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(conn));
    }
  }
  FC_ASSIGN_OR_RETURN(auto conn, connect());
  return Lease(this, std::move(conn));
}

void PostgresPool::give_back(std::unique_ptr<PostgresConnection> conn) {
  // A session left in a transaction (an aborted one, or a scan cut short) is not reused: its
  // state is unknown, and closing it ends whatever it held on the server.
  if (conn->broken() || !conn->idle()) return;
  std::lock_guard lock(mu_);
  if (idle_.size() < max_idle_) idle_.push_back(std::move(conn));
}

void PostgresPool::drop_idle() {
  std::vector<std::unique_ptr<PostgresConnection>> dropped;
  {
    std::lock_guard lock(mu_);
    dropped.swap(idle_);
  }
  // Closed outside the lock: PQfinish may wait on the network.
}

size_t PostgresPool::idle_count() {
  std::lock_guard lock(mu_);
  return idle_.size();
}

}  // namespace flowcast::store
