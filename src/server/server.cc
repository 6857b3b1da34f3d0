#include "server/server.h"

#include <httplib.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <nlohmann/json.hpp>
#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <array>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>

#include "core/config_error.h"
#include "core/json_writer.h"
#include "core/latency_histogram.h"
#include "core/log.h"
#include "core/time_util.h"
#include "server/codec_pool.h"
#include "server/live_feed.h"
#include "server/prometheus_writer.h"
#include "stages/serving_models.h"
#include "server/train_job.h"
#include "server/web_assets.h"
#include "stages/prediction_message.h"

namespace flowcast::server {
namespace {

constexpr size_t kMaxRecordsPerRequest = 10000;
constexpr int kDefaultStreamRate = 200;
constexpr int kMaxStreamRate = 2000;
constexpr const char* kJson = "application/json";

// What the request counters are labelled with.
enum Route {
  kHealthz, kReadyz, kPrometheus, kDatasets, kPredict, kEvents, kModels, kPromote, kTrain,
  kDatasetMetrics, kStream, kStatic, kOther, kRouteCount
};
constexpr std::array<const char*, kRouteCount> kRouteNames = {
    "healthz", "readyz", "metrics", "datasets", "predict", "events", "models", "promote", "train",
    "dataset_metrics", "stream", "static", "other"};
constexpr auto kCodes = std::to_array<int>({200, 202, 400, 401, 403, 404, 405, 409, 413, 500, 503, 0});

Route route_of(const std::string& path) {
  if (path == "/healthz") return kHealthz;
  if (path == "/readyz") return kReadyz;
  if (path == "/metrics") return kPrometheus;
  if (path == "/v1/stream") return kStream;
  if (path == "/v1/datasets") return kDatasets;
  if (path.rfind("/v1/datasets/", 0) == 0) {
    auto ends = [&](std::string_view s) {
      return path.size() >= s.size() && path.compare(path.size() - s.size(), s.size(), s) == 0;
    };
    if (ends("/predict")) return kPredict;
    if (ends("/events")) return kEvents;
    if (ends("/promote")) return kPromote;
    if (ends("/models")) return kModels;
    if (ends("/train")) return kTrain;
    if (ends("/metrics")) return kDatasetMetrics;
    return kOther;
  }
  if (path.rfind("/v1/", 0) == 0) return kOther;
  return kStatic;
}

size_t code_index(int status) {
  for (size_t i = 0; i + 1 < kCodes.size(); ++i)
    if (kCodes[i] == status) return i;
  return kCodes.size() - 1;
}

void send_json(httplib::Response& res, int status, std::string body) {
  res.status = status;
  res.set_content(std::move(body), kJson);
}

void send_error(httplib::Response& res, int status, const std::string& message) {
  std::string body;
  JsonWriter w(body);
  w.begin_object();
  w.field("error", message);
  w.end_object();
  send_json(res, status, std::move(body));
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) diff |= uint8_t(a[i] ^ b[i % std::max<size_t>(b.size(), 1)]);
  return diff == 0;
}

std::string default_stream_group() {
  char host[256] = {0};
  if (gethostname(host, sizeof host - 1) != 0) std::strcpy(host, "localhost");
  return std::string("flowcast.serve.") + host + "-" + std::to_string(getpid());
}

}  // namespace

struct Server::Impl {
  Impl(const Config& config, bus::Bus& bus, store::Store& store, ServerOptions options);

  // Handlers (each runs on a worker thread).
  void healthz(const httplib::Request&, httplib::Response& res);
  void readyz(const httplib::Request&, httplib::Response& res);
  void prometheus(const httplib::Request&, httplib::Response& res);
  void list_datasets(const httplib::Request&, httplib::Response& res);
  void predict(const httplib::Request& req, httplib::Response& res);
  void events(const httplib::Request& req, httplib::Response& res);
  void models(const httplib::Request& req, httplib::Response& res);
  void promote(const httplib::Request& req, httplib::Response& res);
  void train(const httplib::Request& req, httplib::Response& res);
  void dataset_metrics(const httplib::Request& req, httplib::Response& res);
  void stream(const httplib::Request& req, httplib::Response& res);
  void static_asset(const httplib::Request& req, httplib::Response& res);

  // The dataset named by the path, or a 404 listing the known names (false).
  bool dataset_or_404(const std::string& name, httplib::Response& res, size_t& index) const;
  // Admin authorisation: false after answering 403 or 401.
  bool admin_or_refuse(const httplib::Request& req, httplib::Response& res) const;
  // Decodes one JSON object for `role`. `generate_key`: a missing key field is
  // filled with a fresh key (predict) rather than refused (events).
  Status decode_object(JsonCodec& codec, std::string_view json, RecordRole role,
                       bool generate_key, Record& out);
  // Splits a body into its JSON objects: one object, or an array of at most 10,000. On failure
  // answers 400 and returns false.
  bool split_body(const std::string& body, std::vector<std::string_view>& objects, bool& is_array,
                  httplib::Response& res);
  std::string next_key();
  std::string stats_json();
  void on_metrics(size_t d, const store::MetricRow& row);
  // The window to show as the dataset's quality: the newest of the serving version, else the
  // newest of any version.
  std::optional<store::MetricRow> quality(size_t d, int64_t serving_version) const;
  // The store's row counts for dataset d, read at most every 5 s: they scan whole tables.
  std::optional<store::DatasetStats> cached_stats(size_t d);

  const Config& config_;
  bus::Bus& bus_;
  store::Store& store_;
  ServerOptions options_;
  std::vector<const DatasetSpec*> datasets_;
  std::vector<std::string> descriptions_;
  std::string names_json_;  // ["taxi","realty"]
  std::vector<std::unique_ptr<CodecPool>> codecs_;
  stages::ServingModels models_;
  LiveFeed feed_;
  TrainJob train_;  // after models_: a finishing training refreshes them

