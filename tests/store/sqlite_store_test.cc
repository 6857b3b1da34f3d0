#include "store/sqlite_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "core/config_error.h"
#include "core/time_util.h"
#include "store/sqlite_connection.h"
#include "store/store_conformance.h"

namespace flowcast::store::testing {
namespace {

using flowcast::testing::TempDir;
using flowcast::testing::tiny_dataset;
using ::testing::HasSubstr;

constexpr int64_t kT0 = 1'700'000'000'000'000;

Result<std::unique_ptr<Store>> open_sqlite(const std::string& dir) {
  auto r = SqliteStore::open(dir + "/flowcast.db", SqliteOptions{});
  if (!r.ok()) return r.status();
  return std::unique_ptr<Store>(std::move(r).value());
}

INSTANTIATE_TEST_SUITE_P(Sqlite, StoreConformance,
                         ::testing::Values(StoreFactory{"sqlite", open_sqlite}),
                         store_factory_name);

std::unique_ptr<SqliteStore> open_ok(const std::string& path, const SqliteOptions& o = {}) {
  auto r = SqliteStore::open(path, o);
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  return r.ok() ? std::move(r).value() : nullptr;
}

// Runs `sql` on `path` through a connection of its own (as a user's SQL client would) and
// returns each row's columns joined with '|'.
std::vector<std::string> raw_query(const std::string& path, const std::string& sql) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE, nullptr);
  std::unique_ptr<sqlite3, int (*)(sqlite3*)> db(raw, sqlite3_close_v2);
  EXPECT_EQ(rc, SQLITE_OK);
  sqlite3_busy_timeout(raw, 10000);
  sqlite3_stmt* st_raw = nullptr;
  rc = sqlite3_prepare_v2(raw, sql.c_str(), -1, &st_raw, nullptr);
  std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> st(st_raw, sqlite3_finalize);
  EXPECT_EQ(rc, SQLITE_OK) << sqlite3_errmsg(raw);
  std::vector<std::string> rows;
  if (rc != SQLITE_OK) return rows;
  while ((rc = sqlite3_step(st.get())) == SQLITE_ROW) {
    std::string row;
    for (int i = 0; i < sqlite3_column_count(st.get()); ++i) {
      if (i) row += '|';
      const auto* t = sqlite3_column_text(st.get(), i);
      row += t ? reinterpret_cast<const char*>(t) : "NULL";
    }
    rows.push_back(row);
  }
  EXPECT_EQ(rc, SQLITE_DONE) << sqlite3_errmsg(raw);
  return rows;
}

Record request(const DatasetSpec& s, const std::string& key, int64_t ts, double x) {
  return make_record(s, key, {{"ts", Value(ts)}, {"x", Value(x)}});
}

TEST(SqliteStore, ReopeningTheFileFindsEverything) {
  TempDir dir;
  const std::string path = dir.str() + "/db/flowcast.db";
  DatasetSpec tiny = tiny_dataset();
  {
    auto store = open_ok(path);
    ASSERT_TRUE(store);
    SinkBatch b;
    b.group = "ingest";
    b.offsets = {{"tiny.requests", 0, 11}};
    b.requests.push_back(make_record(
        tiny, "a", {{"ts", Value(kT0)}, {"x", Value(1.5)}, {"cat", Value(std::string("c"))}}));
    b.outcomes.push_back(make_record(tiny, "a", {{"y", Value(2.5)}}));
    b.predictions = {{"a", 1, 2.0, 5}};
    b.metrics = {{1, 1000, 60000, 1, 0.5, 0.5, 0.1, 0.2, 1.0}};
    ASSERT_TRUE(store->commit(tiny, b).ok());
    ModelInfo info;
    info.dataset = "tiny";
    info.learner = "ridge";
    info.metrics_json = "{}";
    ASSERT_EQ(store->register_model(info, std::string("\0\1\2", 3), true).value(), 1);
  }
  auto store = open_ok(path);
  ASSERT_TRUE(store);
  EXPECT_EQ(store->describe(), "sqlite:" + path);
  auto s = store->stats(tiny).value();
  EXPECT_EQ(s.records, 1);
  EXPECT_EQ(s.labelled, 1);
  EXPECT_EQ(s.predictions, 1);
  EXPECT_EQ(s.metrics, 1);
  auto rec = store->get_record(tiny, "a").value();
  ASSERT_TRUE(rec);
  EXPECT_EQ(rec->values[5], Value(std::string("c")));
  EXPECT_EQ(rec->values[6], Value(2.5));
  EXPECT_EQ(store->load_offsets("ingest").value(),
            (std::vector<OffsetEntry>{{"tiny.requests", 0, 11}}));
  EXPECT_EQ(store->active_model("tiny").value()->version, 1);
  EXPECT_EQ(store->load_artifact("tiny", 1).value(), std::string("\0\1\2", 3));
  // The next version continues from the stored ones.
  ModelInfo info;
  info.dataset = "tiny";
  EXPECT_EQ(store->register_model(info, "", false).value(), 2);
}

