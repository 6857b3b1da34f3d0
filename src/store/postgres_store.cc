#include "store/postgres_store.h"

#include "store/recent_targets.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cmath>
#include <limits>
#include <set>
#include <thread>
#include <utility>

#include "core/backoff.h"
#include "core/config_error.h"
#include "core/log.h"
#include "core/time_util.h"
#include "store/postgres_connection.h"
#include "store/postgres_copy_buffer.h"
#include "store/postgres_dataset_sql.h"
#include "store/postgres_pool.h"
#include "core/utf8.h"
#include "store/postgres_record_encoder.h"
#include "store/record_checks.h"
#include "store/postgres_transaction.h"

namespace flowcast::store {

using Mode = PostgresTransaction::Mode;

namespace {

constexpr int64_t kBackoffInitialMs = 100;
// Record commits that skip the COPY fast path after it met an existing key.
constexpr int kFastPathPause = 32;
constexpr int64_t kBackoffMaxMs = 2000;

// Advisory lock keys (pg_advisory_xact_lock(int4, int4)): "flow" and the next value. DDL takes
// (kDdlLock, 0); the model registry takes (kModelLock, hashtext(dataset)).
constexpr int32_t kDdlLock = 0x666c6f77;
constexpr int32_t kModelLock = 0x666c6f78;

// The tables every dataset shares, at the current schema version. IF NOT EXISTS throughout: run
// on every open, they also recreate a dropped index.
constexpr const char* kGlobalDdl = R"sql(
CREATE TABLE IF NOT EXISTS "flowcast_models" (
  "dataset" text NOT NULL,
  "version" bigint NOT NULL,
  "created_at_ms" bigint NOT NULL,
  "promoted_at_ms" bigint,
  "learner" text NOT NULL,
  "status" text NOT NULL CHECK ("status" IN ('active', 'candidate', 'retired')),
  "metrics_json" text NOT NULL,
  "trained_rows" bigint NOT NULL,
  "artifact" bytea NOT NULL,
  PRIMARY KEY ("dataset", "version")
);
CREATE UNIQUE INDEX IF NOT EXISTS "flowcast_models_one_active"
  ON "flowcast_models" ("dataset") WHERE "status" = 'active';
CREATE TABLE IF NOT EXISTS "flowcast_metrics" (
  "dataset" text NOT NULL,
  "model_version" bigint NOT NULL,
  "window_end_ms" bigint NOT NULL,
  "window_ms" bigint NOT NULL,
  "count" bigint NOT NULL,
  "mae" double precision,
  "rmse" double precision,
  "rmsle" double precision,
  "mape" double precision,
  "within_30" double precision,
  PRIMARY KEY ("dataset", "model_version", "window_end_ms", "window_ms")
);
CREATE INDEX IF NOT EXISTS "flowcast_metrics_by_time"
  ON "flowcast_metrics" ("dataset", "window_end_ms");
CREATE TABLE IF NOT EXISTS "flowcast_offsets" (
  "group_id" text NOT NULL,
  "topic" text NOT NULL,
  "partition" integer NOT NULL,
  "next_offset" bigint NOT NULL,
  PRIMARY KEY ("group_id", "topic", "partition")
);
)sql";

// Migration hook: kMigrations[v - 1] upgrades a database from schema version v to v + 1, inside
// the transaction open() holds. A schema change appends one function here and bumps
// kSchemaVersion; kGlobalDdl always describes the newest version.
using Migration = Status (*)(PostgresConnection&);
//
// Version 2 keeps each dataset's records in two tables with a view over them. Only the dataset
// spec knows which fields go where, so that move happens per dataset when it is first used
// (PostgresStore::migrate_single_table); the global step has nothing to do. The version number
// keeps an older build, which would write into the view, from opening the database.
Status nothing_global(PostgresConnection&) { return Status::ok_status(); }
constexpr std::array<Migration, PostgresStore::kSchemaVersion - 1> kMigrations{nothing_global};

// Staging tables of the global tables, per session (see PostgresDatasetSql).
constexpr std::pair<const char*, const char*> kGlobalStaging[] = {
    {"fc_stage_flowcast_offsets",
     "CREATE TEMP TABLE IF NOT EXISTS \"fc_stage_flowcast_offsets\" (LIKE \"flowcast_offsets\") "
     "ON COMMIT DELETE ROWS"},
    {"fc_stage_flowcast_metrics",
     "CREATE TEMP TABLE IF NOT EXISTS \"fc_stage_flowcast_metrics\" (LIKE \"flowcast_metrics\") "
     "ON COMMIT DELETE ROWS"},
};
constexpr const char* kGlobalStagingSignature = "global-1";

constexpr const char* kCopyOffsets =
    "COPY pg_temp.\"fc_stage_flowcast_offsets\" (\"group_id\",\"topic\",\"partition\","
    "\"next_offset\") FROM STDIN (FORMAT binary)";
constexpr const char* kUpsertOffsets =
    "INSERT INTO \"flowcast_offsets\" (\"group_id\",\"topic\",\"partition\",\"next_offset\") "
    "SELECT \"group_id\",\"topic\",\"partition\",\"next_offset\" "
    "FROM pg_temp.\"fc_stage_flowcast_offsets\" "
    "ON CONFLICT (\"group_id\",\"topic\",\"partition\") "
    "DO UPDATE SET \"next_offset\"=EXCLUDED.\"next_offset\"";
constexpr const char* kMetricColumns =
    "\"dataset\",\"model_version\",\"window_end_ms\",\"window_ms\",\"count\",\"mae\",\"rmse\","
    "\"rmsle\",\"mape\",\"within_30\"";
constexpr const char* kLoadOffsets =
    "SELECT \"topic\",\"partition\",\"next_offset\" FROM \"flowcast_offsets\" "
    "WHERE \"group_id\"=$1 ORDER BY \"topic\" COLLATE \"C\",\"partition\"";
constexpr const char* kRecentMetrics =
    "SELECT \"model_version\",\"window_end_ms\",\"window_ms\",\"count\",\"mae\",\"rmse\","
    "\"rmsle\",\"mape\",\"within_30\" FROM \"flowcast_metrics\" WHERE \"dataset\"=$1 "
    "ORDER BY \"window_end_ms\" DESC,\"model_version\" DESC,\"window_ms\" LIMIT $2";
constexpr const char* kModelColumns =
    "SELECT \"dataset\",\"version\",\"created_at_ms\",\"promoted_at_ms\",\"learner\",\"status\","
    "\"metrics_json\",\"trained_rows\" FROM \"flowcast_models\" ";
constexpr const char* kLockModels = "SELECT pg_advisory_xact_lock($1::int4, hashtext($2))";
constexpr const char* kNextModelVersion =
    "SELECT COALESCE(max(\"version\"),0)+1 FROM \"flowcast_models\" WHERE \"dataset\"=$1";
constexpr const char* kFindRegisteredModel =
    "SELECT \"version\" FROM \"flowcast_models\" WHERE \"dataset\"=$1 AND \"created_at_ms\"=$2 "
    "AND \"learner\"=$3 AND \"metrics_json\"=$4 AND \"trained_rows\"=$5 AND \"artifact\"=$6 "
    "ORDER BY \"version\" DESC LIMIT 1";
constexpr const char* kRetireActive =
    "UPDATE \"flowcast_models\" SET \"status\"='retired' "
    "WHERE \"dataset\"=$1 AND \"status\"='active'";
constexpr const char* kInsertModel =
    "INSERT INTO \"flowcast_models\" (\"dataset\",\"version\",\"created_at_ms\","
    "\"promoted_at_ms\",\"learner\",\"status\",\"metrics_json\",\"trained_rows\",\"artifact\") "
    "VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)";
constexpr const char* kModelStatus =
    "SELECT \"status\" FROM \"flowcast_models\" WHERE \"dataset\"=$1 AND \"version\"=$2";
constexpr const char* kActivateModel =
    "UPDATE \"flowcast_models\" SET \"status\"='active',\"promoted_at_ms\"=$3 "
    "WHERE \"dataset\"=$1 AND \"version\"=$2";
constexpr const char* kLoadArtifact =
    "SELECT \"artifact\" FROM \"flowcast_models\" WHERE \"dataset\"=$1 AND \"version\"=$2";
// The existing columns of a table in the session's current schema, with primary-key membership.
constexpr const char* kTableColumns =
    "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), "
    "COALESCE(a.attnum = ANY(i.indkey::int2[]), false) "
    "FROM pg_attribute a LEFT JOIN pg_index i ON i.indrelid = a.attrelid AND i.indisprimary "
    "WHERE a.attrelid = to_regclass(quote_ident(current_schema()) || '.' || quote_ident($1)) "
    "AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum";

// The kind of relation $1 is in the current schema (pg_class.relkind: r table, v view, ...).
constexpr const char* kRelationKind =
    "SELECT c.relkind::text FROM pg_class c "
    "WHERE c.oid = to_regclass(quote_ident(current_schema()) || '.' || quote_ident($1))";

std::shared_ptr<spdlog::logger> store_log() { return logger("store.postgres"); }

const Status& status_of(const Status& s) { return s; }
template <typename T>
const Status& status_of(const Result<T>& r) {
  return r.status();
}

// LIMIT takes NULL for "no limit"; the Store interface uses 0.
PostgresParams& limit_param(PostgresParams& p, int64_t limit) {
  return limit == 0 ? p.null() : p.int64(limit);
}

double float8_or_nan(const PostgresResult& r, int row, int col) {
  return r.is_null(row, col) ? std::numeric_limits<double>::quiet_NaN() : r.float8(row, col);
}

// A number column of any numeric field type (targets may be int or float fields).
double number_at(const PostgresResult& r, int row, int col, FieldType type) {
  switch (storage_kind(type)) {
    case StorageKind::kDouble:
      return r.float8(row, col);
    case StorageKind::kBool:
      return r.boolean(row, col) ? 1.0 : 0.0;
    case StorageKind::kInt:
      return type == FieldType::kTimestamp ? double(r.timestamp_micros(row, col))
                                           : double(r.int64(row, col));
    case StorageKind::kString:
      break;
  }
  return std::numeric_limits<double>::quiet_NaN();
}

// The key column holds Record::key as text; an int key field gets its value back as int64
// (absent if the text is not a whole number, which flowcast never writes).
Value int_key_value(std::string_view text) {
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec == std::errc() && ptr == text.data() + text.size()) return v;
  return std::monostate{};
}

