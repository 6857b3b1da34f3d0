#include "server/live_feed.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <set>

#include "core/json_writer.h"
#include "core/log.h"
#include "core/time_util.h"
#include "stages/prediction_message.h"

namespace flowcast::server {
namespace {

// FNV-1a with a final mix: the sampling decision must not correlate with the partition, which
// Kafka's partitioner derives from murmur2 of the same key.
uint64_t key_hash(std::string_view key) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : key) h = (h ^ c) * 1099511628211ull;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return h;
}

// A bus value as one SSE data line: raw newlines can only be JSON whitespace, so they become
// spaces. Returns false when the value is not a JSON object (it would break the browser's parse).
bool as_json_line(std::string_view value, std::string& out) {
  out.assign(value);
  for (char& c : out)
    if (c == '\n' || c == '\r') c = ' ';
  const auto first = out.find_first_not_of(" \t");
  if (first == std::string::npos || out[first] != '{') return false;
  return nlohmann::json::accept(out);
}

// Events at which the sampling fraction aims, as a share of max_rate (the token bucket is the
// hard cap; aiming lower keeps it from cutting sampled keys' triples apart).
constexpr double kRateHeadroom = 0.8;

}  // namespace

LiveFeed::LiveFeed(std::vector<const DatasetSpec*> datasets, bus::Bus& bus, std::string group,
                   Callbacks callbacks)
    : datasets_(std::move(datasets)),
      bus_(bus),
      group_(std::move(group)),
      callbacks_(std::move(callbacks)),
      counts_(datasets_.size(), 0),
      rates_(datasets_.size(), 0) {
  for (size_t i = 0; i < datasets_.size(); ++i) {
    const auto& t = datasets_[i]->topics();
    routes_[t.requests].push_back({i, Kind::kRequest});
    routes_[t.predictions].push_back({i, Kind::kPrediction});
    routes_[t.outcomes].push_back({i, Kind::kOutcome});
    routes_[t.observations].push_back({i, Kind::kObservation});
    routes_[t.metrics].push_back({i, Kind::kMetrics});
  }
}

LiveFeed::~LiveFeed() { stop(); }

void LiveFeed::start() {
  stop_ = false;
  thread_ = std::thread([this] {
    try {
      run();
    } catch (const std::exception& e) {
      // Never let an exception leave the thread: the API goes on without live events.
      logger("server")->error("live feed stopped: {}", e.what());
    }
  });
}

void LiveFeed::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  std::lock_guard lock(subs_mu_);
  for (auto& s : subs_) s->close();
}

std::shared_ptr<StreamSubscriber> LiveFeed::subscribe(std::vector<bool> datasets, int max_rate) {
  auto sub = std::make_shared<StreamSubscriber>(std::move(datasets), max_rate);
  std::lock_guard lock(subs_mu_);
  double rate = 0;
  for (size_t i = 0; i < rates_.size(); ++i)
    if (sub->wants_dataset(i)) rate += rates_[i];
  sub->set_fraction(rate > 0 ? std::min(1.0, kRateHeadroom * max_rate / rate) : 1.0);
  if (stop_.load()) sub->close();
  subs_.push_back(sub);
  subs_version_.fetch_add(1);
  return sub;
}

void LiveFeed::unsubscribe(const std::shared_ptr<StreamSubscriber>& subscriber) {
  std::lock_guard lock(subs_mu_);
  subs_.erase(std::remove(subs_.begin(), subs_.end(), subscriber), subs_.end());
  subs_version_.fetch_add(1);
}

void LiveFeed::tick(double seconds) {
  std::lock_guard lock(subs_mu_);
  for (size_t i = 0; i < counts_.size(); ++i) {
    // A short moving average, so one bursty second does not swing the sampling.
    const double now = double(counts_[i]) / std::max(seconds, 1e-3);
    rates_[i] = rates_[i] == 0 ? now : 0.5 * rates_[i] + 0.5 * now;
    counts_[i] = 0;
  }
  for (auto& s : subs_) {
    double rate = 0;
    for (size_t i = 0; i < rates_.size(); ++i)
      if (s->wants_dataset(i)) rate += rates_[i];
    s->set_fraction(rate > 0 ? std::min(1.0, kRateHeadroom * s->max_rate() / rate) : 1.0);
  }
  if (callbacks_.stats_json) {
    std::string data = callbacks_.stats_json();
    auto ev = std::make_shared<const std::string>("event: stats\ndata: " + data + "\n\n");
    for (auto& s : subs_) s->broadcast(ev);
  }
}