TEST(SqliteStore, TwoStoresOnOneFileWriteConcurrently) {
  TempDir dir;
  const std::string path = dir.str() + "/shared.db";
  DatasetSpec tiny = tiny_dataset();
  // Two SqliteStore objects are two independent sets of connections, as two processes have.
  auto a = open_ok(path);
  auto b = open_ok(path);
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(a->ensure_dataset(tiny).ok());
  ASSERT_TRUE(b->ensure_dataset(tiny).ok());

  constexpr int kBatches = 40, kPerBatch = 250, kModels = 3;
  std::atomic<bool> done{false};
  std::vector<std::string> errors[3];
  auto writer = [&](SqliteStore* store, const std::string& name, std::vector<std::string>* errs) {
    for (int i = 0; i < kBatches; ++i) {
      SinkBatch batch;
      batch.group = name;
      batch.offsets = {{"tiny.requests", 0, (i + 1) * kPerBatch}};
      for (int j = 0; j < kPerBatch; ++j) {
        std::string key = name + "-" + std::to_string(i * kPerBatch + j);
        batch.requests.push_back(request(tiny, key, kT0 + i * kPerBatch + j, 1.0));
        batch.outcomes.push_back(make_record(tiny, key, {{"y", Value(double(j))}}));
      }
      batch.predictions = {{name + "-0", i + 1, 1.0, 1}};
      auto r = store->commit(tiny, batch);
      if (!r.ok()) errs->push_back(r.status().to_string());
      if (i % (kBatches / kModels) == 0 && i / (kBatches / kModels) < kModels) {
        ModelInfo info;
        info.dataset = "tiny";
        info.learner = name;
        auto v = store->register_model(info, name, true);
        if (!v.ok()) errs->push_back(v.status().to_string());
      }
    }
  };
  // A reader scanning all the while, as the trainer does.
  std::thread reader([&] {
    while (!done.load()) {
      int64_t n = 0;
      Status s = a->scan_labelled(tiny, 0, [&](const Record&) { ++n; });
      if (!s.ok()) errors[2].push_back(s.to_string());
      auto c = b->count_labelled(tiny);
      if (!c.ok()) errors[2].push_back(c.status().to_string());
    }
  });
  std::thread ta(writer, a.get(), "ga", &errors[0]);
  std::thread tb(writer, b.get(), "gb", &errors[1]);
  ta.join();
  tb.join();
  done = true;
  reader.join();
  for (const auto& errs : errors) EXPECT_TRUE(errs.empty()) << errs.front();

  auto s = a->stats(tiny).value();
  EXPECT_EQ(s.records, 2 * kBatches * kPerBatch);
  EXPECT_EQ(s.labelled, 2 * kBatches * kPerBatch);
  EXPECT_EQ(s.predictions, 2 * kBatches);
  EXPECT_EQ(b->load_offsets("ga").value(),
            (std::vector<OffsetEntry>{{"tiny.requests", 0, kBatches * kPerBatch}}));
  EXPECT_EQ(a->load_offsets("gb").value(),
            (std::vector<OffsetEntry>{{"tiny.requests", 0, kBatches * kPerBatch}}));
  // Versions were assigned without gaps or duplicates, and exactly one is active.
  auto models = a->list_models("tiny").value();
  ASSERT_EQ(models.size(), size_t(2 * kModels));
  for (size_t i = 0; i < models.size(); ++i)
    EXPECT_EQ(models[i].version, int64_t(models.size() - i));
  EXPECT_EQ(std::count_if(models.begin(), models.end(),
                          [](const ModelInfo& m) { return m.status == "active"; }),
            1);
}

TEST(SqliteStore, AScanSeesOneSnapshotAndItsCallbackMayWrite) {
  TempDir dir;
  auto store = open_ok(dir.str() + "/f.db");
  ASSERT_TRUE(store);
  DatasetSpec tiny = tiny_dataset();
  SinkBatch b;
  for (int i = 0; i < 5; ++i)
    b.observations.push_back(
        make_record(tiny, "k" + std::to_string(i),
                    {{"ts", Value(kT0 + i)}, {"x", Value(1.0)}, {"y", Value(2.0)}}));
  ASSERT_TRUE(store->commit(tiny, b).ok());
  int seen = 0;
  Status s = store->scan_labelled(tiny, 0, [&](const Record& r) {
    ++seen;
    SinkBatch w;  // predictions for what is read, plus a new labelled row, mid-scan
    w.predictions = {{r.key, 1, 1.0, 1}};
    w.observations.push_back(make_record(
        tiny, "new" + r.key, {{"ts", Value(kT0 + 100)}, {"x", Value(1.0)}, {"y", Value(2.0)}}));
    auto c = store->commit(tiny, w);
    EXPECT_TRUE(c.ok()) << c.status().to_string();
    EXPECT_EQ(store->count_labelled(tiny).value(), 5 + seen);  // other reads see the commits
  });
  ASSERT_TRUE(s.ok()) << s.to_string();
  EXPECT_EQ(seen, 5);  // rows committed during the scan are not part of it
  EXPECT_EQ(store->stats(tiny).value().predictions, 5);
  EXPECT_EQ(store->count_labelled(tiny).value(), 10);
}