// Fills `rec` from row `row` whose columns are the schema's fields in order. Strings already in
// `rec` are reused, so a scan that recycles one Record does not allocate per text field.
void read_record(const PostgresResult& r, int row, const DatasetSpec& spec, Record& rec) {
  const int n = static_cast<int>(spec.fields().size());
  rec.values.resize(static_cast<size_t>(n));
  const int key = spec.key_index();
  for (int i = 0; i < n; ++i) {
    Value& out = rec.values[static_cast<size_t>(i)];
    const FieldType type = spec.field(i).type;
    if (i == key) {
      std::string_view text = r.text(row, i);
      rec.key.assign(text);
      if (storage_kind(type) == StorageKind::kInt) {
        out = int_key_value(text);
      } else if (auto* s = std::get_if<std::string>(&out)) {
        s->assign(text);
      } else {
        out.emplace<std::string>(text);
      }
      continue;
    }
    if (r.is_null(row, i)) {
      out = std::monostate{};
      continue;
    }
    switch (storage_kind(type)) {
      case StorageKind::kInt:
        out = type == FieldType::kTimestamp ? r.timestamp_micros(row, i) : r.int64(row, i);
        break;
      case StorageKind::kDouble:
        out = r.float8(row, i);
        break;
      case StorageKind::kBool:
        out = r.boolean(row, i);
        break;
      case StorageKind::kString: {
        std::string_view text = r.text(row, i);
        if (auto* s = std::get_if<std::string>(&out))
          s->assign(text);
        else
          out.emplace<std::string>(text);
        break;
      }
    }
  }
}

ModelInfo read_model(const PostgresResult& r, int row) {
  ModelInfo m;
  m.dataset = std::string(r.text(row, 0));
  m.version = r.int64(row, 1);
  m.created_at_ms = r.int64(row, 2);
  m.promoted_at_ms = r.is_null(row, 3) ? 0 : r.int64(row, 3);
  m.learner = std::string(r.text(row, 4));
  m.status = std::string(r.text(row, 5));
  m.metrics_json = std::string(r.text(row, 6));
  m.trained_rows = r.int64(row, 7);
  return m;
}

// Text that goes into a text column outside the records (keys of predictions, group and topic
// names, model metadata): PostgreSQL cannot store NUL bytes, and a UTF8 server refuses bad UTF-8.
Status check_text(std::string_view text, bool check_utf8, const std::string& what) {
  if (text.find('\0') != std::string_view::npos)
    return Status::invalid(what + " holds a NUL byte, which PostgreSQL text cannot store");
  if (check_utf8 && !valid_utf8(text)) return Status::invalid(what + " is not valid UTF-8");
  return Status::ok_status();
}

// The password in a libpq URL or connection string ("" when none), to mask it in messages.
std::string password_of(const std::string& conninfo) {
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(conninfo.c_str(), &err);
  if (err != nullptr) PQfreemem(err);
  if (opts == nullptr) return "";
  std::string password;
  for (PQconninfoOption* o = opts; o->keyword != nullptr; ++o) {
    if (std::string_view(o->keyword) == "password" && o->val != nullptr) password = o->val;
  }
  PQconninfoFree(opts);
  return password;
}

