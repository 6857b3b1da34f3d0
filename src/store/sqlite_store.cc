#include "store/sqlite_store.h"

#include "store/recent_targets.h"
#include "store/record_checks.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <limits>
#include <optional>

#include "core/config_error.h"
#include "core/log.h"
#include "core/time_util.h"
#include "store/sqlite_connection.h"
#include "store/sqlite_dataset_sql.h"
#include "store/sqlite_transaction.h"

namespace flowcast::store {

using Mode = SqliteTransaction::Mode;

// A reader connection taken from the pool, given back (reset, outside any transaction) when the
// lease ends, whichever way the calling function returns.
class SqliteStore::ReaderLease {
 public:
  ReaderLease(SqliteStore* store, std::unique_ptr<SqliteConnection> conn)
      : store_(store), conn_(std::move(conn)) {}
  ReaderLease(ReaderLease&&) noexcept = default;
  ReaderLease& operator=(ReaderLease&&) = delete;
  ~ReaderLease() {
    if (conn_) store_->return_reader(std::move(conn_));
  }
  SqliteConnection& conn() { return *conn_; }

 private:
  SqliteStore* store_;
  std::unique_ptr<SqliteConnection> conn_;
};

namespace {

constexpr size_t kMaxIdleReaders = 4;
constexpr const char* kSynchronousModes[] = {"off", "normal", "full", "extra"};

// The tables every dataset shares, at the current schema version. IF NOT EXISTS throughout: run
// on every open, they also recreate a dropped index.
constexpr const char* kGlobalDdl = R"sql(
CREATE TABLE IF NOT EXISTS "flowcast_models" (
  "dataset" TEXT NOT NULL,
  "version" INTEGER NOT NULL,
  "created_at_ms" INTEGER NOT NULL,
  "promoted_at_ms" INTEGER,
  "learner" TEXT NOT NULL,
  "status" TEXT NOT NULL CHECK ("status" IN ('active', 'candidate', 'retired')),
  "metrics_json" TEXT NOT NULL,
  "trained_rows" INTEGER NOT NULL,
  "artifact" BLOB NOT NULL,
  PRIMARY KEY ("dataset", "version")
);
CREATE UNIQUE INDEX IF NOT EXISTS "flowcast_models_one_active"
  ON "flowcast_models" ("dataset") WHERE "status" = 'active';
CREATE TABLE IF NOT EXISTS "flowcast_metrics" (
  "dataset" TEXT NOT NULL,
  "model_version" INTEGER NOT NULL,
  "window_end_ms" INTEGER NOT NULL,
  "window_ms" INTEGER NOT NULL,
  "count" INTEGER NOT NULL,
  "mae" REAL,
  "rmse" REAL,
  "rmsle" REAL,
  "mape" REAL,
  "within_30" REAL,
  PRIMARY KEY ("dataset", "model_version", "window_end_ms", "window_ms")
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS "flowcast_metrics_by_time"
  ON "flowcast_metrics" ("dataset", "window_end_ms");
CREATE TABLE IF NOT EXISTS "flowcast_offsets" (
  "group_id" TEXT NOT NULL,
  "topic" TEXT NOT NULL,
  "partition" INTEGER NOT NULL,
  "next_offset" INTEGER NOT NULL,
  PRIMARY KEY ("group_id", "topic", "partition")
) WITHOUT ROWID;
)sql";

// Migration hook: kMigrations[v - 1] upgrades a file from schema version v to v + 1, inside the
// transaction open() holds. A schema change appends one function here and bumps kSchemaVersion;
// kGlobalDdl always describes the newest version.
using Migration = Status (*)(SqliteConnection&);
constexpr std::array<Migration, SqliteStore::kSchemaVersion - 1> kMigrations{};

constexpr const char* kUpsertOffset =
    "INSERT INTO \"flowcast_offsets\" (\"group_id\",\"topic\",\"partition\",\"next_offset\") "
    "VALUES (?1,?2,?3,?4) ON CONFLICT (\"group_id\",\"topic\",\"partition\") "
    "DO UPDATE SET \"next_offset\"=excluded.\"next_offset\"";
constexpr const char* kUpsertMetric =
    "INSERT INTO \"flowcast_metrics\" (\"dataset\",\"model_version\",\"window_end_ms\","
    "\"window_ms\",\"count\",\"mae\",\"rmse\",\"rmsle\",\"mape\",\"within_30\") "
    "VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10) "
    "ON CONFLICT (\"dataset\",\"model_version\",\"window_end_ms\",\"window_ms\") DO UPDATE SET "
    "\"count\"=excluded.\"count\",\"mae\"=excluded.\"mae\",\"rmse\"=excluded.\"rmse\","
    "\"rmsle\"=excluded.\"rmsle\",\"mape\"=excluded.\"mape\",\"within_30\"=excluded.\"within_30\"";
constexpr const char* kLoadOffsets =
    "SELECT \"topic\",\"partition\",\"next_offset\" FROM \"flowcast_offsets\" "
    "WHERE \"group_id\"=?1 ORDER BY \"topic\",\"partition\"";
constexpr const char* kRecentMetrics =
    "SELECT \"model_version\",\"window_end_ms\",\"window_ms\",\"count\",\"mae\",\"rmse\","
    "\"rmsle\",\"mape\",\"within_30\" FROM \"flowcast_metrics\" WHERE \"dataset\"=?1 "
    "ORDER BY \"window_end_ms\" DESC,\"model_version\" DESC,\"window_ms\" LIMIT ?2";
constexpr const char* kCountMetrics =
    "SELECT count(*) FROM \"flowcast_metrics\" WHERE \"dataset\"=?1";
constexpr const char* kModelColumns =
    "SELECT \"dataset\",\"version\",\"created_at_ms\",\"promoted_at_ms\",\"learner\",\"status\","
    "\"metrics_json\",\"trained_rows\" FROM \"flowcast_models\" ";
constexpr const char* kNextModelVersion =
    "SELECT COALESCE(max(\"version\"),0)+1 FROM \"flowcast_models\" WHERE \"dataset\"=?1";
constexpr const char* kRetireActive =
    "UPDATE \"flowcast_models\" SET \"status\"='retired' "
    "WHERE \"dataset\"=?1 AND \"status\"='active'";
constexpr const char* kInsertModel =
    "INSERT INTO \"flowcast_models\" (\"dataset\",\"version\",\"created_at_ms\","
    "\"promoted_at_ms\",\"learner\",\"status\",\"metrics_json\",\"trained_rows\",\"artifact\") "
    "VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9)";
constexpr const char* kModelStatus =
    "SELECT \"status\" FROM \"flowcast_models\" WHERE \"dataset\"=?1 AND \"version\"=?2";
constexpr const char* kActivateModel =
    "UPDATE \"flowcast_models\" SET \"status\"='active',\"promoted_at_ms\"=?3 "
    "WHERE \"dataset\"=?1 AND \"version\"=?2";
constexpr const char* kLoadArtifact =
    "SELECT \"artifact\" FROM \"flowcast_models\" WHERE \"dataset\"=?1 AND \"version\"=?2";
constexpr const char* kTableColumns = "SELECT \"name\",\"type\",\"pk\" FROM pragma_table_info(?1)";

std::shared_ptr<spdlog::logger> store_log() { return logger("store.sqlite"); }

// SQLite's LIMIT takes -1 for "no limit"; the Store interface uses 0.
int64_t sql_limit(int64_t limit) { return limit == 0 ? -1 : limit; }

void bind_value(SqliteStatement& st, int pos, const Value& v) {
  switch (v.index()) {
    case 1:
      st.bind_int64(pos, *std::get_if<int64_t>(&v));
      break;
    case 2:
      st.bind_double(pos, *std::get_if<double>(&v));
      break;
    case 3:
      st.bind_int64(pos, *std::get_if<bool>(&v) ? 1 : 0);
      break;
    case 4:
      st.bind_text(pos, *std::get_if<std::string>(&v));
      break;
    default:
      st.bind_null(pos);
      break;
  }
}

double column_double_or_nan(const SqliteStatement& st, int col) {
  return st.column_is_null(col) ? std::numeric_limits<double>::quiet_NaN() : st.column_double(col);
}

// Column `col` as a value of `kind`; NULL becomes absent. A string already in `out` is reused,
// so a scan that recycles one Record does not allocate per text field.
void read_value(const SqliteStatement& st, int col, StorageKind kind, Value& out) {
  if (st.column_is_null(col)) {
    out = std::monostate{};
    return;
  }
  switch (kind) {
    case StorageKind::kInt:
      out = st.column_int64(col);
      break;
    case StorageKind::kDouble:
      out = st.column_double(col);
      break;
    case StorageKind::kBool:
      out = st.column_int64(col) != 0;
      break;
    case StorageKind::kString: {
      std::string_view text = st.column_text(col);
      if (auto* s = std::get_if<std::string>(&out))
        s->assign(text);
      else
        out.emplace<std::string>(text);
      break;
    }
  }
}

// The key column holds Record::key as text; an int key field gets its value back as int64
// (absent if the text is not a whole number, which flowcast never writes).
Value int_key_value(std::string_view text) {
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec == std::errc() && ptr == text.data() + text.size()) return v;
  return std::monostate{};
}

// Fills `rec` from a row whose columns are the schema's fields in order.
void read_record(const SqliteStatement& st, const DatasetSpec& spec, Record& rec) {
  const int n = static_cast<int>(spec.fields().size());
  rec.values.resize(static_cast<size_t>(n));
  const int key = spec.key_index();
  for (int i = 0; i < n; ++i) {
    StorageKind kind = storage_kind(spec.field(i).type);
    if (i == key && kind == StorageKind::kInt) {
      std::string_view text = st.column_text(i);
      rec.key.assign(text);
      rec.values[static_cast<size_t>(i)] = int_key_value(text);
    } else if (i == key) {
      read_value(st, i, StorageKind::kString, rec.values[static_cast<size_t>(i)]);
      rec.key.assign(st.column_text(i));
    } else {
      read_value(st, i, kind, rec.values[static_cast<size_t>(i)]);
    }
  }
}

Status check_record(const DatasetSpec& spec, const SqliteDatasetSql& sql, const Record& r,
                    const char* role, size_t i) {
  return check_record_shape(spec, sql.value_index, r, [&] {
    return std::string(role) + " " + std::to_string(i) + " (key '" + shown_text(r.key) + "')";
  });
}

Status write_records(SqliteConnection& db, const DatasetSpec& spec, const SqliteDatasetSql& sql,
                     const SqliteUpsert& upsert, const std::vector<Record>& records,
                     const char* role, int64_t now_ms) {
  if (records.empty()) return Status::ok_status();
  const int target = spec.target_index();
  // Applied in key order (stable, so a key's messages keep their order and the last one still
  // wins): consecutive upserts then walk neighbouring pages of the key index, which are still in
  // the CPU's caches, instead of a random page each. Worth about a third of the commit's time
  // for random keys such as Kaggle's ids. A caller that sorted the batch already (ingest-file
  // does, outside the transaction) costs one O(n) check here instead of the sort.
  std::vector<uint32_t> order;
  if (!in_key_order(records)) order = key_order(records);
  const auto at = [&](size_t n) -> size_t { return order.empty() ? n : order[n]; };
  // A record's values were written by another thread (or long ago): their first touch misses
  // the cache. Fetching the values of the record two ahead overlaps that with SQLite's work.
  const auto prefetch = [&](size_t n) {
    if (n >= records.size()) return;
    const Record& r = records[at(n)];
    const char* p = reinterpret_cast<const char*>(r.values.data());
    for (size_t off = 0; off < r.values.size() * sizeof(Value); off += 64)
      __builtin_prefetch(p + off);
    __builtin_prefetch(r.key.data());
  };
  // Binds record `n` (in key order) after `base` parameters already bound for earlier rows.
  const auto bind_row = [&](SqliteStatement& st, int base, size_t n) -> Status {
    prefetch(n + 2);
    const size_t i = at(n);
    const Record& r = records[i];
    FC_RETURN_IF_ERROR(check_record(spec, sql, r, role, i));
    int pos = base + 1;
    st.bind_text(pos++, r.key);
    for (int f : upsert.fields) bind_value(st, pos++, r.values[static_cast<size_t>(f)]);
    if (upsert.ingested) st.bind_int64(pos++, now_ms);
    if (upsert.labelled) {
      if (r.has(target))
        st.bind_int64(pos, now_ms);
      else
        st.bind_null(pos);
    }
    return Status::ok_status();
  };
  const auto rows_context = [&](size_t first, size_t count) {
    const std::string& k0 = records[at(first)].key;
    if (count == 1)
      return std::string(role) + " " + std::to_string(at(first)) + " (key '" + shown_text(k0) +
             "')";
    return std::string(role) + "s with keys '" + shown_text(k0) + "' to '" +
           shown_text(records[at(first + count - 1)].key) + "'";
  };
  prefetch(0);
  prefetch(1);
  size_t n = 0;
  const size_t many = static_cast<size_t>(upsert.many_rows);
  if (many > 1 && records.size() >= many) {
    FC_ASSIGN_OR_RETURN(SqliteStatement * st, db.statement(upsert.many_sql));
    auto guard = st->reset_on_exit();
    for (; n + many <= records.size(); n += many) {
      for (size_t k = 0; k < many; ++k)
        FC_RETURN_IF_ERROR(bind_row(*st, static_cast<int>(k) * upsert.row_params, n + k));
      Result<bool> step = st->step();
      if (!step.ok()) return step.status().with_context(rows_context(n, many));
      st->reset();
    }
  }
  if (n == records.size()) return Status::ok_status();
  FC_ASSIGN_OR_RETURN(SqliteStatement * st, db.statement(upsert.sql));
  auto guard = st->reset_on_exit();
  for (; n < records.size(); ++n) {
    FC_RETURN_IF_ERROR(bind_row(*st, 0, n));
    Result<bool> step = st->step();
    if (!step.ok()) return step.status().with_context(rows_context(n, 1));
    st->reset();
  }
  return Status::ok_status();
}

// Predictions in key order, in statements of 2^j rows: as many of the largest size as fit, then
// the remainder by its binary digits (at most kPredictionChunkLog2 + 1 distinct statements, all
// cached). Same result as one INSERT ... ON CONFLICT DO NOTHING per row in batch order: the sort
// is stable, so of a key and version repeated in the batch the first still lands first. In key
// order the inserts walk the table's B-tree from one leaf to the next instead of jumping: with
// the predict stage's group commits (16,000 rows) BM_CommitPredictions/sqlite made 0.89-1.12 M
// rows/s sorted against 0.63-0.70 M unsorted (batches of 2,000: no difference either way).
Status write_predictions(SqliteConnection& db, const SqliteDatasetSql& sql,
                         const std::vector<PredictionRow>& rows) {
  // SQLite refuses a statement with more host parameters than SQLITE_LIMIT_VARIABLE_NUMBER
  // (32766 by default since 3.32, 999 before; a build may lower it).
  const int max_params = sqlite3_limit(db.handle(), SQLITE_LIMIT_VARIABLE_NUMBER, -1);
  int top = SqliteDatasetSql::kPredictionChunkLog2;
  while (top > 0 && (4 << top) > max_params) --top;
  const std::vector<uint32_t> order =
      key_order(rows.size(), [&](size_t i) -> std::string_view { return rows[i].key; });
  size_t next = 0;
  for (int j = top; j >= 0 && next < rows.size(); --j) {
    const size_t chunk = size_t{1} << j;
    if (rows.size() - next < chunk) continue;
    FC_ASSIGN_OR_RETURN(SqliteStatement * st,
                        db.statement(sql.insert_predictions[static_cast<size_t>(j)]));
    auto guard = st->reset_on_exit();
    // The largest size repeats; a smaller one runs at most once (the remainder is < 2^top).
    do {
      int pos = 1;
      for (size_t r = next; r < next + chunk; ++r) {
        const PredictionRow& p = rows[order[r]];
        st->bind_text(pos++, p.key);
        st->bind_int64(pos++, p.model_version);
        st->bind_double(pos++, p.prediction);
        st->bind_int64(pos++, p.predicted_at_ms);
      }
      FC_RETURN_IF_ERROR(st->run());
      next += chunk;
    } while (j == top && rows.size() - next >= chunk);
  }
  return Status::ok_status();
}

ModelInfo read_model(const SqliteStatement& st) {
  ModelInfo m;
  m.dataset = std::string(st.column_text(0));
  m.version = st.column_int64(1);
  m.created_at_ms = st.column_int64(2);
  m.promoted_at_ms = st.column_is_null(3) ? 0 : st.column_int64(3);
  m.learner = std::string(st.column_text(4));
  m.status = std::string(st.column_text(5));
  m.metrics_json = std::string(st.column_text(6));
  m.trained_rows = st.column_int64(7);
  return m;
}

// Creates the global tables or upgrades them to kSchemaVersion, in one transaction so that two
// processes opening a new file at once do not both initialise it.
Status init_schema(SqliteConnection& db, const std::string& path) {
  FC_ASSIGN_OR_RETURN(auto tx, SqliteTransaction::begin(db, Mode::kImmediate));
  FC_RETURN_IF_ERROR(db.exec(
      "CREATE TABLE IF NOT EXISTS \"flowcast_schema_version\" (\"version\" INTEGER NOT NULL)"));
  std::optional<int64_t> found;
  {
    FC_ASSIGN_OR_RETURN(SqliteStatement * st,
                        db.statement("SELECT max(\"version\") FROM \"flowcast_schema_version\""));
    auto guard = st->reset_on_exit();
    FC_ASSIGN_OR_RETURN(bool row, st->step());
    if (row && !st->column_is_null(0)) found = st->column_int64(0);
  }
  constexpr int64_t kCurrent = SqliteStore::kSchemaVersion;
  if (found && *found > kCurrent)
    return Status::invalid(path + " has flowcast schema version " + std::to_string(*found) +
                           "; this build knows versions up to " + std::to_string(kCurrent) +
                           " (upgrade flowcast)");
  if (found && *found < 1)
    return Status::corruption(path + ": invalid schema version " + std::to_string(*found));
  if (found) {
    for (int64_t v = *found; v < kCurrent; ++v) {
      store_log()->info("migrating {} from schema version {} to {}", path, v, v + 1);
      FC_RETURN_IF_ERROR(kMigrations[static_cast<size_t>(v - 1)](db));
    }
  }
  FC_RETURN_IF_ERROR(db.exec(kGlobalDdl));
  if (!found || *found != kCurrent) {
    FC_RETURN_IF_ERROR(db.exec("DELETE FROM \"flowcast_schema_version\""));
    FC_RETURN_IF_ERROR(db.exec("INSERT INTO \"flowcast_schema_version\" (\"version\") VALUES (" +
                               std::to_string(kCurrent) + ")"));
  }
  return tx.commit();
}

int64_t batch_rows(const SinkBatch& b) {
  return int64_t(b.requests.size() + b.outcomes.size() + b.observations.size() +
                 b.predictions.size() + b.evaluations.size() + b.metrics.size());
}

// Applies `batch` inside the writer's open transaction.
Status apply_batch(SqliteConnection& db, const DatasetSpec& spec, const SqliteDatasetSql& sql,
                   const SinkBatch& batch, int64_t now, CommitResult& result) {
  if (!batch.offsets.empty()) {
    FC_ASSIGN_OR_RETURN(SqliteStatement * st, db.statement(kUpsertOffset));
    auto guard = st->reset_on_exit();
    for (const OffsetEntry& o : batch.offsets) {
      st->bind_text(1, batch.group);
      st->bind_text(2, o.topic);
      st->bind_int64(3, o.partition);
      st->bind_int64(4, o.next_offset);
      FC_RETURN_IF_ERROR(st->run());
    }
  }
  FC_RETURN_IF_ERROR(write_records(db, spec, sql, sql.request, batch.requests, "request", now));
  FC_RETURN_IF_ERROR(write_records(db, spec, sql, sql.outcome, batch.outcomes, "outcome", now));
  FC_RETURN_IF_ERROR(
      write_records(db, spec, sql, sql.observation, batch.observations, "observation", now));
  FC_RETURN_IF_ERROR(write_predictions(db, sql, batch.predictions));
  if (!batch.evaluations.empty()) {
    FC_ASSIGN_OR_RETURN(SqliteStatement * st, db.statement(sql.insert_evaluation));
    auto guard = st->reset_on_exit();
    for (const EvaluationRow& e : batch.evaluations) {
      st->bind_text(1, e.key);
      st->bind_int64(2, e.model_version);
      st->bind_double(3, e.prediction);
      st->bind_double(4, e.actual);
      st->bind_int64(5, e.joined_at_ms);
      FC_RETURN_IF_ERROR(st->run());
      // ON CONFLICT DO NOTHING changes no row for a pair stored before.
      result.evaluation_inserted.push_back(db.changes() > 0 ? 1 : 0);
    }
  }
  if (!batch.metrics.empty()) {
    FC_ASSIGN_OR_RETURN(SqliteStatement * st, db.statement(kUpsertMetric));
    auto guard = st->reset_on_exit();
    for (const MetricRow& m : batch.metrics) {
      st->bind_text(1, spec.name());
      st->bind_int64(2, m.model_version);
      st->bind_int64(3, m.window_end_ms);
      st->bind_int64(4, m.window_ms);
      st->bind_int64(5, m.count);
      st->bind_double(6, m.mae);
      st->bind_double(7, m.rmse);
      st->bind_double(8, m.rmsle);
      st->bind_double(9, m.mape);
      st->bind_double(10, m.within_30);
      FC_RETURN_IF_ERROR(st->run());
    }
  }
  return Status::ok_status();
}

}  // namespace