  httplib::Server http_;
  std::thread listener_;
  std::atomic<int> port_{0};
  std::atomic<bool> started_{false}, stopping_{false};
  std::atomic<int> open_streams_{0};

  std::mutex producer_mu_;
  std::unique_ptr<bus::Producer> producer_;  // guarded by producer_mu_ (created on first use)

  mutable std::mutex quality_mu_;
  std::vector<std::map<int64_t, store::MetricRow>> quality_;  // latest window per version

  std::mutex store_stats_mu_;
  std::vector<std::pair<int64_t, store::DatasetStats>> store_stats_;  // (read at ms, stats)

  // The server's own counters.
  std::array<std::array<std::atomic<int64_t>, kCodes.size()>, kRouteCount> requests_{};
  std::unique_ptr<std::atomic<int64_t>[]> predictions_;     // per dataset
  std::unique_ptr<std::atomic<int64_t>[]> events_in_;       // per dataset x 3 kinds
  std::vector<std::unique_ptr<LatencyHistogram>> predict_latency_;  // per dataset, HTTP handler
  std::atomic<int64_t> key_counter_{0};
};

Server::Impl::Impl(const Config& config, bus::Bus& bus, store::Store& store, ServerOptions options)
    : config_(config),
      bus_(bus),
      store_(store),
      options_(std::move(options)),
      datasets_([&] {
        std::vector<const DatasetSpec*> v;
        if (options_.datasets.empty())
          for (const auto& d : config.datasets()) v.push_back(&d);
        else
          for (const auto& n : options_.datasets) v.push_back(&config.dataset(n));
        return v;
      }()),
      models_(datasets_, store, options_.settings.model_poll_ms),
      feed_(datasets_, bus,
            options_.stream_group.empty() ? default_stream_group() : options_.stream_group,
            LiveFeed::Callbacks{[this] { return stats_json(); },
                                [this](size_t d, const store::MetricRow& r) { on_metrics(d, r); }}),
      train_(config, bus, store) {
  JsonWriter names(names_json_);
  names.begin_array();
  for (const DatasetSpec* ds : datasets_) {
    names.value(ds->name());
    codecs_.push_back(std::make_unique<CodecPool>(*ds));
    predict_latency_.push_back(std::make_unique<LatencyHistogram>());
    std::string description;
    try {
      YAML::Node n = YAML::Load(ds->source_yaml());
      if (n["description"] && n["description"].IsScalar()) description = n["description"].as<std::string>();
    } catch (const std::exception&) {
      // The spec parsed this YAML already; a description is optional.
    }
    descriptions_.push_back(description);
  }
  names.end_array();
  predictions_ = std::make_unique<std::atomic<int64_t>[]>(datasets_.size());
  events_in_ = std::make_unique<std::atomic<int64_t>[]>(datasets_.size() * 3);
  quality_.resize(datasets_.size());
  store_stats_.resize(datasets_.size());
}

bool Server::Impl::dataset_or_404(const std::string& name, httplib::Response& res,
                                  size_t& index) const {
  for (size_t i = 0; i < datasets_.size(); ++i) {
    if (datasets_[i]->name() == name) {
      index = i;
      return true;
    }
  }
  std::string body;
  JsonWriter w(body);
  w.begin_object();
  w.field("error", "unknown dataset '" + name + "'");
  w.key("datasets");
  w.raw(names_json_);
  w.end_object();
  send_json(res, 404, std::move(body));
  return false;
}

bool Server::Impl::admin_or_refuse(const httplib::Request& req, httplib::Response& res) const {
  if (options_.admin_token.empty()) {
    send_error(res, 403, "admin endpoints are disabled: set FLOWCAST_ADMIN_TOKEN");
    return false;
  }
  const std::string auth = req.get_header_value("Authorization");
  constexpr std::string_view kBearer = "Bearer ";
  if (auth.size() <= kBearer.size() || auth.compare(0, kBearer.size(), kBearer) != 0 ||
      !constant_time_equal(std::string_view(auth).substr(kBearer.size()), options_.admin_token)) {
    res.set_header("WWW-Authenticate", "Bearer");
    send_error(res, 401, auth.empty() ? "missing admin token: send Authorization: Bearer <token>"
                                      : "wrong admin token");
    return false;
  }
  return true;
}

std::string Server::Impl::next_key() {
  return "http-" + std::to_string(now_millis()) + "-" +
         std::to_string(key_counter_.fetch_add(1, std::memory_order_relaxed));
}

Status Server::Impl::decode_object(JsonCodec& codec, std::string_view json, RecordRole role,
                                   bool generate_key, Record& out) {
  Status s = codec.decode(json, role, out, /*require_key=*/!generate_key);
  // The key is optional for predict: a record without one is given one.
  if (s.ok() && out.key.empty()) out.key = next_key();
  return s;
}