// Creates the global tables or upgrades them to kSchemaVersion, in one transaction under the
// DDL advisory lock, so several processes opening a new database at once do not race.
Status init_schema(PostgresConnection& db, const std::string& server) {
  FC_ASSIGN_OR_RETURN(auto tx, PostgresTransaction::begin(db, Mode::kReadWrite));
  FC_RETURN_IF_ERROR(
      db.query("SELECT pg_advisory_xact_lock(" + std::to_string(kDdlLock) + ", 0)", "locking")
          .status());
  FC_RETURN_IF_ERROR(db.exec(
      "CREATE TABLE IF NOT EXISTS \"flowcast_schema_version\" (\"version\" integer NOT NULL)",
      "creating flowcast_schema_version"));
  std::optional<int64_t> found;
  {
    FC_ASSIGN_OR_RETURN(auto r, db.query("SELECT max(\"version\") FROM \"flowcast_schema_version\"",
                                         "reading the schema version"));
    if (r.rows() > 0 && !r.is_null(0, 0)) found = r.int64(0, 0);
  }
  constexpr int64_t kCurrent = PostgresStore::kSchemaVersion;
  if (found && *found > kCurrent)
    return Status::invalid(server + " has flowcast schema version " + std::to_string(*found) +
                           "; this build knows versions up to " + std::to_string(kCurrent) +
                           " (upgrade flowcast)");
  if (found && *found < 1)
    return Status::corruption(server + ": invalid schema version " + std::to_string(*found));
  if (found) {
    for (int64_t v = *found; v < kCurrent; ++v) {
      store_log()->info("migrating {} from schema version {} to {}", server, v, v + 1);
      FC_RETURN_IF_ERROR(kMigrations[static_cast<size_t>(v - 1)](db));
    }
  }
  FC_RETURN_IF_ERROR(db.exec(kGlobalDdl, "creating the flowcast tables"));
  if (!found || *found != kCurrent) {
    FC_RETURN_IF_ERROR(
        db.exec("DELETE FROM \"flowcast_schema_version\"", "writing the schema version"));
    FC_RETURN_IF_ERROR(db.exec("INSERT INTO \"flowcast_schema_version\" (\"version\") VALUES (" +
                                   std::to_string(kCurrent) + ")",
                               "writing the schema version"));
  }
  return tx.commit();
}

// Keys of a (key, model_version) pair, for dedupe and the evaluation flags.
using Pair = std::pair<std::string_view, int64_t>;

}  // namespace

PostgresOptions parse_postgres_options(const flowcast::ConfigNode& section) {
  PostgresOptions o;
  if (!section.defined()) return o;
  if (!section.is_map()) section.fail("expected a mapping (retry_for, pool_size, fetch_rows)");
  section.expect_keys({"retry_for", "pool_size", "fetch_rows"});
  o.retry_for_ms = section.get_duration_ms("retry_for", o.retry_for_ms);
  if (o.retry_for_ms < 0) section["retry_for"].fail("must not be negative");
  o.pool_size = section.get_int("pool_size", o.pool_size, 1, 1000);
  o.fetch_rows = section.get_int("fetch_rows", o.fetch_rows, 1, 10'000'000);
  return o;
}

PostgresStore::PostgresStore(std::string describe, const PostgresOptions& options,
                             std::unique_ptr<PostgresPool> pool, bool check_utf8)
    : describe_(std::move(describe)),
      options_(options),
      pool_(std::move(pool)),
      check_utf8_(check_utf8) {}

PostgresStore::~PostgresStore() = default;

Status PostgresStore::check_url(const std::string& url) {
  const std::string shown = redact_url(url);
  if (url.empty()) return Status::invalid("postgresql: the URL is empty");
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(url.c_str(), &err);
  if (opts == nullptr) {
    // libpq quotes the URL, or the token it could not read (the password, say), as written.
    std::string why =
        err != nullptr ? redact_secrets(postgres_one_line(err, password_of(url)), url) : "out of memory";
    if (err != nullptr) PQfreemem(err);
    return Status::invalid("invalid PostgreSQL URL '" + shown + "': " + why);
  }
  PQconninfoFree(opts);
  return Status::ok_status();
}

Result<std::unique_ptr<PostgresStore>> PostgresStore::open(const std::string& url,
                                                           const PostgresOptions& options) {
  FC_RETURN_IF_ERROR(check_url(url));
  if (options.retry_for_ms < 0) return Status::invalid("postgresql: retry_for must be >= 0");
  if (options.pool_size < 1) return Status::invalid("postgresql: pool_size must be >= 1");
  if (options.fetch_rows < 1) return Status::invalid("postgresql: fetch_rows must be >= 1");
  std::string shown = redact_url(url);
  auto pool = std::make_unique<PostgresPool>(url, shown, password_of(url),
                                             static_cast<size_t>(options.pool_size));
  bool utf8 = false;
  {
    // The first session: fails at once (no retry), so a bad URL, password or database, or a
    // server that is not there, stops start-up with its reason.
    FC_ASSIGN_OR_RETURN(auto lease, pool->lease());
    utf8 = lease.conn().server_encoding() == "UTF8";
    Status s = init_schema(lease.conn(), shown);
    if (!s.ok()) return s.with_context(shown);
  }
  std::unique_ptr<PostgresStore> store(new PostgresStore(shown, options, std::move(pool), utf8));
  store_log()->debug("opened {} (schema version {})", store->describe(), kSchemaVersion);
  return store;
}

// --- retries -------------------------------------------------------------------------------

void PostgresStore::note_outage(const char* what, const Status& failure) {
  // Connection errors already start with the server's name; say it once.
  std::string_view reason = failure.message();
  if (reason.substr(0, describe_.size() + 2) == describe_ + ": ")
    reason.remove_prefix(describe_.size() + 2);
  if (!outage_.exchange(true)) {
    outage_since_ns_ = mono_nanos();
    store_log()->warn("{}: {} failed, retrying for up to {:.1f}s: {}", describe_, what,
                      double(options_.retry_for_ms) / 1000, reason);
  } else {
    store_log()->debug("{}: {} failed again: {}", describe_, what, reason);
  }
}

void PostgresStore::note_recovered() {
  if (outage_.load(std::memory_order_relaxed) && outage_.exchange(false)) {
    store_log()->info("{}: reachable again after {:.1f}s", describe_,
                      double(mono_nanos() - outage_since_ns_.load()) / 1e9);
  }
}