SqliteOptions parse_sqlite_options(const flowcast::ConfigNode& section) {
  SqliteOptions o;
  if (!section.defined()) return o;
  if (!section.is_map())
    section.fail(
        "expected a mapping (busy_timeout, synchronous, cache_mb, checkpoint_mb, bulk_cache_mb, "
        "page_size)");
  section.expect_keys(
      {"busy_timeout", "synchronous", "cache_mb", "checkpoint_mb", "bulk_cache_mb", "page_size"});
  o.busy_timeout_ms = section.get_duration_ms("busy_timeout", o.busy_timeout_ms);
  o.synchronous = section.get_string("synchronous", o.synchronous);
  if (std::none_of(std::begin(kSynchronousModes), std::end(kSynchronousModes),
                   [&](const char* m) { return o.synchronous == m; }))
    section["synchronous"].fail("expected off, normal, full or extra, got '" + o.synchronous + "'");
  o.cache_mb = section.get_int("cache_mb", o.cache_mb, 1, 1 << 20);
  o.checkpoint_mb = section.get_int("checkpoint_mb", o.checkpoint_mb, 1, 1 << 20);
  o.bulk_cache_mb = section.get_int("bulk_cache_mb", o.bulk_cache_mb, 1, 1 << 20);
  o.page_size = section.get_int("page_size", o.page_size, 512, 65536);
  if (!valid_page_size(o.page_size))
    section["page_size"].fail("expected a power of two from 512 to 65536, got " +
                              std::to_string(o.page_size));
  return o;
}