bool Server::Impl::split_body(const std::string& body, std::vector<std::string_view>& objects,
                              bool& is_array, httplib::Response& res) {
  const size_t first = body.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) {
    send_error(res, 400, "empty body: expected a JSON object or an array of objects");
    return false;
  }
  is_array = body[first] == '[';
  if (!is_array) {
    objects.push_back(body);
    return true;
  }
  // The array is walked once, on demand, and each element handed on as the bytes it was written
  // as: the codec parses (and fully checks) each object itself. simdjson reads past the end of
  // its input, so the body is read from a padded copy; the views point into the body.
  namespace od = simdjson::ondemand;
  thread_local od::parser parser;
  thread_local std::string padded;
  padded.assign(body);
  padded.append(simdjson::SIMDJSON_PADDING, '\0');
  auto fail = [&](const std::string& why) {
    send_error(res, 400, why);
    return false;
  };
  auto invalid = [&](simdjson::error_code e) {
    return fail(std::string("invalid JSON: ") + simdjson::error_message(e));
  };
  od::document doc;
  od::array array;
  if (auto e = parser.iterate(padded.data(), body.size(), padded.size()).get(doc)) return invalid(e);
  if (auto e = doc.get_array().get(array)) return invalid(e);
  size_t end = first + 1;  // where the last element ended
  for (auto element : array) {
    od::value v;
    if (auto e = element.get(v)) return invalid(e);
    od::json_type type;
    if (auto e = v.type().get(type)) return invalid(e);
    if (type != od::json_type::object)
      return fail("record " + std::to_string(objects.size()) + ": expected a JSON object");
    if (objects.size() == kMaxRecordsPerRequest)
      return fail("too many records: more than " + std::to_string(kMaxRecordsPerRequest) +
                  " per request");
    od::object object;
    std::string_view raw;
    if (auto e = v.get_object().get(object)) return invalid(e);
    if (auto e = object.raw_json().get(raw)) return invalid(e);
    objects.push_back(std::string_view(body).substr(size_t(raw.data() - padded.data()), raw.size()));
    end = size_t(raw.data() - padded.data()) + raw.size();
  }
  // After the last element (or the '['): only the ']' and white space.
  end = body.find_first_not_of(" \t\r\n", end);
  if (end == std::string::npos || body[end] != ']' ||
      body.find_first_not_of(" \t\r\n", end + 1) != std::string::npos)
    return fail("invalid JSON: expected a single array of objects");
  if (objects.empty()) return fail("empty array: expected at least one record");
  return true;
}

void Server::Impl::healthz(const httplib::Request&, httplib::Response& res) {
  send_json(res, 200, R"({"status":"ok"})");
}

void Server::Impl::readyz(const httplib::Request&, httplib::Response& res) {
  std::string bus_state = "ok", store_state = "ok";
  bool ready = true;
  if (auto n = bus_.partition_count(datasets_.front()->topics().requests); !n.ok()) {
    bus_state = n.status().to_string();
    ready = false;
  }
  std::string models;
  JsonWriter m(models);
  m.begin_object();
  for (size_t i = 0; i < datasets_.size(); ++i) {
    if (auto a = store_.active_model(datasets_[i]->name()); !a.ok() && store_state == "ok") {
      store_state = a.status().to_string();
      ready = false;
    }
    const int64_t v = models_.snapshot(i)->version;
    ready &= v > 0;  // version 0, the baseline, is not a model
    m.field(datasets_[i]->name(), v);
  }
  m.end_object();
  std::string body;
  JsonWriter w(body);
  w.begin_object();
  w.field("ready", ready);
  w.field("bus", bus_state);
  w.field("store", store_state);
  w.key("models");
  w.raw(models);
  w.end_object();
  send_json(res, ready ? 200 : 503, std::move(body));
}

void Server::Impl::list_datasets(const httplib::Request&, httplib::Response& res) {
  std::string body;
  JsonWriter w(body);
  w.begin_object();
  w.key("datasets");
  w.begin_array();
  for (size_t i = 0; i < datasets_.size(); ++i) {
    const DatasetSpec& ds = *datasets_[i];
    w.begin_object();
    w.field("name", ds.name());
    w.field("description", descriptions_[i]);
    w.field("key", ds.field(ds.key_index()).name);
    w.field("event_time", ds.field(ds.event_time_index()).name);
    w.field("target", ds.field(ds.target_index()).name);
    w.field("metric", ds.model().metric);
    w.key("fields");
    w.begin_array();
    for (size_t f = 0; f < ds.fields().size(); ++f) {
      const FieldSpec& spec = ds.fields()[f];
      w.begin_object();
      w.field("name", spec.name);
      w.field("type", field_type_name(spec.type));
      const char* role = spec.role == FieldRole::kOutcome ? "outcome" : "request";
      if (int(f) == ds.key_index()) role = "key";
      else if (int(f) == ds.target_index()) role = "target";
      w.field("role", role);
      w.field("required", int(f) == ds.key_index() ||
                              (spec.required && spec.role == FieldRole::kRequest &&
                               int(f) != ds.target_index()));
      if (spec.min) w.field("min", *spec.min);
      if (spec.max) w.field("max", *spec.max);
      w.end_object();
    }
    w.end_array();
    w.field("serving_version", models_.snapshot(i)->version);
    w.end_object();
  }
  w.end_array();
  w.end_object();
  send_json(res, 200, std::move(body));
}

void Server::Impl::predict(const httplib::Request& req, httplib::Response& res) {
  size_t d = 0;
  if (!dataset_or_404(req.matches[1], res, d)) return;
  const int64_t start = mono_nanos();
  auto codec = codecs_[d]->lease();
  auto snapshot = models_.snapshot(d);
  const size_t first = req.body.find_first_not_of(" \t\r\n");
  std::string body;
  JsonWriter w(body);
  if (first != std::string::npos && req.body[first] == '{') {
    // One record: the hot path, decoded straight from the body.
    Record record;
    if (Status s = decode_object(*codec, req.body, RecordRole::kRequest, true, record); !s.ok())
      return send_error(res, 400, s.message());
    const Record* row = &record;
    double prediction = 0;
    if (Status s = snapshot->predict(std::span<const Record* const>(&row, 1), &prediction); !s.ok())
      return send_error(res, 500, "scoring failed: " + s.message());
    w.begin_object();
    w.field("key", record.key);
    w.field("prediction", prediction);
    w.field("model_version", snapshot->version);
    w.end_object();
    predictions_[d].fetch_add(1, std::memory_order_relaxed);
  } else {
    std::vector<std::string_view> objects;
    bool is_array = false;
    if (!split_body(req.body, objects, is_array, res)) return;
    if (!is_array) return send_error(res, 400, "invalid JSON: expected an object or an array of objects");
    std::vector<Record> records(objects.size());
    for (size_t i = 0; i < objects.size(); ++i) {
      Status s = decode_object(*codec, objects[i], RecordRole::kRequest, true, records[i]);
      if (!s.ok()) return send_error(res, 400, "record " + std::to_string(i) + ": " + s.message());
    }
    std::vector<const Record*> rows(records.size());
    for (size_t i = 0; i < records.size(); ++i) rows[i] = &records[i];
    std::vector<double> predictions(records.size());
    if (Status s = snapshot->predict(rows, predictions.data()); !s.ok())
      return send_error(res, 500, "scoring failed: " + s.message());
    w.begin_object();
    w.field("model_version", snapshot->version);
    w.key("predictions");
    w.begin_array();
    for (size_t i = 0; i < records.size(); ++i) {
      w.begin_object();
      w.field("key", records[i].key);
      w.field("prediction", predictions[i]);
      w.end_object();
    }
    w.end_array();
    w.end_object();
    predictions_[d].fetch_add(int64_t(records.size()), std::memory_order_relaxed);
  }
  send_json(res, 200, std::move(body));
  predict_latency_[d]->record((mono_nanos() - start) / 1000);
}