// Predictions go in multi-row statements of up to 64 rows (then 32, 16, ... for the rest of a
// batch). Whatever the batch sizes and wherever a repeated (key, version) falls (same statement,
// another statement of the batch, an earlier batch), the first prediction of a pair is the one
// stored, exactly as with one INSERT ... ON CONFLICT DO NOTHING per row.
TEST(SqliteStore, MultiRowPredictionInsertsKeepTheFirstOfEachPairAcrossChunks) {
  TempDir dir;
  const std::string path = dir.str() + "/f.db";
  auto store = open_ok(path);
  ASSERT_TRUE(store);
  DatasetSpec tiny = tiny_dataset();
  std::map<std::pair<std::string, int64_t>, std::pair<double, int64_t>> first;
  uint32_t rng = 7;
  auto next = [&] { return rng = rng * 1664525u + 1013904223u; };
  int64_t serial = 0;
  for (size_t n : {1, 2, 3, 63, 64, 65, 127, 128, 129, 200, 1000, 2000, 0, 5, 77}) {
    SinkBatch b;
    for (size_t i = 0; i < n; ++i) {
      // 300 keys x 2 versions: later batches repeat many pairs, and so do large ones within
      // themselves, in the same 64-row statement or across statements.
      PredictionRow p{"k" + std::to_string(next() % 300), int64_t(1 + next() % 2),
                      double(++serial) + 0.5, 1000 + serial};
      first.try_emplace({p.key, p.model_version}, p.prediction, p.predicted_at_ms);
      b.predictions.push_back(p);
    }
    auto c = store->commit(tiny, b);
    ASSERT_TRUE(c.ok()) << "batch of " << n << ": " << c.status().to_string();
  }
  std::vector<std::string> want;
  for (const auto& [pair, value] : first) {
    char prediction[32];
    std::snprintf(prediction, sizeof prediction, "%.1f", value.first);
    want.push_back(pair.first + "|" + std::to_string(pair.second) + "|" + prediction + "|" +
                   std::to_string(value.second));
  }
  EXPECT_EQ(raw_query(path,
                      "SELECT key, model_version, printf('%.1f', prediction), predicted_at_ms "
                      "FROM tiny_predictions ORDER BY key, model_version"),
            want);
  EXPECT_EQ(store->stats(tiny).value().predictions, int64_t(first.size()));
  EXPECT_LT(first.size(), size_t(serial));  // the batches did repeat pairs
}