SqliteStore::SqliteStore(std::string path, const SqliteOptions& options,
                         std::unique_ptr<SqliteConnection> writer)
    : path_(std::move(path)), options_(options), writer_(std::move(writer)) {}

SqliteStore::~SqliteStore() = default;

Result<std::unique_ptr<SqliteStore>> SqliteStore::open(const std::string& path,
                                                       const SqliteOptions& options) {
  if (std::none_of(std::begin(kSynchronousModes), std::end(kSynchronousModes),
                   [&](const char* m) { return options.synchronous == m; }))
    return Status::invalid("sqlite: synchronous must be off, normal, full or extra, not '" +
                           options.synchronous + "'");
  if (options.busy_timeout_ms < 0) return Status::invalid("sqlite: busy_timeout must be >= 0");
  if (options.cache_mb < 1) return Status::invalid("sqlite: cache_mb must be >= 1");
  if (options.checkpoint_mb < 1) return Status::invalid("sqlite: checkpoint_mb must be >= 1");
  if (options.bulk_cache_mb < 1) return Status::invalid("sqlite: bulk_cache_mb must be >= 1");
  if (!valid_page_size(options.page_size))
    return Status::invalid("sqlite: page_size must be a power of two from 512 to 65536, not " +
                           std::to_string(options.page_size));
  // Every connection must reach the same file, so in-memory and URI names are refused.
  if (path.empty() || path == ":memory:" || path.rfind("file:", 0) == 0)
    return Status::invalid("sqlite: expected a file path, got '" + path + "'");

  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path abs = fs::absolute(path, ec);
  if (ec) return Status::io_error("sqlite: cannot resolve '" + path + "': " + ec.message());
  abs = abs.lexically_normal();
  if (abs.has_parent_path()) {
    fs::create_directories(abs.parent_path(), ec);
    if (ec)
      return Status::io_error("sqlite: cannot create directory " + abs.parent_path().string() +
                              ": " + ec.message());
  }

  SqliteConnectionSettings settings;
  settings.busy_timeout_ms = options.busy_timeout_ms;
  settings.synchronous = options.synchronous;
  settings.cache_kib = options.cache_mb * 1024;
  settings.page_size = options.page_size;
  settings.wal_autocheckpoint_bytes = options.checkpoint_mb * 1024 * 1024;
  // The WAL file keeps its size after a checkpoint (it is truncated only beyond twice the
  // checkpoint size). Shrinking it after every checkpoint made the file system allocate and zero
  // its blocks again as it regrew: ~20% of commit throughput with keys in random order.
  settings.journal_size_limit_bytes = 2 * options.checkpoint_mb * 1024 * 1024;
  FC_ASSIGN_OR_RETURN(auto writer, SqliteConnection::open(abs.string(), settings));
  FC_RETURN_IF_ERROR(init_schema(*writer, abs.string()));
  std::unique_ptr<SqliteStore> store(new SqliteStore(abs.string(), options, std::move(writer)));
  store_log()->debug("opened {} (schema version {})", store->describe(), kSchemaVersion);
  return store;
}

