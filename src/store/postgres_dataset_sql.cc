#include "store/postgres_dataset_sql.h"

#include <strings.h>

#include <algorithm>

namespace flowcast::store {
namespace {

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

std::string PostgresDatasetSql::mismatch(const PostgresRecordTable& t,
                                         const std::vector<PostgresColumn>& existing) {
  auto same = [](const std::string& a, const std::string& b) {
    return strcasecmp(a.c_str(), b.c_str()) == 0;
  };
  const std::string table = "table " + t.name;
  std::string key;
  for (const auto& c : t.columns)
    if (c.primary_key) key = c.name;
  for (const PostgresColumn& want : t.columns) {
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
    bool known = std::any_of(t.columns.begin(), t.columns.end(),
                             [&](const PostgresColumn& c) { return same(c.name, have.name); });
    if (!known) return "column '" + have.name + "' of " + table + " is not one it should have";
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
  records_view = d + "_records";
  const std::string predictions_table = d + "_predictions";
  const std::string evaluations_table = d + "_evaluations";
  const std::string view = postgres_quote(records_view);
  const std::string predictions = postgres_quote(predictions_table);
  const std::string evaluations = postgres_quote(evaluations_table);
  const int n = static_cast<int>(spec.fields().size());
  const int key_field = spec.key_index();
  const std::string key = postgres_quote(spec.field(key_field).name);

  requests.name = d + "_requests";
  requests.at_column = "_ingested_at_ms";
  outcomes.name = d + "_outcomes";
  outcomes.at_column = "_labelled_at_ms";
  for (PostgresRecordTable* t : {&requests, &outcomes})
    t->columns.push_back({spec.field(key_field).name, "text", true});
  for (int i = 0; i < n; ++i) {
    const FieldSpec& f = spec.field(i);
    value_index.push_back(1 + static_cast<size_t>(storage_kind(f.type)));
    const bool is_key = i == key_field;
    request_writes.push_back(is_key || f.role == FieldRole::kRequest ? 1 : 0);
    outcome_writes.push_back(is_key || f.role == FieldRole::kOutcome ? 1 : 0);
    columns.push_back({f.name, is_key ? "text" : postgres_column_type(f.type), is_key});
    if (is_key) continue;
    PostgresRecordTable& t = f.role == FieldRole::kOutcome ? outcomes : requests;
    t.columns.push_back(columns.back());
    t.fields.push_back(i);
  }
  columns.push_back({"_ingested_at_ms", "bigint", false});
  columns.push_back({"_labelled_at_ms", "bigint", false});
  for (PostgresRecordTable* t : {&requests, &outcomes})
    t->columns.push_back({t->at_column, "bigint", false});

  // The column of field i in a query over the two tables aliased r and o.
  auto in = [&](int i) -> const char* {
    return spec.field(i).role == FieldRole::kOutcome ? "o." : "r.";
  };
  auto field_expr = [&](int i) {
    if (i == key_field) return "COALESCE(r." + key + ",o." + key + ")";
    return in(i) + postgres_quote(spec.field(i).name);
  };
  const std::string R = postgres_quote(requests.name), O = postgres_quote(outcomes.name);

  for (PostgresRecordTable* t : {&requests, &outcomes}) {
    std::string defs, names, set, old_row, new_row;
    for (const auto& c : t->columns) {
      const std::string q = postgres_quote(c.name);
      defs += (defs.empty() ? "\n  " : ",\n  ") + q + " " + c.type;
      if (c.primary_key) defs += " COLLATE \"C\" NOT NULL PRIMARY KEY";
      names += (names.empty() ? "" : ",") + q;
      if (c.primary_key) continue;
      // Present values replace stored ones, absent (NULL) values keep them (COALESCE(new,
      // old)); the bookkeeping time keeps the first one (COALESCE(old, new)). The WHERE clause
      // skips rows the upsert would not change, so a re-delivered batch writes no row versions.
      const bool first_wins = c.name[0] == '_';
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
    const std::string table = postgres_quote(t->name);
    const std::string stage = "pg_temp." + postgres_quote(staging_name(t->name));
    t->column_names = names;
    t->create = "CREATE TABLE IF NOT EXISTS " + table + " (" + defs + "\n)";
    t->copy_new = "COPY " + table + " (" + names + ") FROM STDIN (FORMAT binary)";
    t->copy_stage = "COPY " + stage + " (" + names + ") FROM STDIN (FORMAT binary)";
    // ROW(...) so that a table with one column besides the key still compares as a row.
    t->upsert = "INSERT INTO " + table + " AS t (" + names + ") SELECT " + names + " FROM " +
                stage + " ON CONFLICT (" + key + ") DO UPDATE SET " + set + " WHERE ROW(" +
                old_row + ") IS DISTINCT FROM ROW(" + new_row + ")";
  }

  std::string view_columns;
  for (int i = 0; i < n; ++i)
    view_columns += field_expr(i) + (i == key_field ? " AS " + key : "") + ",";
  view_columns += "r.\"_ingested_at_ms\",o.\"_labelled_at_ms\"";
  create_statements.push_back(requests.create);
  create_statements.push_back(outcomes.create);
  create_view = "CREATE VIEW " + view + " AS SELECT " + view_columns + " FROM " + R +
                " r FULL JOIN " + O + " o ON o." + key + "=r." + key;
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

  // From the single table of schema version 1: a row with _ingested_at_ms had a request or an
  // observation; every other row came from an outcome. A row may go to both tables; every key
  // goes to at least one, and the view shows exactly the row the table held.
  {
    std::string o_present;
    for (size_t c = 1; c < outcomes.columns.size(); ++c)
      o_present += " OR " + postgres_quote(outcomes.columns[c].name) + " IS NOT NULL";
    migrate_single_table = {
        "INSERT INTO " + R + " (" + requests.column_names + ") SELECT " + requests.column_names +
            " FROM " + view + " WHERE \"_ingested_at_ms\" IS NOT NULL",
        "INSERT INTO " + O + " (" + outcomes.column_names + ") SELECT " + outcomes.column_names +
            " FROM " + view + " WHERE \"_ingested_at_ms\" IS NULL" + o_present,
        "DROP TABLE " + view,
    };
  }

  // Staging tables: same columns as their targets, emptied by every commit or rollback.
  const std::string stage_predictions =
      "pg_temp." + postgres_quote(staging_name(predictions_table));
  const std::string stage_evaluations =
      "pg_temp." + postgres_quote(staging_name(evaluations_table));
  for (const auto& [table, quoted] :
       {std::pair{requests.name, R}, std::pair{outcomes.name, O},
        std::pair{predictions_table, predictions}, std::pair{evaluations_table, evaluations}}) {
    staging_tables.emplace_back(staging_name(table), "CREATE TEMP TABLE IF NOT EXISTS " +
                                                         postgres_quote(staging_name(table)) +
                                                         " (LIKE " + quoted +
                                                         ") ON COMMIT DELETE ROWS");
  }

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

  // One record: each table's row for the key, if any, side by side.
  std::string fields;
  for (int i = 0; i < n; ++i) fields += (i ? "," : "") + field_expr(i);
  select_record = "SELECT " + fields + " FROM (SELECT * FROM " + R + " WHERE " + key +
                  "=$1) r FULL JOIN (SELECT * FROM " + O + " WHERE " + key + "=$1) o ON true";

  // Labelled rows: the target (an outcome field) and the event time present. With the event
  // time a request field that is an inner join; with it an outcome field, the outcome's row
  // and the request's row if there is one. Either way o's key is the record's key.
  const int ts_field = spec.event_time_index();
  const int target_field = spec.target_index();
  const std::string ts = in(ts_field) + postgres_quote(spec.field(ts_field).name);
  const std::string target = in(target_field) + postgres_quote(spec.field(target_field).name);
  const std::string okey = "o." + key;
  std::string labelled_fields;
  for (int i = 0; i < n; ++i)
    labelled_fields += (i ? "," : "") + (i == key_field ? okey : field_expr(i));
  const std::string joined =
      spec.field(ts_field).role == FieldRole::kOutcome
          ? " FROM " + O + " o LEFT JOIN " + R + " r ON r." + key + "=o." + key
          : " FROM " + R + " r JOIN " + O + " o ON o." + key + "=r." + key;
  const std::string labelled = " WHERE " + target + " IS NOT NULL AND " + ts + " IS NOT NULL";
  const std::string oldest_first = " ORDER BY " + ts + "," + okey;
  cursor_all = "DECLARE fc_scan NO SCROLL CURSOR FOR SELECT " + labelled_fields + joined +
               labelled + oldest_first;
  scan_cutoff = "SELECT " + ts + "," + okey + joined + labelled + " ORDER BY " + ts + " DESC," +
                okey + " DESC LIMIT 1 OFFSET $1";
  cursor_from = "DECLARE fc_scan NO SCROLL CURSOR FOR SELECT " + labelled_fields + joined +
                labelled + " AND (" + ts + "," + okey + ")>=($1,$2)" + oldest_first;
  count_labelled = "SELECT count(*)" + joined + labelled;
  count_targets = "SELECT count(*) FROM " + O + " o WHERE " + target + " IS NOT NULL";
  recent_targets_timed = "SELECT " + target + "," + ts + joined + labelled + " ORDER BY " + ts +
                         " DESC," + okey + " DESC LIMIT $1";

  // Over the view, as users read it: whole-table counts and a rare case.
  const std::string vts = postgres_quote(spec.field(ts_field).name);
  const std::string vtarget = postgres_quote(spec.field(target_field).name);
  stats = "SELECT r.*,p.*,e.*,m.* FROM (SELECT count(*),count(" + vts + "),count(" + vtarget +
          "),count(*) FILTER (WHERE " + vtarget + " IS NOT NULL AND " + vts +
          " IS NOT NULL) FROM " + view + ") r,(SELECT count(*),count(DISTINCT \"key\") FROM " +
          predictions + ") p,(SELECT count(*) FROM " + evaluations +
          ") e,(SELECT count(*) FROM \"flowcast_metrics\" WHERE \"dataset\"=$1) m";
  recent_targets_untimed = "SELECT " + vtarget + ",\"_labelled_at_ms\" FROM " + view + " WHERE " +
                           vtarget + " IS NOT NULL AND " + vts +
                           " IS NULL ORDER BY \"_labelled_at_ms\" DESC LIMIT $1";
  predictions_for = "SELECT " + prediction_columns + " FROM " + predictions +
                    " WHERE \"key\"=$1 ORDER BY \"model_version\"";
}

}  // namespace flowcast::store
