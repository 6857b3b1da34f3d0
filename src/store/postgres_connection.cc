#include "store/postgres_connection.h"

#include <algorithm>
#include <array>

#include "core/log.h"

namespace flowcast::store {
namespace {

// Sent in pieces so libpq never copies one huge buffer at once.
constexpr size_t kCopyChunkBytes = 1 << 20;

// Server notices ("relation ... already exists, skipping") belong in the debug log, not on
// stderr where libpq prints them by default.
void log_notice(void* /*arg*/, const char* message) {
  logger("store.postgres")->debug("server notice: {}", postgres_one_line(message));
}

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

}  // namespace

std::string postgres_one_line(std::string_view message, std::string_view secret) {
  std::string out;
  size_t pos = 0;
  while (pos <= message.size()) {
    size_t end = message.find('\n', pos);
    if (end == std::string_view::npos) end = message.size();
    std::string_view line = message.substr(pos, end - pos);
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r'))
      line.remove_suffix(1);
    for (std::string_view prefix : {"FATAL:  ", "ERROR:  ", "FATAL: ", "ERROR: "}) {
      if (line.substr(0, prefix.size()) == prefix) line.remove_prefix(prefix.size());
    }
    if (!line.empty()) {
      if (!out.empty()) out += "; ";
      out.append(line);
    }
    pos = end + 1;
  }
  // "...failed: FATAL:  password ..." in the middle of a line.
  for (std::string_view inner : {": FATAL:  ", ": ERROR:  "}) {
    for (size_t at; (at = out.find(inner)) != std::string::npos;)
      out.replace(at, inner.size(), ": ");
  }
  if (!secret.empty()) {
    for (size_t at; (at = out.find(secret)) != std::string::npos;)
      out.replace(at, secret.size(), "***");
  }
  return out;
}

StatusCode postgres_status_code(std::string_view sqlstate, bool connection_broken) {
  if (connection_broken) return StatusCode::kUnavailable;
  if (sqlstate.size() != 5) return StatusCode::kInternal;
  const std::string_view cls = sqlstate.substr(0, 2);
  if (cls == "08") return StatusCode::kUnavailable;  // connection exception
  if (sqlstate == "57P01" || sqlstate == "57P02" || sqlstate == "57P03")
    return StatusCode::kUnavailable;                 // admin/crash shutdown, cannot connect now
  if (cls == "53") return StatusCode::kUnavailable;  // out of memory, disk full, too many clients
  if (sqlstate == "40001" || sqlstate == "40P01" || sqlstate == "55P03") return StatusCode::kBusy;
  if (sqlstate == "57014") return StatusCode::kTimeout;  // statement timeout, cancel
  if (cls == "22" || cls == "23" || cls == "28" || cls == "3D" || cls == "3F" ||
      sqlstate == "42501")
    return StatusCode::kInvalidArgument;
  return StatusCode::kInternal;
}

StatusCode postgres_connect_error_code(std::string_view message) {
  static constexpr std::array<std::string_view, 12> kPermanent = {"password authentication failed",
                                                                  "no password supplied",
                                                                  "does not exist",
                                                                  "pg_hba.conf",
                                                                  "invalid",
                                                                  "unrecognized",
                                                                  "not supported",
                                                                  "permission denied",
                                                                  "SSL is not enabled",
                                                                  "server does not support SSL",
                                                                  "authentication method",
                                                                  "certificate"};
  for (std::string_view p : kPermanent)
    if (contains(message, p)) return StatusCode::kInvalidArgument;
  return StatusCode::kUnavailable;
}

Result<std::unique_ptr<PostgresConnection>> PostgresConnection::connect(
    const std::string& conninfo, const std::string& server, const std::string& password) {
  // Defaults first: the connection string (expanded from "dbname") overrides any of them. Then
  // what flowcast relies on: text is exchanged as UTF-8 whatever the URL says.
  const char* keywords[] = {"connect_timeout",  "fallback_application_name",
                            "keepalives_idle",  "keepalives_interval",
                            "keepalives_count", "dbname",
                            "client_encoding",  nullptr};
  const char* values[] = {"10", "flowcast", "30", "10", "3", conninfo.c_str(), "UTF8", nullptr};
  PGconn* raw = PQconnectdbParams(keywords, values, /*expand_dbname=*/1);
  if (raw == nullptr) return Status::internal(server + ": libpq could not allocate a connection");
  std::unique_ptr<PostgresConnection> conn(new PostgresConnection(raw, password));
  if (PQstatus(raw) != CONNECTION_OK) {
    std::string why = postgres_one_line(PQerrorMessage(raw), password);
    return Status(postgres_connect_error_code(why), server + ": cannot connect: " + why);
  }
  PQsetNoticeProcessor(raw, log_notice, nullptr);
  if (PQclientEncoding(raw) != pg_char_to_encoding("UTF8"))
    return Status::internal(server + ": the server did not accept client_encoding UTF8");
  return conn;
}

std::string PostgresConnection::server_encoding() const {
  const char* e = PQparameterStatus(conn_.get(), "server_encoding");
  return e != nullptr ? e : "";
}

Status PostgresConnection::error(const PGresult* res, std::string_view what) const {
  const bool broken = PQstatus(conn_.get()) == CONNECTION_BAD;
  std::string_view state;
  std::string text;
  if (res != nullptr) {
    if (const char* s = PQresultErrorField(res, PG_DIAG_SQLSTATE)) state = s;
    // The server's message, detail and hint; not the statement excerpt with its caret.
    if (const char* primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY)) {
      text = primary;
      for (auto field : {PG_DIAG_MESSAGE_DETAIL, PG_DIAG_MESSAGE_HINT}) {
        if (const char* extra = PQresultErrorField(res, field)) text += std::string("\n") + extra;
      }
    } else {
      text = PQresultErrorMessage(res);
    }
  }
  if (text.empty()) text = PQerrorMessage(conn_.get());
  if (text.empty()) text = "unknown error";
  std::string line = postgres_one_line(text, password_);
  if (!state.empty()) line += " (SQLSTATE " + std::string(state) + ")";
  return Status(postgres_status_code(state, broken), std::string(what) + ": " + line);
}