void Server::Impl::events(const httplib::Request& req, httplib::Response& res) {
  size_t d = 0;
  if (!dataset_or_404(req.matches[1], res, d)) return;
  const DatasetSpec& ds = *datasets_[d];
  const std::string kind = req.has_param("kind") ? req.get_param_value("kind") : "request";
  RecordRole role;
  const std::string* topic;
  int kind_index;
  if (kind == "request") {
    role = RecordRole::kRequest, topic = &ds.topics().requests, kind_index = 0;
  } else if (kind == "outcome") {
    role = RecordRole::kOutcome, topic = &ds.topics().outcomes, kind_index = 1;
  } else if (kind == "observation") {
    role = RecordRole::kObservation, topic = &ds.topics().observations, kind_index = 2;
  } else {
    return send_error(res, 400, "kind: expected request, outcome or observation, got '" + kind + "'");
  }
  std::vector<std::string_view> objects;
  bool is_array = false;
  if (!split_body(req.body, objects, is_array, res)) return;
  // Every record is checked before any is sent: a 400 sends nothing.
  std::vector<std::string> keys(objects.size()), values(objects.size());
  {
    auto codec = codecs_[d]->lease();
    Record record;
    for (size_t i = 0; i < objects.size(); ++i) {
      Status s = decode_object(*codec, objects[i], role, false, record);
      if (!s.ok())
        return send_error(res, 400, (is_array ? "record " + std::to_string(i) + ": " : "") + s.message());
      keys[i] = record.key;
      codec->encode(record, role, values[i]);  // canonical, compact JSON of the role's fields
    }
  }
  std::vector<bus::OutMessage> out(objects.size());
  for (size_t i = 0; i < objects.size(); ++i) out[i] = bus::OutMessage{keys[i], values[i], 0, -1};
  {
    std::lock_guard lock(producer_mu_);
    if (!producer_) {
      auto p = bus_.producer();
      if (!p.ok()) return send_error(res, 503, "the bus is unavailable: " + p.status().to_string());
      producer_ = std::move(p).value();
    }
    Status s = producer_->produce(*topic, out);
    if (s.ok()) s = producer_->flush(10000);
    if (!s.ok()) return send_error(res, 503, "the bus refused the records: " + s.to_string());
  }
  events_in_[d * 3 + size_t(kind_index)].fetch_add(int64_t(out.size()), std::memory_order_relaxed);
  std::string body;
  JsonWriter w(body);
  w.begin_object();
  w.field("accepted", int64_t(out.size()));
  w.field("topic", *topic);
  w.end_object();
  send_json(res, 202, std::move(body));
}

void Server::Impl::models(const httplib::Request& req, httplib::Response& res) {
  size_t d = 0;
  if (!dataset_or_404(req.matches[1], res, d)) return;
  auto list = store_.list_models(datasets_[d]->name());
  if (!list.ok()) return send_error(res, 503, "the store is unavailable: " + list.status().to_string());
  std::sort(list->begin(), list->end(),
            [](const auto& a, const auto& b) { return a.version > b.version; });
  std::string body;
  JsonWriter w(body);
  w.begin_object();
  w.field("dataset", datasets_[d]->name());
  w.field("serving_version", models_.snapshot(d)->version);
  w.key("models");
  w.begin_array();
  for (const auto& m : *list) {
    w.begin_object();
    w.field("version", m.version);
    w.field("status", m.status);
    w.field("learner", m.learner);
    w.field("created_at_ms", m.created_at_ms);
    w.field("promoted_at_ms", m.promoted_at_ms);
    w.field("trained_rows", m.trained_rows);
    w.key("metrics");
    if (!m.metrics_json.empty() && nlohmann::json::accept(m.metrics_json))
      w.raw(m.metrics_json);
    else
      w.raw("{}");
    w.end_object();
  }
  w.end_array();
  w.end_object();
  send_json(res, 200, std::move(body));
}

void Server::Impl::promote(const httplib::Request& req, httplib::Response& res) {
  if (!admin_or_refuse(req, res)) return;
  size_t d = 0;
  if (!dataset_or_404(req.matches[1], res, d)) return;
  const std::string& name = datasets_[d]->name();
  const std::string text = req.matches[2];
  int64_t version = -1;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), version);
  const std::string unknown = "dataset '" + name + "' has no model version " + text;
  if (ec != std::errc() || ptr != text.data() + text.size() || version < 1)
    return send_error(res, 400, "a model version is a whole number from 1, not '" + text + "'");
  // The store checks that the version exists (not_found otherwise), in the same transaction.
  if (Status s = store_.promote_model(name, version); !s.ok())
    return s.code() == StatusCode::kNotFound
               ? send_error(res, 404, unknown)
               : send_error(res, 503, "promotion failed: " + s.to_string());
  logger("server")->info("{}: model v{} promoted over HTTP", name, version);
  models_.refresh_now();
  std::string body;
  JsonWriter w(body);
  w.begin_object();
  w.field("dataset", name);
  w.field("promoted", version);
  w.end_object();
  send_json(res, 200, std::move(body));
}

