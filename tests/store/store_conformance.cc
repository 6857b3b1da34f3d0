#include "store/store_conformance.h"

#include <gmock/gmock.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>

#include "core/config.h"

namespace flowcast::store::testing {

using ::testing::HasSubstr;

std::string store_factory_name(const ::testing::TestParamInfo<StoreFactory>& info) {
  return info.param.name;
}

void PrintTo(const StoreFactory& factory, std::ostream* os) { *os << factory.name; }

Record make_record(const DatasetSpec& spec, const std::string& key,
                   std::initializer_list<std::pair<const char*, Value>> values) {
  Record r;
  r.key = key;
  r.values.resize(spec.fields().size());
  const FieldSpec& kf = spec.field(spec.key_index());
  if (storage_kind(kf.type) == StorageKind::kInt)
    r.values[size_t(spec.key_index())] = std::stoll(key);
  else
    r.values[size_t(spec.key_index())] = key;
  for (const auto& [name, v] : values) {
    int i = spec.field_index(name);
    EXPECT_GE(i, 0) << "no field " << name;
    if (i >= 0) r.values[size_t(i)] = v;
  }
  return r;
}

DatasetSpec all_types_dataset() {
  return parse_dataset_yaml("every", R"(
key: id
event_time: ts
target: y
fields:
  id: string
  ts: timestamp
  x: float
  n: {type: int, required: false}
  flag: {type: bool, required: false}
  cat: {type: category, required: false}
  lat: latitude
  lon: longitude
  note: {type: string, required: false}
  done_at: {type: timestamp, role: outcome, required: false}
  y: float
features:
  - {transform: numeric, input: x}
)");
}

void StoreConformance::SetUp() {
  if (GetParam().unavailable) {
    if (std::string why = GetParam().unavailable(); !why.empty()) GTEST_SKIP() << why;
  }
  auto opened = GetParam().open(dir_.str());
  ASSERT_TRUE(opened.ok()) << opened.status().to_string();
  store_ = std::move(opened).value();
  ASSERT_TRUE(store_->ensure_dataset(tiny_).ok());
}

CommitResult StoreConformance::commit_ok(const SinkBatch& batch, const DatasetSpec* spec) {
  auto r = store_->commit(spec ? *spec : tiny_, batch);
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  return r.ok() ? r.value() : CommitResult{};
}

DatasetStats StoreConformance::stats_ok(const DatasetSpec* spec) {
  auto r = store_->stats(spec ? *spec : tiny_);
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  return r.ok() ? r.value() : DatasetStats{};
}

std::optional<Record> StoreConformance::record_ok(const std::string& key, const DatasetSpec* spec) {
  auto r = store_->get_record(spec ? *spec : tiny_, key);
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  return r.ok() ? r.value() : std::nullopt;
}

namespace {

constexpr int64_t kT0 = 1'700'000'000'000'000;  // 2023-11-14, in microseconds

Value V(int64_t v) { return v; }
Value V(double v) { return v; }
Value V(bool v) { return v; }
Value V(const char* v) { return std::string(v); }
Value V(std::string v) { return v; }

Record tiny_request(const DatasetSpec& s, const std::string& key, int64_t ts, double x) {
  return make_record(s, key, {{"ts", V(ts)}, {"x", V(x)}});
}
Record tiny_outcome(const DatasetSpec& s, const std::string& key, double y) {
  return make_record(s, key, {{"y", V(y)}});
}

std::vector<Record> scan_all(Store& store, const DatasetSpec& spec, int64_t limit) {
  std::vector<Record> out;
  Status s = store.scan_labelled(spec, limit, [&](const Record& r) { out.push_back(r); });
  EXPECT_TRUE(s.ok()) << s.to_string();
  return out;
}

std::vector<std::string> keys_of(const std::vector<Record>& rows) {
  std::vector<std::string> out;
  for (const auto& r : rows) out.push_back(r.key);
  return out;
}

bool same_stats(const DatasetStats& a, const DatasetStats& b) {
  return a.records == b.records && a.labelled == b.labelled && a.requests == b.requests &&
         a.outcomes == b.outcomes && a.predictions == b.predictions &&
         a.predicted_keys == b.predicted_keys && a.evaluations == b.evaluations &&
         a.metrics == b.metrics;
}

}  // namespace

// --- records -------------------------------------------------------------------------------

TEST_P(StoreConformance, RequestThenOutcomeMakesALabelledRow) {
  SinkBatch b1;
  b1.requests.push_back(make_record(
      tiny_, "a",
      {{"ts", V(kT0)}, {"x", V(1.5)}, {"n", V(int64_t{7})}, {"flag", V(true)}, {"cat", V("red")}}));
  commit_ok(b1);
  EXPECT_EQ(store_->count_labelled(tiny_).value(), 0);
  DatasetStats s = stats_ok();
  EXPECT_EQ(s.records, 1);
  EXPECT_EQ(s.requests, 1);
  EXPECT_EQ(s.outcomes, 0);
  EXPECT_EQ(s.labelled, 0);

  EXPECT_EQ(store_->count_labelled_at_most(tiny_).value(), 0);

  SinkBatch b2;
  b2.outcomes.push_back(tiny_outcome(tiny_, "a", 42.0));
  commit_ok(b2);
  EXPECT_EQ(store_->count_labelled(tiny_).value(), 1);
  EXPECT_EQ(store_->count_labelled_at_most(tiny_).value(), 1);
  s = stats_ok();
  EXPECT_EQ(s.records, 1);
  EXPECT_EQ(s.requests, 1);
  EXPECT_EQ(s.outcomes, 1);
  EXPECT_EQ(s.labelled, 1);

  auto rec = record_ok("a");
  ASSERT_TRUE(rec);
  EXPECT_EQ(rec->key, "a");
  EXPECT_EQ(rec->values[0], V("a"));
  EXPECT_EQ(rec->values[1], V(kT0));
  EXPECT_EQ(rec->values[2], V(1.5));
  EXPECT_EQ(rec->values[3], V(int64_t{7}));
  EXPECT_EQ(rec->values[4], V(true));
  EXPECT_EQ(rec->values[5], V("red"));
  EXPECT_EQ(rec->values[6], V(42.0));
}

TEST_P(StoreConformance, OutcomeBeforeRequestAlsoMakesALabelledRow) {
  SinkBatch b1;
  b1.outcomes.push_back(tiny_outcome(tiny_, "early", 3.25));
  commit_ok(b1);
  DatasetStats s = stats_ok();
  EXPECT_EQ(s.records, 1);
  EXPECT_EQ(s.outcomes, 1);
  EXPECT_EQ(s.requests, 0);
  EXPECT_EQ(s.labelled, 0);
  EXPECT_EQ(store_->count_labelled(tiny_).value(), 0);
  // The cheap bound may count the outcome already (PostgreSQL does), but nothing more.
  const int64_t bound = store_->count_labelled_at_most(tiny_).value();
  EXPECT_TRUE(bound == 0 || bound == 1) << bound;
  EXPECT_TRUE(scan_all(*store_, tiny_, 0).empty());
  auto rec = record_ok("early");
  ASSERT_TRUE(rec);
  EXPECT_FALSE(rec->has(1));  // no event time yet
  EXPECT_EQ(rec->values[6], V(3.25));

  SinkBatch b2;
  b2.requests.push_back(tiny_request(tiny_, "early", kT0, 9.0));
  commit_ok(b2);
  EXPECT_EQ(store_->count_labelled(tiny_).value(), 1);
  EXPECT_EQ(store_->count_labelled_at_most(tiny_).value(), 1);  // every outcome has its request
  auto rows = scan_all(*store_, tiny_, 0);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].values[6], V(3.25));  // the request did not erase the target
  EXPECT_EQ(rows[0].values[2], V(9.0));
}