Status PostgresConnection::exec(const std::string& sql, std::string_view what,
                                std::string* sqlstate) {
  PostgresResult res(PQexec(conn_.get(), sql.c_str()));
  if (sqlstate != nullptr) sqlstate->clear();
  if (res && res.status() == PGRES_COMMAND_OK) return Status::ok_status();
  if (res && res.status() == PGRES_TUPLES_OK) return Status::ok_status();
  if (sqlstate != nullptr) *sqlstate = std::string(res.sqlstate());
  return error(res.get(), what);
}

Result<PostgresResult> PostgresConnection::query(const std::string& sql,
                                                 const PostgresParams& params,
                                                 std::string_view what) {
  PostgresResult res(PQexecParams(conn_.get(), sql.c_str(), params.size(), params.types(),
                                  params.values(), params.lengths(), params.formats(),
                                  /*resultFormat=*/1));
  if (res && (res.status() == PGRES_TUPLES_OK || res.status() == PGRES_COMMAND_OK)) return res;
  return error(res.get(), what);
}

Status PostgresConnection::copy_in(const std::string& copy_sql, std::string_view data,
                                   std::string_view what, std::string* sqlstate) {
  PGconn* c = conn_.get();
  if (sqlstate != nullptr) sqlstate->clear();
  // The command's outcome: the first failed result (with its SQLSTATE), else the connection's.
  auto finish = [&](bool sent) -> Status {
    PostgresResult failed;
    while (PGresult* raw = PQgetResult(c)) {
      PostgresResult r(raw);
      if (!failed && r.status() != PGRES_COMMAND_OK) failed = std::move(r);
    }
    if (!failed && sent) return Status::ok_status();
    if (failed && sqlstate != nullptr) *sqlstate = std::string(failed.sqlstate());
    return error(failed.get(), what);
  };
  {
    PostgresResult start(PQexec(c, copy_sql.c_str()));
    if (!start || start.status() != PGRES_COPY_IN) {
      if (start && sqlstate != nullptr) *sqlstate = std::string(start.sqlstate());
      return error(start.get(), what);
    }
  }
  for (size_t off = 0; off < data.size(); off += kCopyChunkBytes) {
    const size_t n = std::min(kCopyChunkBytes, data.size() - off);
    if (PQputCopyData(c, data.data() + off, static_cast<int>(n)) != 1) {
      // The server may have ended the COPY with an error (libpq then refuses more data), or the
      // connection failed. End it on our side too so the session stays in sync.
      PQputCopyEnd(c, "client failed to send data");
      return finish(false);
    }
  }
  // Success means the server accepted the end of the data; the result says whether the COPY
  // itself succeeded (it reports one result, then the null that ends the command).
  if (PQputCopyEnd(c, nullptr) != 1) return finish(false);
  return finish(true);
}

}  // namespace flowcast::store