void Server::Impl::train(const httplib::Request& req, httplib::Response& res) {
  if (!admin_or_refuse(req, res)) return;
  size_t d = 0;
  if (!dataset_or_404(req.matches[1], res, d)) return;
  const bool started = train_.start(*datasets_[d], [this](const TrainJob::LastRun& run) {
    if (run.error.empty()) models_.refresh_now();
  });
  if (!started) return send_error(res, 409, "a training is already running; try again when it has finished");
  logger("server")->info("{}: training started over HTTP", datasets_[d]->name());
  send_json(res, 202, R"({"status":"started"})");
}

void Server::Impl::dataset_metrics(const httplib::Request& req, httplib::Response& res) {
  size_t d = 0;
  if (!dataset_or_404(req.matches[1], res, d)) return;
  int64_t limit = 200;
  if (req.has_param("limit")) {
    const std::string t = req.get_param_value("limit");
    auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), limit);
    if (ec != std::errc() || ptr != t.data() + t.size() || limit < 1 || limit > 10000)
      return send_error(res, 400, "limit: expected a whole number from 1 to 10000, got '" + t + "'");
  }
  const DatasetSpec& ds = *datasets_[d];
  auto rows = store_.recent_metrics(ds.name(), limit);
  if (!rows.ok()) return send_error(res, 503, "the store is unavailable: " + rows.status().to_string());
  const std::optional<store::DatasetStats> stats = cached_stats(d);
  if (!stats) return send_error(res, 503, "the store is unavailable: its row counts cannot be read");
  std::string body;
  JsonWriter w(body);
  w.begin_object();
  w.field("dataset", ds.name());
  w.field("metric", ds.model().metric);
  w.key("windows");
  w.begin_array();
  for (auto it = rows->rbegin(); it != rows->rend(); ++it) {  // oldest first
    w.begin_object();
    stages::write_metric_window(w, *it);
    w.end_object();
  }
  w.end_array();
  w.key("stats");
  w.begin_object();
  w.field("records", stats->records);
  w.field("labelled", stats->labelled);
  w.field("predictions", stats->predictions);
  w.field("evaluations", stats->evaluations);
  w.end_object();
  w.end_object();
  send_json(res, 200, std::move(body));
}

std::optional<store::DatasetStats> Server::Impl::cached_stats(size_t d) {
  std::lock_guard lock(store_stats_mu_);
  auto& [at, cached] = store_stats_[d];
  const int64_t now = now_millis();
  if (now - at > 5000) {
    auto s = store_.stats(*datasets_[d]);
    if (s.ok()) {
      cached = *s;
      at = now;
    }
  }
  if (at == 0) return std::nullopt;
  return cached;
}

void Server::Impl::on_metrics(size_t d, const store::MetricRow& row) {
  std::lock_guard lock(quality_mu_);
  auto& m = quality_[d];
  auto it = m.find(row.model_version);
  if (it == m.end() || it->second.window_end_ms <= row.window_end_ms) m[row.model_version] = row;
  while (m.size() > 5) m.erase(m.begin());  // the oldest versions
}

std::optional<store::MetricRow> Server::Impl::quality(size_t d, int64_t serving_version) const {
  std::lock_guard lock(quality_mu_);
  const auto& m = quality_[d];
  if (auto it = m.find(serving_version); it != m.end()) return it->second;
  const store::MetricRow* newest = nullptr;
  for (const auto& [v, r] : m)
    if (!newest || r.window_end_ms > newest->window_end_ms) newest = &r;
  if (newest) return *newest;
  return std::nullopt;
}

std::string Server::Impl::stats_json() {
  std::string out;
  JsonWriter w(out);
  w.begin_object();
  w.field("time_ms", now_millis());
  w.key("datasets");
  w.begin_object();
  for (size_t d = 0; d < datasets_.size(); ++d) {
    const std::string& name = datasets_[d]->name();
    const int64_t version = models_.snapshot(d)->version;
    w.key(name);
    w.begin_object();
    w.field("serving_version", version);
    w.key("stages");
    w.begin_object();
    for (size_t i = 0; i < options_.stages.size(); ++i) {
      const StageRef& s = options_.stages[i];
      if (s.dataset != name || !s.stats) continue;
      const auto& st = *s.stats;
      w.key(s.stage);
      w.begin_object();
      w.field("in", st.in.load());
      w.field("out", st.out.load());
      w.field("dlq", st.dlq.load());
      w.field("lag", st.lag.load());
      w.field("errors", st.errors.load());
      if (const std::string e = st.last_error(); !e.empty()) w.field("last_error", e);
      w.field("running", st.running.load());
      if (s.stage == "predict") {
        // The stage's own recent quantiles, as on its status line.
        w.field("latency_p50_us", st.latency_p50_us.load());
        w.field("latency_p99_us", st.latency_p99_us.load());
      }
      if (s.stage == "predict" || s.stage == "train") w.field("model_version", st.model_version.load());
      w.end_object();
    }
    w.end_object();
    w.key("quality");
    if (auto q = quality(d, version)) {
      w.begin_object();
      const std::string& metric = datasets_[d]->model().metric;
      w.field("metric", metric);
      w.field("value", stages::metric_figure(*q, metric));
      w.field("model_version", q->model_version);
      w.field("count", q->count);
      w.field("window_end_ms", q->window_end_ms);
      w.end_object();
    } else {
      w.null();
    }
    w.end_object();
  }
  w.end_object();
  w.end_object();
  return out;
}