TEST_P(StoreConformance, RedeliveryChangesNothing) {
  DatasetSpec every = all_types_dataset();
  ASSERT_TRUE(store_->ensure_dataset(every).ok());
  SinkBatch b;
  b.requests.push_back(make_record(
      every, "r1", {{"ts", V(kT0)}, {"x", V(1.0)}, {"lat", V(40.7)}, {"lon", V(-73.9)}}));
  b.requests.push_back(make_record(
      every, "r2", {{"ts", V(kT0 + 1)}, {"x", V(2.0)}, {"lat", V(40.8)}, {"lon", V(-73.8)}}));
  b.outcomes.push_back(make_record(every, "r1", {{"y", V(10.0)}, {"done_at", V(kT0 + 99)}}));
  b.outcomes.push_back(make_record(every, "o9", {{"y", V(11.0)}}));
  b.observations.push_back(make_record(every, "obs",
                                       {{"ts", V(kT0 + 2)},
                                        {"x", V(3.0)},
                                        {"lat", V(1.0)},
                                        {"lon", V(2.0)},
                                        {"y", V(12.0)},
                                        {"note", V("whole")}}));
  b.predictions.push_back({"r1", 1, 9.5, 1000});
  b.metrics.push_back({1, 60000, 60000, 5, 1.0, 2.0, 0.1, 0.2, 0.8});
  commit_ok(b, &every);

  DatasetStats before = stats_ok(&every);
  std::map<std::string, Record> rows_before;
  for (const char* k : {"r1", "r2", "o9", "obs"}) rows_before[k] = *record_ok(k, &every);
  EXPECT_EQ(before.records, 4);
  EXPECT_EQ(before.labelled, 2);

  // Re-delivered whole, then each part on its own, in the other order.
  commit_ok(b, &every);
  SinkBatch outcomes_only;
  outcomes_only.outcomes = b.outcomes;
  commit_ok(outcomes_only, &every);
  SinkBatch requests_only;
  requests_only.requests = b.requests;
  requests_only.observations = b.observations;
  commit_ok(requests_only, &every);

  EXPECT_TRUE(same_stats(before, stats_ok(&every)));
  for (const auto& [k, r] : rows_before) {
    auto now = record_ok(k, &every);
    ASSERT_TRUE(now) << k;
    EXPECT_EQ(now->values, r.values) << k;
  }
  auto preds = store_->predictions_for(every, "r1").value();
  ASSERT_EQ(preds.size(), 1u);
  EXPECT_EQ(preds[0].prediction, 9.5);
  EXPECT_EQ(store_->recent_metrics("every", 0).value().size(), 1u);
}

