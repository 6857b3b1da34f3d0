#include "core/config.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "core/config_error.h"

namespace flowcast {
namespace {

const char* kBase = R"(
bus: local:/tmp/x
datasets:
  d:
    key: id
    event_time: ts
    target: y
    fields: {id: string, ts: timestamp, x: float, y: float}
    features: [{transform: numeric, input: x}]
stages:
  train: {min_rows: 10}
)";

std::string error_of(const std::string& yaml, const std::vector<std::string>& overrides = {}) {
  try {
    Config::parse(yaml, overrides);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(Config, DefaultsAndOverrides) {
  Config c = Config::parse(kBase, {"store=sqlite:/tmp/s.db", "stages.train.min_rows=20"});
  EXPECT_EQ(c.bus_url(), "local:/tmp/x");
  EXPECT_EQ(c.store_url(), "sqlite:/tmp/s.db");
  EXPECT_EQ(c.stage("train").get_int("min_rows", 0), 20);
  EXPECT_EQ(c.dataset("d").topics().requests, "d.requests");
  EXPECT_EQ(c.dataset("d").target_index(), 3);
}

TEST(Config, EnvironmentSitsBetweenFileAndSet) {
  setenv("FLOWCAST_BUS", "local:/tmp/env", 1);
  EXPECT_EQ(Config::parse(kBase, {}).bus_url(), "local:/tmp/env");
  EXPECT_EQ(Config::parse(kBase, {"bus=local:/tmp/set"}).bus_url(), "local:/tmp/set");
  unsetenv("FLOWCAST_BUS");
}

TEST(Config, ErrorsNameTheKey) {
  EXPECT_EQ(error_of(kBase, {"stages.trian.min_rows=1"}),
            "stages.trian: unknown key (expected one of: produce, ingest, train, predict, evaluate, serve)");
  EXPECT_EQ(error_of(kBase, {"datasets.d.fields.x=double"}),
            "datasets.d.fields.x: unknown type 'double' (expected int, float, bool, string, category, "
            "timestamp, latitude or longitude)");
  EXPECT_EQ(error_of(kBase, {"datasets.d.key=nope"}),
            "datasets.d.key: 'nope' is not one of the dataset's fields");
  EXPECT_EQ(error_of(kBase, {"log_level=loud"}),
            "log_level: expected trace, debug, info, warn, error or off");
  EXPECT_NE(error_of("datasets: [1, 2"), "");
  EXPECT_EQ(error_of(kBase, {"nonsense"}), "--set: expected key=value, got 'nonsense'");
  EXPECT_EQ(error_of(kBase, {"datasets.d.fields.bad-name=float"}).rfind("datasets.d.fields.bad-name:", 0), 0u);
}

TEST(Config, ModelMetricDefaultsToRmsleAndIsChecked) {
  EXPECT_EQ(Config::parse(kBase, {}).dataset("d").model().metric, "rmsle");
  EXPECT_EQ(Config::parse(kBase, {"datasets.d.model.metric=mape"}).dataset("d").model().metric, "mape");
  EXPECT_EQ(error_of(kBase, {"datasets.d.model.metric=r2"}),
            "datasets.d.model.metric: expected rmsle, mape, mae, rmse or within_30, got 'r2'");
}

TEST(Config, TypedGettersReportBadValues) {
  Config c = Config::parse(kBase, {"stages.train.min_rows=ten"});
  try {
    c.stage("train").get_int("min_rows", 0);
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(), "stages.train.min_rows: expected a whole number, got 'ten'");
  }
}

TEST(Config, IntegerRangesNameOnlyTheirBounds) {
  Config c = Config::parse(kBase, {"stages.train.min_rows=-1"});
  auto problem = [&](int64_t min, int64_t max) {
    try {
      c.stage("train").get_int("min_rows", 0, min, max);
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_EQ(problem(0, INT64_MAX), "stages.train.min_rows: must be at least 0, got -1");
  EXPECT_EQ(problem(INT64_MIN, -2), "stages.train.min_rows: must be at most -2, got -1");
  EXPECT_EQ(problem(1, 10), "stages.train.min_rows: must be between 1 and 10, got -1");
}

TEST(Config, KeysWrittenTwiceAreRefusedWithTheirLines) {
  // kBase's first line is empty: "bus:" is line 2, "datasets:" line 3, ..., "stages:" line 10.
  EXPECT_EQ(error_of(std::string(kBase) + "bus: local:/tmp/y\n"),
            "bus: declared twice, at lines 2 and 12 (keep one)");
  EXPECT_EQ(error_of(std::string(kBase) + "datasets:\n  e: {}\n"),
            "datasets: declared twice, at lines 3 and 12 (keep one)");
  std::string two_datasets = R"(
datasets:
  d:
    key: id
    event_time: ts
    target: y
    fields: {id: string, ts: timestamp, x: float, y: float}
    features: [{transform: numeric, input: x}]
  d:
    key: id
    event_time: ts
    target: y
    fields: {id: string, ts: timestamp, y: float}
    features: [{transform: numeric, input: ts}]
)";
  EXPECT_EQ(error_of(two_datasets), "datasets.d: declared twice, at lines 3 and 9 (keep one)");
  EXPECT_EQ(error_of(R"(
datasets:
  d:
    key: id
    event_time: ts
    target: y
    fields:
      id: string
      ts: timestamp
      x: float
      x: int
      y: float
    features: [{transform: numeric, input: x}]
)"),
            "datasets.d.fields.x: declared twice, at lines 10 and 11 (keep one)");
  // In a flow mapping, and inside a list.
  EXPECT_EQ(error_of(kBase, {}).empty(), true);
  EXPECT_EQ(error_of(R"(
datasets:
  d:
    key: id
    event_time: ts
    target: y
    fields: {id: string, ts: timestamp, x: float, y: float, id: int}
    features: [{transform: numeric, input: x, input: ts}]
)"),
            "datasets.d.fields.id: declared twice, at lines 7 and 7 (keep one)");
  EXPECT_EQ(error_of(R"(
datasets:
  d:
    key: id
    event_time: ts
    target: y
    fields: {id: string, ts: timestamp, x: float, y: float}
    features:
      - {transform: numeric, input: x, input: ts}
)"),
            "datasets.d.features.0.input: declared twice, at lines 9 and 9 (keep one)");
}

TEST(Config, TwoFeaturesWithOneNameAreRefused) {
  EXPECT_EQ(error_of(R"(
datasets:
  d:
    key: id
    event_time: ts
    target: y
    fields: {id: string, ts: timestamp, x: float, y: float}
    features:
      - {name: f, transform: numeric, input: x}
      - {transform: hour, input: ts}
      - {name: f, transform: log1p, input: x}
)"),
            "datasets.d.features.2: feature name 'f' (line 11) is already used by feature 0 "
            "(line 9); give each feature its own 'name'");
  // A name left out defaults to transform_input: the same transform of the same field twice.
  EXPECT_EQ(error_of(kBase, {"datasets.d.features=[{transform: numeric, input: x}, "
                             "{transform: numeric, input: x}]"})
                .rfind("datasets.d.features.1: feature name 'numeric_x'", 0),
            0u);
}

TEST(Config, BoundsNoValueFitsAreRefused) {
  const std::string yaml = R"(
datasets:
  d:
    key: id
    event_time: ts
    target: y
    fields: {id: string, ts: timestamp, x: {type: float, min: 10, max: 5}, y: float}
    features: [{transform: numeric, input: x}]
)";
  try {
    Config::parse(yaml, {});
    FAIL() << "min above max was accepted";
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(), "datasets.d.fields.x.min: 10 is above max 5: no value would fit");
  }
  EXPECT_NO_THROW(Config::parse(yaml, {"datasets.d.fields.x.max=10"}));
}

TEST(Config, UnknownDatasetListsKnownNames) {
  Config c = Config::parse(kBase, {});
  EXPECT_THROW(c.dataset("taxi"), ConfigError);
  try {
    c.dataset("taxi");
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(), "datasets: no dataset named 'taxi' (known: d)");
  }
}

}  // namespace
}  // namespace flowcast