// --- connections ---------------------------------------------------------------------------

Result<SqliteStore::ReaderLease> SqliteStore::lease_reader() {
  {
    std::lock_guard lock(readers_mu_);
    if (!idle_readers_.empty()) {
      auto conn = std::move(idle_readers_.back());
      idle_readers_.pop_back();
      return ReaderLease(this, std::move(conn));
    }
  }
  SqliteConnectionSettings settings;
  settings.busy_timeout_ms = options_.busy_timeout_ms;
  settings.synchronous = options_.synchronous;
  // Readers stream rows once; a big cache would mostly duplicate the OS page cache.
  settings.cache_kib = std::min<int64_t>(options_.cache_mb, 16) * 1024;
  settings.set_wal = false;  // the writer already did; the mode is stored in the file
  settings.query_only = true;
  FC_ASSIGN_OR_RETURN(auto conn, SqliteConnection::open(path_, settings));
  return ReaderLease(this, std::move(conn));
}

void SqliteStore::return_reader(std::unique_ptr<SqliteConnection> conn) {
  conn->reset_all_statements();
  if (conn->in_transaction() && !conn->exec("ROLLBACK").ok()) return;  // drop a broken one
  std::lock_guard lock(readers_mu_);
  if (idle_readers_.size() < kMaxIdleReaders) idle_readers_.push_back(std::move(conn));
}

