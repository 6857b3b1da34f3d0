// PostgresPool: the sessions a PostgresStore shares between threads.
//
// lease() hands out an idle session or opens a new one; the Lease gives it back when it ends,
// unless the session broke or was left inside a transaction (then it is closed). At most
// `max_idle` sessions are kept; concurrent leases beyond that open extra sessions that are
// closed on return, so the pool never blocks a caller waiting for a session.
//
// After a connection loss every idle session is suspect (a server restart cut them all):
// drop_idle() closes them so the next lease connects afresh instead of failing once per session.
//
// Thread-safety: thread-safe. A leased session is used by one thread only.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/status.h"
#include "store/postgres_connection.h"

namespace flowcast::store {

class PostgresPool {
 public:
  class Lease {
   public:
    Lease(PostgresPool* pool, std::unique_ptr<PostgresConnection> conn)
        : pool_(pool), conn_(std::move(conn)) {}
    Lease(Lease&&) noexcept = default;
    Lease& operator=(Lease&&) = delete;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease() {
      if (conn_) pool_->give_back(std::move(conn_));
    }
    PostgresConnection& conn() { return *conn_; }
    // Closes the session instead of returning it to the pool.
    void discard() { conn_.reset(); }

   private:
    PostgresPool* pool_;
    std::unique_ptr<PostgresConnection> conn_;
  };

  // `conninfo` as libpq takes it; `server` (no password) and `password` as for
  // PostgresConnection::connect.
  PostgresPool(std::string conninfo, std::string server, std::string password, size_t max_idle)
      : conninfo_(std::move(conninfo)),
        server_(std::move(server)),
        password_(std::move(password)),
        max_idle_(max_idle) {}

  Result<Lease> lease();
  // Opens a session that is not taken from (and later returns to) the pool.
  Result<std::unique_ptr<PostgresConnection>> connect() const {
    return PostgresConnection::connect(conninfo_, server_, password_);
  }
  void drop_idle();
  size_t idle_count();

 private:
  void give_back(std::unique_ptr<PostgresConnection> conn);

  const std::string conninfo_, server_, password_;
  const size_t max_idle_;
  std::mutex mu_;  // guards idle_
  std::vector<std::unique_ptr<PostgresConnection>> idle_;
};

}  // namespace flowcast::store
