#include "store/sqlite_dataset_sql.h"

#include <strings.h>

#include <algorithm>

namespace flowcast::store {
namespace {

// Joins quoted names: "a","b","c".
std::string column_list(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) {
    if (!out.empty()) out += ',';
    out += sqlite_quote(n);
  }
  return out;
}

std::string placeholders(size_t n) {
  std::string out;
  for (size_t i = 1; i <= n; ++i) {
    if (i > 1) out += ',';
    out += '?' + std::to_string(i);
  }
  return out;
}

// INSERT ... ON CONFLICT(key) DO UPDATE: values present in the record replace stored ones,
// absent values (bound NULL) keep what is stored (COALESCE(new, old)). The bookkeeping
// timestamps keep the first time instead (COALESCE(old, new)), so a re-delivery changes nothing.
SqliteUpsert make_upsert(const DatasetSpec& spec, const std::string& table, std::vector<int> fields,
                         bool ingested, bool labelled) {
  SqliteUpsert u;
  u.fields = std::move(fields);
  u.ingested = ingested;
  u.labelled = labelled;
  const std::string& key = spec.field(spec.key_index()).name;
  std::vector<std::string> names{key};
  for (int f : u.fields) names.push_back(spec.field(f).name);
  std::string set;
  // `col`=COALESCE(`first`,`second`), comma-separated.
  auto assign = [&set](const std::string& col, const std::string& first,
                       const std::string& second) {
    if (!set.empty()) set += ',';
    set.append(col).append("=COALESCE(").append(first).append(",").append(second).append(")");
  };
  for (int f : u.fields) {
    std::string q = sqlite_quote(spec.field(f).name);
    assign(q, "excluded." + q, q);
  }
  for (const char* ts : {"_ingested_at_ms", "_labelled_at_ms"}) {
    bool on = std::string_view(ts) == "_ingested_at_ms" ? ingested : labelled;
    if (!on) continue;
    names.emplace_back(ts);
    std::string q = sqlite_quote(ts);
    assign(q, q, "excluded." + q);
  }
  const std::string conflict =
      " ON CONFLICT(" + sqlite_quote(key) + ") DO " + (set.empty() ? "NOTHING" : "UPDATE SET " + set);
  u.sql = "INSERT INTO " + sqlite_quote(table) + " (" + column_list(names) + ") VALUES (" +
          placeholders(names.size()) + ")" + conflict;
  // Many rows per statement: a step() and reset() per row cost about a quarter of a bulk load
  // (1M realty rows: ~3.2 s of SQLite's time with one row per statement, ~2.5 s with 16-32).
  // OR IGNORE for the same reason as the predictions' insert below: with a NOT NULL that may
  // ABORT, SQLite would journal every page the statement changes, which costs more than it
  // saves (measured: 2x slower). The key is the only NOT NULL column and flowcast never binds it
  // NULL, so OR IGNORE changes nothing else; a conflict on the key still takes the upsert, row
  // by row in order, so a key repeated within one statement merges as across statements.
  // At most 999 parameters, the limit of SQLite builds before 3.32.
  u.row_params = static_cast<int>(names.size());
  u.many_rows = static_cast<int>(std::clamp<size_t>(999 / names.size(), 1, 32));
  std::string rows;
  for (int r = 0; r < u.many_rows; ++r) {
    rows += r == 0 ? "(" : ",(";
    for (size_t c = 0; c < names.size(); ++c) rows += c == 0 ? "?" : ",?";
    rows += ')';
  }
  u.many_sql = "INSERT OR IGNORE INTO " + sqlite_quote(table) + " (" + column_list(names) +
               ") VALUES " + rows + conflict;
  return u;
}

}  // namespace

