// SqliteDatasetSql: every SQL statement SqliteStore runs against one dataset's tables, generated
// once from the DatasetSpec and then reused as the key of each connection's statement cache.
//
// Column order in every SELECT of records is the schema's field order, so column i is field i.
// Identifiers are always double-quoted (DatasetSpec already restricts them to
// [A-Za-z][A-Za-z0-9_]*); values are always bound parameters.
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
struct SqliteColumn {
  std::string name;
  std::string type;  // declared SQL type: INTEGER, REAL or TEXT
  bool primary_key = false;
};

// The upsert one record role runs: ?1 is Record::key, then `fields` in order, then
// _ingested_at_ms when `ingested`, then _labelled_at_ms when `labelled`.
struct SqliteUpsert {
  std::string sql;       // one row: ?1 key, then the fields, then the bookkeeping times
  std::string many_sql;  // many_rows rows in one statement, each bound like `sql`, one after another
  int many_rows = 1;
  int row_params = 0;    // parameters per row: the key, `fields`, then the times that are on
  std::vector<int> fields;
  bool ingested = false;
  bool labelled = false;
};

struct SqliteDatasetSql {
  explicit SqliteDatasetSql(const DatasetSpec& spec);

  // Everything the generated SQL depends on: names, types, roles and the special fields.
  static std::string signature(const DatasetSpec& spec);

  // Compares the columns of an existing records table with `columns`. Returns "" when they
  // match (names and types compared case-insensitively, as SQLite does; order ignored), else a
  // sentence naming the first column that differs.
  std::string mismatch(const std::vector<SqliteColumn>& existing) const;

  std::string signature_text;
  std::string records_table;  // unquoted: D_records (for pragma_table_info)
  std::vector<SqliteColumn> columns;
  std::vector<std::string> create_statements;  // IF NOT EXISTS, run in order
  // Value::index() a present value of field i must have (1 int64, 2 double, 3 bool, 4 string).
  std::vector<size_t> value_index;

  SqliteUpsert request, outcome, observation;
  // insert_predictions[j] inserts 2^j predictions in one statement (j up to
  // kPredictionChunkLog2), INSERT OR IGNORE; row r binds ?(4r+1) key, ?(4r+2) version,
  // ?(4r+3) prediction, ?(4r+4) predicted_at_ms.
  static constexpr int kPredictionChunkLog2 = 6;
  std::vector<std::string> insert_predictions;
  std::string insert_evaluation;  // ?1 key, ?2 version, ?3 prediction, ?4 actual, ?5 joined_at

  std::string select_record;      // all fields of the row with key ?1
  std::string scan_all;           // labelled rows, oldest first by (event time, key)
  std::string scan_cutoff;        // (event time, key) of the newest labelled row at OFFSET ?1
  std::string scan_from;          // labelled rows with (event time, key) >= (?1, ?2), oldest first
  std::string count_labelled;     // one row: count
  std::string record_counts;      // one row: rows, with event time, with target, labelled
  std::string prediction_counts;  // one row: rows, distinct keys
  std::string evaluation_count;   // one row: rows
  std::string recent_targets_timed;    // target, event time; newest first, LIMIT ?1
  std::string recent_targets_untimed;  // target, _labelled_at_ms; rows without event time
  std::string predictions_for;         // key, version, prediction, predicted_at_ms for key ?1
};

// "name" with embedded double quotes doubled.
std::string sqlite_quote(std::string_view identifier);
// Declared SQL type of a field's column (the key column is always TEXT).
const char* sqlite_column_type(FieldType type);

}  // namespace flowcast::store