TEST_P(StoreConformance, AbsentFieldsNeverEraseStoredValues) {
  SinkBatch b1;
  b1.requests.push_back(make_record(tiny_, "k",
                                    {{"ts", V(kT0)},
                                     {"x", V(1.0)},
                                     {"n", V(int64_t{5})},
                                     {"cat", V("blue")},
                                     {"flag", V(false)}}));
  commit_ok(b1);
  SinkBatch b2;  // the optional fields are missing; x is corrected
  b2.requests.push_back(tiny_request(tiny_, "k", kT0, 2.0));
  commit_ok(b2);
  auto rec = record_ok("k");
  ASSERT_TRUE(rec);
  EXPECT_EQ(rec->values[2], V(2.0));
  EXPECT_EQ(rec->values[3], V(int64_t{5}));
  EXPECT_EQ(rec->values[4], V(false));
  EXPECT_EQ(rec->values[5], V("blue"));

  SinkBatch b3;  // an observation without the optional fields erases nothing either
  b3.observations.push_back(
      make_record(tiny_, "k", {{"ts", V(kT0)}, {"x", V(3.0)}, {"y", V(1.0)}}));
  commit_ok(b3);
  rec = record_ok("k");
  EXPECT_EQ(rec->values[3], V(int64_t{5}));
  EXPECT_EQ(rec->values[5], V("blue"));
  EXPECT_EQ(rec->values[6], V(1.0));
}

TEST_P(StoreConformance, RequestsAndOutcomesWriteOnlyTheirOwnFields) {
  DatasetSpec every = all_types_dataset();
  ASSERT_TRUE(store_->ensure_dataset(every).ok());
  SinkBatch b1;  // a request that (wrongly) carries outcome values: they are not stored
  b1.requests.push_back(make_record(every, "t",
                                    {{"ts", V(kT0)},
                                     {"x", V(1.0)},
                                     {"lat", V(1.0)},
                                     {"lon", V(1.0)},
                                     {"y", V(99.0)},
                                     {"done_at", V(kT0 + 5)}}));
  commit_ok(b1, &every);
  auto rec = record_ok("t", &every);
  ASSERT_TRUE(rec);
  EXPECT_FALSE(rec->has(every.field_index("y")));
  EXPECT_FALSE(rec->has(every.field_index("done_at")));

  SinkBatch b2;  // an outcome carrying request values: only the outcome fields are stored
  b2.outcomes.push_back(make_record(
      every, "t", {{"x", V(-5.0)}, {"ts", V(kT0 + 1000)}, {"y", V(7.0)}, {"done_at", V(kT0 + 6)}}));
  commit_ok(b2, &every);
  rec = record_ok("t", &every);
  EXPECT_EQ(rec->values[size_t(every.field_index("x"))], V(1.0));
  EXPECT_EQ(rec->values[size_t(every.field_index("ts"))], V(kT0));
  EXPECT_EQ(rec->values[size_t(every.field_index("y"))], V(7.0));
  EXPECT_EQ(rec->values[size_t(every.field_index("done_at"))], V(kT0 + 6));
}

TEST_P(StoreConformance, GetRecordOfUnknownKeyIsEmpty) {
  EXPECT_FALSE(record_ok("nobody"));
  auto preds = store_->predictions_for(tiny_, "nobody");
  ASSERT_TRUE(preds.ok());
  EXPECT_TRUE(preds.value().empty());
}

// --- predictions, evaluations, metrics, offsets ---------------------------------------------

TEST_P(StoreConformance, PredictionsAreIdempotentPerKeyAndVersion) {
  SinkBatch b;
  b.predictions = {{"k", 1, 10.0, 100}, {"k", 2, 20.0, 200}, {"j", 1, 5.0, 300}};
  commit_ok(b);
  SinkBatch again;  // a re-delivery (even with another value) keeps the first prediction
  again.predictions = {{"k", 1, 99.0, 999}};
  commit_ok(again);
  commit_ok(again);
  auto preds = store_->predictions_for(tiny_, "k").value();
  ASSERT_EQ(preds.size(), 2u);
  EXPECT_EQ(preds[0].model_version, 1);
  EXPECT_EQ(preds[0].prediction, 10.0);
  EXPECT_EQ(preds[0].predicted_at_ms, 100);
  EXPECT_EQ(preds[0].key, "k");
  EXPECT_EQ(preds[1].model_version, 2);
  EXPECT_EQ(preds[1].prediction, 20.0);
  DatasetStats s = stats_ok();
  EXPECT_EQ(s.predictions, 3);
  EXPECT_EQ(s.predicted_keys, 2);
  EXPECT_EQ(s.records, 0);  // predictions do not create records
}