void Server::Impl::prometheus(const httplib::Request&, httplib::Response& res) {
  PrometheusWriter p;
  p.family("flowcast_up", "gauge", "1 while the server runs");
  p.sample("flowcast_up", {}, int64_t(1));
  if (!options_.stages.empty()) {
    p.family("flowcast_stage_records_in_total", "counter",
             "Records a stage consumed (generated, for produce)");
    for (const auto& s : options_.stages)
      p.sample("flowcast_stage_records_in_total", {{"dataset", s.dataset}, {"stage", s.stage}},
               s.stats->in.load());
    p.family("flowcast_stage_records_out_total", "counter",
             "Records a stage wrote (rows committed, predictions published)");
    for (const auto& s : options_.stages)
      p.sample("flowcast_stage_records_out_total", {{"dataset", s.dataset}, {"stage", s.stage}},
               s.stats->out.load());
    p.family("flowcast_stage_dlq_total", "counter", "Records a stage sent to the dead-letter topic");
    for (const auto& s : options_.stages)
      p.sample("flowcast_stage_dlq_total", {{"dataset", s.dataset}, {"stage", s.stage}},
               s.stats->dlq.load());
    p.family("flowcast_consumer_lag", "gauge",
             "Messages behind the end of the stage's input topics (all partitions)");
    for (const auto& s : options_.stages)
      if (s.stage == "ingest" || s.stage == "predict" || s.stage == "evaluate")
        p.sample("flowcast_consumer_lag", {{"dataset", s.dataset}, {"stage", s.stage}},
                 s.stats->lag.load());
    p.family("flowcast_consumer_partition_lag", "gauge",
             "Messages behind the end of one input partition of the stage");
    for (const auto& s : options_.stages) {
      if (s.stage != "ingest" && s.stage != "predict" && s.stage != "evaluate") continue;
      for (const auto& l : s.stats->partition_lag())
        p.sample("flowcast_consumer_partition_lag",
                 {{"dataset", s.dataset},
                  {"stage", s.stage},
                  {"topic", l.topic},
                  {"partition", std::to_string(l.partition)}},
                 l.lag);
    }
    p.family("flowcast_stage_errors_total", "counter",
             "Failures a stage met and reported (bus or store unavailable: retried with backoff)");
    for (const auto& s : options_.stages)
      p.sample("flowcast_stage_errors_total", {{"dataset", s.dataset}, {"stage", s.stage}},
               s.stats->errors.load());
    p.family("flowcast_stage_running", "gauge", "1 while the stage's thread runs");
    for (const auto& s : options_.stages)
      p.sample("flowcast_stage_running", {{"dataset", s.dataset}, {"stage", s.stage}},
               int64_t(s.stats->running.load() ? 1 : 0));
    p.family("flowcast_evaluate_pending", "gauge",
             "Predictions and outcomes waiting for their match");
    for (const auto& s : options_.stages)
      if (s.stage == "evaluate")
        p.sample("flowcast_evaluate_pending", {{"dataset", s.dataset}}, s.stats->pending.load());
    p.family("flowcast_prediction_latency_seconds", "histogram",
             "From a request's bus timestamp to its prediction being published and stored");
    for (const auto& s : options_.stages)
      if (s.stage == "predict")
        p.histogram("flowcast_prediction_latency_seconds", {{"dataset", s.dataset}},
                    s.stats->latency.snapshot());
  } else {
    // Standalone serve: what the store holds (read at most every 5 s).
    std::vector<std::optional<store::DatasetStats>> stats(datasets_.size());
    for (size_t d = 0; d < datasets_.size(); ++d) stats[d] = cached_stats(d);
    const std::pair<const char*, int64_t store::DatasetStats::*> kinds[] = {
        {"records", &store::DatasetStats::records},
        {"labelled", &store::DatasetStats::labelled},
        {"predictions", &store::DatasetStats::predictions},
        {"evaluations", &store::DatasetStats::evaluations}};
    for (const auto& [kind, member] : kinds) {
      const std::string name = std::string("flowcast_store_") + kind;
      p.family(name, "gauge", std::string("Rows of the dataset's ") + kind + " in the store");
      for (size_t d = 0; d < datasets_.size(); ++d)
        if (stats[d]) p.sample(name, {{"dataset", datasets_[d]->name()}}, (*stats[d]).*member);
    }
  }
  p.family("flowcast_serving_model_version", "gauge",
           "Model version the server predicts with (0: the baseline)");
  for (size_t d = 0; d < datasets_.size(); ++d)
    p.sample("flowcast_serving_model_version", {{"dataset", datasets_[d]->name()}},
             models_.snapshot(d)->version);
  {
    std::vector<std::map<int64_t, store::MetricRow>> q;
    {
      std::lock_guard lock(quality_mu_);
      q = quality_;
    }
    for (const auto& [figure, member] : stages::kMetricFigures) {
      const std::string name = std::string("flowcast_quality_") + figure;
      p.family(name, "gauge",
               std::string("Rolling ") + figure + " of the newest window, per model version");
      for (size_t d = 0; d < datasets_.size(); ++d)
        for (const auto& [v, r] : q[d])
          p.sample(name, {{"dataset", datasets_[d]->name()}, {"model_version", std::to_string(v)}},
                   r.*member);
    }
    p.family("flowcast_quality_window_count", "gauge",
             "Predictions joined with outcomes in the newest window, per model version");
    for (size_t d = 0; d < datasets_.size(); ++d)
      for (const auto& [v, r] : q[d])
        p.sample("flowcast_quality_window_count",
                 {{"dataset", datasets_[d]->name()}, {"model_version", std::to_string(v)}}, r.count);
  }
  p.family("flowcast_http_requests_total", "counter", "HTTP requests answered, by route and status");
  for (size_t r = 0; r < kRouteCount; ++r)
    for (size_t c = 0; c < kCodes.size(); ++c)
      if (int64_t n = requests_[r][c].load(std::memory_order_relaxed); n > 0)
        p.sample("flowcast_http_requests_total",
                 {{"route", kRouteNames[r]}, {"code", kCodes[c] ? std::to_string(kCodes[c]) : "other"}}, n);
  p.family("flowcast_http_predictions_total", "counter", "Records scored by POST .../predict");
  for (size_t d = 0; d < datasets_.size(); ++d)
    p.sample("flowcast_http_predictions_total", {{"dataset", datasets_[d]->name()}},
             predictions_[d].load(std::memory_order_relaxed));
  p.family("flowcast_http_predict_duration_seconds", "histogram",
           "Time to answer POST .../predict, from the parsed request to the response body");
  for (size_t d = 0; d < datasets_.size(); ++d)
    p.histogram("flowcast_http_predict_duration_seconds", {{"dataset", datasets_[d]->name()}},
                predict_latency_[d]->snapshot(), 4, 1 << 20);
  p.family("flowcast_http_events_total", "counter", "Records accepted by POST .../events, by kind");
  static const char* kKinds[] = {"request", "outcome", "observation"};
  for (size_t d = 0; d < datasets_.size(); ++d)
    for (size_t k = 0; k < 3; ++k)
      p.sample("flowcast_http_events_total", {{"dataset", datasets_[d]->name()}, {"kind", kKinds[k]}},
               events_in_[d * 3 + k].load(std::memory_order_relaxed));
  p.family("flowcast_stream_connections", "gauge", "Open /v1/stream connections");
  p.sample("flowcast_stream_connections", {}, int64_t(open_streams_.load()));
  p.family("flowcast_stream_events_total", "counter", "Live events sent to /v1/stream connections");
  p.sample("flowcast_stream_events_total", {}, feed_.events());
  p.family("flowcast_stream_messages_total", "counter", "Messages the live feed read from the bus");
  p.sample("flowcast_stream_messages_total", {}, feed_.messages());
  p.family("flowcast_training_running", "gauge", "1 while a training started over HTTP runs");
  p.sample("flowcast_training_running", {}, int64_t(train_.running() ? 1 : 0));
  res.status = 200;
  res.set_content(p.take(), "text/plain; version=0.0.4; charset=utf-8");
}

