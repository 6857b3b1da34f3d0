// PostgresRecordEncoder: turns the requests, outcomes and observations of one SinkBatch into the
// binary COPY rows of the dataset's two records tables, D_requests and D_outcomes
// (PostgresDatasetSql).
//
// Every record is checked first (value count, each value's type, and what PostgreSQL cannot
// store: NUL bytes in text, text that is not UTF-8 on a UTF8 server, timestamps before 4714 BC);
// the first problem fails the whole batch with kInvalidArgument naming the record and the field,
// before anything is sent. The records are then merged into at most one row per key and table,
// exactly as if they had been applied one after another in the SQLite backend's order (requests,
// outcomes, observations, each in batch order): a field takes the last value present among the
// messages that write it (NaN counts as absent, as SQLite stores NaN as NULL). A request or an
// observation makes the key's D_requests row, with _ingested_at_ms; an outcome, or an
// observation carrying an outcome field, its D_outcomes row, with _labelled_at_ms when an outcome
// or observation carried the target. One row per key and table is what lets a single INSERT ...
// ON CONFLICT DO UPDATE apply the batch (PostgreSQL refuses to update one row twice in a
// statement). Rows are sorted by key, so concurrent writers lock keys in the same order and the
// key index is walked in order.
//
// Thread-safety: none; one encoder per commit.
#pragma once

#include <cstdint>
#include <string_view>

#include "core/dataset_spec.h"
#include "core/status.h"
#include "store/postgres_copy_buffer.h"
#include "store/postgres_dataset_sql.h"
#include "store/store.h"

namespace flowcast::store {

class PostgresRecordEncoder {
 public:
  // `check_utf8`: refuse text that is not valid UTF-8 (the server's encoding is UTF8 and would
  // refuse it without naming the field).
  PostgresRecordEncoder(const DatasetSpec& spec, const PostgresDatasetSql& sql, bool check_utf8)
      : spec_(spec), sql_(sql), check_utf8_(check_utf8) {}

  // Checks every record of `batch`, then writes the merged rows of D_requests into `requests`
  // and those of D_outcomes into `outcomes` (the columns of PostgresRecordTable::columns); both
  // are cleared first and finished. `now_ms` is the bookkeeping time of this commit.
  Status encode(const SinkBatch& batch, int64_t now_ms, PostgresCopyBuffer& requests,
                PostgresCopyBuffer& outcomes) const;
  // The check encode() applies to each record; `index` names the record in the message
  // (SIZE_MAX: not named by index).
  Status check(const Record& r, RecordRole role, size_t index) const {
    return check(r, static_cast<int>(role), index);
  }

 private:
  Status check(const Record& r, int role, size_t index) const;

  const DatasetSpec& spec_;
  const PostgresDatasetSql& sql_;
  const bool check_utf8_;
};

}  // namespace flowcast::store