template <typename Body>
std::invoke_result_t<Body&, PostgresConnection&> PostgresStore::run(const char* what, Body&& body,
                                                                    const bool* no_retry) {
  Backoff backoff(kBackoffInitialMs, kBackoffMaxMs);
  const int64_t start = mono_nanos();
  bool fresh_retry = false;
  for (;;) {
    Status failure;
    bool broken = false;
    {
      auto lease = pool_->lease();
      if (lease.ok()) {
        auto result = body(lease->conn());
        const Status& s = status_of(result);
        const bool transient =
            s.code() == StatusCode::kUnavailable || s.code() == StatusCode::kBusy;
        if (s.ok() || !transient || (no_retry != nullptr && *no_retry)) {
          if (s.ok()) note_recovered();
          return result;
        }
        failure = s;
        broken = lease->conn().broken();
        if (broken) {
          lease->discard();
          pool_->drop_idle();  // a restarted server cut the idle sessions too
        }
      } else {
        failure = lease.status();
        if (failure.code() != StatusCode::kUnavailable) return failure;
      }
    }
    // A pooled session that broke may just be stale (the server restarted since it was last
    // used): try a fresh one at once, without calling it an outage yet.
    if (broken && !fresh_retry) {
      fresh_retry = true;
      continue;
    }
    const int64_t elapsed_ms = (mono_nanos() - start) / 1'000'000;
    if (elapsed_ms >= options_.retry_for_ms)
      return Status(failure.code(), failure.message() + " (gave up after " +
                                        std::to_string(elapsed_ms / 1000) + "s of retries)");
    note_outage(what, failure);
    const int64_t wait = std::min(backoff.next_delay_ms(), options_.retry_for_ms - elapsed_ms + 1);
    std::this_thread::sleep_for(std::chrono::milliseconds(wait));
  }
}

// --- datasets ------------------------------------------------------------------------------

Status PostgresStore::ensure_dataset(const DatasetSpec& spec) {
  return create_or_check(spec).status();
}

Result<std::shared_ptr<const PostgresDatasetSql>> PostgresStore::dataset_sql(
    const DatasetSpec& spec) {
  std::string signature = PostgresDatasetSql::signature(spec);
  {
    std::lock_guard lock(datasets_mu_);
    auto it = datasets_.find(spec.name());
    if (it != datasets_.end() && it->second->signature_text == signature) return it->second;
  }
  return create_or_check(spec);
}

Result<std::shared_ptr<const PostgresDatasetSql>> PostgresStore::create_or_check(
    const DatasetSpec& spec) {
  auto sql = std::make_shared<const PostgresDatasetSql>(spec);
  const std::string context = "dataset '" + spec.name() + "'";
  FC_RETURN_IF_ERROR(run("creating tables", [&](PostgresConnection& db) -> Status {
    FC_ASSIGN_OR_RETURN(auto tx, PostgresTransaction::begin(db, Mode::kReadWrite));
    FC_RETURN_IF_ERROR(
        db.query("SELECT pg_advisory_xact_lock(" + std::to_string(kDdlLock) + ", 0)", "locking")
            .status());
    auto columns_of = [&](const std::string& table) -> Result<std::vector<PostgresColumn>> {
      std::vector<PostgresColumn> existing;
      FC_ASSIGN_OR_RETURN(auto r, db.query(kTableColumns, PostgresParams().text(table),
                                           "reading the columns of " + table));
      for (int i = 0; i < r.rows(); ++i)
        existing.push_back({std::string(r.text(i, 0)), std::string(r.text(i, 1)), r.boolean(i, 2)});
      return existing;
    };
    auto check = [&](const PostgresRecordTable& table) -> Status {
      FC_ASSIGN_OR_RETURN(auto existing, columns_of(table.name));
      if (existing.empty()) return Status::ok_status();
      if (std::string problem = PostgresDatasetSql::mismatch(table, existing); !problem.empty())
        return Status::invalid(context + ": " + problem +
                               " (flowcast never alters an existing table: migrate it by hand, "
                               "or drop it to start over)");
      return Status::ok_status();
    };
    std::string kind;
    {
      FC_ASSIGN_OR_RETURN(auto r, db.query(kRelationKind, PostgresParams().text(sql->records_view),
                                           "looking up " + sql->records_view));
      if (r.rows() > 0) kind = std::string(r.text(0, 0));
    }
    if (kind == "r" || kind == "p") {
      // Schema version 1: one table for every record. Checked as that table, then split.
      PostgresRecordTable single;
      single.name = sql->records_view;
      single.columns = sql->columns;
      FC_RETURN_IF_ERROR(check(single));
      for (const PostgresRecordTable* t : {&sql->requests, &sql->outcomes}) {
        FC_ASSIGN_OR_RETURN(auto existing, columns_of(t->name));
        if (!existing.empty())
          return Status::invalid(context + ": both " + sql->records_view + " and " + t->name +
                                 " are tables; flowcast keeps the records in " +
                                 sql->requests.name + " and " + sql->outcomes.name +
                                 " with a view " + sql->records_view +
                                 " over them: move the rows by hand, or drop one to start over");
      }
    } else {
      FC_RETURN_IF_ERROR(check(sql->requests));
      FC_RETURN_IF_ERROR(check(sql->outcomes));
    }
    for (const auto& ddl : sql->create_statements)
      FC_RETURN_IF_ERROR(db.exec(ddl, "creating the tables of " + context));
    if (kind == "r" || kind == "p") FC_RETURN_IF_ERROR(migrate_single_table(db, *sql));
    if (kind != "v")
      FC_RETURN_IF_ERROR(db.exec(sql->create_view, "creating the view " + sql->records_view));
    return tx.commit();
  }));
  std::lock_guard lock(datasets_mu_);
  datasets_[spec.name()] = sql;
  return sql;
}

Status PostgresStore::migrate_single_table(PostgresConnection& db, const PostgresDatasetSql& sql) {
  FC_ASSIGN_OR_RETURN(auto r, db.query("SELECT count(*) FROM " + postgres_quote(sql.records_view),
                                       "counting the rows of " + sql.records_view));
  const int64_t rows = r.rows() > 0 ? r.int64(0, 0) : 0;
  store_log()->info("{}: moving the {} rows of table {} into {} and {}, with a view {} over "
                    "them (schema version 2)",
                    describe_, rows, sql.records_view, sql.requests.name, sql.outcomes.name,
                    sql.records_view);
  for (const auto& statement : sql.migrate_single_table)
    FC_RETURN_IF_ERROR(db.exec(statement, "moving the rows of " + sql.records_view));
  return Status::ok_status();
}