// Records go in statements of many rows (OR IGNORE ... ON CONFLICT DO UPDATE) and the rest
// one by one. Either way the stored row must be what applying every message in turn gives: a
// present value replaces the stored one, an absent one keeps it; a batch's requests, then its
// outcomes, then its observations, each in key order and, for one key, in the order they came.
// Keys repeat within one statement, across statements and across batches here.
TEST(SqliteStore, RecordsWrittenManyPerStatementMergeAsIfOneByOne) {
  TempDir dir;
  const std::string path = dir.str() + "/m.db";
  auto store = open_ok(path);
  ASSERT_TRUE(store);
  DatasetSpec tiny = tiny_dataset();
  const int n_fields = static_cast<int>(tiny.fields().size());
  std::map<std::string, std::vector<Value>> want;  // the model: key -> stored values
  uint32_t rng = 11;
  auto next = [&] { return rng = rng * 1664525u + 1013904223u; };
  int serial = 0;
  const auto random_record = [&]() {
    Record r;
    r.key = "k" + std::to_string(next() % 150);
    r.values.assign(size_t(n_fields), Value{});
    r.values[size_t(tiny.key_index())] = r.key;
    ++serial;
    // Each field present about two times in three, so merging has something to keep.
    const auto maybe = [&](const char* name, Value v) {
      if (next() % 3 != 0) r.values[size_t(tiny.field_index(name))] = std::move(v);
    };
    r.values[size_t(tiny.field_index("ts"))] = Value(kT0 + serial);
    r.values[size_t(tiny.field_index("x"))] = Value(double(serial) + 0.5);
    maybe("n", Value(int64_t(serial)));
    maybe("flag", Value(serial % 2 == 0));
    maybe("cat", Value("c" + std::to_string(serial)));
    maybe("y", Value(double(serial) + 0.25));
    return r;
  };
  const auto apply = [&](const std::vector<Record>& list, bool requests, bool outcomes) {
    std::vector<Record> ordered = list;
    std::stable_sort(ordered.begin(), ordered.end(),
                     [](const Record& a, const Record& b) { return a.key < b.key; });
    for (const Record& r : ordered) {
      auto& row = want.try_emplace(r.key, std::vector<Value>(size_t(n_fields))).first->second;
      row[size_t(tiny.key_index())] = r.key;
      for (int f = 0; f < n_fields; ++f) {
        const bool outcome = tiny.field(f).role == FieldRole::kOutcome;
        if ((outcome ? outcomes : requests) && r.has(f)) row[size_t(f)] = r.values[size_t(f)];
      }
    }
  };
  for (size_t n : {1, 31, 32, 33, 64, 65, 100, 500, 7, 0, 97}) {
    SinkBatch b;
    for (size_t i = 0; i < n; ++i) b.requests.push_back(random_record());
    for (size_t i = 0; i < n / 2; ++i) b.outcomes.push_back(random_record());
    for (size_t i = 0; i < n / 3; ++i) b.observations.push_back(random_record());
    auto c = store->commit(tiny, b);
    ASSERT_TRUE(c.ok()) << "batch of " << n << ": " << c.status().to_string();
    apply(b.requests, true, false);
    apply(b.outcomes, false, true);
    apply(b.observations, true, true);
  }
  const auto shown = [](const Value& v) -> std::string {
    if (v.index() == 0) return "NULL";
    if (const auto* d = std::get_if<double>(&v)) {
      char text[32];
      std::snprintf(text, sizeof text, "%.2f", *d);
      return text;
    }
    if (const auto* i = std::get_if<int64_t>(&v)) return std::to_string(*i);
    if (const auto* b = std::get_if<bool>(&v)) return *b ? "1" : "0";
    return std::get<std::string>(v);
  };
  std::vector<std::string> expected;
  for (const auto& [key, row] : want) {
    std::string line = key;
    for (const char* f : {"ts", "x", "n", "flag", "cat", "y"})
      line += "|" + shown(row[size_t(tiny.field_index(f))]);
    expected.push_back(line);
  }
  EXPECT_EQ(raw_query(path,
                      "SELECT id, ts, printf('%.2f', x), n, flag, cat, "
                      "CASE WHEN y IS NULL THEN NULL ELSE printf('%.2f', y) END "
                      "FROM tiny_records ORDER BY id"),
            expected);
  EXPECT_GT(serial, int(want.size()) * 3);  // keys did repeat, many times
}

TEST(SqliteStore, APredictionBatchThatFailsLeavesNothing) {
  TempDir dir;
  const std::string path = dir.str() + "/f.db";
  auto store = open_ok(path);
  ASSERT_TRUE(store);
  DatasetSpec tiny = tiny_dataset();
  // A trigger refuses one row of the second 64-row statement: the whole batch rolls back, and
  // the statements stay usable for the next batch.
  ASSERT_TRUE(store->ensure_dataset(tiny).ok());
  raw_query(path,
            "CREATE TRIGGER refuse BEFORE INSERT ON tiny_predictions WHEN NEW.key = 'bad' "
            "BEGIN SELECT RAISE(ABORT, 'refused'); END");
  SinkBatch b;
  for (int i = 0; i < 150; ++i) b.predictions.push_back({"p" + std::to_string(i), 1, 1.0, 1});
  b.predictions[100].key = "bad";
  EXPECT_FALSE(store->commit(tiny, b).ok());
  EXPECT_EQ(store->stats(tiny).value().predictions, 0);
  b.predictions[100].key = "p100";
  ASSERT_TRUE(store->commit(tiny, b).ok());
  EXPECT_EQ(store->stats(tiny).value().predictions, 150);
}