// --- datasets ------------------------------------------------------------------------------

Status SqliteStore::ensure_dataset(const DatasetSpec& spec) {
  return create_or_check(spec).status();
}

Result<std::shared_ptr<const SqliteDatasetSql>> SqliteStore::dataset_sql(const DatasetSpec& spec) {
  std::string signature = SqliteDatasetSql::signature(spec);
  {
    std::lock_guard lock(datasets_mu_);
    auto it = datasets_.find(spec.name());
    if (it != datasets_.end() && it->second->signature_text == signature) return it->second;
  }
  return create_or_check(spec);
}

Result<std::shared_ptr<const SqliteDatasetSql>> SqliteStore::create_or_check(
    const DatasetSpec& spec) {
  auto sql = std::make_shared<const SqliteDatasetSql>(spec);
  const std::string context = "dataset '" + spec.name() + "'";
  {
    std::lock_guard lock(writer_mu_);
    FC_RETURN_IF_ERROR(flush_bulk_locked());
    SqliteConnection& db = *writer_;
    FC_ASSIGN_OR_RETURN(auto tx, SqliteTransaction::begin(db, Mode::kImmediate));
    std::vector<SqliteColumn> existing;
    {
      FC_ASSIGN_OR_RETURN(SqliteStatement * st, db.statement(kTableColumns));
      auto guard = st->reset_on_exit();
      st->bind_text(1, sql->records_table);
      for (;;) {
        FC_ASSIGN_OR_RETURN(bool row, st->step());
        if (!row) break;
        existing.push_back({std::string(st->column_text(0)), std::string(st->column_text(1)),
                            st->column_int64(2) != 0});
      }
    }
    if (!existing.empty()) {
      if (std::string problem = sql->mismatch(existing); !problem.empty())
        return Status::invalid(context + ": " + problem +
                               " (flowcast never alters an existing table: migrate it by hand, "
                               "or drop it to start over)");
    }
    for (const auto& ddl : sql->create_statements) FC_RETURN_IF_ERROR(db.exec(ddl));
    FC_RETURN_IF_ERROR(tx.commit());
  }
  std::lock_guard lock(datasets_mu_);
  datasets_[spec.name()] = sql;
  return sql;
}

// --- commit --------------------------------------------------------------------------------

struct SqliteStore::BulkState {
  int64_t max_rows = 0;
  int64_t max_ns = 0;
  std::optional<SqliteTransaction> tx;  // open while rows are held
  int64_t opened_ns = 0;                // when tx began
  int64_t held_rows = 0;                // applied in tx, not yet committed
  int64_t held_batches = 0;
};

Status SqliteStore::begin_bulk_load(const BulkLoad& load) {
  std::lock_guard lock(writer_mu_);
  if (bulk_) return Status::invalid("begin_bulk_load: a bulk load is already open");
  SqliteConnection& db = *writer_;
  // A group's dirty pages must stay in the cache until it commits: SQLite spills them to the WAL
  // otherwise, and an index page spilled is written again when it changes again.
  FC_RETURN_IF_ERROR(
      db.exec("PRAGMA cache_size=-" + std::to_string(options_.bulk_cache_mb * 1024)));
  // synchronous=FULL syncs the WAL at each commit (with NORMAL only a checkpoint does): a group
  // holds many batches, and the last one is durable when end_bulk_load() returns. SQLite
  // refuses to change it inside a transaction, so it is set for the whole load.
  if (options_.synchronous == "normal") FC_RETURN_IF_ERROR(db.exec("PRAGMA synchronous=FULL"));
  bulk_ = std::make_unique<BulkState>();
  bulk_->max_rows = load.max_rows;
  // The open transaction holds the file's write lock: another writer (a `flowcast run` on the
  // same file) waits for it up to busy_timeout, so a group stays open at most half that.
  bulk_->max_ns = std::min(load.max_ms, options_.busy_timeout_ms / 2) * 1'000'000;
  return Status::ok_status();
}