Status PostgresStore::ensure_staging(PostgresConnection& conn, const PostgresDatasetSql& sql) {
  auto& made = conn.staging_tables();
  auto make = [&](const std::string& name, const std::string& ddl,
                  const std::string& signature) -> Status {
    auto it = made.find(name);
    if (it != made.end() && it->second == signature) return Status::ok_status();
    if (it != made.end())
      FC_RETURN_IF_ERROR(
          conn.exec("DROP TABLE IF EXISTS pg_temp." + postgres_quote(name), "dropping " + name));
    FC_RETURN_IF_ERROR(conn.exec(ddl, "creating staging table " + name));
    made[name] = signature;
    return Status::ok_status();
  };
  for (const auto& [name, ddl] : kGlobalStaging)
    FC_RETURN_IF_ERROR(make(name, ddl, kGlobalStagingSignature));
  for (const auto& [name, ddl] : sql.staging_tables)
    FC_RETURN_IF_ERROR(make(name, ddl, sql.signature_text));
  return Status::ok_status();
}

// --- commit --------------------------------------------------------------------------------

// Writes one table's encoded rows. Every row could take the staging table and the upsert, but
// requests and outcomes each arrive once, so their rows are usually new keys, and for those a
// binary COPY straight into the table costs about a third less server time than COPY into the
// staging table plus INSERT ... SELECT (no staging rows to write, scan and truncate; the heap
// takes them in multi-row inserts). So, unless it failed recently: that COPY under a savepoint.
// If one of the keys exists after all (a re-delivery, a second outcome, another writer), the
// COPY fails with a unique violation as a whole, is rolled back to the savepoint, and the rows go
// through the staging table and the upsert: the result is the same either way.
Status PostgresStore::write_records(PostgresConnection& db, const PostgresRecordTable& table,
                                    int which, const PostgresCopyBuffer& rows) {
  if (rows.rows() == 0) return Status::ok_status();
  const std::string what = "writing " + table.name;
  std::atomic<int>& pause = fast_path_pause_[which];
  if (!copy_fast_path_.load(std::memory_order_relaxed)) {
    // COPY into the table is refused here (see below): staging and the upsert only.
  } else if (pause.load(std::memory_order_relaxed) > 0) {
    pause.fetch_sub(1, std::memory_order_relaxed);
  } else {
    FC_RETURN_IF_ERROR(db.exec("SAVEPOINT fc_new_rows", "SAVEPOINT"));
    std::string state;
    Status direct = db.copy_in(table.copy_new, rows.data(), what, &state);
    if (direct.ok()) return db.exec("RELEASE SAVEPOINT fc_new_rows", "RELEASE SAVEPOINT");
    // 23505: a key exists after all. 0A000: the server refuses COPY into this table (row level
    // security on it, which INSERT honours); never try it again in this process. Anything else
    // is a real failure, returned as before.
    if ((state != "23505" && state != "0A000") || db.broken()) return direct;
    if (state == "0A000") {
      if (copy_fast_path_.exchange(false))
        store_log()->info("{}: {}; records are written through the staging table only",
                          describe_, direct.message());
    } else {
      store_log()->debug("{}: {} rows sent to {} as new keys were not all new; upserting them",
                         describe_, rows.rows(), table.name);
      pause.store(kFastPathPause, std::memory_order_relaxed);
    }
    FC_RETURN_IF_ERROR(db.exec("ROLLBACK TO SAVEPOINT fc_new_rows", "ROLLBACK TO SAVEPOINT"));
  }
  FC_RETURN_IF_ERROR(db.copy_in(table.copy_stage, rows.data(), "staging " + table.name));
  return db.exec(table.upsert, what);
}

Result<Store::RecordCheck> PostgresStore::record_check(const DatasetSpec& spec) {
  FC_ASSIGN_OR_RETURN(auto sql, dataset_sql(spec));
  return RecordCheck([&spec, sql, check_utf8 = check_utf8_](const Record& r, RecordRole role) {
    return PostgresRecordEncoder(spec, *sql, check_utf8).check(r, role, SIZE_MAX);
  });
}