// A bulk load (ingest-file) groups its batches: rows of a commit() are applied at once but are
// seen by readers, and survive, only when the group commits (max_rows reached, or
// end_bulk_load). The store is usable as before afterwards.
TEST(SqliteStore, ABulkLoadCommitsItsBatchesInGroups) {
  TempDir dir;
  const std::string path = dir.str() + "/f.db";
  auto store = open_ok(path);
  ASSERT_TRUE(store);
  DatasetSpec tiny = tiny_dataset();
  ASSERT_TRUE(store->ensure_dataset(tiny).ok());
  int next = 0;
  auto batch = [&](int n) {
    SinkBatch b;
    for (int i = 0; i < n; ++i, ++next)
      b.requests.push_back(request(tiny, "k" + std::to_string(next), kT0 + next, 1.0));
    return b;
  };
  auto stored = [&] { return raw_query(path, "SELECT count(*) FROM tiny_records").at(0); };
  ASSERT_TRUE(store->begin_bulk_load({250, 3'600'000}).ok());
  EXPECT_EQ(store->begin_bulk_load({250, 3'600'000}).code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(store->commit(tiny, batch(100)).ok());
  ASSERT_TRUE(store->commit(tiny, batch(100)).ok());
  EXPECT_EQ(stored(), "0");
  EXPECT_EQ(store->stats(tiny).value().records, 0);
  ASSERT_TRUE(store->commit(tiny, batch(100)).ok());  // 300 >= 250: the group commits
  EXPECT_EQ(stored(), "300");
  ASSERT_TRUE(store->commit(tiny, batch(50)).ok());
  EXPECT_EQ(stored(), "300");
  // Another write (a dataset's tables, a model) needs a transaction of its own: the open group
  // commits first.
  ASSERT_TRUE(store->ensure_dataset(all_types_dataset()).ok());
  EXPECT_EQ(stored(), "350");
  ASSERT_TRUE(store->commit(tiny, batch(10)).ok());
  ASSERT_TRUE(store->register_model({"tiny", 0, 0, 0, "ridge", "", "{}", 10}, "m", true).ok());
  EXPECT_EQ(stored(), "360");
  ASSERT_TRUE(store->end_bulk_load().ok());
  EXPECT_EQ(stored(), "360");
  EXPECT_TRUE(store->end_bulk_load().ok());          // nothing open: nothing to do
  ASSERT_TRUE(store->commit(tiny, batch(10)).ok());  // no bulk load: committed at once
  EXPECT_EQ(stored(), "370");
  // A group also commits once it has been open max_ms (0 here: after every batch).
  ASSERT_TRUE(store->begin_bulk_load({1'000'000, 0}).ok());
  ASSERT_TRUE(store->commit(tiny, batch(10)).ok());
  EXPECT_EQ(stored(), "380");
  ASSERT_TRUE(store->end_bulk_load().ok());
  EXPECT_EQ(raw_query(path, "PRAGMA integrity_check"), std::vector<std::string>{"ok"});
}

// A batch that fails inside a group rolls back the whole open transaction, rows of earlier
// commit()s included: that is reported as kInternal (a caller must not just retry the batch),
// while a failure in a group's first batch keeps its own code. Nothing is half applied.
TEST(SqliteStore, AFailureInABulkLoadRollsBackItsGroupAndSaysSo) {
  TempDir dir;
  const std::string path = dir.str() + "/f.db";
  auto store = open_ok(path);
  ASSERT_TRUE(store);
  DatasetSpec tiny = tiny_dataset();
  ASSERT_TRUE(store->ensure_dataset(tiny).ok());
  auto batch = [&](const std::string& prefix, bool bad) {
    SinkBatch b;
    for (int i = 0; i < 20; ++i)
      b.requests.push_back(request(tiny, prefix + std::to_string(i), kT0, 1.0));
    if (bad) b.requests[10].values.pop_back();  // the wrong number of values
    return b;
  };
  ASSERT_TRUE(store->begin_bulk_load({1'000'000, 3'600'000}).ok());
  auto first_bad = store->commit(tiny, batch("a", true));
  EXPECT_EQ(first_bad.status().code(), StatusCode::kInvalidArgument)
      << first_bad.status().to_string();
  ASSERT_TRUE(store->commit(tiny, batch("b", false)).ok());
  auto later_bad = store->commit(tiny, batch("c", true));
  ASSERT_FALSE(later_bad.ok());
  EXPECT_EQ(later_bad.status().code(), StatusCode::kInternal);
  EXPECT_THAT(later_bad.status().message(),
              HasSubstr("rolled back, with 20 rows of 1 earlier batches"));
  ASSERT_TRUE(store->commit(tiny, batch("d", false)).ok());  // a new group
  ASSERT_TRUE(store->end_bulk_load().ok());
  EXPECT_EQ(raw_query(path, "SELECT min(id), max(id), count(*) FROM tiny_records"),
            std::vector<std::string>{"d0|d9|20"});
}

// A store closed (or a process ended) with a group open leaves the file as the last group
// commit left it.
TEST(SqliteStore, ABulkLoadLeftOpenRollsBackWhenTheStoreCloses) {
  TempDir dir;
  const std::string path = dir.str() + "/f.db";
  DatasetSpec tiny = tiny_dataset();
  {
    auto store = open_ok(path);
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->begin_bulk_load({15, 3'600'000}).ok());
    for (int n = 0; n < 3; ++n) {
      SinkBatch b;
      for (int i = 0; i < 10; ++i)
        b.requests.push_back(request(tiny, "k" + std::to_string(n) + std::to_string(i), kT0, 1.0));
      ASSERT_TRUE(store->commit(tiny, b).ok());
    }
  }
  auto store = open_ok(path);
  ASSERT_TRUE(store);
  EXPECT_EQ(store->stats(tiny).value().records, 20);  // the group of the first two batches
  EXPECT_EQ(raw_query(path, "PRAGMA integrity_check"), std::vector<std::string>{"ok"});
}

TEST(SqliteStore, OpenCreatesDirectoriesAndDescribesTheAbsolutePath) {
  TempDir dir;
  auto store = open_ok(dir.str() + "/a/b/../c/store.db");
  ASSERT_TRUE(store);
  EXPECT_EQ(store->describe(), "sqlite:" + dir.str() + "/a/c/store.db");
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "a" / "c" / "store.db"));
}

