// The metrics message: what evaluate publishes is what the server reads back, figure by figure.
#include "stages/prediction_message.h"

#include <gtest/gtest.h>

#include <cmath>

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

}  // namespace
}  // namespace flowcast::stages