Result<CommitResult> PostgresStore::commit(const DatasetSpec& spec, const SinkBatch& batch) {
  if (!batch.offsets.empty() && batch.group.empty())
    return Status::invalid("commit: offsets without a consumer group");
  FC_ASSIGN_OR_RETURN(auto sql, dataset_sql(spec));
  const int64_t now = now_millis();

  // Everything is checked and encoded once, before any statement runs: a bad record fails the
  // batch with nothing sent, and a retry after a connection loss resends the same bytes.
  PostgresCopyBuffer request_rows, outcome_rows, offsets, predictions, evaluations, metrics;
  const bool has_records =
      !batch.requests.empty() || !batch.outcomes.empty() || !batch.observations.empty();
  if (has_records)
    FC_RETURN_IF_ERROR(PostgresRecordEncoder(spec, *sql, check_utf8_)
                           .encode(batch, now, request_rows, outcome_rows));

  if (!batch.offsets.empty()) {
    FC_RETURN_IF_ERROR(check_text(batch.group, check_utf8_, "the consumer group name"));
    // Last entry per partition wins, as applying them one by one would.
    std::map<std::pair<std::string_view, int32_t>, int64_t> last;
    for (const OffsetEntry& o : batch.offsets) {
      FC_RETURN_IF_ERROR(
          check_text(o.topic, check_utf8_, "topic '" + shown_text(o.topic) + "'"));
      last[{o.topic, o.partition}] = o.next_offset;
    }
    for (const auto& [tp, next] : last) {
      offsets.begin_row(4);
      offsets.add_text(batch.group);
      offsets.add_text(tp.first);
      offsets.add_int32(tp.second);
      offsets.add_int64(next);
    }
    offsets.finish();
  }
  if (!batch.predictions.empty()) {
    // The first prediction of a (key, version) pair is the one kept, as with SQLite.
    std::set<Pair> seen;
    for (size_t i = 0; i < batch.predictions.size(); ++i) {
      const PredictionRow& p = batch.predictions[i];
      FC_RETURN_IF_ERROR(
          check_text(p.key, check_utf8_, "the key of prediction " + std::to_string(i)));
      if (!seen.insert({p.key, p.model_version}).second) continue;
      predictions.begin_row(4);
      predictions.add_text(p.key);
      predictions.add_int64(p.model_version);
      predictions.add_double(p.prediction);
      predictions.add_int64(p.predicted_at_ms);
    }
    predictions.finish();
  }
  if (!batch.evaluations.empty()) {
    std::set<Pair> seen;
    for (size_t i = 0; i < batch.evaluations.size(); ++i) {
      const EvaluationRow& e = batch.evaluations[i];
      FC_RETURN_IF_ERROR(
          check_text(e.key, check_utf8_, "the key of evaluation " + std::to_string(i)));
      if (!seen.insert({e.key, e.model_version}).second) continue;
      evaluations.begin_row(5);
      evaluations.add_text(e.key);
      evaluations.add_int64(e.model_version);
      evaluations.add_double(e.prediction);
      evaluations.add_double(e.actual);
      evaluations.add_int64(e.joined_at_ms);
    }
    evaluations.finish();
  }
  if (!batch.metrics.empty()) {
    FC_RETURN_IF_ERROR(check_text(spec.name(), check_utf8_, "the dataset name"));
    // Last row per window wins, as upserting them one by one would.
    std::map<std::array<int64_t, 3>, const MetricRow*> last;
    for (const MetricRow& m : batch.metrics)
      last[{m.model_version, m.window_end_ms, m.window_ms}] = &m;
    for (const auto& [k, m] : last) {
      metrics.begin_row(10);
      metrics.add_text(spec.name());
      metrics.add_int64(m->model_version);
      metrics.add_int64(m->window_end_ms);
      metrics.add_int64(m->window_ms);
      metrics.add_int64(m->count);
      metrics.add_double(m->mae);
      metrics.add_double(m->rmse);
      metrics.add_double(m->rmsle);
      metrics.add_double(m->mape);
      metrics.add_double(m->within_30);
    }
    metrics.finish();
  }

  static const std::string upsert_metrics =
      std::string("INSERT INTO \"flowcast_metrics\" (") + kMetricColumns + ") SELECT " +
      kMetricColumns +
      " FROM pg_temp.\"fc_stage_flowcast_metrics\" "
      "ON CONFLICT (\"dataset\",\"model_version\",\"window_end_ms\",\"window_ms\") DO UPDATE SET "
      "\"count\"=EXCLUDED.\"count\",\"mae\"=EXCLUDED.\"mae\",\"rmse\"=EXCLUDED.\"rmse\","
      "\"rmsle\"=EXCLUDED.\"rmsle\",\"mape\"=EXCLUDED.\"mape\",\"within_30\"=EXCLUDED.\"within_"
      "30\"";
  static const std::string copy_metrics =
      std::string("COPY pg_temp.\"fc_stage_flowcast_metrics\" (") + kMetricColumns +
      ") FROM STDIN (FORMAT binary)";

  // Set once a COMMIT was cut off: the transaction may have committed, so the retry reports the
  // evaluations it finds stored with exactly its values as inserted (they were, by this call).
  bool maybe_committed = false;
  auto attempt = [&](PostgresConnection& db) -> Result<CommitResult> {
    FC_RETURN_IF_ERROR(ensure_staging(db, *sql));
    FC_ASSIGN_OR_RETURN(auto tx, PostgresTransaction::begin(db, Mode::kReadWrite));
    if (!batch.offsets.empty()) {
      FC_RETURN_IF_ERROR(db.copy_in(kCopyOffsets, offsets.data(), "staging offsets"));
      FC_RETURN_IF_ERROR(db.exec(kUpsertOffsets, "writing offsets"));
    }
    if (has_records) {
      FC_RETURN_IF_ERROR(write_records(db, sql->requests, 0, request_rows));
      FC_RETURN_IF_ERROR(write_records(db, sql->outcomes, 1, outcome_rows));
    }
    if (!batch.predictions.empty()) {
      FC_RETURN_IF_ERROR(
          db.copy_in(sql->copy_predictions, predictions.data(), "staging predictions"));
      FC_RETURN_IF_ERROR(db.exec(sql->insert_predictions, "writing predictions"));
    }
    CommitResult result;
    if (!batch.evaluations.empty()) {
      FC_RETURN_IF_ERROR(
          db.copy_in(sql->copy_evaluations, evaluations.data(), "staging evaluations"));
      FC_ASSIGN_OR_RETURN(auto inserted, db.query(sql->insert_evaluations, "writing evaluations"));
      std::set<std::pair<std::string, int64_t>> fresh;
      for (int i = 0; i < inserted.rows(); ++i)
        fresh.emplace(std::string(inserted.text(i, 0)), inserted.int64(i, 1));
      if (maybe_committed) {
        FC_ASSIGN_OR_RETURN(auto ours,
                            db.query(sql->matching_evaluations, "reading back evaluations"));
        for (int i = 0; i < ours.rows(); ++i)
          fresh.emplace(std::string(ours.text(i, 0)), ours.int64(i, 1));
      }
      result.evaluation_inserted.reserve(batch.evaluations.size());
      for (const EvaluationRow& e : batch.evaluations) {
        // The first occurrence of a new pair is the insert; repeats in the batch are not.
        auto it = fresh.find({e.key, e.model_version});
        result.evaluation_inserted.push_back(it != fresh.end() ? 1 : 0);
        if (it != fresh.end()) fresh.erase(it);
      }
    }
    if (!batch.metrics.empty()) {
      FC_RETURN_IF_ERROR(db.copy_in(copy_metrics, metrics.data(), "staging metrics"));
      FC_RETURN_IF_ERROR(db.exec(upsert_metrics, "writing metrics"));
    }
    Status c = tx.commit();
    if (!c.ok()) {
      if (tx.committed_unknown()) maybe_committed = true;
      return c;
    }
    return result;
  };
  return run("commit", attempt);
}

Result<std::vector<OffsetEntry>> PostgresStore::load_offsets(const std::string& group) {
  FC_RETURN_IF_ERROR(check_text(group, check_utf8_, "the consumer group name"));
  return run("load_offsets", [&](PostgresConnection& db) -> Result<std::vector<OffsetEntry>> {
    FC_ASSIGN_OR_RETURN(auto r,
                        db.query(kLoadOffsets, PostgresParams().text(group), "reading offsets"));
    std::vector<OffsetEntry> out;
    for (int i = 0; i < r.rows(); ++i)
      out.push_back(
          {std::string(r.text(i, 0)), static_cast<int32_t>(r.int64(i, 1)), r.int64(i, 2)});
    return out;
  });
}

// --- reads ---------------------------------------------------------------------------------

Status PostgresStore::scan_labelled(const DatasetSpec& spec, int64_t limit,
                                    const std::function<void(const Record&)>& row) {
  if (limit < 0) return Status::invalid("scan_labelled: limit must be >= 0");
  FC_ASSIGN_OR_RETURN(auto sql, dataset_sql(spec));
  const std::string fetch = "FETCH " + std::to_string(options_.fetch_rows) + " FROM fc_scan";
  // Once a row reached the callback a retry would deliver it twice: failures are then final.
  bool delivered = false;
  return run(
      "scan_labelled",
      [&](PostgresConnection& db) -> Status {
        // One snapshot for the cut-off query and the scan, however long the callback takes.
        FC_ASSIGN_OR_RETURN(auto tx, PostgresTransaction::begin(db, Mode::kSnapshot));
        bool cut = false;
        int64_t cutoff_ts = 0;
        std::string cutoff_key;
        if (limit > 0) {
          // The (event time, key) of the limit-th newest labelled row, read from the partial
          // index; the cursor then starts there and walks the index in order with no sort.
          FC_ASSIGN_OR_RETURN(auto r, db.query(sql->scan_cutoff, PostgresParams().int64(limit - 1),
                                               "finding the scan's first row"));
          if (r.rows() > 0) {
            cut = true;
            cutoff_ts = r.timestamp_micros(0, 0);
            cutoff_key = std::string(r.text(0, 1));
          }
        }
        if (cut) {
          FC_RETURN_IF_ERROR(db.query(sql->cursor_from,
                                      PostgresParams().timestamp_micros(cutoff_ts).text(cutoff_key),
                                      "opening the scan")
                                 .status());
        } else {
          FC_RETURN_IF_ERROR(db.query(sql->cursor_all, "opening the scan").status());
        }
        // Rows arrive fetch_rows at a time: the scan holds one chunk, never the whole table.
        Record rec;
        for (;;) {
          FC_ASSIGN_OR_RETURN(auto chunk, db.query(fetch, "reading labelled rows"));
          if (chunk.rows() == 0) break;
          for (int i = 0; i < chunk.rows(); ++i) {
            read_record(chunk, i, spec, rec);
            delivered = true;
            row(rec);
          }
        }
        return tx.commit();
      },
      &delivered);
}

