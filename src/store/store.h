// flowcast::store: the store interface every backend implements (sqlite:PATH, postgresql://...).
//
// Tables (names for dataset D; columns documented in docs/store.md):
//   D_records      one row per key: the schema's fields as typed columns, plus _ingested_at_ms and
//                  _labelled_at_ms. A request fills the request fields and leaves the target
//                  empty, an outcome fills the target (and outcome fields), an observation fills
//                  everything. All three are idempotent upserts by key, in any order.
//   D_predictions  (key, model_version) -> prediction. Inserting an existing pair changes nothing.
//   D_evaluations  (key, model_version) -> prediction joined with the actual target.
//   flowcast_models, flowcast_metrics, flowcast_offsets, flowcast_schema_version.
//
// The effectively-once contract: commit() applies a SinkBatch's rows AND its consumer offsets in
// ONE transaction, so after a crash a sink resumes from load_offsets() with exactly the rows those
// offsets account for; anything re-delivered is absorbed by the idempotent upserts.
//
// Thread-safety: a Store may be shared by several threads (each backend serialises or pools
// connections internally).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/dataset_spec.h"
#include "core/record.h"
#include "core/status.h"

namespace flowcast::store {

struct OffsetEntry {
  std::string topic;
  int32_t partition = 0;
  int64_t next_offset = 0;  // the offset to read next
  bool operator==(const OffsetEntry&) const = default;
};

struct PredictionRow {
  std::string key;
  int64_t model_version = 0;
  double prediction = 0;
  int64_t predicted_at_ms = 0;
};

struct EvaluationRow {
  std::string key;
  int64_t model_version = 0;
  double prediction = 0;
  double actual = 0;
  int64_t joined_at_ms = 0;
};

// Model quality over one window, for one model version.
struct MetricRow {
  int64_t model_version = 0;
  int64_t window_end_ms = 0;
  int64_t window_ms = 0;
  int64_t count = 0;
  double mae = 0, rmse = 0, rmsle = 0, mape = 0, within_30 = 0;
};

// Everything one micro-batch of a sink writes. commit() applies it in one transaction.
struct SinkBatch {
  std::string group;                // consumer group the offsets belong to
  std::vector<OffsetEntry> offsets;  // where the group resumes after this batch
  std::vector<Record> requests;
  std::vector<Record> outcomes;
  std::vector<Record> observations;
  std::vector<PredictionRow> predictions;
  std::vector<EvaluationRow> evaluations;
  std::vector<MetricRow> metrics;
};

struct CommitResult {
  // One flag per SinkBatch::evaluations entry: 1 when the pair was new, 0 when it was stored
  // before (a re-delivery). Lets evaluate count every join exactly once.
  std::vector<uint8_t> evaluation_inserted;
};

struct ModelInfo {
  std::string dataset;
  int64_t version = 0;
  int64_t created_at_ms = 0;
  int64_t promoted_at_ms = 0;  // 0 when never promoted
  std::string learner;
  std::string status;        // "active" (serving), "candidate", or "retired"
  std::string metrics_json;  // validation metrics and training window, JSON
  int64_t trained_rows = 0;
};

// Counts for checks, status lines and tests.
struct DatasetStats {
  int64_t records = 0;          // rows in D_records
  int64_t labelled = 0;         // rows with the request fields and the target
  int64_t requests = 0;         // rows with the request fields (event time present)
  int64_t outcomes = 0;         // rows with the target
  int64_t predictions = 0;      // rows in D_predictions
  int64_t predicted_keys = 0;   // distinct keys in D_predictions
  int64_t evaluations = 0;      // rows in D_evaluations
  int64_t metrics = 0;          // metric rows of the dataset
};

class Store {
 public:
  virtual ~Store() = default;

  // Creates the dataset's tables if missing; idempotent. An existing records table whose columns
  // do not match the schema is reported (kInvalidArgument naming the column), never altered.
  virtual Status ensure_dataset(const DatasetSpec& spec) = 0;

