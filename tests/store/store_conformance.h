// The Store conformance suite: every behaviour of store/store.h that stages rely on, written once
// against the interface. A backend joins with one line in its own test file:
//
//   INSTANTIATE_TEST_SUITE_P(Sqlite, StoreConformance,
//       ::testing::Values(StoreFactory{"sqlite", open_sqlite}), store_factory_name);
//
// The factory is called once per test with a fresh empty directory and must return a Store over
// an empty database (a backend without files uses a fresh database or schema instead). A backend
// that needs a server sets `unavailable`, so that its tests skip when there is none.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <initializer_list>
#include <memory>
#include <ostream>
#include <string>
#include <utility>

#include "core/dataset_spec.h"
#include "core/record.h"
#include "store/store.h"
#include "support/test_support.h"

namespace flowcast::store::testing {

struct StoreFactory {
  std::string name;
  std::function<Result<std::unique_ptr<Store>>(const std::string& scratch_dir)> open;
  // Optional, for backends that need a server: returns why the backend cannot be tested here
  // ("" when it can); each test then skips with that message instead of failing.
  std::function<std::string()> unavailable = {};
};

std::string store_factory_name(const ::testing::TestParamInfo<StoreFactory>& info);
// Shows the backend's name (not its bytes) when a parameterised test fails.
void PrintTo(const StoreFactory& factory, std::ostream* os);

// A record of `spec` with `key` (its key field's value filled in from it) and the named values;
// every other field absent.
Record make_record(const DatasetSpec& spec, const std::string& key,
                   std::initializer_list<std::pair<const char*, Value>> values);

// A dataset exercising every field type, with an outcome field besides the target:
// id string (key), ts timestamp, x float, n int, flag bool, cat category, lat latitude,
// lon longitude, note string, done_at timestamp (outcome), y float (target).
DatasetSpec all_types_dataset();

class StoreConformance : public ::testing::TestWithParam<StoreFactory> {
 protected:
  void SetUp() override;

  // Commits `batch` and fails the test on error.
  CommitResult commit_ok(const SinkBatch& batch, const DatasetSpec* spec = nullptr);
  DatasetStats stats_ok(const DatasetSpec* spec = nullptr);
  std::optional<Record> record_ok(const std::string& key, const DatasetSpec* spec = nullptr);

  flowcast::testing::TempDir dir_;
  std::unique_ptr<Store> store_;
  DatasetSpec tiny_ = flowcast::testing::tiny_dataset();
};

}  // namespace flowcast::store::testing