Result<int64_t> PostgresStore::count_labelled(const DatasetSpec& spec) {
  return count(spec, &PostgresDatasetSql::count_labelled, "counting labelled rows");
}

Result<int64_t> PostgresStore::count_labelled_at_most(const DatasetSpec& spec) {
  return count(spec, &PostgresDatasetSql::count_targets, "counting outcomes");
}

Result<int64_t> PostgresStore::count(const DatasetSpec& spec,
                                     const std::string PostgresDatasetSql::*query,
                                     const char* what) {
  FC_ASSIGN_OR_RETURN(auto sql, dataset_sql(spec));
  return run(what, [&](PostgresConnection& db) -> Result<int64_t> {
    FC_ASSIGN_OR_RETURN(auto r, db.query((*sql).*query, what));
    return r.rows() > 0 ? r.int64(0, 0) : int64_t{0};
  });
}

Result<std::vector<double>> PostgresStore::recent_targets(const DatasetSpec& spec, int64_t limit) {
  if (limit < 0) return Status::invalid("recent_targets: limit must be >= 0");
  FC_ASSIGN_OR_RETURN(auto sql, dataset_sql(spec));
  const FieldType target_type = spec.field(spec.target_index()).type;
  return run("recent_targets", [&](PostgresConnection& db) -> Result<std::vector<double>> {
    FC_ASSIGN_OR_RETURN(auto tx, PostgresTransaction::begin(db, Mode::kSnapshot));
    // (time in microseconds, target), newest first, from each of the two indexed queries.
    using Timed = std::pair<int64_t, double>;
    std::vector<Timed> timed, untimed;
    {
      PostgresParams p;
      FC_ASSIGN_OR_RETURN(auto r, db.query(sql->recent_targets_timed, limit_param(p, limit),
                                           "reading recent targets"));
      for (int i = 0; i < r.rows(); ++i)
        timed.emplace_back(r.timestamp_micros(i, 1), number_at(r, i, 0, target_type));
    }
    {
      PostgresParams p;
      FC_ASSIGN_OR_RETURN(auto r, db.query(sql->recent_targets_untimed, limit_param(p, limit),
                                           "reading recent targets"));
      for (int i = 0; i < r.rows(); ++i) {
        int64_t t = r.is_null(i, 1) ? std::numeric_limits<int64_t>::min() : r.int64(i, 1) * 1000;
        untimed.emplace_back(t, number_at(r, i, 0, target_type));
      }
    }
    FC_RETURN_IF_ERROR(tx.commit());
    return merge_newest_first(timed, untimed, limit);
  });
}

Result<std::optional<Record>> PostgresStore::get_record(const DatasetSpec& spec,
                                                        const std::string& key) {
  FC_ASSIGN_OR_RETURN(auto sql, dataset_sql(spec));
  // A key PostgreSQL cannot hold is not stored.
  if (key.find('\0') != std::string::npos || (check_utf8_ && !valid_utf8(key)))
    return std::optional<Record>();
  return run("get_record", [&](PostgresConnection& db) -> Result<std::optional<Record>> {
    FC_ASSIGN_OR_RETURN(
        auto r, db.query(sql->select_record, PostgresParams().text(key), "reading a record"));
    if (r.rows() == 0) return std::optional<Record>();
    Record rec;
    read_record(r, 0, spec, rec);
    return std::optional<Record>(std::move(rec));
  });
}

Result<std::vector<PredictionRow>> PostgresStore::predictions_for(const DatasetSpec& spec,
                                                                  const std::string& key) {
  FC_ASSIGN_OR_RETURN(auto sql, dataset_sql(spec));
  if (key.find('\0') != std::string::npos || (check_utf8_ && !valid_utf8(key)))
    return std::vector<PredictionRow>();
  return run("predictions_for", [&](PostgresConnection& db) -> Result<std::vector<PredictionRow>> {
    FC_ASSIGN_OR_RETURN(
        auto r, db.query(sql->predictions_for, PostgresParams().text(key), "reading predictions"));
    std::vector<PredictionRow> out;
    for (int i = 0; i < r.rows(); ++i)
      out.push_back(
          {std::string(r.text(i, 0)), r.int64(i, 1), float8_or_nan(r, i, 2), r.int64(i, 3)});
    return out;
  });
}

Result<DatasetStats> PostgresStore::stats(const DatasetSpec& spec) {
  FC_ASSIGN_OR_RETURN(auto sql, dataset_sql(spec));
  return run("stats", [&](PostgresConnection& db) -> Result<DatasetStats> {
    // One statement, so one snapshot.
    FC_ASSIGN_OR_RETURN(auto r,
                        db.query(sql->stats, PostgresParams().text(spec.name()), "counting rows"));
    DatasetStats s;
    if (r.rows() == 0) return s;
    int col = 0;
    for (int64_t* p : {&s.records, &s.requests, &s.outcomes, &s.labelled, &s.predictions,
                       &s.predicted_keys, &s.evaluations, &s.metrics})
      *p = r.int64(0, col++);
    return s;
  });
}

Result<std::vector<MetricRow>> PostgresStore::recent_metrics(const std::string& dataset,
                                                             int64_t limit) {
  if (limit < 0) return Status::invalid("recent_metrics: limit must be >= 0");
  FC_RETURN_IF_ERROR(check_text(dataset, check_utf8_, "the dataset name"));
  return run("recent_metrics", [&](PostgresConnection& db) -> Result<std::vector<MetricRow>> {
    PostgresParams p;
    p.text(dataset);
    FC_ASSIGN_OR_RETURN(auto r, db.query(kRecentMetrics, limit_param(p, limit), "reading metrics"));
    std::vector<MetricRow> out;
    for (int i = 0; i < r.rows(); ++i) {
      MetricRow m;
      m.model_version = r.int64(i, 0);
      m.window_end_ms = r.int64(i, 1);
      m.window_ms = r.int64(i, 2);
      m.count = r.int64(i, 3);
      m.mae = float8_or_nan(r, i, 4);
      m.rmse = float8_or_nan(r, i, 5);
      m.rmsle = float8_or_nan(r, i, 6);
      m.mape = float8_or_nan(r, i, 7);
      m.within_30 = float8_or_nan(r, i, 8);
      out.push_back(m);
    }
    return out;
  });
}