// "unable to open database file" alone does not tell a user what to fix: the system's reason
// follows it. (/proc refuses new files, whoever runs the test, root included.)
TEST(SqliteStore, AFileThatCannotBeOpenedSaysWhy) {
  auto r = SqliteStore::open("/proc/flowcast-test.db", {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("unable to open database file ("), std::string::npos)
      << r.status().message();
}

TEST(SqliteStore, BadPathsAndOptionsAreRefused) {
  TempDir dir;
  EXPECT_EQ(SqliteStore::open("", {}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(SqliteStore::open(":memory:", {}).status().code(), StatusCode::kInvalidArgument);
  SqliteOptions bad;
  bad.synchronous = "sometimes";
  EXPECT_EQ(SqliteStore::open(dir.str() + "/x.db", bad).status().code(),
            StatusCode::kInvalidArgument);
  // A regular file where a directory should be.
  std::ofstream(dir.str() + "/file") << "x";
  EXPECT_EQ(SqliteStore::open(dir.str() + "/file/sub/x.db", {}).status().code(),
            StatusCode::kIoError);
}

// The page size applies to a new file; a file that exists keeps its own, and the checkpoint
// threshold (checkpoint_mb) is counted in the file's pages.
TEST(SqliteStore, APageSizeAppliesToANewFileOnly) {
  TempDir dir;
  const std::string path = dir.str() + "/p.db";
  SqliteOptions big;
  big.page_size = 16384;
  big.checkpoint_mb = 32;
  {
    auto store = open_ok(path, big);
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->ensure_dataset(tiny_dataset()).ok());
  }
  EXPECT_EQ(raw_query(path, "PRAGMA page_size"), std::vector<std::string>{"16384"});
  SqliteOptions small;
  small.page_size = 1024;
  {
    auto store = open_ok(path, small);
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->ensure_dataset(tiny_dataset()).ok());
  }
  EXPECT_EQ(raw_query(path, "PRAGMA page_size"), std::vector<std::string>{"16384"});
  auto conn = SqliteConnection::open(path, {.page_size = 1024,
                                            .wal_autocheckpoint_bytes = 32 << 20});
  ASSERT_TRUE(conn.ok()) << conn.status().to_string();
  auto st = (*conn)->statement("PRAGMA wal_autocheckpoint");
  ASSERT_TRUE(st.ok());
  ASSERT_TRUE((*st)->step().value());
  EXPECT_EQ((*st)->column_int64(0), (32 << 20) / 16384);
  (*st)->reset();
  SqliteOptions odd;
  odd.page_size = 3000;
  EXPECT_THAT(SqliteStore::open(dir.str() + "/q.db", odd).status().message(),
              HasSubstr("page_size must be a power of two"));
}

TEST(SqliteStore, AFileThatIsNotADatabaseIsReported) {
  TempDir dir;
  const std::string path = dir.str() + "/junk.db";
  {
    std::ofstream out(path, std::ios::binary);
    for (int i = 0; i < 200; ++i) out << "this is not an SQLite database, just text. ";
  }
  auto r = SqliteStore::open(path, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption) << r.status().to_string();
}

TEST(SqliteStore, TablesAreTheOnesDocumented) {
  TempDir dir;
  const std::string path = dir.str() + "/f.db";
  auto store = open_ok(path);
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->ensure_dataset(tiny_dataset()).ok());
  EXPECT_EQ(raw_query(path, "PRAGMA journal_mode"), (std::vector<std::string>{"wal"}));
  EXPECT_EQ(raw_query(path, "SELECT version FROM flowcast_schema_version"),
            (std::vector<std::string>{"1"}));
  EXPECT_EQ(raw_query(path, "SELECT name, type, pk FROM pragma_table_info('tiny_records')"),
            (std::vector<std::string>{"id|TEXT|1", "ts|INTEGER|0", "x|REAL|0", "n|INTEGER|0",
                                      "flag|INTEGER|0", "cat|TEXT|0", "y|REAL|0",
                                      "_ingested_at_ms|INTEGER|0", "_labelled_at_ms|INTEGER|0"}));
  EXPECT_EQ(raw_query(path, "SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name"),
            (std::vector<std::string>{"flowcast_metrics", "flowcast_models", "flowcast_offsets",
                                      "flowcast_schema_version", "tiny_evaluations",
                                      "tiny_predictions", "tiny_records"}));
  EXPECT_EQ(raw_query(path, "SELECT name FROM pragma_table_info('tiny_predictions')"),
            (std::vector<std::string>{"key", "model_version", "prediction", "predicted_at_ms"}));
  EXPECT_EQ(raw_query(path, "SELECT name FROM pragma_table_info('flowcast_offsets')"),
            (std::vector<std::string>{"group_id", "topic", "partition", "next_offset"}));

  // Booleans are 0/1, timestamps microseconds, bookkeeping times milliseconds.
  DatasetSpec tiny = tiny_dataset();
  SinkBatch b;
  b.requests.push_back(
      make_record(tiny, "q", {{"ts", Value(kT0)}, {"x", Value(1.0)}, {"flag", Value(true)}}));
  int64_t before = now_millis();
  ASSERT_TRUE(store->commit(tiny, b).ok());
  auto row =
      raw_query(path, "SELECT ts, flag, y IS NULL, _ingested_at_ms >= " + std::to_string(before) +
                          ", _labelled_at_ms IS NULL FROM tiny_records");
  EXPECT_EQ(row, (std::vector<std::string>{std::to_string(kT0) + "|1|1|1|1"}));
}

