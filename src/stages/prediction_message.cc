#include "stages/prediction_message.h"

#include <simdjson.h>

#include <algorithm>

#include "core/json_writer.h"
#include "core/time_util.h"

namespace flowcast::stages {
namespace {

char* put_digits(char* p, int value, int width) {
  for (int i = width - 1; i >= 0; --i) {
    p[i] = char('0' + value % 10);
    value /= 10;
  }
  return p + width;
}

// The quoted timestamp exactly as format_timestamp_micros() writes it, without snprintf or a
// temporary string: this runs once per prediction.
std::string_view quoted_timestamp(int64_t micros, char (&buf)[40]) {
  const CivilTime t = civil_from_micros(micros);
  if (t.year < 0 || t.year > 9999) {
    const std::string s = format_timestamp_micros(micros);
    const size_t n = std::min(s.size(), sizeof buf - 2);
    buf[0] = '"';
    s.copy(buf + 1, n);
    buf[n + 1] = '"';
    return {buf, n + 2};
  }
  const int64_t frac = ((micros % 1000000) + 1000000) % 1000000;
  char* p = buf;
  *p++ = '"';
  p = put_digits(p, t.year, 4);
  *p++ = '-';
  p = put_digits(p, t.month, 2);
  *p++ = '-';
  p = put_digits(p, t.day, 2);
  *p++ = 'T';
  p = put_digits(p, t.hour, 2);
  *p++ = ':';
  p = put_digits(p, t.minute, 2);
  *p++ = ':';
  p = put_digits(p, t.second, 2);
  if (frac != 0) {
    *p++ = '.';
    p = put_digits(p, int(frac), 6);
  }
  *p++ = 'Z';
  *p++ = '"';
  return {buf, size_t(p - buf)};
}

}  // namespace

void encode_prediction(const std::string& dataset, const PredictionMessage& p, std::string& out) {
  JsonWriter w(out);
  w.begin_object();
  w.field("dataset", dataset);
  w.field("key", p.key);
  w.field("model_version", p.model_version);
  w.field("prediction", p.prediction);
  char ts[40];
  w.key("event_time");
  w.raw(quoted_timestamp(p.event_time_us, ts));
  w.field("predicted_at_ms", p.predicted_at_ms);
  w.end_object();
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

void encode_metrics(const std::string& dataset, const store::MetricRow& m, int64_t joined_total,
                    std::string& out) {
  JsonWriter w(out);
  w.begin_object();
  w.field("dataset", dataset);
  w.field("model_version", m.model_version);
  w.field("window_end_ms", m.window_end_ms);
  w.field("window_ms", m.window_ms);
  w.field("count", m.count);
  w.field("mae", m.mae);
  w.field("rmse", m.rmse);
  w.field("rmsle", m.rmsle);
  w.field("mape", m.mape);
  w.field("within_30", m.within_30);
  w.field("joined_total", joined_total);
  w.end_object();
}

}  // namespace flowcast::stages