TEST_P(StoreConformance, APredictionRepeatedInOneBatchKeepsItsFirstValue) {
  // Keys out of order and each repeated ten times: a store may write a batch in another order
  // (key order, say), but the first prediction of a key and version is the one it keeps.
  SinkBatch b;
  for (int i = 0; i < 500; ++i)
    b.predictions.push_back({"k" + std::to_string((i * 7) % 50), 1, double(i), 100 + i});
  commit_ok(b);
  for (int j = 0; j < 50; ++j) {
    const int first = [&] {
      for (int i = 0;; ++i)
        if ((i * 7) % 50 == j) return i;
    }();
    auto preds = store_->predictions_for(tiny_, "k" + std::to_string(j)).value();
    ASSERT_EQ(preds.size(), 1u) << j;
    EXPECT_EQ(preds[0].prediction, double(first)) << j;
    EXPECT_EQ(preds[0].predicted_at_ms, 100 + first) << j;
  }
  EXPECT_EQ(stats_ok().predictions, 50);
}

TEST_P(StoreConformance, EvaluationInsertedFlagsCountEachJoinOnce) {
  SinkBatch b1;
  b1.evaluations = {{"a", 1, 1.0, 2.0, 10}, {"b", 1, 3.0, 4.0, 11}};
  EXPECT_EQ(commit_ok(b1).evaluation_inserted, (std::vector<uint8_t>{1, 1}));
  SinkBatch b2;
  b2.evaluations = {{"a", 1, 1.0, 2.0, 10},
                    {"c", 1, 5.0, 6.0, 12},
                    {"a", 2, 1.5, 2.0, 13},
                    {"c", 1, 5.0, 6.0, 12}};
  EXPECT_EQ(commit_ok(b2).evaluation_inserted, (std::vector<uint8_t>{0, 1, 1, 0}));
  EXPECT_EQ(commit_ok(b2).evaluation_inserted, (std::vector<uint8_t>{0, 0, 0, 0}));
  EXPECT_EQ(stats_ok().evaluations, 4);
  EXPECT_TRUE(commit_ok(SinkBatch{}).evaluation_inserted.empty());
}

TEST_P(StoreConformance, MetricsAreUpsertedAndListedNewestFirst) {
  SinkBatch b1;
  b1.metrics = {{1, 1000, 60000, 10, 1.0, 1.5, 0.1, 0.2, 0.5},
                {1, 2000, 60000, 11, 2.0, 2.5, 0.2, 0.3, 0.6},
                {2, 2000, 60000, 12, 3.0, 3.5, 0.3, 0.4, 0.7}};
  commit_ok(b1);
  SinkBatch b2;  // the same window again, recomputed with more joins
  b2.metrics = {{1, 2000, 60000, 20, 4.0, 4.5, 0.4, 0.5, 0.9}};
  commit_ok(b2);
  auto m = store_->recent_metrics("tiny", 0).value();
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m[0].window_end_ms, 2000);
  EXPECT_EQ(m[1].window_end_ms, 2000);
  EXPECT_EQ(m[2].window_end_ms, 1000);
  auto v1 = std::find_if(m.begin(), m.end(), [](const MetricRow& r) {
    return r.model_version == 1 && r.window_end_ms == 2000;
  });
  ASSERT_NE(v1, m.end());
  EXPECT_EQ(v1->count, 20);
  EXPECT_EQ(v1->mae, 4.0);
  EXPECT_EQ(v1->rmse, 4.5);
  EXPECT_EQ(v1->rmsle, 0.4);
  EXPECT_EQ(v1->mape, 0.5);
  EXPECT_EQ(v1->within_30, 0.9);
  EXPECT_EQ(v1->window_ms, 60000);
  EXPECT_EQ(store_->recent_metrics("tiny", 1).value().size(), 1u);
  EXPECT_TRUE(store_->recent_metrics("other", 0).value().empty());
  EXPECT_EQ(stats_ok().metrics, 3);
}