void Server::Impl::stream(const httplib::Request& req, httplib::Response& res) {
  std::vector<bool> wanted(datasets_.size(), true);
  std::vector<std::string> names;
  if (req.has_param("dataset") && !req.get_param_value("dataset").empty()) {
    size_t d = 0;
    if (!dataset_or_404(req.get_param_value("dataset"), res, d)) return;
    wanted.assign(datasets_.size(), false);
    wanted[d] = true;
    names.push_back(datasets_[d]->name());
  } else {
    for (const DatasetSpec* ds : datasets_) names.push_back(ds->name());
  }
  int max_rate = kDefaultStreamRate;
  if (req.has_param("max_rate")) {
    const std::string t = req.get_param_value("max_rate");
    auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), max_rate);
    if (ec != std::errc() || ptr != t.data() + t.size() || max_rate < 1 || max_rate > kMaxStreamRate)
      return send_error(res, 400, "max_rate: expected a whole number from 1 to " +
                                      std::to_string(kMaxStreamRate) + ", got '" + t + "'");
  }
  if (open_streams_.fetch_add(1) >= options_.settings.max_streams) {
    open_streams_.fetch_sub(1);
    return send_error(res, 503, "too many open streams (server.max_streams is " +
                                    std::to_string(options_.settings.max_streams) + ")");
  }
  // The slot is held by the content provider and freed when httplib drops it: when the
  // connection ends for any reason (client gone, write failed, server stopping).
  struct Slot {
    Slot(Impl* i, std::shared_ptr<StreamSubscriber> s) : impl(i), sub(std::move(s)) {}
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    Impl* impl;
    std::shared_ptr<StreamSubscriber> sub;
    bool hello_sent = false;
    ~Slot() {
      impl->feed_.unsubscribe(sub);
      impl->open_streams_.fetch_sub(1);
    }
  };
  auto slot = std::make_shared<Slot>(this, feed_.subscribe(wanted, max_rate));
  std::string hello;
  {
    JsonWriter w(hello);
    w.begin_object();
    w.key("datasets");
    w.begin_array();
    for (const auto& n : names) w.value(n);
    w.end_array();
    w.end_object();
  }
  hello = "event: hello\ndata: " + hello + "\n\n";
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  res.set_chunked_content_provider(
      "text/event-stream",
      [this, slot, hello](size_t, httplib::DataSink& sink) -> bool {
        if (!slot->hello_sent) {
          slot->hello_sent = true;
          return sink.write(hello.data(), hello.size());
        }
        std::vector<SseEvent> events;
        // Short waits: an idle stream writes a comment every 250 ms, so a closed connection is
        // noticed (the write fails) well within a second.
        slot->sub->next(events, std::chrono::milliseconds(250));
        if (stopping_.load() || slot->sub->closed()) return false;
        if (events.empty()) return sink.write(":\n\n", 3);
        std::string chunk;
        for (const auto& e : events) chunk += *e;
        return sink.write(chunk.data(), chunk.size());
      });
}

void Server::Impl::static_asset(const httplib::Request& req, httplib::Response& res) {
  const WebAsset* asset = find_web_asset(req.path);
  if (!asset) return send_error(res, 404, "no such page: " + req.path);
  res.status = 200;
  res.set_content(asset->body.data(), asset->body.size(), std::string(asset->content_type));
  res.set_header("Cache-Control", "no-cache");
}

Server::Server(const Config& config, bus::Bus& bus, store::Store& store, ServerOptions options)
    : impl_(std::make_unique<Impl>(config, bus, store, std::move(options))) {}

Server::~Server() { stop(); }