  // A check of whether this backend can store a record decoded for a role: kInvalidArgument
  // naming the field when it cannot (PostgreSQL text cannot hold a NUL byte, for example).
  // Sinks run it on each decoded record and send the ones refused to the dlq, so that one such
  // record never stalls a stream by failing every commit of its batch. An empty function: the
  // backend stores every record it is given. The check may be used from one thread at a time
  // and must not outlive `spec` or the store.
  using RecordCheck = std::function<Status(const Record&, RecordRole)>;
  virtual Result<RecordCheck> record_check(const DatasetSpec& spec) {
    (void)spec;
    return RecordCheck();
  }

  // Applies `batch` in one transaction: all of it or nothing.
  virtual Result<CommitResult> commit(const DatasetSpec& spec, const SinkBatch& batch) = 0;

  // Bulk loads (ingest-file). Between begin_bulk_load() and end_bulk_load() a backend may apply
  // successive commit()s in one open transaction and commit it once it holds `max_rows` rows or
  // has been open `max_ms`, whichever comes first. A commit() that returns ok has then applied
  // its batch (all of it or nothing) but may not be committed yet; a crash loses the rows since
  // the last real commit, never part of a batch. A failure that rolls back rows of earlier
  // commit()s is reported as kInternal (not retryable). end_bulk_load() commits what is held and
  // returns once it is durable. For a store written by one loader thread. Default: no grouping.
  struct BulkLoad {
    int64_t max_rows = 0;
    int64_t max_ms = 0;
  };
  virtual Status begin_bulk_load(const BulkLoad& load) {
    (void)load;
    return Status::ok_status();
  }
  virtual Status end_bulk_load() { return Status::ok_status(); }
  virtual Result<std::vector<OffsetEntry>> load_offsets(const std::string& group) = 0;

  // Labelled rows, the most recent `limit` by event time (0: all), delivered oldest first.
  virtual Status scan_labelled(const DatasetSpec& spec, int64_t limit,
                               const std::function<void(const Record&)>& row) = 0;
  virtual Result<int64_t> count_labelled(const DatasetSpec& spec) = 0;
  // At least count_labelled(), and equal to it when every stored outcome's request is stored
  // too; for a caller that polls (the train stage), where a store can count it more cheaply
  // (PostgreSQL: the outcomes that have a target, one table instead of a join).
  virtual Result<int64_t> count_labelled_at_most(const DatasetSpec& spec) {
    return count_labelled(spec);
  }
  // Targets of the most recent `limit` rows that have one (for the version-0 baseline).
  virtual Result<std::vector<double>> recent_targets(const DatasetSpec& spec, int64_t limit) = 0;
  // The stored record for `key`, if any (fields never written are absent).
  virtual Result<std::optional<Record>> get_record(const DatasetSpec& spec,
                                                   const std::string& key) = 0;
  virtual Result<std::vector<PredictionRow>> predictions_for(const DatasetSpec& spec,
                                                             const std::string& key) = 0;
  virtual Result<DatasetStats> stats(const DatasetSpec& spec) = 0;
  // Newest first.
  virtual Result<std::vector<MetricRow>> recent_metrics(const std::string& dataset,
                                                        int64_t limit) = 0;

  // Model registry. register_model assigns version = (highest version of the dataset) + 1 and
  // stores the artifact; with `activate` the new version becomes the active one (others that
  // were active become "retired").
  virtual Result<int64_t> register_model(const ModelInfo& info, std::string_view artifact,
                                         bool activate) = 0;
  virtual Result<std::vector<ModelInfo>> list_models(const std::string& dataset) = 0;
  virtual Result<std::optional<ModelInfo>> active_model(const std::string& dataset) = 0;
  virtual Result<std::string> load_artifact(const std::string& dataset, int64_t version) = 0;
  virtual Status promote_model(const std::string& dataset, int64_t version) = 0;

  // "sqlite:/abs/path" or "postgresql://user@host/db": safe to log (no password).
  virtual std::string describe() const = 0;
};

}  // namespace flowcast::store