Status SqliteStore::end_bulk_load() {
  std::lock_guard lock(writer_mu_);
  if (!bulk_) return Status::ok_status();
  Status s = commit_bulk_locked(/*own_batch=*/false);
  {
    int hit = 0, miss = 0, write = 0, spill = 0, used = 0, hw = 0;
    sqlite3* h = writer_->handle();
    sqlite3_db_status(h, SQLITE_DBSTATUS_CACHE_HIT, &hit, &hw, 0);
    sqlite3_db_status(h, SQLITE_DBSTATUS_CACHE_MISS, &miss, &hw, 0);
    sqlite3_db_status(h, SQLITE_DBSTATUS_CACHE_WRITE, &write, &hw, 0);
    sqlite3_db_status(h, SQLITE_DBSTATUS_CACHE_SPILL, &spill, &hw, 0);
    sqlite3_db_status(h, SQLITE_DBSTATUS_CACHE_USED, &used, &hw, 0);
    store_log()->debug("bulk load: cache hits {}, misses {}, writes {}, spills {}, {} MiB", hit,
                       miss, write, spill, used >> 20);
  }
  bulk_.reset();
  SqliteConnection& db = *writer_;
  Status r = db.exec("PRAGMA cache_size=-" + std::to_string(options_.cache_mb * 1024));
  if (r.ok()) r = db.exec("PRAGMA synchronous=" + options_.synchronous);
  return s.ok() ? r : s;
}

// A failure inside the bulk load's open transaction rolls all of it back. When it held rows of
// earlier commit()s, which reported success, the caller must not retry this batch as if nothing
// else were lost: kInternal says so.
Status SqliteStore::abandon_bulk_locked(const Status& cause) {
  const int64_t earlier = bulk_->held_batches;
  const int64_t rows = bulk_->held_rows;
  bulk_->tx.reset();  // rolls back
  bulk_->held_rows = bulk_->held_batches = 0;
  if (earlier == 0) return cause;
  return Status::internal(cause.message() + " (the bulk load's open transaction was rolled back, " +
                          "with " + std::to_string(rows) + " rows of " + std::to_string(earlier) +
                          " earlier batches; load them again)");
}

// Writes other than commit() run in transactions of their own: a group still open is committed
// first (SQLite has no nested transactions).
Status SqliteStore::flush_bulk_locked() {
  return bulk_ ? commit_bulk_locked(/*own_batch=*/false) : Status::ok_status();
}

Status SqliteStore::commit_bulk_locked(bool own_batch) {
  BulkState& b = *bulk_;
  if (!b.tx) return Status::ok_status();
  const int64_t start = mono_nanos();
  if (Status c = b.tx->commit(); !c.ok()) {
    if (own_batch) b.held_batches -= 1;  // the caller reports its own batch as failed
    return abandon_bulk_locked(c);
  }
  store_log()->debug("bulk load: committed {} rows of {} batches, open {} ms, commit {} ms",
                     b.held_rows, b.held_batches, (start - b.opened_ns) / 1'000'000,
                     (mono_nanos() - start) / 1'000'000);
  b.tx.reset();
  b.held_rows = b.held_batches = 0;
  return Status::ok_status();
}

Result<CommitResult> SqliteStore::commit_bulk_batch(SqliteConnection& db, const DatasetSpec& spec,
                                                    const SqliteDatasetSql& sql,
                                                    const SinkBatch& batch, int64_t now,
                                                    CommitResult result) {
  BulkState& b = *bulk_;
  if (!b.tx) {
    FC_ASSIGN_OR_RETURN(auto tx, SqliteTransaction::begin(db, Mode::kImmediate));
    b.tx.emplace(std::move(tx));
    b.opened_ns = mono_nanos();
  }
  if (Status s = apply_batch(db, spec, sql, batch, now, result); !s.ok())
    return abandon_bulk_locked(s);
  b.held_rows += batch_rows(batch);
  b.held_batches += 1;
  if (b.held_rows >= b.max_rows || mono_nanos() - b.opened_ns >= b.max_ns)
    FC_RETURN_IF_ERROR(commit_bulk_locked(/*own_batch=*/true));
  return result;
}

Result<CommitResult> SqliteStore::commit(const DatasetSpec& spec, const SinkBatch& batch) {
  if (!batch.offsets.empty() && batch.group.empty())
    return Status::invalid("commit: offsets without a consumer group");
  FC_ASSIGN_OR_RETURN(auto sql, dataset_sql(spec));
  const int64_t now = now_millis();
  CommitResult result;
  result.evaluation_inserted.reserve(batch.evaluations.size());

  std::lock_guard lock(writer_mu_);
  SqliteConnection& db = *writer_;
  if (bulk_) return commit_bulk_batch(db, spec, *sql, batch, now, std::move(result));
  FC_ASSIGN_OR_RETURN(auto tx, SqliteTransaction::begin(db, Mode::kImmediate));
  FC_RETURN_IF_ERROR(apply_batch(db, spec, *sql, batch, now, result));
  FC_RETURN_IF_ERROR(tx.commit());
  return result;
}

Result<std::vector<OffsetEntry>> SqliteStore::load_offsets(const std::string& group) {
  FC_ASSIGN_OR_RETURN(ReaderLease lease, lease_reader());
  FC_ASSIGN_OR_RETURN(SqliteStatement * st, lease.conn().statement(kLoadOffsets));
  auto guard = st->reset_on_exit();
  st->bind_text(1, group);
  std::vector<OffsetEntry> out;
  for (;;) {
    FC_ASSIGN_OR_RETURN(bool row, st->step());
    if (!row) break;
    out.push_back({std::string(st->column_text(0)), static_cast<int32_t>(st->column_int64(1)),
                   st->column_int64(2)});
  }
  return out;
}

// --- reads ---------------------------------------------------------------------------------

