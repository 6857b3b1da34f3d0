// PostgresConnection: RAII owner of one PGconn (PQfinish on destruction) and of what a session
// remembers: the temporary staging tables created on it.
//
// Lifecycle: connect() opens a session from a libpq URL or connection string (every libpq
// option passes through: sslmode, connect_timeout, options=-csearch_path=..., ...; the password
// comes from the URL, PGPASSWORD or ~/.pgpass as libpq decides), sets client_encoding to UTF8 and
// routes server notices to the debug log instead of stderr. A session whose socket broke reports
// broken() and is thrown away by its owner; nothing here reconnects.
//
// Errors: every failure is a Status whose message is ONE line (libpq's multi-line messages are
// joined) and never contains the password. postgres_status() maps SQLSTATEs to codes:
// connection loss, server shutdown and too-many-connections -> kUnavailable; serialization
// failures and deadlocks -> kBusy (both transient: callers retry); bad data and constraint
// violations -> kInvalidArgument; a cancelled statement -> kTimeout; anything else kInternal.
//
// Thread-safety: none. A connection is used by one thread at a time (PostgresPool leases them).
#pragma once

#include <libpq-fe.h>

#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"
#include "store/postgres_params.h"
#include "store/postgres_result.h"

namespace flowcast::store {

class PostgresConnection {
 public:
  // `conninfo`: a postgresql:// URL or key=value string. `server` names the server in messages
  // (a URL without its password). `password` (may be empty) is masked if libpq echoes it.
  static Result<std::unique_ptr<PostgresConnection>> connect(const std::string& conninfo,
                                                             const std::string& server,
                                                             const std::string& password);
  ~PostgresConnection() = default;
  PostgresConnection(const PostgresConnection&) = delete;
  PostgresConnection& operator=(const PostgresConnection&) = delete;

  // Runs SQL without parameters that returns no rows (DDL, BEGIN/COMMIT, several statements
  // separated by ';'). `what` names the operation in an error.
  // `sqlstate` (optional) receives the failure's SQLSTATE ("" on success or when none).
  Status exec(const std::string& sql, std::string_view what, std::string* sqlstate = nullptr);
  // Runs one statement with parameters; results come back in binary format. Succeeds for
  // statements returning rows or none.
  Result<PostgresResult> query(const std::string& sql, const PostgresParams& params,
                               std::string_view what);
  Result<PostgresResult> query(const std::string& sql, std::string_view what) {
    return query(sql, PostgresParams{}, what);
  }
  // Runs `copy_sql` (a COPY ... FROM STDIN) and sends `data` as its input. `sqlstate` as for
  // exec(): a COPY the server ends early (a unique violation in the middle of the data) reports
  // the server's error, and the session stays usable.
  Status copy_in(const std::string& copy_sql, std::string_view data, std::string_view what,
                 std::string* sqlstate = nullptr);

  // True once the session is unusable (socket closed, server gone).
  bool broken() const { return PQstatus(conn_.get()) == CONNECTION_BAD; }
  // True when no transaction is open (and the session is not broken).
  bool idle() const { return PQtransactionStatus(conn_.get()) == PQTRANS_IDLE; }
  // The server's encoding ("UTF8", "SQL_ASCII", ...), as reported at connection time.
  std::string server_encoding() const;
  PGconn* handle() const { return conn_.get(); }

  // Temporary tables this session has created, by name, with the signature they were made for.
  std::map<std::string, std::string>& staging_tables() { return staging_; }

  // The failure of `res` (or of the connection when `res` is null) as a one-line Status.
  Status error(const PGresult* res, std::string_view what) const;

 private:
  struct Finisher {
    void operator()(PGconn* c) const { PQfinish(c); }
  };
  PostgresConnection(PGconn* conn, std::string password)
      : conn_(conn), password_(std::move(password)) {}

  std::unique_ptr<PGconn, Finisher> conn_;
  std::string password_;
  std::map<std::string, std::string> staging_;
};

// libpq's (possibly multi-line) message as one line: lines trimmed and joined with "; ",
// "FATAL:  "/"ERROR:  " prefixes dropped, `secret` (when not empty) replaced by "***".
std::string postgres_one_line(std::string_view message, std::string_view secret = {});

// Maps a SQLSTATE (and whether the connection broke) to a StatusCode; see the class comment.
StatusCode postgres_status_code(std::string_view sqlstate, bool connection_broken);

// A failed connection attempt's code: kInvalidArgument when retrying cannot help (bad password,
// unknown database or role, refused by pg_hba.conf, a bad option), else kUnavailable.
StatusCode postgres_connect_error_code(std::string_view message);

}  // namespace flowcast::store
