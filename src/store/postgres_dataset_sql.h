// PostgresDatasetSql: every SQL statement PostgresStore runs against one dataset's tables,
// generated once from the DatasetSpec.
//
// The tables and column names are the SQLite backend's (docs/store.md); only the column types
// differ: timestamp -> timestamptz, float/latitude/longitude -> double precision, int -> bigint,
// bool -> boolean, string/category -> text. Key columns are `text COLLATE "C"`: byte order, as
// SQLite compares, and cheaper than a locale's collation in the key index.
//
// Writes go through per-session temporary staging tables (`fc_stage_<table>`, created LIKE the
// target, ON COMMIT DELETE ROWS): a batch is sent with one binary COPY into the staging table,
// then moved with one INSERT ... SELECT ... ON CONFLICT into the target. Records that no outcome
// touched, which are usually new keys, are first tried with a binary COPY straight into the
// records table under a savepoint (see PostgresStore::write_records).
//
// Column order in every SELECT of records is the schema's field order, so column i is field i.
// Identifiers are always double-quoted (DatasetSpec restricts them to [A-Za-z][A-Za-z0-9_]*);
// values are always parameters or COPY data.
//
// Immutable after construction; safe to share between threads.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/dataset_spec.h"

namespace flowcast::store {

// One expected column of D_records.
struct PostgresColumn {
  std::string name;
  std::string type;  // as format_type() prints it: bigint, double precision, text, ...
  bool primary_key = false;
};

struct PostgresDatasetSql {
  explicit PostgresDatasetSql(const DatasetSpec& spec);

  // Everything the generated SQL depends on: names, types, roles and the special fields.
  static std::string signature(const DatasetSpec& spec);

  // Compares the columns of an existing records table with `columns`. Returns "" when they
  // match (names compared case-insensitively, order ignored), else a sentence naming the first
  // column that differs, worded as the SQLite backend words it.
  std::string mismatch(const std::vector<PostgresColumn>& existing) const;

  std::string signature_text;
  std::string records_table;                   // unquoted: D_records
  std::vector<PostgresColumn> columns;         // schema fields in order, then the two _at_ms
  std::vector<std::string> create_statements;  // IF NOT EXISTS, run in order
  // Value::index() a present value of field i must have (1 int64, 2 double, 3 bool, 4 string).
  std::vector<size_t> value_index;
  // Per field: whether a request / an outcome message writes it (the key is written by all).
  std::vector<uint8_t> request_writes, outcome_writes;

  // Staging: CREATE TEMP TABLE statements (run outside any transaction), keyed by table name.
  std::vector<std::pair<std::string, std::string>> staging_tables;
  std::string copy_records;    // COPY into the records staging table: `columns`
  std::string upsert_records;  // staging -> D_records, COALESCE semantics (every staged row)
  // The same, taking the staged rows in key order (staged by two COPYs, each sorted).
  std::string upsert_records_in_key_order;
  // The fast path for rows expected to be new: COPY of `columns` straight into D_records (fails
  // as a whole with a unique violation if one of the keys exists after all).
  std::string copy_new_records;
  std::string copy_predictions;  // key, model_version, prediction, predicted_at_ms
  std::string insert_predictions;
  std::string copy_evaluations;      // key, model_version, prediction, actual, joined_at_ms
  std::string insert_evaluations;    // RETURNING key, model_version of the rows inserted
  std::string matching_evaluations;  // staged pairs stored with exactly the staged values

  std::string select_record;           // all fields of the row with key $1
  std::string cursor_all;              // DECLARE fc_scan: labelled rows, oldest first by (ts, key)
  std::string scan_cutoff;             // (event time, key) of the newest labelled row at OFFSET $1
  std::string cursor_from;             // DECLARE fc_scan: labelled rows with (ts, key) >= ($1, $2)
  std::string count_labelled;          // one row: count
  std::string stats;                   // one row: records, requests, outcomes, labelled,
                                       //   predictions, predicted keys, evaluations, metrics ($1)
  std::string recent_targets_timed;    // target, event time; newest first, LIMIT $1
  std::string recent_targets_untimed;  // target, _labelled_at_ms; rows without event time
  std::string predictions_for;         // key, version, prediction, predicted_at_ms for key $1
};

// "name" with embedded double quotes doubled.
std::string postgres_quote(std::string_view identifier);
// Column type of a field (format_type spelling; the key column is always text).
const char* postgres_column_type(FieldType type);

}  // namespace flowcast::store