TEST_P(StoreConformance, OffsetsAreStoredWithTheBatchAndTheLatestWins) {
  SinkBatch b1;
  b1.group = "ingest";
  b1.offsets = {{"tiny.requests", 0, 10}, {"tiny.requests", 1, 5}, {"tiny.outcomes", 0, 3}};
  b1.requests.push_back(tiny_request(tiny_, "a", kT0, 1.0));
  commit_ok(b1);
  SinkBatch b2;
  b2.group = "ingest";
  b2.offsets = {{"tiny.requests", 0, 20}};
  commit_ok(b2);
  SinkBatch other;
  other.group = "predict";
  other.offsets = {{"tiny.requests", 0, 7}};
  commit_ok(other);

  auto got = store_->load_offsets("ingest").value();
  std::sort(got.begin(), got.end(), [](const OffsetEntry& a, const OffsetEntry& b) {
    return std::tie(a.topic, a.partition) < std::tie(b.topic, b.partition);
  });
  EXPECT_EQ(got, (std::vector<OffsetEntry>{
                     {"tiny.outcomes", 0, 3}, {"tiny.requests", 0, 20}, {"tiny.requests", 1, 5}}));
  EXPECT_EQ(store_->load_offsets("predict").value(),
            (std::vector<OffsetEntry>{{"tiny.requests", 0, 7}}));
  EXPECT_TRUE(store_->load_offsets("nobody").value().empty());
}

TEST_P(StoreConformance, AFailedBatchLeavesNeitherRowsNorOffsets) {
  SinkBatch bad;
  bad.group = "ingest";
  bad.offsets = {{"tiny.requests", 0, 100}};
  bad.requests.push_back(tiny_request(tiny_, "good1", kT0, 1.0));
  bad.requests.push_back(tiny_request(tiny_, "good2", kT0 + 1, 2.0));
  bad.predictions = {{"good1", 1, 1.0, 1}};
  bad.evaluations = {{"good1", 1, 1.0, 1.0, 1}};
  bad.metrics = {{1, 1000, 60000, 1, 0, 0, 0, 0, 0}};
  // The third request holds text in the float field x.
  bad.requests.push_back(make_record(tiny_, "bad", {{"ts", V(kT0)}, {"x", V("oops")}}));
  auto r = store_->commit(tiny_, bad);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("'x'"));

  // A record with the wrong number of values, late in the batch (after the requests).
  SinkBatch short_record = bad;
  short_record.requests.pop_back();
  Record truncated = tiny_outcome(tiny_, "good1", 5.0);
  truncated.values.pop_back();
  short_record.observations.push_back(truncated);
  r = store_->commit(tiny_, short_record);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);

  // An int where the float target belongs, in an outcome.
  SinkBatch wrong_kind = short_record;
  wrong_kind.observations.clear();
  wrong_kind.outcomes.push_back(make_record(tiny_, "good2", {{"y", V(int64_t{3})}}));
  r = store_->commit(tiny_, wrong_kind);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("'y'"));

  DatasetStats s = stats_ok();
  EXPECT_TRUE(same_stats(s, DatasetStats{}))
      << s.records << " records, " << s.predictions << " predictions";
  EXPECT_TRUE(store_->load_offsets("ingest").value().empty());
  EXPECT_FALSE(record_ok("good1"));
  EXPECT_TRUE(store_->recent_metrics("tiny", 0).value().empty());

  // The store is still usable: the corrected batch goes through whole.
  SinkBatch fixed = bad;
  fixed.requests.pop_back();
  EXPECT_EQ(commit_ok(fixed).evaluation_inserted, (std::vector<uint8_t>{1}));
  EXPECT_EQ(stats_ok().records, 2);
  EXPECT_EQ(store_->load_offsets("ingest").value(),
            (std::vector<OffsetEntry>{{"tiny.requests", 0, 100}}));
}

TEST_P(StoreConformance, OffsetsWithoutAGroupAreRejected) {
  SinkBatch b;
  b.offsets = {{"t", 0, 1}};
  EXPECT_FALSE(store_->commit(tiny_, b).ok());
}

// --- scans ---------------------------------------------------------------------------------

