// SqliteStore: the embedded store backend (`sqlite:PATH`), one SQLite file in WAL mode.
//
// Tables and columns are documented in docs/store.md; the contract of every method is Store's
// (store/store.h). SQLite specifics:
//   - open() creates the parent directories and the file, switches it to WAL, creates the global
//     tables (flowcast_models, flowcast_metrics, flowcast_offsets, flowcast_schema_version) and
//     upgrades an older schema version; a file written by a newer flowcast is refused.
//   - Dataset tables are created by ensure_dataset(), or on the first call that names the
//     dataset. An existing records table whose columns differ from the schema is reported
//     (kInvalidArgument naming the column), never altered. int/timestamp and float/latitude/
//     longitude share a column type, so switching between those is not detected.
//   - commit() runs in one BEGIN IMMEDIATE transaction; a record with the wrong number of values
//     or a value of the wrong type for its field fails the whole batch (kInvalidArgument) and
//     nothing of it is kept.
//   - Doubles that are NaN are stored as NULL (SQLite has no NaN) and read back as absent (NaN
//     in predictions, evaluations and metrics). A REAL holding a whole number is stored as an
//     integer by SQLite and read back as the same double, except that -0.0 comes back as 0.0.
//   - register_model ignores info.version and info.status (the registry assigns both) and uses
//     now for info.created_at_ms when it is 0.
//
// Thread-safety: thread-safe. All writes go through one writer connection behind a mutex; reads
// lease a connection from a small pool, so a long scan_labelled() (training) never blocks
// commit() (ingest) and callbacks may call back into the store. Several processes may open the
// same file: writers wait for each other up to busy_timeout_ms, readers never wait for writers.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/config_node.h"
#include "store/store.h"

namespace flowcast::store {

class SqliteConnection;
struct SqliteDatasetSql;

struct SqliteOptions {
  // How long a writer waits for another connection's (or process's) write lock.
  int64_t busy_timeout_ms = 10000;
  // PRAGMA synchronous: off | normal | full | extra. With WAL, "normal" never corrupts the file;
  // a power loss may drop the last transactions, which the bus then re-delivers.
  std::string synchronous = "normal";
  // Page cache per connection in MiB (the writer's holds the hot part of the key index).
  int64_t cache_mb = 64;
  // The writer checkpoints the WAL into the database once it holds this much. Records arrive in
  // random key order, so each batch dirties pages all over the key index; checkpointing rarely
  // copies each such page once per many batches instead of once per batch (SQLite's default of
  // 4 MiB made ingest ~2.5x slower). After a checkpoint the WAL file keeps its size (up to twice
  // this), so it is not regrown block by block every cycle.
  int64_t checkpoint_mb = 256;
  // The writer's page cache in MiB during a bulk load (begin_bulk_load: ingest-file), back to
  // cache_mb at end_bulk_load(). A group of batches dirties every page of both indexes and the
  // table's new pages; they must stay in memory until the group commits (1M realty rows: about
  // 250 MB of pages; 128 spilled some and was slower). SQLite allocates it as pages are used.
  int64_t bulk_cache_mb = 256;
  // Page size in bytes of a new database file (SQLite's PRAGMA page_size); a file that exists
  // keeps the size it was created with. 16 KiB rather than SQLite's 4 KiB: a quarter of the WAL
  // frames and shallower B-trees; ingest-file of 1M realty rows ran ~10% faster (committing
  // thread 4.05-4.58 s against 4.43-5.19 s), store_bench's prediction commits 198k against 150k
  // per second, and the predict stage's throughput did not move (docs/BENCHMARKS.md).
  int64_t page_size = 16384;
};

// A page size SQLite accepts: a power of two from 512 to 65536.
inline bool valid_page_size(int64_t n) { return n >= 512 && n <= 65536 && (n & (n - 1)) == 0; }

// Reads the `sqlite:` section of a configuration (undefined: defaults):
//   sqlite:
//     busy_timeout: 10s     # duration: 500ms, 10s, 1m, or seconds
//     synchronous: normal   # off | normal | full | extra
//     cache_mb: 64          # page cache per connection
//     checkpoint_mb: 256    # WAL size that triggers a checkpoint
//     bulk_cache_mb: 256    # the writer's page cache during a bulk load (ingest-file)
//     page_size: 16384      # bytes per page of a new database file
// Throws ConfigError naming the key on an unknown key or a bad value.
SqliteOptions parse_sqlite_options(const flowcast::ConfigNode& section);

class SqliteStore : public Store {
 public:
  // Opens (creating if missing) the database at `path` (relative paths are resolved against the
  // current directory). Fails with kInvalidArgument on bad options, kIoError when the file or its
  // directory cannot be created, kCorruption when it is not a SQLite database, and
  // kInvalidArgument when it was written by a newer schema version.
  static Result<std::unique_ptr<SqliteStore>> open(const std::string& path,
                                                   const SqliteOptions& options);
  ~SqliteStore() override;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  // The schema version this build writes (flowcast_schema_version).
  static constexpr int kSchemaVersion = 1;