Status Server::start() {
  Impl& s = *impl_;
  auto log = logger("server");
  const ServerSettings& cfg = s.options_.settings;
  httplib::Server& http = s.http_;
  const int threads = cfg.threads;
  http.new_task_queue = [threads] { return new httplib::ThreadPool(size_t(threads)); };
  http.set_payload_max_length(size_t(cfg.max_body_bytes));
  http.set_keep_alive_max_count(1000000);
  http.set_keep_alive_timeout(std::max<time_t>(1, time_t(cfg.keep_alive_timeout_ms / 1000)));
  http.set_tcp_nodelay(true);
  // httplib's default also sets SO_REUSEPORT, which would let a second server bind the same port
  // silently; a busy address must fail at start-up instead.
  http.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  http.set_read_timeout(10, 0);
  http.set_write_timeout(5, 0);
  // A request with neither Content-Length nor chunked encoding has no body (RFC 9112, 6.3), but
  // httplib reads a POST's body until the connection closes: `curl -X POST URL` waited out the
  // read timeout, then got a 400. Such a request is given its length, zero, before routing reads
  // the body. (The Request is httplib's own non-const object; handlers see it as const.)
  http.set_pre_routing_handler([](const httplib::Request& req, httplib::Response&) {
    if (!req.has_header("Content-Length") && !req.has_header("Transfer-Encoding"))
      const_cast<httplib::Request&>(req).set_header("Content-Length", "0");
    return httplib::Server::HandlerResponse::Unhandled;
  });
  const int64_t max_body = cfg.max_body_bytes;
  http.set_error_handler(httplib::Server::HandlerWithResponse(
      [max_body](const httplib::Request& req, httplib::Response& res) -> httplib::Server::HandlerResponse {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    std::string message;
    switch (res.status) {
      case 413: message = "request body too large (server.max_body_bytes is " + std::to_string(max_body) + ")"; break;
      case 404: message = "no such endpoint: " + req.method + " " + req.path; break;
      case 405: message = "method not allowed: " + req.method + " " + req.path; break;
      case 400: message = "bad request"; break;
      default: message = "HTTP " + std::to_string(res.status); break;
    }
    send_error(res, res.status, message);
    return httplib::Server::HandlerResponse::Handled;
  }));
  http.set_exception_handler([](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown";
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    logger("server")->error("{} {}: {}", req.method, req.path, what);
    send_error(res, 500, "internal error: " + what);
  });
  http.set_logger([&s](const httplib::Request& req, const httplib::Response& res) {
    s.requests_[route_of(req.path)][code_index(res.status)].fetch_add(1, std::memory_order_relaxed);
  });

  using R = const httplib::Request&;
  using W = httplib::Response&;
  // Most frequent first: httplib tries the patterns in order.
  http.Post(R"(/v1/datasets/([^/]+)/predict)", [&s](R q, W r) { s.predict(q, r); });
  http.Post(R"(/v1/datasets/([^/]+)/events)", [&s](R q, W r) { s.events(q, r); });
  http.Post(R"(/v1/datasets/([^/]+)/models/([^/]+)/promote)", [&s](R q, W r) { s.promote(q, r); });
  http.Post(R"(/v1/datasets/([^/]+)/train)", [&s](R q, W r) { s.train(q, r); });
  http.Get("/healthz", [&s](R q, W r) { s.healthz(q, r); });
  http.Get("/readyz", [&s](R q, W r) { s.readyz(q, r); });
  http.Get("/metrics", [&s](R q, W r) { s.prometheus(q, r); });
  http.Get("/v1/stream", [&s](R q, W r) { s.stream(q, r); });
  http.Get("/v1/datasets", [&s](R q, W r) { s.list_datasets(q, r); });
  http.Get(R"(/v1/datasets/([^/]+)/models)", [&s](R q, W r) { s.models(q, r); });
  http.Get(R"(/v1/datasets/([^/]+)/metrics)", [&s](R q, W r) { s.dataset_metrics(q, r); });
  http.Get(R"(/v1/.*)", [](R q, W r) { send_error(r, 404, "no such endpoint: GET " + q.path); });
  http.Get(R"(/.*)", [&s](R q, W r) { s.static_asset(q, r); });

  // A stream writing to a closed connection must fail the write, not kill the process.
  struct sigaction previous {};
  if (sigaction(SIGPIPE, nullptr, &previous) == 0 && previous.sa_handler == SIG_DFL)
    std::signal(SIGPIPE, SIG_IGN);

  // Quality before the first metrics message arrives: what the store holds.
  for (size_t d = 0; d < s.datasets_.size(); ++d) {
    if (auto rows = s.store_.recent_metrics(s.datasets_[d]->name(), 50); rows.ok())
      for (auto it = rows->rbegin(); it != rows->rend(); ++it) s.on_metrics(d, *it);
  }
  s.models_.start();

  const std::string where = cfg.listen();
  errno = 0;
  int port = cfg.port;
  bool bound;
  if (cfg.port == 0) {
    port = http.bind_to_any_port(cfg.host);
    bound = port > 0;
  } else {
    bound = http.bind_to_port(cfg.host, cfg.port);
  }
  if (!bound) {
    const int err = errno;
    s.models_.stop();
    std::string reason = err == EADDRINUSE ? "the address is already in use"
                         : err != 0        ? std::strerror(err)
                                           : "the address is not available";
    return Status::unavailable("cannot listen on " + where + ": " + reason);
  }
  s.port_ = port;
  s.feed_.start();
  s.listener_ = std::thread([&http] { http.listen_after_bind(); });
  // httplib's stop() does nothing until the listening loop has begun, so a stop() that came
  // earlier would leave the thread in accept() for ever: return only once it runs.
  for (int i = 0; i < 10000 && !http.is_running(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  if (!http.is_running()) {
    http.stop();
    if (s.listener_.joinable()) s.listener_.join();
    s.feed_.stop();
    s.models_.stop();
    return Status::internal("cannot listen on " + where + ": the listening thread did not start");
  }
  s.started_ = true;
  log->info("HTTP API and dashboard on {} (admin endpoints {})", url(),
            s.options_.admin_token.empty() ? "disabled: FLOWCAST_ADMIN_TOKEN is not set"
                                           : "enabled");
  return Status();
}

void Server::stop() {
  Impl& s = *impl_;
  if (!s.started_.exchange(false)) return;
  s.stopping_ = true;
  s.feed_.stop();  // closes every stream's subscriber: their providers return
  s.http_.stop();
  if (s.listener_.joinable()) s.listener_.join();
  s.models_.stop();
}

int Server::port() const { return impl_->port_.load(); }

std::string Server::url() const {
  ServerSettings where = impl_->options_.settings;
  where.port = port();
  return "http://" + where.listen();
}

}  // namespace flowcast::server
