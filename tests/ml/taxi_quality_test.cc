// Trains the taxi model on the real Kaggle sample (../shared/data/nyc-taxi/train.csv, 5,000 rows)
// and checks its RMSLE on val.csv. Skipped when ../shared is absent (a fresh clone).
#include <gtest/gtest.h>

#include "core/csv_reader.h"
#include "ml/trainer.h"
#include "support/test_support.h"

namespace flowcast::ml {
namespace {

std::vector<Record> read_all(const std::string& path, const DatasetSpec& spec) {
  auto reader = CsvRecordReader::open(path, spec, true);
  EXPECT_TRUE(reader.ok()) << reader.status().to_string();
  std::vector<Record> rows;
  Record r;
  Status err;
  while ((*reader)->next(r, err)) {
    EXPECT_TRUE(err.ok()) << path << ":" << (*reader)->line() << ": " << err.to_string();
    if (err.ok()) rows.push_back(r);
  }
  return rows;
}

TEST(TaxiQuality, RmsleOnKaggleValidationSample) {
  auto train_csv = testing::shared_data("nyc-taxi/train.csv");
  auto val_csv = testing::shared_data("nyc-taxi/val.csv");
  if (!train_csv || !val_csv)
    GTEST_SKIP() << "../shared/data/nyc-taxi is absent (a fresh clone has no ../shared); "
                    "this test needs the real Kaggle sample";
  Config config = testing::taxi_config();
  const DatasetSpec& spec = config.dataset("taxi");
  std::vector<Record> train = read_all(train_csv->string(), spec);
  ASSERT_EQ(train.size(), 5000u);
  const int et = spec.event_time_index();
  std::stable_sort(train.begin(), train.end(),
                   [&](const Record& a, const Record& b) { return a.number(et) < b.number(et); });
  auto outcome = train_model(spec, std::move(train), TrainOptions{});
  ASSERT_TRUE(outcome.ok()) << outcome.status().to_string();

  std::vector<Record> val = read_all(val_csv->string(), spec);
  ASSERT_EQ(val.size(), 300u);
  std::vector<const Record*> ptrs;
  for (const auto& r : val) ptrs.push_back(&r);
  std::vector<double> pred(val.size()), actual(val.size()), constant(val.size());
  ASSERT_TRUE(outcome->model->predict(ptrs, pred.data()).ok());
  for (size_t i = 0; i < val.size(); ++i) {
    actual[i] = val[i].number(spec.target_index());
    constant[i] = 660;
  }
  RegressionMetrics m = compute_metrics(pred, actual);
  RegressionMetrics base = compute_metrics(constant, actual);
  std::printf("taxi val.csv: model RMSLE %.4f (constant 660 s: %.4f), validation-split RMSLE %.4f\n",
              m.rmsle, base.rmsle, outcome->validation.rmsle);
  EXPECT_LE(m.rmsle, 0.46);
  EXPECT_LT(m.rmsle, base.rmsle - 0.2);
}

}  // namespace
}  // namespace flowcast::ml