Status SqliteStore::scan_labelled(const DatasetSpec& spec, int64_t limit,
                                  const std::function<void(const Record&)>& row) {
  if (limit < 0) return Status::invalid("scan_labelled: limit must be >= 0");
  FC_ASSIGN_OR_RETURN(auto sql, dataset_sql(spec));
  FC_ASSIGN_OR_RETURN(ReaderLease lease, lease_reader());
  SqliteConnection& db = lease.conn();
  // One snapshot for the cut-off query and the scan, however long the callback takes.
  FC_ASSIGN_OR_RETURN(auto tx, SqliteTransaction::begin(db, Mode::kDeferred));
  SqliteStatement* scan = nullptr;
  int64_t cutoff_ts = 0;
  std::string cutoff_key;
  bool cut = false;
  if (limit > 0) {
    // The (event time, key) of the limit-th newest labelled row, read from the covering index;
    // the scan then starts there and streams in index order with no sort.
    FC_ASSIGN_OR_RETURN(SqliteStatement * st, db.statement(sql->scan_cutoff));
    auto guard = st->reset_on_exit();
    st->bind_int64(1, limit - 1);
    FC_ASSIGN_OR_RETURN(bool found, st->step());
    if (found) {
      cut = true;
      cutoff_ts = st->column_int64(0);
      cutoff_key = std::string(st->column_text(1));
    }
  }
  if (cut) {
    FC_ASSIGN_OR_RETURN(scan, db.statement(sql->scan_from));
    scan->bind_int64(1, cutoff_ts);
    scan->bind_text(2, cutoff_key);
  } else {
    FC_ASSIGN_OR_RETURN(scan, db.statement(sql->scan_all));
  }
  auto guard = scan->reset_on_exit();
  Record rec;
  for (;;) {
    FC_ASSIGN_OR_RETURN(bool more, scan->step());
    if (!more) break;
    read_record(*scan, spec, rec);
    row(rec);
  }
  return tx.commit();
}

Result<int64_t> SqliteStore::count_labelled(const DatasetSpec& spec) {
  FC_ASSIGN_OR_RETURN(auto sql, dataset_sql(spec));
  FC_ASSIGN_OR_RETURN(ReaderLease lease, lease_reader());
  FC_ASSIGN_OR_RETURN(SqliteStatement * st, lease.conn().statement(sql->count_labelled));
  auto guard = st->reset_on_exit();
  FC_ASSIGN_OR_RETURN(bool row, st->step());
  return row ? st->column_int64(0) : int64_t{0};
}

Result<std::vector<double>> SqliteStore::recent_targets(const DatasetSpec& spec, int64_t limit) {
  if (limit < 0) return Status::invalid("recent_targets: limit must be >= 0");
  FC_ASSIGN_OR_RETURN(auto sql, dataset_sql(spec));
  FC_ASSIGN_OR_RETURN(ReaderLease lease, lease_reader());
  SqliteConnection& db = lease.conn();
  FC_ASSIGN_OR_RETURN(auto tx, SqliteTransaction::begin(db, Mode::kDeferred));
  // (time in microseconds, target), newest first, from each of the two indexed queries.
  using Timed = std::pair<int64_t, double>;
  std::vector<Timed> timed, untimed;
  for (auto [text, out, scale] :
       {std::tuple{&sql->recent_targets_timed, &timed, int64_t{1}},
        std::tuple{&sql->recent_targets_untimed, &untimed, int64_t{1000}}}) {
    FC_ASSIGN_OR_RETURN(SqliteStatement * st, db.statement(*text));
    auto guard = st->reset_on_exit();
    st->bind_int64(1, sql_limit(limit));
    for (;;) {
      FC_ASSIGN_OR_RETURN(bool row, st->step());
      if (!row) break;
      int64_t t =
          st->column_is_null(1) ? std::numeric_limits<int64_t>::min() : st->column_int64(1) * scale;
      out->emplace_back(t, st->column_double(0));
    }
  }
  FC_RETURN_IF_ERROR(tx.commit());
  return merge_newest_first(timed, untimed, limit);
}

Result<std::optional<Record>> SqliteStore::get_record(const DatasetSpec& spec,
                                                      const std::string& key) {
  FC_ASSIGN_OR_RETURN(auto sql, dataset_sql(spec));
  FC_ASSIGN_OR_RETURN(ReaderLease lease, lease_reader());
  FC_ASSIGN_OR_RETURN(SqliteStatement * st, lease.conn().statement(sql->select_record));
  auto guard = st->reset_on_exit();
  st->bind_text(1, key);
  FC_ASSIGN_OR_RETURN(bool row, st->step());
  if (!row) return std::optional<Record>();
  Record rec;
  read_record(*st, spec, rec);
  return std::optional<Record>(std::move(rec));
}

Result<std::vector<PredictionRow>> SqliteStore::predictions_for(const DatasetSpec& spec,
                                                                const std::string& key) {
  FC_ASSIGN_OR_RETURN(auto sql, dataset_sql(spec));
  FC_ASSIGN_OR_RETURN(ReaderLease lease, lease_reader());
  FC_ASSIGN_OR_RETURN(SqliteStatement * st, lease.conn().statement(sql->predictions_for));
  auto guard = st->reset_on_exit();
  st->bind_text(1, key);
  std::vector<PredictionRow> out;
  for (;;) {
    FC_ASSIGN_OR_RETURN(bool row, st->step());
    if (!row) break;
    out.push_back({std::string(st->column_text(0)), st->column_int64(1),
                   column_double_or_nan(*st, 2), st->column_int64(3)});
  }
  return out;
}

Result<DatasetStats> SqliteStore::stats(const DatasetSpec& spec) {
  FC_ASSIGN_OR_RETURN(auto sql, dataset_sql(spec));
  FC_ASSIGN_OR_RETURN(ReaderLease lease, lease_reader());
  SqliteConnection& db = lease.conn();
  FC_ASSIGN_OR_RETURN(auto tx, SqliteTransaction::begin(db, Mode::kDeferred));
  DatasetStats s;
  // Each query returns one row of counts, copied into `into` in order.
  auto counts = [&](const std::string& text, std::initializer_list<int64_t*> into,
                    const std::string* bind = nullptr) -> Status {
    FC_ASSIGN_OR_RETURN(SqliteStatement * st, db.statement(text));
    auto guard = st->reset_on_exit();
    if (bind != nullptr) st->bind_text(1, *bind);
    FC_ASSIGN_OR_RETURN(bool row, st->step());
    int col = 0;
    for (int64_t* p : into) *p = row ? st->column_int64(col++) : 0;
    return Status::ok_status();
  };
  FC_RETURN_IF_ERROR(
      counts(sql->record_counts, {&s.records, &s.requests, &s.outcomes, &s.labelled}));
  FC_RETURN_IF_ERROR(counts(sql->prediction_counts, {&s.predictions, &s.predicted_keys}));
  FC_RETURN_IF_ERROR(counts(sql->evaluation_count, {&s.evaluations}));
  FC_RETURN_IF_ERROR(counts(kCountMetrics, {&s.metrics}, &spec.name()));
  FC_RETURN_IF_ERROR(tx.commit());
  return s;
}

