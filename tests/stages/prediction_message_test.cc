// The metrics message: what evaluate publishes is what the server reads back, figure by figure.
#include "stages/prediction_message.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "core/json_writer.h"
#include "core/time_util.h"

namespace flowcast::stages {
namespace {

store::MetricRow window() {
  return store::MetricRow{3, 1700000060000, 60000, 812, 101.5, 140.25, 0.41, 0.33, 0.62};
}

TEST(MetricsMessage, RoundTripsEveryFieldAndFigure) {
  std::string json;
  encode_metrics("taxi", window(), 12345, json);
  store::MetricRow back;
  ASSERT_TRUE(decode_metrics(json, "taxi", back).ok()) << json;
  const store::MetricRow w = window();
  EXPECT_EQ(back.model_version, 3);
  EXPECT_EQ(back.window_end_ms, w.window_end_ms);
  EXPECT_EQ(back.window_ms, 60000);
  EXPECT_EQ(back.count, 812);
  for (const MetricFigure& f : kMetricFigures) {
    EXPECT_DOUBLE_EQ(back.*f.member, w.*f.member) << f.name;
    EXPECT_DOUBLE_EQ(metric_figure(back, f.name), w.*f.member) << f.name;
  }
  EXPECT_NE(json.find("\"joined_total\":12345"), std::string::npos) << json;
}

TEST(MetricsMessage, AFigureThatIsNotANumberIsNanAndOtherMessagesAreRefused) {
  store::MetricRow w = window();
  w.mape = std::nan("");  // written as null
  std::string json;
  encode_metrics("taxi", w, 1, json);
  store::MetricRow back;
  ASSERT_TRUE(decode_metrics(json, "taxi", back).ok()) << json;
  EXPECT_TRUE(std::isnan(back.mape));
  EXPECT_DOUBLE_EQ(back.rmsle, 0.41);
  EXPECT_TRUE(std::isnan(metric_figure(back, "accuracy")));

  EXPECT_FALSE(decode_metrics(json, "realty", back).ok());
  EXPECT_FALSE(decode_metrics(R"({"dataset":"taxi","rmsle":0.4})", "taxi", back).ok());
  EXPECT_FALSE(decode_metrics("not json", "taxi", back).ok());
}

TEST(FormatMetric, EachFigureAsTheStatusLineShowsIt) {
  EXPECT_EQ(format_metric("rmsle", 0.2514), "RMSLE 0.251");
  EXPECT_EQ(format_metric("mape", 0.0823), "MAPE 8.2%");
  EXPECT_EQ(format_metric("within_30", 0.764), "within 30% 76.4%");
  EXPECT_EQ(format_metric("mae", 113.04), "MAE 113.0");
  EXPECT_EQ(format_metric("rmse", 250.0), "RMSE 250.0");
  store::MetricRow m;
  m.mae = 1, m.rmse = 2, m.rmsle = 0.25, m.mape = 0.125, m.within_30 = 0.5;
  EXPECT_EQ(format_metrics(m, "mape"),
            "MAPE 12.5%, MAE 1.0, RMSE 2.0, RMSLE 0.250, within 30% 50.0%");
}

// The prediction message as JsonWriter writes it, field by field: encode_prediction must write
// exactly these bytes.
std::string written_by_json_writer(const std::string& dataset, const PredictionMessage& p) {
  std::string out;
  JsonWriter w(out);
  w.begin_object();
  w.field("dataset", dataset);
  w.field("key", p.key);
  w.field("model_version", p.model_version);
  w.field("prediction", p.prediction);
  w.field("event_time", format_timestamp_micros(p.event_time_us));
  w.field("predicted_at_ms", p.predicted_at_ms);
  w.end_object();
  return out;
}

TEST(PredictionMessage, EncodesWhatJsonWriterWouldAndDecodesBack) {
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> value(-1e7, 1e7);
  std::uniform_int_distribution<int64_t> micros(-62'000'000'000'000'000, 253'000'000'000'000'000);
  const std::string keys[] = {
      "id2875421", "", "quote\"back\\slash", "tab\tnew\nline\x01", "caf\xc3\xa9", "bad\xff byte"};
  const double odd[] = {0.0,     -0.0,         1e-300,
                        6.02e23, std::nan(""), std::numeric_limits<double>::infinity()};
  std::string out;
  for (int i = 0; i < 5000; ++i) {
    PredictionMessage p;
    p.key = keys[size_t(i) % std::size(keys)];
    p.model_version = i % 3 == 0 ? 0 : int64_t(rng() >> 1);
    p.prediction = i % 7 == 0 ? odd[size_t(i / 7) % std::size(odd)] : value(rng);
    p.event_time_us = i % 11 == 0 ? 0 : micros(rng);
    p.predicted_at_ms = int64_t(rng() >> 20);
    out.clear();
    encode_prediction(i % 2 ? "taxi" : "a \"quoted\" set", p, out);
    ASSERT_EQ(out, written_by_json_writer(i % 2 ? "taxi" : "a \"quoted\" set", p));
    // A byte that is not UTF-8 is written as \u00XX, and a prediction that is not finite as
    // null, which decode refuses: neither comes back as it was.
    if (p.key.find('\xff') != std::string::npos || !std::isfinite(p.prediction)) continue;
    PredictionMessage back;
    ASSERT_TRUE(decode_prediction(out, back).ok()) << out;
    EXPECT_EQ(back.key, p.key);
    EXPECT_EQ(back.model_version, p.model_version);
    EXPECT_EQ(back.prediction, p.prediction) << out;
  }
}

}  // namespace
}  // namespace flowcast::stages