// --- model registry ------------------------------------------------------------------------

Result<int64_t> PostgresStore::register_model(const ModelInfo& info, std::string_view artifact,
                                              bool activate) {
  if (info.dataset.empty()) return Status::invalid("register_model: the dataset name is empty");
  FC_RETURN_IF_ERROR(check_text(info.dataset, check_utf8_, "register_model: the dataset name"));
  FC_RETURN_IF_ERROR(check_text(info.learner, check_utf8_, "register_model: the learner name"));
  FC_RETURN_IF_ERROR(check_text(info.metrics_json, check_utf8_, "register_model: metrics_json"));
  const int64_t now = now_millis();
  const int64_t created = info.created_at_ms != 0 ? info.created_at_ms : now;
  bool maybe_committed = false;
  return run("register_model", [&](PostgresConnection& db) -> Result<int64_t> {
    FC_ASSIGN_OR_RETURN(auto tx, PostgresTransaction::begin(db, Mode::kReadWrite));
    FC_RETURN_IF_ERROR(
        db.query(kLockModels, PostgresParams().int64(kModelLock).text(info.dataset), "locking")
            .status());
    if (maybe_committed) {
      // The first attempt's COMMIT was cut off: if it did commit, its row is here.
      FC_ASSIGN_OR_RETURN(auto r, db.query(kFindRegisteredModel,
                                           PostgresParams()
                                               .text(info.dataset)
                                               .int64(created)
                                               .text(info.learner)
                                               .text(info.metrics_json)
                                               .int64(info.trained_rows)
                                               .bytes(artifact),
                                           "looking for the model registered before"));
      if (r.rows() > 0) {
        int64_t version = r.int64(0, 0);
        FC_RETURN_IF_ERROR(tx.commit());
        return version;
      }
    }
    int64_t version = 1;
    {
      FC_ASSIGN_OR_RETURN(auto r, db.query(kNextModelVersion, PostgresParams().text(info.dataset),
                                           "choosing the model version"));
      if (r.rows() > 0) version = r.int64(0, 0);
    }
    if (activate)
      FC_RETURN_IF_ERROR(
          db.query(kRetireActive, PostgresParams().text(info.dataset), "retiring the active model")
              .status());
    PostgresParams p;
    p.text(info.dataset).int64(version).int64(created);
    if (activate)
      p.int64(now);
    else
      p.null();
    p.text(info.learner)
        .text(activate ? "active" : "candidate")
        .text(info.metrics_json)
        .int64(info.trained_rows)
        .bytes(artifact);
    FC_RETURN_IF_ERROR(db.query(kInsertModel, p, "storing the model").status());
    Status c = tx.commit();
    if (!c.ok()) {
      if (tx.committed_unknown()) maybe_committed = true;
      return c;
    }
    return version;
  });
}

Result<std::vector<ModelInfo>> PostgresStore::list_models(const std::string& dataset) {
  FC_RETURN_IF_ERROR(check_text(dataset, check_utf8_, "the dataset name"));
  static const std::string sql =
      std::string(kModelColumns) + "WHERE \"dataset\"=$1 ORDER BY \"version\" DESC";
  return run("list_models", [&](PostgresConnection& db) -> Result<std::vector<ModelInfo>> {
    FC_ASSIGN_OR_RETURN(auto r, db.query(sql, PostgresParams().text(dataset), "listing models"));
    std::vector<ModelInfo> out;
    for (int i = 0; i < r.rows(); ++i) out.push_back(read_model(r, i));
    return out;
  });
}

Result<std::optional<ModelInfo>> PostgresStore::active_model(const std::string& dataset) {
  FC_RETURN_IF_ERROR(check_text(dataset, check_utf8_, "the dataset name"));
  static const std::string sql =
      std::string(kModelColumns) + "WHERE \"dataset\"=$1 AND \"status\"='active'";
  return run("active_model", [&](PostgresConnection& db) -> Result<std::optional<ModelInfo>> {
    FC_ASSIGN_OR_RETURN(auto r,
                        db.query(sql, PostgresParams().text(dataset), "reading the active model"));
    if (r.rows() == 0) return std::optional<ModelInfo>();
    return std::optional<ModelInfo>(read_model(r, 0));
  });
}

Result<std::string> PostgresStore::load_artifact(const std::string& dataset, int64_t version) {
  FC_RETURN_IF_ERROR(check_text(dataset, check_utf8_, "the dataset name"));
  return run("load_artifact", [&](PostgresConnection& db) -> Result<std::string> {
    FC_ASSIGN_OR_RETURN(auto r,
                        db.query(kLoadArtifact, PostgresParams().text(dataset).int64(version),
                                 "reading a model artifact"));
    if (r.rows() == 0)
      return Status::not_found("no model version " + std::to_string(version) + " of dataset '" +
                               dataset + "'");
    return std::string(r.bytes(0, 0));
  });
}

Status PostgresStore::promote_model(const std::string& dataset, int64_t version) {
  FC_RETURN_IF_ERROR(check_text(dataset, check_utf8_, "the dataset name"));
  const int64_t now = now_millis();
  return run("promote_model", [&](PostgresConnection& db) -> Status {
    FC_ASSIGN_OR_RETURN(auto tx, PostgresTransaction::begin(db, Mode::kReadWrite));
    FC_RETURN_IF_ERROR(
        db.query(kLockModels, PostgresParams().int64(kModelLock).text(dataset), "locking")
            .status());
    {
      FC_ASSIGN_OR_RETURN(auto r,
                          db.query(kModelStatus, PostgresParams().text(dataset).int64(version),
                                   "reading the model's status"));
      if (r.rows() == 0)
        return Status::not_found("no model version " + std::to_string(version) + " of dataset '" +
                                 dataset + "'");
      if (r.text(0, 0) == "active") return tx.commit();  // already serving
    }
    FC_RETURN_IF_ERROR(
        db.query(kRetireActive, PostgresParams().text(dataset), "retiring the active model")
            .status());
    FC_RETURN_IF_ERROR(db.query(kActivateModel,
                                PostgresParams().text(dataset).int64(version).int64(now),
                                "activating the model")
                           .status());
    return tx.commit();
  });
}

}  // namespace flowcast::store
