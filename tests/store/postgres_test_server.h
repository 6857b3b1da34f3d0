// PostgresTestServer: the PostgreSQL server the tests may use, as scripts/with-postgres describes
// it in the environment (FLOWCAST_TEST_POSTGRES_URL, ..._RESTART). Tests that need it call
// PostgresTestServer::get() and GTEST_SKIP() with skip_message() when it returns null.
//
// Each test works in a fresh schema: schema_url() gives a URL whose sessions use only that schema
// (libpq's options=-csearch_path=...), so tests running in parallel never see each other's
// tables. SchemaScopedStore drops its schema when the store is destroyed.
#pragma once

#include <libpq-fe.h>

#include <memory>
#include <string>
#include <vector>

#include "store/postgres_store.h"

namespace flowcast::store::testing {

class PostgresTestServer {
 public:
  // The server from the environment, or null when FLOWCAST_TEST_POSTGRES_URL is unset.
  static const PostgresTestServer* get();
  static std::string skip_message();

  const std::string& url() const { return url_; }
  // A new, empty schema with a unique name.
  std::string create_schema() const;
  void drop_schema(const std::string& schema) const;
  // url() with every session's search_path set to `schema` only.
  std::string schema_url(const std::string& schema) const;
  // Runs `sql` as the superuser (in `schema` when given); rows with columns joined by '|'.
  // Failures are test failures.
  std::vector<std::string> query(const std::string& sql, const std::string& schema = "") const;
  // Restarts the server, keeping it down for `down_seconds` (scripts/with-postgres's helper).
  // False when the helper is not available or failed.
  bool restart(double down_seconds) const;

 private:
  explicit PostgresTestServer(std::string url) : url_(std::move(url)) {}
  std::string url_;
};

// `url` with one more libpq parameter (`key=value`, value URL-encoded here).
std::string with_url_param(const std::string& url, const std::string& key,
                           const std::string& value);

// A PostgresStore in a schema of its own, dropped (with everything in it) on destruction.
std::unique_ptr<Store> open_in_fresh_schema(const PostgresTestServer& server,
                                            const PostgresOptions& options,
                                            std::string* schema_out = nullptr,
                                            Status* error = nullptr);

}  // namespace flowcast::store::testing
