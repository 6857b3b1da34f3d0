// PostgresDatasetSql: every SQL statement PostgresStore runs against one dataset's tables,
// generated once from the DatasetSpec.
//
// A dataset's records live in two tables, one row per key in each (docs/postgresql.md):
// D_requests holds the key, the request fields and _ingested_at_ms; D_outcomes holds the key, the
// outcome fields and _labelled_at_ms. D_records is a view joining them (FULL JOIN on the key) with
// the columns and meaning of the SQLite backend's D_records table, so users' SQL reads the same
// rows from either store. The split is for writes: a request and its outcome each arrive once,
// so each is an INSERT of a new row; in one table the outcome was an UPDATE of the request's row,
// which costs PostgreSQL about twice an insert (a new row version and an entry in every index).
//
// Column types: timestamp -> timestamptz, float/latitude/longitude -> double precision, int ->
// bigint, bool -> boolean, string/category -> text. Key columns are `text COLLATE "C"`: byte
// order, as SQLite compares, and cheaper than a locale's collation in the key index.
//
// Writes go table by table: the batch's rows for the table (one per key, in key order) are first
// sent with a binary COPY straight into it under a savepoint, since they are usually new keys; if
// one exists after all, they go through a per-session temporary staging table (`fc_stage_<table>`,
// created LIKE the target, ON COMMIT DELETE ROWS) and one INSERT ... SELECT ... ON CONFLICT.
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

// One expected column of a records table.
struct PostgresColumn {
  std::string name;
  std::string type;  // as format_type() prints it: bigint, double precision, text, ...
  bool primary_key = false;
};

// D_requests or D_outcomes: its columns, the fields they hold and the statements that write it.
struct PostgresRecordTable {
  std::string name;                     // unquoted: D_requests
  std::vector<PostgresColumn> columns;  // the key, `fields` in schema order, then the _at_ms
  std::vector<int> fields;              // schema indexes of the non-key fields stored here
  std::string at_column;                // _ingested_at_ms or _labelled_at_ms
  std::string column_names;             // `columns`, quoted, comma-separated
  std::string create;                   // CREATE TABLE IF NOT EXISTS
  std::string copy_new;                 // COPY of `columns` straight into the table
  std::string copy_stage;               // COPY of `columns` into the staging table
  std::string upsert;                   // staging -> table, COALESCE semantics
};

struct PostgresDatasetSql {
  explicit PostgresDatasetSql(const DatasetSpec& spec);

  // Everything the generated SQL depends on: names, types, roles and the special fields.
  static std::string signature(const DatasetSpec& spec);

  // Compares the columns of an existing table with those `table` needs. Returns "" when they
  // match (names compared case-insensitively, order ignored), else a sentence naming the first
  // column that differs.
  static std::string mismatch(const PostgresRecordTable& table,
                              const std::vector<PostgresColumn>& existing);

  std::string signature_text;
  std::string records_view;             // unquoted: D_records
  std::vector<PostgresColumn> columns;  // D_records' columns: schema fields in order, the _at_ms
  PostgresRecordTable requests, outcomes;
  std::vector<std::string> create_statements;  // IF NOT EXISTS, run in order
  // The view D_records; created when no relation of that name exists (never replaced: that
  // would wait for every query on it).
  std::string create_view;
  // Schema version 1 kept every record in one table D_records. These statements, run in order
  // in one transaction after create_statements, move its rows into the two (new, empty) tables
  // and drop it; create_view then puts the view in its place.
  std::vector<std::string> migrate_single_table;
  // Value::index() a present value of field i must have (1 int64, 2 double, 3 bool, 4 string).
  std::vector<size_t> value_index;
  // Per field: whether a request / an outcome message writes it (the key is written by all).
  std::vector<uint8_t> request_writes, outcome_writes;

  // Staging: CREATE TEMP TABLE statements (run outside any transaction), keyed by table name.
  std::vector<std::pair<std::string, std::string>> staging_tables;
  std::string copy_predictions;  // key, model_version, prediction, predicted_at_ms
  std::string insert_predictions;
  std::string copy_evaluations;      // key, model_version, prediction, actual, joined_at_ms
  std::string insert_evaluations;    // RETURNING key, model_version of the rows inserted
  std::string matching_evaluations;  // staged pairs stored with exactly the staged values

  std::string select_record;           // all fields of the record with key $1
  std::string cursor_all;              // DECLARE fc_scan: labelled rows, oldest first by (ts, key)
  std::string scan_cutoff;             // (event time, key) of the newest labelled row at OFFSET $1
  std::string cursor_from;             // DECLARE fc_scan: labelled rows with (ts, key) >= ($1, $2)
  std::string count_labelled;          // one row: count (a join of the two tables)
  std::string count_targets;           // one row: count of D_outcomes rows with a target
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
