// PostgresStore: the production store backend (`postgresql://...` or `postgres://...`), on libpq.
//
// Tables and columns are the SQLite backend's (docs/store.md), with PostgreSQL types; the
// contract of every method is Store's (store/store.h), and the store conformance suite runs
// unchanged against both backends. PostgreSQL specifics:
//   - open() takes any libpq connection URL or key=value string; every libpq option passes
//     through (sslmode, connect_timeout, options=-csearch_path=..., ...). The password comes from
//     the URL, PGPASSWORD or ~/.pgpass, as libpq decides. A bad URL, a refused connection, a
//     wrong password or a missing database fails at once (no retry) with one line naming the
//     server and the reason, never the password.
//   - open() creates the global tables in the session's current schema (the first schema of
//     search_path that exists), upgrades an older schema version (flowcast_schema_version,
//     migrations run in one transaction under an advisory lock, so several processes may start
//     at once) and refuses a database written by a newer flowcast.
//   - Dataset tables are created by ensure_dataset(), or on the first call that names the
//     dataset: the records in D_requests and D_outcomes with the view D_records over them
//     (PostgresDatasetSql). A D_records table of schema version 1 is split into the two then
//     (migrate_single_table()); otherwise an existing records table whose columns differ is
//     reported (kInvalidArgument naming the column), never altered. float/latitude/longitude
//     share a column type, so switching between those is not detected; int and timestamp are
//     told apart.
//   - commit(): the batch is checked and encoded first (a bad record fails the batch with
//     kInvalidArgument before anything is sent); then, in ONE transaction, each part goes by
//     binary COPY into a temporary staging table and from there by one INSERT ... ON CONFLICT
//     into its table (each records table's rows, usually new keys, first try a binary COPY
//     straight into it under a savepoint; see write_records()). Text holding a NUL byte
//     (PostgreSQL text cannot store one) or, on a UTF8 server, invalid UTF-8 fails the batch
//     with kInvalidArgument naming the field.
//   - NaN doubles are stored as NULL and read back as absent (NaN in predictions, evaluations and
//     metrics), as in SQLite. Timestamps are timestamptz (exact to the microsecond); times before
//     4714 BC cannot be stored (kInvalidArgument).
//   - Connection loss and server restarts: every operation is retried on a fresh session with
//     capped exponential backoff for up to `retry_for_ms`; a write retries its whole transaction
//     (rows and offsets together, so no offset moves without its rows). An outage is logged once
//     (warning) and its end once (info). Past `retry_for_ms` the operation fails with
//     kUnavailable, which the stages' retry loops treat as transient. A COMMIT cut off by the
//     connection has an unknown outcome; its retry is idempotent, and the per-row
//     evaluation_inserted flags and register_model's version account for a first attempt that
//     did commit. scan_labelled is retried only until its first row was delivered.
//   - register_model ignores info.version and info.status (the registry assigns both) and uses
//     now for info.created_at_ms when it is 0. Versions are assigned under a per-dataset advisory
//     lock, so concurrent registrations get distinct versions.
//
// Thread-safety: thread-safe. Each call leases a session from a small pool (PostgresPool), so
// stage threads write and read concurrently; a long scan_labelled() (training) holds its own
// session and never blocks commit() (ingest), and its callback may call back into the store.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>
#include <vector>

#include "core/config_node.h"
#include "store/store.h"

namespace flowcast::store {

class PostgresConnection;
class PostgresCopyBuffer;
class PostgresPool;
struct PostgresDatasetSql;
struct PostgresRecordTable;

struct PostgresOptions {
  // How long one operation keeps retrying through a connection loss before it fails (transient).
  int64_t retry_for_ms = 10000;
  // Idle sessions kept open for reuse (more are opened when more threads call at once).
  int64_t pool_size = 4;
  // Rows per FETCH while scan_labelled() streams; bounds the memory a scan holds at once.
  int64_t fetch_rows = 10000;
};

// Reads the `postgresql:` section of a configuration (undefined: defaults):
//   postgresql:
//     retry_for: 10s     # duration: 500ms, 10s, 1m, or seconds
//     pool_size: 4
//     fetch_rows: 10000
// Throws ConfigError naming the key on an unknown key or a bad value.
PostgresOptions parse_postgres_options(const flowcast::ConfigNode& section);

class PostgresStore : public Store {
 public:
  // Connects to `url` and prepares the global tables (see the header comment). Fails with
  // kInvalidArgument for a malformed URL, bad options, authentication or a missing database,
  // kUnavailable when the server cannot be reached, and kInvalidArgument when the database was
  // written by a newer schema version.
  static Result<std::unique_ptr<PostgresStore>> open(const std::string& url,
                                                     const PostgresOptions& options);
  // Parses `url` as libpq would, without connecting: kInvalidArgument naming the problem.
  static Status check_url(const std::string& url);
  ~PostgresStore() override;
  PostgresStore(const PostgresStore&) = delete;
  PostgresStore& operator=(const PostgresStore&) = delete;

