// ForwardingStore: a Store that passes every call to another one. Tests derive from it and
// override the one or two calls they need to hold, count or fail.
#pragma once

#include <string>

#include "store/store.h"

namespace flowcast::testing {

class ForwardingStore : public store::Store {
 public:
  explicit ForwardingStore(store::Store& inner) : s_(inner) {}

  Status ensure_dataset(const DatasetSpec& d) override { return s_.ensure_dataset(d); }
  Result<RecordCheck> record_check(const DatasetSpec& d) override { return s_.record_check(d); }
  Result<store::CommitResult> commit(const DatasetSpec& d, const store::SinkBatch& b) override {
    return s_.commit(d, b);
  }
  Status begin_bulk_load(const BulkLoad& load) override { return s_.begin_bulk_load(load); }
  Status end_bulk_load() override { return s_.end_bulk_load(); }
  Result<std::vector<store::OffsetEntry>> load_offsets(const std::string& g) override {
    return s_.load_offsets(g);
  }
  Status scan_labelled(const DatasetSpec& d, int64_t limit,
                       const std::function<void(const Record&)>& row) override {
    return s_.scan_labelled(d, limit, row);
  }
  Result<int64_t> count_labelled(const DatasetSpec& d) override { return s_.count_labelled(d); }
  Result<int64_t> count_labelled_at_most(const DatasetSpec& d) override {
    return s_.count_labelled_at_most(d);
  }
  Result<std::vector<double>> recent_targets(const DatasetSpec& d, int64_t limit) override {
    return s_.recent_targets(d, limit);
  }
  Result<std::optional<Record>> get_record(const DatasetSpec& d, const std::string& k) override {
    return s_.get_record(d, k);
  }
  Result<std::vector<store::PredictionRow>> predictions_for(const DatasetSpec& d,
                                                            const std::string& k) override {
    return s_.predictions_for(d, k);
  }
  Result<store::DatasetStats> stats(const DatasetSpec& d) override { return s_.stats(d); }
  Result<std::vector<store::MetricRow>> recent_metrics(const std::string& d,
                                                       int64_t limit) override {
    return s_.recent_metrics(d, limit);
  }
  Result<int64_t> register_model(const store::ModelInfo& info, std::string_view artifact,
                                 bool activate) override {
    return s_.register_model(info, artifact, activate);
  }
  Result<std::vector<store::ModelInfo>> list_models(const std::string& d) override {
    return s_.list_models(d);
  }
  Result<std::optional<store::ModelInfo>> active_model(const std::string& d) override {
    return s_.active_model(d);
  }
  Result<std::string> load_artifact(const std::string& dataset, int64_t version) override {
    return s_.load_artifact(dataset, version);
  }
  Status promote_model(const std::string& d, int64_t version) override {
    return s_.promote_model(d, version);
  }
  std::string describe() const override { return "forwarding to " + s_.describe(); }

 protected:
  store::Store& s_;
};

}  // namespace flowcast::testing