std::string sqlite_quote(std::string_view identifier) {
  std::string out = "\"";
  for (char c : identifier) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

const char* sqlite_column_type(FieldType type) {
  switch (storage_kind(type)) {
    case StorageKind::kInt:
    case StorageKind::kBool:
      return "INTEGER";
    case StorageKind::kDouble:
      return "REAL";
    case StorageKind::kString:
      return "TEXT";
  }
  return "TEXT";
}

std::string SqliteDatasetSql::mismatch(const std::vector<SqliteColumn>& existing) const {
  auto same = [](const std::string& a, const std::string& b) {
    return strcasecmp(a.c_str(), b.c_str()) == 0;
  };
  const std::string table = "table " + records_table;
  std::string key;
  for (const auto& c : columns)
    if (c.primary_key) key = c.name;
  for (const SqliteColumn& want : columns) {
    auto it = std::find_if(existing.begin(), existing.end(),
                           [&](const SqliteColumn& c) { return same(c.name, want.name); });
    if (it == existing.end()) return "column '" + want.name + "' is missing from " + table;
    if (!same(it->type, want.type))
      return "column '" + want.name + "' of " + table + " is " + it->type +
             " but the schema needs " + want.type;
    if (want.primary_key && !it->primary_key)
      return "column '" + want.name + "' of " + table +
             " is not its primary key, but it is the schema's key field";
    if (!want.primary_key && it->primary_key)
      return "column '" + want.name + "' is the primary key of " + table +
             ", but the schema's key field is '" + key + "'";
  }
  for (const SqliteColumn& have : existing) {
    bool known = std::any_of(columns.begin(), columns.end(),
                             [&](const SqliteColumn& c) { return same(c.name, have.name); });
    if (!known) return "column '" + have.name + "' of " + table + " is not a field of the schema";
  }
  return "";
}

std::string SqliteDatasetSql::signature(const DatasetSpec& spec) {
  std::string s = spec.name() + "|" + std::to_string(spec.key_index()) + "|" +
                  std::to_string(spec.event_time_index()) + "|" +
                  std::to_string(spec.target_index());
  for (const auto& f : spec.fields()) {
    s += '|';
    s += f.name;
    s += ':';
    s += field_type_name(f.type);
    s += f.role == FieldRole::kRequest ? ":r" : ":o";
  }
  return s;
}

SqliteDatasetSql::SqliteDatasetSql(const DatasetSpec& spec) : signature_text(signature(spec)) {
  const std::string& d = spec.name();
  records_table = d + "_records";
  const std::string records = sqlite_quote(records_table);
  const std::string predictions = sqlite_quote(d + "_predictions");
  const std::string evaluations = sqlite_quote(d + "_evaluations");
  const int n = static_cast<int>(spec.fields().size());
  const std::string key = sqlite_quote(spec.field(spec.key_index()).name);
  const std::string ts = sqlite_quote(spec.field(spec.event_time_index()).name);
  const std::string target = sqlite_quote(spec.field(spec.target_index()).name);

  std::vector<std::string> all_names;
  std::vector<int> request_fields, outcome_fields, other_fields;
  for (int i = 0; i < n; ++i) {
    const FieldSpec& f = spec.field(i);
    all_names.push_back(f.name);
    value_index.push_back(1 + static_cast<size_t>(storage_kind(f.type)));
    if (i == spec.key_index()) {
      columns.push_back({f.name, "TEXT", true});
      continue;
    }
    columns.push_back({f.name, sqlite_column_type(f.type), false});
    other_fields.push_back(i);
    (f.role == FieldRole::kOutcome ? outcome_fields : request_fields).push_back(i);
  }
  columns.push_back({"_ingested_at_ms", "INTEGER", false});
  columns.push_back({"_labelled_at_ms", "INTEGER", false});

  std::string defs;
  for (const auto& c : columns) {
    defs += (defs.empty() ? "\n  " : ",\n  ") + sqlite_quote(c.name) + " " + c.type;
    if (c.primary_key) defs += " NOT NULL PRIMARY KEY";
  }
  create_statements.push_back("CREATE TABLE IF NOT EXISTS " + records + " (" + defs + "\n)");
  // Labelled rows by event time: scan_labelled, count_labelled and recent_targets read only this
  // partial index (it covers key, event time and target), never the whole table.
  create_statements.push_back("CREATE INDEX IF NOT EXISTS " +
                              sqlite_quote(records_table + "_labelled") + " ON " + records + " (" +
                              ts + "," + key + "," + target + ") WHERE " + target + " IS NOT NULL");
  create_statements.push_back(
      "CREATE TABLE IF NOT EXISTS " + predictions +
      " (\n  \"key\" TEXT NOT NULL,\n  \"model_version\" INTEGER NOT NULL,\n"
      "  \"prediction\" REAL,\n  \"predicted_at_ms\" INTEGER NOT NULL,\n"
      "  PRIMARY KEY (\"key\", \"model_version\")\n) WITHOUT ROWID");
  create_statements.push_back(
      "CREATE TABLE IF NOT EXISTS " + evaluations +
      " (\n  \"key\" TEXT NOT NULL,\n  \"model_version\" INTEGER NOT NULL,\n"
      "  \"prediction\" REAL,\n  \"actual\" REAL,\n  \"joined_at_ms\" INTEGER NOT NULL,\n"
      "  PRIMARY KEY (\"key\", \"model_version\")\n) WITHOUT ROWID");

  request = make_upsert(spec, records_table, request_fields, true, false);
  outcome = make_upsert(spec, records_table, outcome_fields, false, true);
  observation = make_upsert(spec, records_table, other_fields, true, true);
  // Multi-row: one step() for many rows is cheaper than a step() and reset() per row. OR IGNORE,
  // not ON CONFLICT DO NOTHING: with a constraint that may ABORT (the NOT NULLs), SQLite copies
  // every page a multi-row statement changes into a statement journal first, which cost more
  // than the multi-row insert saves once the table is larger than a batch. The two differ only
  // on a NULL key, version or time, which flowcast never binds. A pair repeated within one
  // statement conflicts with the row it inserted first, as across statements, so the first
  // stored prediction of a (key, version) always stays.
  for (int j = 0; j <= kPredictionChunkLog2; ++j) {
    std::string text = "INSERT OR IGNORE INTO " + predictions +
                       " (\"key\",\"model_version\",\"prediction\",\"predicted_at_ms\") VALUES ";
    for (int r = 0; r < (1 << j); ++r) text += r == 0 ? "(?,?,?,?)" : ",(?,?,?,?)";
    insert_predictions.push_back(std::move(text));
  }
  insert_evaluation = "INSERT INTO " + evaluations +
                      " (\"key\",\"model_version\",\"prediction\",\"actual\",\"joined_at_ms\") "
                      "VALUES (?1,?2,?3,?4,?5) ON CONFLICT DO NOTHING";

  const std::string select = "SELECT " + column_list(all_names) + " FROM " + records;
  const std::string labelled = target + " IS NOT NULL AND " + ts + " IS NOT NULL";
  const std::string oldest_first = " ORDER BY " + ts + "," + key;
  select_record = select + " WHERE " + key + "=?1";
  scan_all = select + " WHERE " + labelled + oldest_first;
  scan_cutoff = "SELECT " + ts + "," + key + " FROM " + records + " WHERE " + labelled +
                " ORDER BY " + ts + " DESC," + key + " DESC LIMIT 1 OFFSET ?1";
  scan_from =
      select + " WHERE " + labelled + " AND (" + ts + "," + key + ")>=(?1,?2)" + oldest_first;
  count_labelled = "SELECT count(*) FROM " + records + " WHERE " + labelled;
  record_counts = "SELECT count(*),count(" + ts + "),count(" + target + "),count(CASE WHEN " +
                  labelled + " THEN 1 END) FROM " + records;
  prediction_counts = "SELECT count(*),count(DISTINCT \"key\") FROM " + predictions;
  evaluation_count = "SELECT count(*) FROM " + evaluations;
  recent_targets_timed = "SELECT " + target + "," + ts + " FROM " + records + " WHERE " + labelled +
                         " ORDER BY " + ts + " DESC," + key + " DESC LIMIT ?1";
  recent_targets_untimed = "SELECT " + target + ",\"_labelled_at_ms\" FROM " + records + " WHERE " +
                           target + " IS NOT NULL AND " + ts +
                           " IS NULL ORDER BY \"_labelled_at_ms\" DESC LIMIT ?1";
  predictions_for = "SELECT \"key\",\"model_version\",\"prediction\",\"predicted_at_ms\" FROM " +
                    predictions + " WHERE \"key\"=?1 ORDER BY \"model_version\"";
}

}  // namespace flowcast::store