TEST(SqliteStore, RedeliveryKeepsTheFirstIngestAndLabelTimes) {
  TempDir dir;
  const std::string path = dir.str() + "/f.db";
  auto store = open_ok(path);
  ASSERT_TRUE(store);
  DatasetSpec tiny = tiny_dataset();
  SinkBatch b;
  b.requests.push_back(request(tiny, "a", kT0, 1.0));
  b.outcomes.push_back(make_record(tiny, "a", {{"y", Value(2.0)}}));
  b.observations.push_back(
      make_record(tiny, "o", {{"ts", Value(kT0)}, {"x", Value(1.0)}, {"y", Value(3.0)}}));
  ASSERT_TRUE(store->commit(tiny, b).ok());
  // Mark the stored times, then re-deliver everything: the marks must survive.
  raw_query(path, "UPDATE tiny_records SET _ingested_at_ms = 1, _labelled_at_ms = 2");
  ASSERT_TRUE(store->commit(tiny, b).ok());
  EXPECT_EQ(raw_query(path,
                      "SELECT id, _ingested_at_ms, _labelled_at_ms FROM tiny_records "
                      "ORDER BY id"),
            (std::vector<std::string>{"a|1|2", "o|1|2"}));
  // An outcome that arrives first has no ingest time until its request comes.
  SinkBatch early;
  early.outcomes.push_back(make_record(tiny, "e", {{"y", Value(1.0)}}));
  ASSERT_TRUE(store->commit(tiny, early).ok());
  EXPECT_EQ(raw_query(path,
                      "SELECT _ingested_at_ms IS NULL, _labelled_at_ms > 0 "
                      "FROM tiny_records WHERE id = 'e'"),
            (std::vector<std::string>{"1|1"}));
}

TEST(SqliteStore, ATableChangedByHandIsReportedAndNotAltered) {
  TempDir dir;
  const std::string path = dir.str() + "/f.db";
  auto store = open_ok(path);
  ASSERT_TRUE(store);
  raw_query(path, "CREATE TABLE tiny_records (id TEXT PRIMARY KEY, ts INTEGER, x TEXT)");
  Status s = store->ensure_dataset(tiny_dataset());
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("'x'"));
  EXPECT_EQ(raw_query(path, "SELECT count(*) FROM pragma_table_info('tiny_records')"),
            (std::vector<std::string>{"3"}));
  // The failed check created nothing else either.
  EXPECT_EQ(raw_query(path, "SELECT count(*) FROM sqlite_schema WHERE name LIKE 'tiny_%'"),
            (std::vector<std::string>{"1"}));
}

TEST(SqliteStore, AFileFromANewerSchemaVersionIsRefused) {
  TempDir dir;
  const std::string path = dir.str() + "/f.db";
  ASSERT_TRUE(open_ok(path));
  raw_query(path, "UPDATE flowcast_schema_version SET version = 2");
  auto r = SqliteStore::open(path, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("schema version 2"));
}

TEST(SqliteOptions, ParsedFromTheSqliteSection) {
  auto section = [](const char* yaml) { return ConfigNode(YAML::Load(yaml)["sqlite"], "sqlite"); };
  SqliteOptions d = parse_sqlite_options(section("other: 1"));
  EXPECT_EQ(d.busy_timeout_ms, 10000);
  EXPECT_EQ(d.synchronous, "normal");
  EXPECT_EQ(d.cache_mb, 64);
  EXPECT_EQ(d.checkpoint_mb, 256);
  EXPECT_EQ(d.bulk_cache_mb, 256);
  SqliteOptions o =
      parse_sqlite_options(section("sqlite: {busy_timeout: 250ms, synchronous: full, cache_mb: 8, "
                                   "checkpoint_mb: 32, bulk_cache_mb: 100}"));
  EXPECT_EQ(o.bulk_cache_mb, 100);
  EXPECT_EQ(o.busy_timeout_ms, 250);
  EXPECT_EQ(o.synchronous, "full");
  EXPECT_EQ(o.cache_mb, 8);
  EXPECT_EQ(o.checkpoint_mb, 32);
  EXPECT_EQ(parse_sqlite_options(section("sqlite: {busy_timeout: 2}")).busy_timeout_ms, 2000);
  try {
    parse_sqlite_options(section("sqlite: {busy_timout: 1s}"));
    ADD_FAILURE() << "a misspelt key was accepted";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.path(), "sqlite.busy_timout");
  }
  EXPECT_THROW(parse_sqlite_options(section("sqlite: {synchronous: sometimes}")), ConfigError);
  EXPECT_THROW(parse_sqlite_options(section("sqlite: {busy_timeout: soon}")), ConfigError);
  EXPECT_THROW(parse_sqlite_options(section("sqlite: {cache_mb: 0}")), ConfigError);
  EXPECT_EQ(d.page_size, 16384);
  EXPECT_EQ(parse_sqlite_options(section("sqlite: {page_size: 65536}")).page_size, 65536);
  try {
    parse_sqlite_options(section("sqlite: {page_size: 10000}"));
    ADD_FAILURE() << "a page size SQLite ignores was accepted";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.path(), "sqlite.page_size");
    EXPECT_THAT(e.what(), HasSubstr("power of two from 512 to 65536"));
  }
  EXPECT_THROW(parse_sqlite_options(section("sqlite: {page_size: 256}")), ConfigError);
  EXPECT_THROW(parse_sqlite_options(section("sqlite: 5")), ConfigError);
}

