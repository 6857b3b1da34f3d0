#include "store/postgres_dataset_sql.h"

#include <strings.h>

#include <algorithm>

namespace flowcast::store {
namespace {

// Joins quoted names, each optionally prefixed: p."a",p."b".
std::string column_list(const std::vector<std::string>& names, const std::string& prefix = "") {
  std::string out;
  for (const auto& n : names) {
    if (!out.empty()) out += ',';
    out += prefix + postgres_quote(n);
  }
  return out;
}

std::string staging_name(const std::string& table) { return "fc_stage_" + table; }

}  // namespace

std::string postgres_quote(std::string_view identifier) {
  std::string out = "\"";
  for (char c : identifier) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

const char* postgres_column_type(FieldType type) {
  if (type == FieldType::kTimestamp) return "timestamp with time zone";
  switch (storage_kind(type)) {
    case StorageKind::kInt:
      return "bigint";
    case StorageKind::kDouble:
      return "double precision";
    case StorageKind::kBool:
      return "boolean";
    case StorageKind::kString:
      return "text";
  }
  return "text";
}

std::string PostgresDatasetSql::mismatch(const std::vector<PostgresColumn>& existing) const {
  auto same = [](const std::string& a, const std::string& b) {
    return strcasecmp(a.c_str(), b.c_str()) == 0;
  };
  const std::string table = "table " + records_table;
  std::string key;
  for (const auto& c : columns)
    if (c.primary_key) key = c.name;
  for (const PostgresColumn& want : columns) {
    auto it = std::find_if(existing.begin(), existing.end(),
                           [&](const PostgresColumn& c) { return same(c.name, want.name); });
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
  for (const PostgresColumn& have : existing) {
    bool known = std::any_of(columns.begin(), columns.end(),
                             [&](const PostgresColumn& c) { return same(c.name, have.name); });
    if (!known) return "column '" + have.name + "' of " + table + " is not a field of the schema";
  }
  return "";
}

std::string PostgresDatasetSql::signature(const DatasetSpec& spec) {
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

PostgresDatasetSql::PostgresDatasetSql(const DatasetSpec& spec) : signature_text(signature(spec)) {
  const std::string& d = spec.name();
  records_table = d + "_records";
  const std::string predictions_table = d + "_predictions";
  const std::string evaluations_table = d + "_evaluations";
  const std::string records = postgres_quote(records_table);
  const std::string predictions = postgres_quote(predictions_table);
  const std::string evaluations = postgres_quote(evaluations_table);
  const int n = static_cast<int>(spec.fields().size());
  const std::string key = postgres_quote(spec.field(spec.key_index()).name);
  const std::string ts = postgres_quote(spec.field(spec.event_time_index()).name);
  const std::string target = postgres_quote(spec.field(spec.target_index()).name);

  std::vector<std::string> field_names, all_columns;
  for (int i = 0; i < n; ++i) {
    const FieldSpec& f = spec.field(i);
    field_names.push_back(f.name);
    value_index.push_back(1 + static_cast<size_t>(storage_kind(f.type)));
    const bool is_key = i == spec.key_index();
    request_writes.push_back(is_key || f.role == FieldRole::kRequest ? 1 : 0);
    outcome_writes.push_back(is_key || f.role == FieldRole::kOutcome ? 1 : 0);
    columns.push_back({f.name, is_key ? "text" : postgres_column_type(f.type), is_key});
  }
  columns.push_back({"_ingested_at_ms", "bigint", false});
  columns.push_back({"_labelled_at_ms", "bigint", false});
  for (const auto& c : columns) all_columns.push_back(c.name);

  std::string defs;
  for (const auto& c : columns) {
    defs += (defs.empty() ? "\n  " : ",\n  ") + postgres_quote(c.name) + " " + c.type;
    if (c.primary_key) defs += " COLLATE \"C\" NOT NULL PRIMARY KEY";
  }
  create_statements.push_back("CREATE TABLE IF NOT EXISTS " + records + " (" + defs + "\n)");
  // Labelled rows by event time: scan_labelled's cut-off, count_labelled and recent_targets
  // read this partial index; the scan itself walks it in order.
  create_statements.push_back(
      "CREATE INDEX IF NOT EXISTS " + postgres_quote(records_table + "_labelled") + " ON " +
      records + " (" + ts + "," + key + "," + target + ") WHERE " + target + " IS NOT NULL");
  create_statements.push_back(
      "CREATE TABLE IF NOT EXISTS " + predictions +
      " (\n  \"key\" text COLLATE \"C\" NOT NULL,\n  \"model_version\" bigint NOT NULL,\n"
      "  \"prediction\" double precision,\n  \"predicted_at_ms\" bigint NOT NULL,\n"
      "  PRIMARY KEY (\"key\", \"model_version\")\n)");
  create_statements.push_back(
      "CREATE TABLE IF NOT EXISTS " + evaluations +
      " (\n  \"key\" text COLLATE \"C\" NOT NULL,\n  \"model_version\" bigint NOT NULL,\n"
      "  \"prediction\" double precision,\n  \"actual\" double precision,\n"
      "  \"joined_at_ms\" bigint NOT NULL,\n  PRIMARY KEY (\"key\", \"model_version\")\n)");

  // Staging tables: same columns as their targets, emptied by every commit or rollback.
  const std::string stage_records = "pg_temp." + postgres_quote(staging_name(records_table));
  const std::string stage_predictions =
      "pg_temp." + postgres_quote(staging_name(predictions_table));
  const std::string stage_evaluations =
      "pg_temp." + postgres_quote(staging_name(evaluations_table));
  for (const auto& [table, quoted] :
       {std::pair{records_table, records}, std::pair{predictions_table, predictions},
        std::pair{evaluations_table, evaluations}}) {
    staging_tables.emplace_back(staging_name(table), "CREATE TEMP TABLE IF NOT EXISTS " +
                                                         postgres_quote(staging_name(table)) +
                                                         " (LIKE " + quoted +
                                                         ") ON COMMIT DELETE ROWS");
  }

  // Records: present values replace stored ones, absent (NULL) values keep them
  // (COALESCE(new, old)); the bookkeeping times keep the first one (COALESCE(old, new)). The
  // WHERE clause skips rows the upsert would not change, so a re-delivered batch writes no new
  // row versions.
  std::string set, old_row, new_row;
  for (size_t c = 0; c < columns.size(); ++c) {
    if (columns[c].primary_key) continue;
    const std::string q = postgres_quote(columns[c].name);
    const bool first_wins = columns[c].name[0] == '_';
    const std::string value = first_wins ? "COALESCE(t." + q + ",EXCLUDED." + q + ")"
                                         : "COALESCE(EXCLUDED." + q + ",t." + q + ")";
    if (!set.empty()) {
      set += ',';
      old_row += ',';
      new_row += ',';
    }
    set += q + "=" + value;
    old_row += "t." + q;
    new_row += value;
  }
  copy_records =
      "COPY " + stage_records + " (" + column_list(all_columns) + ") FROM STDIN (FORMAT binary)";
  copy_new_records =
      "COPY " + records + " (" + column_list(all_columns) + ") FROM STDIN (FORMAT binary)";
  const std::string insert_head = "INSERT INTO " + records + " AS t (" + column_list(all_columns) +
                                  ") SELECT " + column_list(all_columns) + " FROM " + stage_records;
  const std::string on_conflict = " ON CONFLICT (" + key + ") DO UPDATE SET " + set + " WHERE (" +
                                  old_row + ") IS DISTINCT FROM (" + new_row + ")";
  upsert_records = insert_head + on_conflict;
  upsert_records_in_key_order = insert_head + " ORDER BY " + key + on_conflict;

  const std::string prediction_columns =
      "\"key\",\"model_version\",\"prediction\",\"predicted_at_ms\"";
  copy_predictions =
      "COPY " + stage_predictions + " (" + prediction_columns + ") FROM STDIN (FORMAT binary)";
  insert_predictions = "INSERT INTO " + predictions + " (" + prediction_columns + ") SELECT " +
                       prediction_columns + " FROM " + stage_predictions +
                       " ON CONFLICT DO NOTHING";
  const std::string evaluation_columns =
      "\"key\",\"model_version\",\"prediction\",\"actual\",\"joined_at_ms\"";
  copy_evaluations =
      "COPY " + stage_evaluations + " (" + evaluation_columns + ") FROM STDIN (FORMAT binary)";
  insert_evaluations = "INSERT INTO " + evaluations + " (" + evaluation_columns + ") SELECT " +
                       evaluation_columns + " FROM " + stage_evaluations +
                       " ON CONFLICT DO NOTHING RETURNING \"key\",\"model_version\"";
  matching_evaluations =
      "SELECT s.\"key\",s.\"model_version\" FROM " + stage_evaluations + " s JOIN " + evaluations +
      " e USING (\"key\",\"model_version\") WHERE e.\"joined_at_ms\"=s.\"joined_at_ms\" AND "
      "e.\"prediction\" IS NOT DISTINCT FROM s.\"prediction\" AND "
      "e.\"actual\" IS NOT DISTINCT FROM s.\"actual\"";

  const std::string select = "SELECT " + column_list(field_names) + " FROM " + records;
  const std::string labelled = target + " IS NOT NULL AND " + ts + " IS NOT NULL";
  const std::string oldest_first = " ORDER BY " + ts + "," + key;
  select_record = select + " WHERE " + key + "=$1";
  cursor_all =
      "DECLARE fc_scan NO SCROLL CURSOR FOR " + select + " WHERE " + labelled + oldest_first;
  scan_cutoff = "SELECT " + ts + "," + key + " FROM " + records + " WHERE " + labelled +
                " ORDER BY " + ts + " DESC," + key + " DESC LIMIT 1 OFFSET $1";
  cursor_from = "DECLARE fc_scan NO SCROLL CURSOR FOR " + select + " WHERE " + labelled + " AND (" +
                ts + "," + key + ")>=($1,$2)" + oldest_first;
  count_labelled = "SELECT count(*) FROM " + records + " WHERE " + labelled;
  stats = "SELECT r.*,p.*,e.*,m.* FROM (SELECT count(*),count(" + ts + "),count(" + target +
          "),count(*) FILTER (WHERE " + labelled + ") FROM " + records +
          ") r,(SELECT count(*),count(DISTINCT \"key\") FROM " + predictions +
          ") p,(SELECT count(*) FROM " + evaluations +
          ") e,(SELECT count(*) FROM \"flowcast_metrics\" WHERE \"dataset\"=$1) m";
  recent_targets_timed = "SELECT " + target + "," + ts + " FROM " + records + " WHERE " + labelled +
                         " ORDER BY " + ts + " DESC," + key + " DESC LIMIT $1";
  recent_targets_untimed = "SELECT " + target + ",\"_labelled_at_ms\" FROM " + records + " WHERE " +
                           target + " IS NOT NULL AND " + ts +
                           " IS NULL ORDER BY \"_labelled_at_ms\" DESC LIMIT $1";
  predictions_for = "SELECT " + prediction_columns + " FROM " + predictions +
                    " WHERE \"key\"=$1 ORDER BY \"model_version\"";
}

}  // namespace flowcast::store
