// The JSON messages flowcast itself publishes, with their codecs:
//   predictions: {"dataset":"taxi","key":"id1","model_version":3,"prediction":612.4,
//                 "event_time":"2016-01-08T22:31:12Z","predicted_at_ms":1700000000000}
//   metrics:     {"dataset":"taxi","model_version":3,"window_end_ms":...,"window_ms":60000,
//                 "count":812,"mae":...,"rmse":...,"rmsle":...,"mape":...,"within_30":...,
//                 "joined_total":12345}
#pragma once

#include <string>
#include <string_view>

#include "core/json_writer.h"
#include "core/status.h"
#include "store/store.h"

namespace flowcast::stages {

struct PredictionMessage {
  std::string key;
  int64_t model_version = 0;
  double prediction = 0;
  int64_t event_time_us = 0;
  int64_t predicted_at_ms = 0;
};

void encode_prediction(const std::string& dataset, const PredictionMessage& p, std::string& out);
// Not thread-safe (reuses a parser per thread via thread_local).
Status decode_prediction(std::string_view json, PredictionMessage& out);

// The quality figures of a metrics window, by the names used in messages, in the HTTP API, in
// /metrics and in `model.metric`.
struct MetricFigure {
  const char* name;
  double store::MetricRow::*member;
};
inline constexpr MetricFigure kMetricFigures[] = {{"mae", &store::MetricRow::mae},
                                                  {"rmse", &store::MetricRow::rmse},
                                                  {"rmsle", &store::MetricRow::rmsle},
                                                  {"mape", &store::MetricRow::mape},
                                                  {"within_30", &store::MetricRow::within_30}};
// The figure called `name` (one of kMetricFigures); NaN for another name.
double metric_figure(const store::MetricRow& m, std::string_view name);
// "RMSLE 0.251", "MAPE 8.2%", "within 30% 76.4%": a figure as the status line and logs show it.
std::string format_metric(std::string_view name, double value);
// Every figure of `m`, `lead` (the dataset's model.metric) first, joined by ", ".
std::string format_metrics(const store::MetricRow& m, std::string_view lead);

// Writes a window's fields (model_version, window_end_ms, window_ms, count and the figures) into
// the JSON object `w` is in: shared by the metrics message and the HTTP API.
void write_metric_window(JsonWriter& w, const store::MetricRow& m);

void encode_metrics(const std::string& dataset, const store::MetricRow& m, int64_t joined_total,
                    std::string& out);
// Reads a metrics message. Figures that are absent or not numbers are NaN. invalid when it is
// not JSON, lacks model_version, or names another dataset than `dataset`.
Status decode_metrics(std::string_view json, const std::string& dataset, store::MetricRow& out);

}  // namespace flowcast::stages