// Throughput of commit() for taxi-shaped requests; run by hand:
//   store_test --gtest_also_run_disabled_tests --gtest_filter='*Throughput*'
// Prints records/s of three runs (1,000,000 records in batches of 5,000, one transaction each,
// into a fresh file each run) and their median. Building the batches is not timed.
void measure_taxi_commits(bool keys_in_order, int kBatch = 5'000) {
  DatasetSpec taxi = parse_dataset_yaml("taxi", R"(
key: id
event_time: pickup_datetime
target: trip_duration
fields:
  id: string
  vendor_id: int
  pickup_datetime: timestamp
  passenger_count: int
  pickup_longitude: longitude
  pickup_latitude: latitude
  dropoff_longitude: longitude
  dropoff_latitude: latitude
  store_and_fwd_flag: category
  dropoff_datetime: {type: timestamp, role: outcome, required: false}
  trip_duration: float
features: [{transform: numeric, input: passenger_count}]
)");
  constexpr int kRecords = 1'000'000;
  std::printf("batches of %d records, keys %s\n", kBatch, keys_in_order ? "in order" : "random");
  std::vector<double> rates;
  for (int run = 0; run < 3; ++run) {
    TempDir dir;
    auto store = open_ok(dir.str() + "/taxi.db");
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->ensure_dataset(taxi).ok());
    int64_t timed_ns = 0;
    uint32_t rng = 12345;
    auto next = [&] { return rng = rng * 1664525u + 1013904223u; };
    for (int start = 0; start < kRecords; start += kBatch) {
      SinkBatch batch;
      batch.group = "ingest";
      batch.offsets = {{"taxi.requests", start % 3, start + kBatch}};
      batch.requests.reserve(kBatch);
      for (int i = start; i < start + kBatch; ++i) {
        // Kaggle ids look like "id2875421": unique, in no particular order.
        uint32_t id =
            keys_in_order ? uint32_t(100'000'000 + i) : (uint32_t(i) * 2654435761u) & 0x0fffffffu;
        Record r;
        r.key = "id" + std::to_string(id);
        r.values = {r.key,
                    int64_t(1 + next() % 2),
                    kT0 + int64_t(i) * 1'000'000,
                    int64_t(1 + next() % 6),
                    -74.0 + (next() % 10000) * 1e-5,
                    40.7 + (next() % 10000) * 1e-5,
                    -73.9 + (next() % 10000) * 1e-5,
                    40.8 + (next() % 10000) * 1e-5,
                    std::string(next() % 100 == 0 ? "Y" : "N"),
                    std::monostate{},
                    std::monostate{}};
        batch.requests.push_back(std::move(r));
      }
      int64_t t0 = mono_nanos();
      auto r = store->commit(taxi, batch);
      timed_ns += mono_nanos() - t0;
      ASSERT_TRUE(r.ok()) << r.status().to_string();
    }
    ASSERT_EQ(store->stats(taxi).value().records, kRecords);
    double rate = kRecords / (double(timed_ns) / 1e9);
    rates.push_back(rate);
    std::printf("run %d: %d records in %.3f s of commit(): %.0f records/s\n", run + 1, kRecords,
                double(timed_ns) / 1e9, rate);
  }
  std::sort(rates.begin(), rates.end());
  std::printf("median: %.0f records/s\n", rates[1]);
}

TEST(SqliteStoreThroughput, DISABLED_CommitTaxiRequests) { measure_taxi_commits(false); }
TEST(SqliteStoreThroughput, DISABLED_CommitTaxiRequestsInKeyOrder) { measure_taxi_commits(true); }
// What the ingest stage commits under a high load (batch_size 50000, its default).
TEST(SqliteStoreThroughput, DISABLED_CommitTaxiRequestsInBatchesOf50000) {
  measure_taxi_commits(false, 50'000);
}

}  // namespace
}  // namespace flowcast::store::testing
