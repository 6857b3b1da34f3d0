#include "stages/produce_stage.h"

#include <algorithm>
#include <iterator>
#include <queue>
#include <string_view>
#include <random>

#include "core/config_error.h"
#include "core/json_codec.h"
#include "core/log.h"
#include "core/time_util.h"
#include "stages/csv_replay_source.h"
#include "stages/realty_generator.h"
#include "stages/stage_util.h"
#include "stages/taxi_generator.h"

namespace flowcast::stages {
namespace {

// The built-in event sources, in the order messages list them.
constexpr std::string_view kGenerators[] = {"taxi", "realty", "csv"};

std::string generator_list() {
  std::string out;
  for (size_t i = 0; i < std::size(kGenerators); ++i)
    out += std::string(i == 0 ? "" : i + 1 == std::size(kGenerators) ? " or " : ", ") +
           std::string(kGenerators[i]);
  return out;
}

}  // namespace

ProduceSettings ProduceSettings::parse(const ConfigNode& node, const DatasetSpec& dataset) {
  node.expect_keys({"generator", "csv", "loops", "rate", "speedup", "limit", "seed", "start_time",
                    "cities", "streets", "request_share"});
  ProduceSettings s;
  s.csv = node.get_string("csv", "");
  // Without a generator or a CSV, a dataset named after a built-in emulator gets it; any other
  // dataset has no source of its own (see has_source()).
  const bool builtin = dataset.name() != "csv" &&
                       std::find(std::begin(kGenerators), std::end(kGenerators), dataset.name()) !=
                           std::end(kGenerators);
  s.generator = node.get_string("generator", !s.csv.empty() ? "csv" : builtin ? dataset.name() : "");
  if (!s.generator.empty() && std::find(std::begin(kGenerators), std::end(kGenerators), s.generator) ==
      std::end(kGenerators))
    node["generator"].fail("unknown generator '" + s.generator + "' (expected " +
                           generator_list() + ")");
  if (!s.csv.empty() && s.generator != "csv") s.generator = "csv";
  if (s.generator == "csv" && s.csv.empty())
    node["csv"].fail("the csv generator needs a file to replay (--csv PATH)");
  s.loops = node.get_int("loops", 1, 1, 1000000);
  s.rate = node.get_double("rate", 200);
  if (s.rate <= 0 || s.rate > 10'000'000)
    node["rate"].fail("must be more than 0 and at most 10,000,000 per second, got " +
                      node["rate"].as_string());
  s.speedup = node.get_double("speedup", 60);
  if (s.speedup < 1) node["speedup"].fail("must be at least 1, got " + node["speedup"].as_string());
  s.limit = node.get_int("limit", 0, 0);
  s.seed = static_cast<uint64_t>(node.get_int("seed", 0, 0));
  std::string start = node.get_string("start_time", "2016-03-07 00:00:00");
  auto t = parse_timestamp_micros(start);
  if (!t) node["start_time"].fail("expected a timestamp such as 2016-03-07 00:00:00");
  s.start_time_us = *t;
  s.cities = node.get_string("cities", "");
  s.streets = node.get_string("streets", "");
  s.request_share = node.get_double("request_share", 0.2);
  if (s.request_share < 0 || s.request_share > 1) node["request_share"].fail("must be between 0 and 1");
  return s;
}

Result<std::unique_ptr<EventSource>> make_event_source(const ProduceSettings& s,
                                                       const DatasetSpec& dataset) {
  if (s.generator == "csv") {
    if (s.csv.empty())
      throw ConfigError("stages.produce.csv", "the csv generator needs a file (--csv PATH)");
    FC_ASSIGN_OR_RETURN(auto src, CsvReplaySource::open(s.csv, dataset, s.loops, s.limit));
    return std::unique_ptr<EventSource>(std::move(src));
  }
  if (s.generator == "taxi") {
    uint64_t seed = s.seed ? s.seed : std::random_device{}();
    // Keys unique across runs: a run prefix from the wall clock, then a counter.
    std::string prefix = "t" + std::to_string(now_millis() % 100000000000LL) + "-";
    if (s.seed) prefix = "t" + std::to_string(s.seed) + "-";
    return std::unique_ptr<EventSource>(
        std::make_unique<TaxiGenerator>(dataset, seed, s.limit, prefix));
  }
  if (s.generator == "realty") {
    std::vector<RealtyCity> cities = builtin_cities();
    std::vector<RealtyStreet> streets = builtin_streets();
    if (!s.cities.empty()) {
      FC_ASSIGN_OR_RETURN(cities, load_cities(s.cities));
    }
    if (!s.streets.empty()) {
      FC_ASSIGN_OR_RETURN(streets, load_streets(s.streets));
    }
    uint64_t seed = s.seed ? s.seed : std::random_device{}();
    std::string prefix = "r" + std::to_string(s.seed ? int64_t(s.seed) : now_millis() % 100000000000LL) + "-";
    return std::unique_ptr<EventSource>(std::make_unique<RealtyGenerator>(
        dataset, std::move(cities), std::move(streets), seed, s.limit, s.request_share, prefix));
  }
  throw ConfigError("stages.produce.generator",
                    "unknown generator '" + s.generator + "' (expected " + generator_list() + ")");
}

void check_event_source(const ProduceSettings& settings, const DatasetSpec& dataset) {
  Status failed;
  try {
    auto source = make_event_source(settings, dataset);
    if (!source.ok()) failed = source.status();
  } catch (const ConfigError& e) {
    // A generator names the field it misses under datasets.<name>.fields; say which generator.
    if (e.path().rfind("stages.produce", 0) == 0) throw;
    throw ConfigError("stages.produce.generator", "the " + settings.generator +
                                                      " generator does not fit dataset '" +
                                                      dataset.name() + "': " + e.what());
  }
  if (!failed.ok())
    throw ConfigError(settings.generator == "csv" ? "stages.produce.csv" : "stages.produce",
                      failed.message());
}

ProduceStage::ProduceStage(const StageContext& ctx, ProduceSettings settings)
    : ctx_(ctx), settings_(std::move(settings)) {}

Status ProduceStage::run(std::stop_token stop) {
  auto log = logger("produce");
  const DatasetSpec& ds = ctx_.dataset;
  FC_ASSIGN_OR_RETURN(auto source, make_event_source(settings_, ds));
  FC_ASSIGN_OR_RETURN(auto producer, ctx_.bus.producer());
  JsonCodec codec(ds);

  struct Pending {
    int64_t due_ns;
    std::string key, value;
    bool operator>(const Pending& o) const { return due_ns > o.due_ns; }
  };
  std::priority_queue<Pending, std::vector<Pending>, std::greater<>> outcomes;
  // One outbox per topic: a tick may emit requests, observations and outcomes.
  struct Outbox {
    std::vector<std::string> keys, values;
  };
  Outbox requests, observations, due_outcomes;
  std::vector<bus::OutMessage> msgs;

  auto send = [&](Outbox& box, const std::string& topic) -> Status {
    if (box.values.empty()) return Status();
    msgs.clear();
    for (size_t i = 0; i < box.values.size(); ++i) msgs.push_back({box.keys[i], box.values[i]});
    Status s = retry_transient(stop, "produce", "producing to " + topic,
                               [&] { return producer->produce(topic, msgs); },
                               [&](const Status& e) { stats_.set_error(e.to_string()); });
    if (s.ok()) stats_.out.fetch_add(int64_t(box.values.size()), std::memory_order_relaxed);
    box.keys.clear();
    box.values.clear();
    return s;
  };
  auto send_due_outcomes = [&](int64_t now_ns) -> Status {
    while (!outcomes.empty() && outcomes.top().due_ns <= now_ns) {
      due_outcomes.keys.push_back(outcomes.top().key);
      due_outcomes.values.push_back(outcomes.top().value);
      outcomes.pop();
    }
    return send(due_outcomes, ds.topics().outcomes);
  };

  const std::string what = settings_.generator == "csv"      ? settings_.csv
                           : settings_.generator == "realty" ? "realty listings and price requests"
                           : settings_.generator == "taxi"   ? "taxi trips"
                                                             : settings_.generator + " events";
  log->info("{}: producing {} at {:.0f}/s (speed-up {:.0f}x){}", ds.name(), what,
            settings_.rate, settings_.speedup,
            settings_.limit ? ", " + std::to_string(settings_.limit) + " events" : "");
  stats_.running = true;
  const int64_t start_ns = mono_nanos();
  int64_t emitted = 0;
  bool exhausted = false;
  GeneratedEvent ev;
  while (!stop.stop_requested()) {
    const int64_t now = mono_nanos();
    const double elapsed_s = double(now - start_ns) / 1e9;
    int64_t due = static_cast<int64_t>(elapsed_s * settings_.rate) - emitted;
    due = std::min<int64_t>(due, 20000);
    const int64_t sim_us = settings_.start_time_us + int64_t(elapsed_s * settings_.speedup * 1e6);
    while (!exhausted && due-- > 0) {
      if (!source->next(ev, sim_us)) {
        exhausted = true;
        break;
      }
      ++emitted;
      stats_.in.fetch_add(1, std::memory_order_relaxed);
      if (ev.kind == GeneratedEvent::Kind::kObservation) {
        observations.keys.push_back(ev.record.key);
        observations.values.emplace_back();
        codec.encode(ev.record, RecordRole::kObservation, observations.values.back());
        continue;
      }
      requests.keys.push_back(ev.record.key);
      requests.values.emplace_back();
      codec.encode(ev.record, RecordRole::kRequest, requests.values.back());
      if (ev.kind == GeneratedEvent::Kind::kRequestThenOutcome) {
        Pending p;
        p.due_ns = now + int64_t(ev.outcome_delay_s / settings_.speedup * 1e9);
        p.key = ev.record.key;
        codec.encode(ev.record, RecordRole::kOutcome, p.value);
        outcomes.push(std::move(p));
      }
    }
    FC_RETURN_IF_ERROR(send(observations, ds.topics().observations));
    FC_RETURN_IF_ERROR(send(requests, ds.topics().requests));
    FC_RETURN_IF_ERROR(send_due_outcomes(mono_nanos()));
    stats_.pending = int64_t(outcomes.size());  // outcomes produced later, when they are due
    if (exhausted && outcomes.empty()) break;
    // Sleep until the next request or outcome is due, at most 20 ms.
    int64_t next_ns = start_ns + int64_t(double(emitted + 1) / settings_.rate * 1e9);
    if (exhausted) next_ns = INT64_MAX;
    if (!outcomes.empty()) next_ns = std::min(next_ns, outcomes.top().due_ns);
    int64_t wait_ms = std::clamp<int64_t>((next_ns - mono_nanos()) / 1000000, 0, 20);
    if (wait_ms > 0) sleep_for(stop, wait_ms);
  }
  // Stopping: send every outcome still waiting so a bounded run loses none.
  FC_RETURN_IF_ERROR(send_due_outcomes(INT64_MAX));
  Status f = producer->flush(30000);
  if (!f.ok()) log->error("flush at stop: {}", f.to_string());
  if (source->skipped()) log->warn("{} source rows were skipped as unreadable", source->skipped());
  log->info("{}: produced {} events", ds.name(), emitted);
  finished_ = true;
  stats_.running = false;
  return f;
}

}  // namespace flowcast::stages