  Status ensure_dataset(const DatasetSpec& spec) override;
  Result<CommitResult> commit(const DatasetSpec& spec, const SinkBatch& batch) override;
  // Groups commits in one transaction (see Store), at most busy_timeout/2 long (another writer
  // waits that long for the lock), with bulk_cache_mb and synchronous=FULL (unless it is off:
  // with WAL, NORMAL syncs only at checkpoints) on the writer meanwhile; end_bulk_load() commits
  // what is held, durably, and restores the connection's settings.
  Status begin_bulk_load(const BulkLoad& load) override;
  Status end_bulk_load() override;
  Result<std::vector<OffsetEntry>> load_offsets(const std::string& group) override;
  Status scan_labelled(const DatasetSpec& spec, int64_t limit,
                       const std::function<void(const Record&)>& row) override;
  Result<int64_t> count_labelled(const DatasetSpec& spec) override;
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

  std::string describe() const override { return "sqlite:" + path_; }

 private:
  class ReaderLease;
  SqliteStore(std::string path, const SqliteOptions& options,
              std::unique_ptr<SqliteConnection> writer);

  // The dataset's SQL, creating or checking its tables on first use (or when the spec changed).
  Result<std::shared_ptr<const SqliteDatasetSql>> dataset_sql(const DatasetSpec& spec);
  // Creates the dataset's tables or checks the existing ones, then caches and returns its SQL.
  Result<std::shared_ptr<const SqliteDatasetSql>> create_or_check(const DatasetSpec& spec);
  // Bulk loads, writer_mu_ held: apply a batch in the open transaction (committing it when it
  // is full or old enough), commit it, or roll it back after a failure.
  Result<CommitResult> commit_bulk_batch(SqliteConnection& db, const DatasetSpec& spec,
                                         const SqliteDatasetSql& sql, const SinkBatch& batch,
                                         int64_t now, CommitResult result);
  Status commit_bulk_locked(bool own_batch);
  Status flush_bulk_locked();
  Status abandon_bulk_locked(const Status& cause);
  Result<ReaderLease> lease_reader();
  void return_reader(std::unique_ptr<SqliteConnection> conn);

  const std::string path_;  // absolute
  const SqliteOptions options_;

  std::mutex writer_mu_;  // guards writer_ (and every write transaction)
  std::unique_ptr<SqliteConnection> writer_;

  // The open bulk load (guarded by writer_mu_). Declared after writer_, so that a transaction
  // still open when the store is destroyed rolls back before the connection closes.
  struct BulkState;
  std::unique_ptr<BulkState> bulk_;

  std::mutex readers_mu_;  // guards idle_readers_
  std::vector<std::unique_ptr<SqliteConnection>> idle_readers_;

  std::mutex datasets_mu_;  // guards datasets_
  std::map<std::string, std::shared_ptr<const SqliteDatasetSql>> datasets_;
};

}  // namespace flowcast::store