void LiveFeed::handle(const bus::MessageView& m, const Route& route,
                      const std::vector<std::shared_ptr<StreamSubscriber>>& subs) {
  const DatasetSpec& ds = *datasets_[route.dataset];
  if (route.kind == Kind::kMetrics) {
    if (!callbacks_.on_metrics) return;
    store::MetricRow r;
    // Not a metrics record flowcast wrote for this dataset: nothing to show.
    if (stages::decode_metrics(m.value, ds.name(), r).ok()) callbacks_.on_metrics(route.dataset, r);
    return;
  }
  ++counts_[route.dataset];
  if (subs.empty()) return;
  const uint64_t h = key_hash(m.key);
  SseEvent event;
  bool built = false;
  for (const auto& s : subs) {
    if (!s->samples(route.dataset, h)) continue;
    if (!built) {
      built = true;
      std::string line;
      JsonWriter w(line);
      const char* type = "request";
      w.begin_object();
      w.field("dataset", ds.name());
      if (route.kind == Kind::kPrediction) {
        type = "prediction";
        stages::PredictionMessage p;
        if (!stages::decode_prediction(m.value, p).ok()) return;
        w.field("key", p.key);
        w.field("ts_ms", m.timestamp_ms);
        w.field("model_version", p.model_version);
        w.field("prediction", p.prediction);
      } else {
        if (route.kind == Kind::kOutcome) type = "outcome";
        if (route.kind == Kind::kObservation) type = "observation";
        std::string record;
        if (!as_json_line(m.value, record)) return;
        w.field("key", m.key);
        w.field("ts_ms", m.timestamp_ms);
        w.key("record");
        w.raw(record);
      }
      w.end_object();
      event = std::make_shared<const std::string>(std::string("event: ") + type +
                                                  "\ndata: " + line + "\n\n");
    }
    if (s->offer(event)) events_.fetch_add(1, std::memory_order_relaxed);
  }
}

void LiveFeed::run() {
  auto log = logger("server");
  std::vector<std::string> topics;
  for (const auto& [topic, _] : routes_) topics.push_back(topic);
  std::unique_ptr<bus::Consumer> consumer;
  // Partitions assigned but not yet moved to their end; their messages are dropped meanwhile.
  std::set<bus::TopicPartition> pending_end;
  bus::MessageBatch batch;
  std::vector<std::shared_ptr<StreamSubscriber>> subs;
  uint64_t subs_seen = ~uint64_t(0);
  auto last_tick = std::chrono::steady_clock::now();
  bool warned = false;

  while (!stop_.load()) {
    const auto now = std::chrono::steady_clock::now();
    const double since_tick = std::chrono::duration<double>(now - last_tick).count();
    if (since_tick >= 1.0) {
      tick(since_tick);
      last_tick = now;
    }
    if (subs_version_.load() != subs_seen) {
      std::lock_guard lock(subs_mu_);
      subs = subs_;
      subs_seen = subs_version_.load();
    }
    if (!consumer) {
      Status s = [&]() -> Status {
        FC_ASSIGN_OR_RETURN(auto c, bus_.consumer(group_));
        bus::RebalanceListener listener;
        listener.on_assigned = [&pending_end](const std::vector<bus::TopicPartition>& tps) {
          pending_end.insert(tps.begin(), tps.end());
        };
        listener.on_revoked = [&pending_end](const std::vector<bus::TopicPartition>& tps) {
          for (const auto& tp : tps) pending_end.erase(tp);
        };
        FC_RETURN_IF_ERROR(c->subscribe(topics, std::move(listener)));
        consumer = std::move(c);
        return Status();
      }();
      if (!s.ok()) {
        if (!warned) log->warn("live stream: cannot read the bus yet: {}", s.to_string());
        warned = true;
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
        continue;
      }
      connected_ = true;
      if (warned) log->info("live stream: reading the bus");
      warned = false;
    }
    Status s = consumer->poll(batch, 2000, 100);
    if (!s.ok()) {
      if (!warned) log->warn("live stream: {}", s.to_string());
      warned = true;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      continue;
    }
    std::set<bus::TopicPartition> dropping;
    if (!pending_end.empty()) {
      dropping = pending_end;
      for (const auto& lag : consumer->lag()) {
        if (!pending_end.count(lag.tp)) continue;
        if (consumer->seek(lag.tp, lag.end_offset).ok()) pending_end.erase(lag.tp);
      }
    }
    for (size_t i = 0; i < batch.size(); ++i) {
      const bus::MessageView m = batch[i];
      if (!dropping.empty() &&
          dropping.count(bus::TopicPartition{std::string(m.topic), m.partition}))
        continue;
      messages_.fetch_add(1, std::memory_order_relaxed);
      auto it = routes_.find(m.topic);
      if (it == routes_.end()) continue;
      for (const Route& r : it->second) handle(m, r, subs);
    }
  }
  connected_ = false;
}

}  // namespace flowcast::server