  // The schema version this build writes (flowcast_schema_version).
  static constexpr int kSchemaVersion = 2;

  Status ensure_dataset(const DatasetSpec& spec) override;
  Result<RecordCheck> record_check(const DatasetSpec& spec) override;
  Result<CommitResult> commit(const DatasetSpec& spec, const SinkBatch& batch) override;
  Result<std::vector<OffsetEntry>> load_offsets(const std::string& group) override;
  Status scan_labelled(const DatasetSpec& spec, int64_t limit,
                       const std::function<void(const Record&)>& row) override;
  Result<int64_t> count_labelled(const DatasetSpec& spec) override;
  Result<int64_t> count_labelled_at_most(const DatasetSpec& spec) override;
  // Newest first: rows with an event time by event time, merged with rows that have only an
  // outcome by _labelled_at_ms. limit 0: all.
  Result<std::vector<double>> recent_targets(const DatasetSpec& spec, int64_t limit) override;
  Result<std::optional<Record>> get_record(const DatasetSpec& spec,
                                           const std::string& key) override;
  Result<std::vector<PredictionRow>> predictions_for(const DatasetSpec& spec,
                                                     const std::string& key) override;
  Result<DatasetStats> stats(const DatasetSpec& spec) override;
  // limit 0: all.
  Result<std::vector<MetricRow>> recent_metrics(const std::string& dataset, int64_t limit) override;

  Result<int64_t> register_model(const ModelInfo& info, std::string_view artifact,
                                 bool activate) override;
  Result<std::vector<ModelInfo>> list_models(const std::string& dataset) override;
  Result<std::optional<ModelInfo>> active_model(const std::string& dataset) override;
  Result<std::string> load_artifact(const std::string& dataset, int64_t version) override;
  Status promote_model(const std::string& dataset, int64_t version) override;

  // The URL without its password.
  std::string describe() const override { return describe_; }

 private:
  PostgresStore(std::string describe, const PostgresOptions& options,
                std::unique_ptr<PostgresPool> pool, bool check_utf8);

  // Runs `body` on a leased session, retrying transient failures (see the header comment).
  // `no_retry`, when set to true by the body, stops retries (a scan that delivered rows).
  template <typename Body>
  std::invoke_result_t<Body&, PostgresConnection&> run(const char* what, Body&& body,
                                                       const bool* no_retry = nullptr);
  void note_outage(const char* what, const Status& failure);
  void note_recovered();

  // The dataset's SQL, creating or checking its tables on first use (or when the spec changed).
  Result<std::shared_ptr<const PostgresDatasetSql>> dataset_sql(const DatasetSpec& spec);
  Result<std::shared_ptr<const PostgresDatasetSql>> create_or_check(const DatasetSpec& spec);
  // Writes encoded rows (PostgresRecordEncoder) into D_requests (`which` 0) or D_outcomes (1),
  // inside commit()'s transaction.
  Status write_records(PostgresConnection& db, const PostgresRecordTable& table, int which,
                       const PostgresCopyBuffer& rows);
  // The one-row count `query` (a member of the dataset's SQL) returns.
  Result<int64_t> count(const DatasetSpec& spec, const std::string PostgresDatasetSql::*query,
                        const char* what);
  // Schema version 1 kept a dataset's records in one table: moves them into the two tables.
  Status migrate_single_table(PostgresConnection& db, const PostgresDatasetSql& sql);
  // Creates this session's staging tables for `sql` (and the global ones) if not done yet.
  Status ensure_staging(PostgresConnection& conn, const PostgresDatasetSql& sql);

  const std::string describe_;
  const PostgresOptions options_;
  const std::unique_ptr<PostgresPool> pool_;
  const bool check_utf8_;  // the server's encoding is UTF8

  // Per records table (D_requests, D_outcomes): commits left before the COPY fast path is tried
  // again after it met a key that existed (see write_records()).
  std::atomic<int> fast_path_pause_[2] = {0, 0};
  // False once the server refused a COPY into a records table (e.g. row level security on it).
  std::atomic<bool> copy_fast_path_{true};
  std::atomic<bool> outage_{false};
  std::atomic<int64_t> outage_since_ns_{0};

  std::mutex datasets_mu_;  // guards datasets_
  std::map<std::string, std::shared_ptr<const PostgresDatasetSql>> datasets_;
};

}  // namespace flowcast::store
