#include "stages/prediction_message.h"

#include <simdjson.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/json_writer.h"
#include "core/time_util.h"

namespace flowcast::stages {
namespace {

// The quoted timestamp without a temporary string: this runs once per prediction.
std::string_view quoted_timestamp(int64_t micros, char (&buf)[kTimestampChars + 2]) {
  buf[0] = '"';
  const size_t n = format_timestamp_micros(micros, buf + 1);
  buf[n + 1] = '"';
  return {buf, n + 2};
}

}  // namespace

void encode_prediction(const std::string& dataset, const PredictionMessage& p, std::string& out) {
  // What JsonWriter would write, with the names and punctuation appended as whole literals: this
  // runs once per prediction.
  out.append(R"({"dataset":)");
  JsonWriter::append_string(out, dataset);
  out.append(R"(,"key":)");
  JsonWriter::append_string(out, p.key);
  out.append(R"(,"model_version":)");
  JsonWriter::append_number(out, p.model_version);
  out.append(R"(,"prediction":)");
  JsonWriter::append_number(out, p.prediction);
  char ts[kTimestampChars + 2];
  out.append(R"(,"event_time":)");
  out.append(quoted_timestamp(p.event_time_us, ts));
  out.append(R"(,"predicted_at_ms":)");
  JsonWriter::append_number(out, p.predicted_at_ms);
  out.push_back('}');
}

Status decode_prediction(std::string_view json, PredictionMessage& out) {
  namespace od = simdjson::ondemand;
  thread_local od::parser parser;
  thread_local std::string scratch;
  scratch.assign(json);
  scratch.append(simdjson::SIMDJSON_PADDING, '\0');
  od::document doc;
  if (parser.iterate(scratch.data(), json.size(), scratch.size()).get(doc))
    return Status::invalid("invalid JSON");
  od::object obj;
  if (doc.get_object().get(obj)) return Status::invalid("expected an object");
  bool has_key = false, has_version = false, has_pred = false;
  for (auto f : obj) {
    std::string_view k;
    if (f.unescaped_key().get(k)) return Status::invalid("bad key");
    if (k == "key") {
      std::string_view v;
      if (f.value().get_string().get(v)) return Status::invalid("field 'key': expected a string");
      out.key = v;
      has_key = true;
    } else if (k == "model_version") {
      if (f.value().get_int64().get(out.model_version))
        return Status::invalid("field 'model_version': expected an integer");
      has_version = true;
    } else if (k == "prediction") {
      if (f.value().get_double().get(out.prediction))
        return Status::invalid("field 'prediction': expected a number");
      has_pred = true;
    } else if (k == "event_time") {
      std::string_view v;
      if (!f.value().get_string().get(v)) {
        if (auto t = parse_timestamp_micros(v)) out.event_time_us = *t;
      }
    } else if (k == "predicted_at_ms") {
      int64_t v;
      if (!f.value().get_int64().get(v)) out.predicted_at_ms = v;
    }
  }
  if (!has_key || !has_version || !has_pred)
    return Status::invalid("a prediction needs 'key', 'model_version' and 'prediction'");
  return Status();
}

double metric_figure(const store::MetricRow& m, std::string_view name) {
  for (const MetricFigure& f : kMetricFigures)
    if (name == f.name) return m.*f.member;
  return std::nan("");
}

std::string format_metric(std::string_view name, double value) {
  char buf[64];
  if (name == "mape")
    std::snprintf(buf, sizeof buf, "MAPE %.1f%%", value * 100);
  else if (name == "within_30")
    std::snprintf(buf, sizeof buf, "within 30%% %.1f%%", value * 100);
  else if (name == "mae")
    std::snprintf(buf, sizeof buf, "MAE %.1f", value);
  else if (name == "rmse")
    std::snprintf(buf, sizeof buf, "RMSE %.1f", value);
  else
    std::snprintf(buf, sizeof buf, "RMSLE %.3f", value);
  return buf;
}

std::string format_metrics(const store::MetricRow& m, std::string_view lead) {
  std::string out = format_metric(lead, metric_figure(m, lead));
  for (const MetricFigure& f : kMetricFigures)
    if (f.name != lead) out += ", " + format_metric(f.name, m.*f.member);
  return out;
}

void write_metric_window(JsonWriter& w, const store::MetricRow& m) {
  w.field("model_version", m.model_version);
  w.field("window_end_ms", m.window_end_ms);
  w.field("window_ms", m.window_ms);
  w.field("count", m.count);
  for (const MetricFigure& f : kMetricFigures) w.field(f.name, m.*f.member);
}

void encode_metrics(const std::string& dataset, const store::MetricRow& m, int64_t joined_total,
                    std::string& out) {
  JsonWriter w(out);
  w.begin_object();
  w.field("dataset", dataset);
  write_metric_window(w, m);
  w.field("joined_total", joined_total);
  w.end_object();
}

Status decode_metrics(std::string_view json, const std::string& dataset, store::MetricRow& out) {
  thread_local simdjson::ondemand::parser parser;
  simdjson::padded_string padded(json);
  simdjson::ondemand::document doc;
  simdjson::ondemand::object obj;
  if (parser.iterate(padded).get(doc) || doc.get_object().get(obj))
    return Status::invalid("a metrics message must be a JSON object");
  out = store::MetricRow{};
  for (const MetricFigure& f : kMetricFigures) out.*f.member = std::nan("");
  bool has_version = false;
  for (auto field : obj) {
    std::string_view k;
    if (field.unescaped_key().get(k)) return Status::invalid("a metrics message has a bad key");
    simdjson::ondemand::value v = field.value();
    if (k == "dataset") {
      std::string_view d;
      if (v.get_string().get(d) || d != dataset)
        return Status::invalid("a metrics message of another dataset");
      continue;
    }
    int64_t* whole = k == "model_version"   ? &out.model_version
                     : k == "window_end_ms" ? &out.window_end_ms
                     : k == "window_ms"     ? &out.window_ms
                     : k == "count"         ? &out.count
                                            : nullptr;
    if (whole != nullptr) {
      if (v.get_int64().get(*whole))
        return Status::invalid(std::string(k) + " is not a whole number");
      has_version |= whole == &out.model_version;
      continue;
    }
    for (const MetricFigure& f : kMetricFigures) {
      double d;
      if (k == f.name && !v.get_double().get(d)) out.*f.member = d;
    }
  }
  if (!has_version) return Status::invalid("a metrics message needs 'model_version'");
  return Status();
}

}  // namespace flowcast::stages