TEST_P(StoreConformance, ScanLabelledReturnsTheMostRecentOldestFirst) {
  // Labelled rows with event times in shuffled order, plus rows that are not labelled.
  SinkBatch b;
  const int order[] = {5, 2, 9, 0, 7, 3, 8, 1, 6, 4};
  for (int i : order) {
    std::string key = "k" + std::to_string(i);
    b.requests.push_back(tiny_request(tiny_, key, kT0 + i * 1000, double(i)));
    b.outcomes.push_back(tiny_outcome(tiny_, key, 100.0 + i));
  }
  b.requests.push_back(tiny_request(tiny_, "unlabelled", kT0 + 50'000, 0));
  b.outcomes.push_back(tiny_outcome(tiny_, "no-request", 1.0));
  commit_ok(b);

  EXPECT_EQ(store_->count_labelled(tiny_).value(), 10);
  auto all = scan_all(*store_, tiny_, 0);
  EXPECT_EQ(keys_of(all),
            (std::vector<std::string>{"k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8", "k9"}));
  for (const auto& r : all) {
    int i = std::stoi(r.key.substr(1));
    EXPECT_EQ(r.values[1], V(kT0 + i * 1000));
    EXPECT_EQ(r.values[2], V(double(i)));
    EXPECT_EQ(r.values[6], V(100.0 + i));
  }
  EXPECT_EQ(keys_of(scan_all(*store_, tiny_, 3)), (std::vector<std::string>{"k7", "k8", "k9"}));
  EXPECT_EQ(keys_of(scan_all(*store_, tiny_, 1)), (std::vector<std::string>{"k9"}));
  EXPECT_EQ(scan_all(*store_, tiny_, 10).size(), 10u);
  EXPECT_EQ(scan_all(*store_, tiny_, 1000).size(), 10u);
  EXPECT_FALSE(store_->scan_labelled(tiny_, -1, [](const Record&) {}).ok());
}

TEST_P(StoreConformance, ScanLabelledLimitIsExactWhenEventTimesTie) {
  SinkBatch b;
  for (int i = 0; i < 6; ++i) {
    std::string key = "t" + std::to_string(i);
    b.observations.push_back(
        make_record(tiny_, key, {{"ts", V(kT0 + (i < 4 ? 0 : 1))}, {"x", V(1.0)}, {"y", V(2.0)}}));
  }
  commit_ok(b);
  for (int limit = 1; limit <= 6; ++limit) {
    auto rows = scan_all(*store_, tiny_, limit);
    ASSERT_EQ(rows.size(), size_t(limit));
    // The two newest (t4, t5) are always included first.
    std::set<std::string> keys;
    for (const auto& r : rows) keys.insert(r.key);
    if (limit >= 2) {
      EXPECT_TRUE(keys.count("t4") && keys.count("t5")) << limit;
      EXPECT_EQ(std::get<int64_t>(rows.back().values[1]), kT0 + 1);
    }
  }
}

TEST_P(StoreConformance, RecentTargetsAreTheNewestFirst) {
  SinkBatch b;
  for (int i = 0; i < 5; ++i) {
    std::string key = "r" + std::to_string(i);
    b.observations.push_back(
        make_record(tiny_, key, {{"ts", V(kT0 + i)}, {"x", V(1.0)}, {"y", V(double(i))}}));
  }
  b.requests.push_back(tiny_request(tiny_, "pending", kT0 + 100, 1.0));  // no target
  commit_ok(b);
  auto t = store_->recent_targets(tiny_, 3);
  ASSERT_TRUE(t.ok()) << t.status().to_string();
  EXPECT_EQ(t.value(), (std::vector<double>{4.0, 3.0, 2.0}));
  EXPECT_EQ(store_->recent_targets(tiny_, 0).value().size(), 5u);
  EXPECT_EQ(store_->recent_targets(tiny_, 50).value().size(), 5u);

  SinkBatch outcome_only;  // a target without a request still counts
  outcome_only.outcomes.push_back(tiny_outcome(tiny_, "orphan", 77.0));
  commit_ok(outcome_only);
  auto all = store_->recent_targets(tiny_, 0).value();
  EXPECT_EQ(all.size(), 6u);
  EXPECT_NE(std::find(all.begin(), all.end(), 77.0), all.end());
}

TEST_P(StoreConformance, EveryFieldTypeRoundTripsExactly) {
  DatasetSpec every = all_types_dataset();
  ASSERT_TRUE(store_->ensure_dataset(every).ok());
  const std::vector<std::string> texts = {
      "",
      "plain",
      "it's \"quoted\"",
      "back\\slash \\n not a newline",
      "line1\nline2\r\n\ttab",
      std::string("nul\0inside\0", 11),
      "unicode: Москва, 東京, emoji \xF0\x9F\x9A\x95",
      "'); DROP TABLE every_records; --",
      "\"); DROP TABLE \"every_records\"; --",
      std::string(100000, 'z'),
  };
  const double doubles[] = {0.0, -0.0, 1.5, -1e308, 1e308, 5e-324, 0.1, 123456.789};
  const int64_t ints[] = {
      0, -1, 1, std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max(), 42};
  std::vector<Record> written;
  SinkBatch b;
  // A backend either stores text with NUL bytes exactly (SQLite) or refuses the batch with
  // kInvalidArgument naming the field (PostgreSQL text cannot hold NUL). Such records go in
  // batches of their own, so the rest is checked either way.
  std::vector<std::pair<Record, std::string>> with_nul;  // the record, the field holding a NUL
  for (size_t i = 0; i < texts.size(); ++i) {
    // Keys carry the awkward text too (no NUL: keys are message keys on the bus), cut at a
    // character boundary so they stay valid UTF-8 as message keys are.
    std::string prefix = texts[i].substr(0, 40);
    while (!prefix.empty() && (static_cast<unsigned char>(texts[i][prefix.size()]) & 0xC0) == 0x80)
      prefix.pop_back();
    std::string key =
        "key " + std::to_string(i) + " " + (texts[i].find('\0') == std::string::npos ? prefix : "");
    Record r = make_record(every, key,
                           {{"ts", V(i == 1 ? int64_t{-86'400'000'000} : kT0 + int64_t(i))},
                            {"x", V(doubles[i % std::size(doubles)])},
                            {"n", V(ints[i % std::size(ints)])},
                            {"flag", V(i % 2 == 0)},
                            {"cat", V(texts[(i + 1) % texts.size()])},
                            {"lat", V(-90.0 + double(i))},
                            {"lon", V(180.0 - double(i))},
                            {"note", V(texts[i])},
                            {"done_at", V(kT0 + 1'000'000 * int64_t(i))},
                            {"y", V(doubles[(i + 3) % std::size(doubles)])}});
    const bool nul_cat = texts[(i + 1) % texts.size()].find('\0') != std::string::npos;
    const bool nul_note = texts[i].find('\0') != std::string::npos;
    if (nul_cat || nul_note) {
      with_nul.emplace_back(r, nul_cat ? "cat" : "note");
      continue;
    }
    written.push_back(r);
    b.observations.push_back(r);
  }
  commit_ok(b, &every);
  ASSERT_EQ(with_nul.size(), 2u);
  for (const auto& [r, field] : with_nul) {
    SinkBatch one;
    one.observations.push_back(r);
    auto c = store_->commit(every, one);
    if (c.ok()) {
      written.push_back(r);
      continue;
    }
    EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument) << c.status().to_string();
    EXPECT_THAT(c.status().message(), HasSubstr("'" + field + "'"));
    EXPECT_FALSE(record_ok(r.key, &every)) << "a refused batch left its record behind";
  }

  for (const Record& w : written) {
    auto got = record_ok(w.key, &every);
    ASSERT_TRUE(got) << w.key;
    EXPECT_EQ(got->key, w.key);
    ASSERT_EQ(got->values.size(), w.values.size());
    for (size_t f = 0; f < w.values.size(); ++f) {
      EXPECT_EQ(got->values[f], w.values[f]) << w.key << " field " << every.field(int(f)).name;
    }
  }
  auto scanned = scan_all(*store_, every, 0);
  ASSERT_EQ(scanned.size(), written.size());
  EXPECT_EQ(scanned.front().key, written[1].key);  // the oldest event time
  for (const Record& s : scanned) {
    auto it = std::find_if(written.begin(), written.end(),
                           [&](const Record& w) { return w.key == s.key; });
    ASSERT_NE(it, written.end());
    EXPECT_EQ(s.values, it->values);
  }
  EXPECT_EQ(stats_ok(&every).records, int64_t(written.size()));
  EXPECT_GE(written.size(), texts.size() - 2);
}

TEST_P(StoreConformance, IntegerKeysComeBackAsIntegers) {
  DatasetSpec spec = parse_dataset_yaml("flats", R"(
key: listing
event_time: at
target: price
fields:
  listing: int
  at: timestamp
  rooms: int
  price: float
features: [{transform: numeric, input: rooms}]
)");
  ASSERT_TRUE(store_->ensure_dataset(spec).ok());
  SinkBatch b;
  b.observations.push_back(
      make_record(spec, "-42", {{"at", V(kT0)}, {"rooms", V(int64_t{3})}, {"price", V(1e7)}}));
  commit_ok(b, &spec);
  auto got = record_ok("-42", &spec);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->values[0], V(int64_t{-42}));
  auto rows = scan_all(*store_, spec, 0);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].key, "-42");
  EXPECT_EQ(rows[0].values[0], V(int64_t{-42}));
}

// --- model registry ------------------------------------------------------------------------

TEST_P(StoreConformance, ModelRegistryVersionsActivationAndPromotion) {
  EXPECT_FALSE(store_->active_model("tiny").value());
  EXPECT_TRUE(store_->list_models("tiny").value().empty());

  std::string binary;
  for (int rep = 0; rep < 3; ++rep)
    for (int c = 0; c < 256; ++c) binary.push_back(char(c));
  ModelInfo info;
  info.dataset = "tiny";
  info.learner = "xgboost";
  info.metrics_json = R"({"rmse": 1.5, "note": "it's"})";
  info.trained_rows = 1234;
  info.created_at_ms = 1'700'000'000'000;
  auto v1 = store_->register_model(info, binary, true);
  ASSERT_TRUE(v1.ok()) << v1.status().to_string();
  EXPECT_EQ(v1.value(), 1);
  auto active = store_->active_model("tiny").value();
  ASSERT_TRUE(active);
  EXPECT_EQ(active->version, 1);
  EXPECT_EQ(active->status, "active");
  EXPECT_EQ(active->learner, "xgboost");
  EXPECT_EQ(active->metrics_json, info.metrics_json);
  EXPECT_EQ(active->trained_rows, 1234);
  EXPECT_EQ(active->created_at_ms, info.created_at_ms);
  EXPECT_GT(active->promoted_at_ms, 0);
  EXPECT_EQ(active->dataset, "tiny");

  info.learner = "ridge";
  auto v2 = store_->register_model(info, "candidate bytes", false);
  ASSERT_TRUE(v2.ok());
  EXPECT_EQ(v2.value(), 2);
  EXPECT_EQ(store_->active_model("tiny").value()->version, 1);  // a candidate does not serve

  auto v3 = store_->register_model(info, std::string_view(), true);
  EXPECT_EQ(v3.value(), 3);
  auto models = store_->list_models("tiny").value();
  ASSERT_EQ(models.size(), 3u);
  EXPECT_EQ(models[0].version, 3);
  EXPECT_EQ(models[1].version, 2);
  EXPECT_EQ(models[2].version, 1);
  EXPECT_EQ(models[0].status, "active");
  EXPECT_EQ(models[1].status, "candidate");
  EXPECT_EQ(models[1].promoted_at_ms, 0);
  EXPECT_EQ(models[1].learner, "ridge");
  EXPECT_EQ(models[2].status, "retired");

  EXPECT_EQ(store_->load_artifact("tiny", 1).value(), binary);
  EXPECT_EQ(store_->load_artifact("tiny", 2).value(), "candidate bytes");
  EXPECT_EQ(store_->load_artifact("tiny", 3).value(), "");
  EXPECT_EQ(store_->load_artifact("tiny", 4).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->load_artifact("other", 1).status().code(), StatusCode::kNotFound);

  ASSERT_TRUE(store_->promote_model("tiny", 2).ok());
  models = store_->list_models("tiny").value();
  EXPECT_EQ(models[0].status, "retired");
  EXPECT_EQ(models[1].status, "active");
  EXPECT_GT(models[1].promoted_at_ms, 0);
  EXPECT_EQ(models[2].status, "retired");
  EXPECT_EQ(store_->active_model("tiny").value()->version, 2);
  EXPECT_TRUE(store_->promote_model("tiny", 2).ok());  // already active: no change
  EXPECT_EQ(store_->active_model("tiny").value()->version, 2);
  EXPECT_EQ(store_->promote_model("tiny", 99).code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->active_model("tiny").value()->version, 2);

  // Versions count per dataset.
  info.dataset = "other";
  EXPECT_EQ(store_->register_model(info, "x", false).value(), 1);
  EXPECT_FALSE(store_->active_model("other").value());
  EXPECT_EQ(store_->list_models("tiny").value().size(), 3u);
}

// --- schema --------------------------------------------------------------------------------

TEST_P(StoreConformance, EnsureDatasetIsIdempotentAndReportsSchemaChanges) {
  ASSERT_TRUE(store_->ensure_dataset(tiny_).ok());
  ASSERT_TRUE(store_->ensure_dataset(tiny_).ok());
  SinkBatch b;
  b.requests.push_back(tiny_request(tiny_, "a", kT0, 1.0));
  commit_ok(b);

  auto variant = [](const std::string& fields) {
    return parse_dataset_yaml("tiny", "key: id\nevent_time: ts\ntarget: y\nfields: " + fields +
                                          "\nfeatures: [{transform: numeric, input: ts}]\n");
  };
  // x changed from float to string.
  Status s = store_->ensure_dataset(variant(
      "{id: string, ts: timestamp, x: string, n: int, flag: bool, cat: category, y: float}"));
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("'x'"));
  // A new field z.
  s =
      store_->ensure_dataset(variant("{id: string, ts: timestamp, x: float, n: int, "
                                     "flag: bool, cat: category, y: float, z: int}"));
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("'z'"));
  // cat removed from the schema.
  s = store_->ensure_dataset(
      variant("{id: string, ts: timestamp, x: float, n: int, flag: bool, y: float}"));
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("'cat'"));
  // A commit through a changed spec is refused the same way, and writes nothing.
  DatasetSpec changed = variant(
      "{id: string, ts: timestamp, x: float, n: int, flag: bool, cat: category, y: float, z: int}");
  SinkBatch b2;
  b2.requests.push_back(make_record(changed, "b", {{"ts", V(kT0)}, {"z", V(int64_t{1})}}));
  auto r = store_->commit(changed, b2);
  EXPECT_FALSE(r.ok());

  // The original schema still works and the data is intact.
  EXPECT_TRUE(store_->ensure_dataset(tiny_).ok());
  EXPECT_EQ(stats_ok().records, 1);
  EXPECT_TRUE(record_ok("a"));
}

TEST_P(StoreConformance, EmptyDatasetReadsReturnNothing) {
  DatasetStats s = stats_ok();
  EXPECT_TRUE(same_stats(s, DatasetStats{}));
  EXPECT_EQ(store_->count_labelled(tiny_).value(), 0);
  EXPECT_TRUE(scan_all(*store_, tiny_, 5).empty());
  EXPECT_TRUE(store_->recent_targets(tiny_, 5).value().empty());
  EXPECT_TRUE(store_->recent_metrics("tiny", 5).value().empty());
  EXPECT_FALSE(store_->describe().empty());
}

}  // namespace flowcast::store::testing