Result<std::vector<MetricRow>> SqliteStore::recent_metrics(const std::string& dataset,
                                                           int64_t limit) {
  if (limit < 0) return Status::invalid("recent_metrics: limit must be >= 0");
  FC_ASSIGN_OR_RETURN(ReaderLease lease, lease_reader());
  FC_ASSIGN_OR_RETURN(SqliteStatement * st, lease.conn().statement(kRecentMetrics));
  auto guard = st->reset_on_exit();
  st->bind_text(1, dataset);
  st->bind_int64(2, sql_limit(limit));
  std::vector<MetricRow> out;
  for (;;) {
    FC_ASSIGN_OR_RETURN(bool row, st->step());
    if (!row) break;
    MetricRow m;
    m.model_version = st->column_int64(0);
    m.window_end_ms = st->column_int64(1);
    m.window_ms = st->column_int64(2);
    m.count = st->column_int64(3);
    m.mae = column_double_or_nan(*st, 4);
    m.rmse = column_double_or_nan(*st, 5);
    m.rmsle = column_double_or_nan(*st, 6);
    m.mape = column_double_or_nan(*st, 7);
    m.within_30 = column_double_or_nan(*st, 8);
    out.push_back(m);
  }
  return out;
}

// --- model registry ------------------------------------------------------------------------

Result<int64_t> SqliteStore::register_model(const ModelInfo& info, std::string_view artifact,
                                            bool activate) {
  if (info.dataset.empty()) return Status::invalid("register_model: the dataset name is empty");
  const int64_t now = now_millis();
  std::lock_guard lock(writer_mu_);
  FC_RETURN_IF_ERROR(flush_bulk_locked());
  SqliteConnection& db = *writer_;
  FC_ASSIGN_OR_RETURN(auto tx, SqliteTransaction::begin(db, Mode::kImmediate));
  int64_t version = 1;
  {
    FC_ASSIGN_OR_RETURN(SqliteStatement * st, db.statement(kNextModelVersion));
    auto guard = st->reset_on_exit();
    st->bind_text(1, info.dataset);
    FC_ASSIGN_OR_RETURN(bool row, st->step());
    if (row) version = st->column_int64(0);
  }
  if (activate) {
    FC_ASSIGN_OR_RETURN(SqliteStatement * st, db.statement(kRetireActive));
    st->bind_text(1, info.dataset);
    FC_RETURN_IF_ERROR(st->run());
  }
  {
    FC_ASSIGN_OR_RETURN(SqliteStatement * st, db.statement(kInsertModel));
    st->bind_text(1, info.dataset);
    st->bind_int64(2, version);
    st->bind_int64(3, info.created_at_ms != 0 ? info.created_at_ms : now);
    if (activate)
      st->bind_int64(4, now);
    else
      st->bind_null(4);
    st->bind_text(5, info.learner);
    st->bind_text(6, activate ? "active" : "candidate");
    st->bind_text(7, info.metrics_json);
    st->bind_int64(8, info.trained_rows);
    st->bind_blob(9, artifact);
    FC_RETURN_IF_ERROR(st->run());
  }
  FC_RETURN_IF_ERROR(tx.commit());
  return version;
}

Result<std::vector<ModelInfo>> SqliteStore::list_models(const std::string& dataset) {
  FC_ASSIGN_OR_RETURN(ReaderLease lease, lease_reader());
  FC_ASSIGN_OR_RETURN(SqliteStatement * st,
                      lease.conn().statement(std::string(kModelColumns) +
                                             "WHERE \"dataset\"=?1 ORDER BY \"version\" DESC"));
  auto guard = st->reset_on_exit();
  st->bind_text(1, dataset);
  std::vector<ModelInfo> out;
  for (;;) {
    FC_ASSIGN_OR_RETURN(bool row, st->step());
    if (!row) break;
    out.push_back(read_model(*st));
  }
  return out;
}

Result<std::optional<ModelInfo>> SqliteStore::active_model(const std::string& dataset) {
  FC_ASSIGN_OR_RETURN(ReaderLease lease, lease_reader());
  FC_ASSIGN_OR_RETURN(SqliteStatement * st,
                      lease.conn().statement(std::string(kModelColumns) +
                                             "WHERE \"dataset\"=?1 AND \"status\"='active'"));
  auto guard = st->reset_on_exit();
  st->bind_text(1, dataset);
  FC_ASSIGN_OR_RETURN(bool row, st->step());
  if (!row) return std::optional<ModelInfo>();
  return std::optional<ModelInfo>(read_model(*st));
}

Result<std::string> SqliteStore::load_artifact(const std::string& dataset, int64_t version) {
  FC_ASSIGN_OR_RETURN(ReaderLease lease, lease_reader());
  FC_ASSIGN_OR_RETURN(SqliteStatement * st, lease.conn().statement(kLoadArtifact));
  auto guard = st->reset_on_exit();
  st->bind_text(1, dataset);
  st->bind_int64(2, version);
  FC_ASSIGN_OR_RETURN(bool row, st->step());
  if (!row)
    return Status::not_found("no model version " + std::to_string(version) + " of dataset '" +
                             dataset + "'");
  return std::string(st->column_blob(0));
}

Status SqliteStore::promote_model(const std::string& dataset, int64_t version) {
  const int64_t now = now_millis();
  std::lock_guard lock(writer_mu_);
  FC_RETURN_IF_ERROR(flush_bulk_locked());
  SqliteConnection& db = *writer_;
  FC_ASSIGN_OR_RETURN(auto tx, SqliteTransaction::begin(db, Mode::kImmediate));
  {
    FC_ASSIGN_OR_RETURN(SqliteStatement * st, db.statement(kModelStatus));
    auto guard = st->reset_on_exit();
    st->bind_text(1, dataset);
    st->bind_int64(2, version);
    FC_ASSIGN_OR_RETURN(bool row, st->step());
    if (!row)
      return Status::not_found("no model version " + std::to_string(version) + " of dataset '" +
                               dataset + "'");
    if (st->column_text(0) == "active") return Status::ok_status();  // already serving
  }
  {
    FC_ASSIGN_OR_RETURN(SqliteStatement * st, db.statement(kRetireActive));
    st->bind_text(1, dataset);
    FC_RETURN_IF_ERROR(st->run());
  }
  {
    FC_ASSIGN_OR_RETURN(SqliteStatement * st, db.statement(kActivateModel));
    st->bind_text(1, dataset);
    st->bind_int64(2, version);
    st->bind_int64(3, now);
    FC_RETURN_IF_ERROR(st->run());
  }
  return tx.commit();
}

}  // namespace flowcast::store
