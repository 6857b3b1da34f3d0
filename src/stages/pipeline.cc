#include "stages/pipeline.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <mutex>
#include <thread>

#include "core/config_error.h"
#include "core/log.h"
#include "core/time_util.h"
#include "ml/feature_pipeline.h"
#include "ml/learner.h"
#include "stages/evaluate_stage.h"
#include "stages/ingest_stage.h"
#include "stages/predict_stage.h"
#include "stages/prediction_message.h"
#include "stages/produce_stage.h"
#include "stages/stage_util.h"
#include "stages/train_stage.h"

namespace flowcast::stages {

Pipeline::Pipeline(const Config& config, bus::Bus& bus, store::Store& store,
                   const std::vector<std::string>& stage_names,
                   const std::vector<std::string>& datasets)
    : config_(config), bus_(bus), store_(store) {
  if (datasets.empty()) {
    for (const auto& d : config.datasets()) datasets_.push_back(&d);
  } else {
    for (const auto& n : datasets) datasets_.push_back(&config.dataset(n));
  }
  for (const DatasetSpec* ds : datasets_) {
    StageContext ctx{config, *ds, bus, store};
    for (const auto& name : stage_names) {
      std::unique_ptr<Stage> s;
      if (name == "produce") {
        ProduceSettings settings = ProduceSettings::parse(config.stage("produce"), *ds);
        if (!settings.has_source()) {
          const TopicNames& t = ds->topics();
          logger("run")->info(
              "{}: no built-in generator and no --csv, so no produce stage: send records to {} "
              "(requests), {} (outcomes) or {} (observations), or POST /v1/datasets/{}/events",
              ds->name(), t.requests, t.outcomes, t.observations, ds->name());
          continue;
        }
        s = std::make_unique<ProduceStage>(ctx, std::move(settings));
      } else if (name == "ingest") {
        s = std::make_unique<IngestStage>(ctx, IngestSettings::parse(config.stage("ingest")));
      } else if (name == "train") {
        s = std::make_unique<TrainStage>(ctx, TrainSettings::parse(config.stage("train")));
      } else if (name == "predict") {
        s = std::make_unique<PredictStage>(ctx, PredictSettings::parse(config.stage("predict")));
      } else if (name == "evaluate") {
        s = std::make_unique<EvaluateStage>(ctx, EvaluateSettings::parse(config.stage("evaluate")));
      } else {
        throw ConfigError("stages", "unknown stage '" + name +
                                        "' (expected produce, ingest, train, predict or evaluate)");
      }
      entries_.push_back({ds->name(), std::move(s)});
    }
  }
  last_in_.assign(entries_.size(), 0);
  last_out_.assign(entries_.size(), 0);
}

Pipeline::~Pipeline() = default;

namespace {

std::vector<const DatasetSpec*> select(const Config& config,
                                       const std::vector<std::string>& datasets) {
  std::vector<const DatasetSpec*> selected;
  for (const auto& n : datasets) selected.push_back(&config.dataset(n));
  if (datasets.empty())
    for (const auto& d : config.datasets()) selected.push_back(&d);
  return selected;
}

}  // namespace

void Pipeline::validate_datasets(const Config& config, const std::vector<std::string>& datasets) {
  // The pipeline's own constructor holds the one table of transforms; building it unfitted is
  // cheap and checks everything a spec can get wrong about its features.
  for (const DatasetSpec* ds : select(config, datasets)) {
    ml::FeaturePipeline::from_spec(*ds);
    // A learner parameter that training would refuse (an unknown objective, max_depth: banana)
    // fails here, not at the first training minutes later: one round on a few generated rows.
    if (Status s = ml::check_learner(ds->model().learner, ds->model().params); !s.ok())
      throw ConfigError("datasets." + ds->name(), s.message());
  }
}

void Pipeline::validate(const Config& config, const std::vector<std::string>& stage_names,
                        const std::vector<std::string>& datasets) {
  validate_datasets(config, datasets);
  for (const DatasetSpec* d : select(config, datasets)) {
    const DatasetSpec& ds = *d;
    for (const auto& name : stage_names) {
      if (name == "produce") {
        ProduceSettings settings = ProduceSettings::parse(config.stage("produce"), ds);
        if (settings.has_source()) check_event_source(settings, ds);
      }
      else if (name == "ingest") IngestSettings::parse(config.stage("ingest"));
      else if (name == "train") TrainSettings::parse(config.stage("train"));
      else if (name == "predict") PredictSettings::parse(config.stage("predict"));
      else if (name == "evaluate") EvaluateSettings::parse(config.stage("evaluate"));
      else throw ConfigError("stages", "unknown stage '" + name + "'");
    }
  }
}

Status Pipeline::prepare() {
  for (const DatasetSpec* ds : datasets_) {
    const auto& t = ds->topics();
    for (const auto& topic : {t.requests, t.outcomes, t.observations, t.predictions, t.metrics, t.dlq}) {
      Status s = bus_.ensure_topic(topic, bus::TopicSettings{});
      if (!s.ok()) return s.with_context("creating topic " + topic + " on " + bus_.describe());
    }
    Status s = store_.ensure_dataset(*ds);
    if (!s.ok()) return s.with_context("preparing tables of " + ds->name() + " in " + store_.describe());
  }
  return Status();
}

std::string Pipeline::status_line(double interval_s) {
  std::string line;
  for (const DatasetSpec* ds : datasets_) {
    int64_t produced = -1, ingested = -1, predicted = -1, lag = 0, version = -1, joined = -1,
            dlq = 0, p99 = -1, held = 0;
    double rps = 0, quality = std::numeric_limits<double>::quiet_NaN(), pps = 0;
    for (size_t i = 0; i < entries_.size(); ++i) {
      if (entries_[i].dataset != ds->name()) continue;
      Stage& s = *entries_[i].stage;
      const auto& st = s.stats();
      int64_t in = st.in.load(), out = st.out.load();
      double in_rate = double(in - last_in_[i]) / interval_s;
      double out_rate = double(out - last_out_[i]) / interval_s;
      last_in_[i] = in;
      last_out_[i] = out;
      dlq += st.dlq.load();
      if (s.name() != "train") lag += st.lag.load();
      if (s.name() == "produce") {
        produced = in;
        rps = in_rate;
        held = st.pending.load();
      } else if (s.name() == "ingest") {
        ingested = out;
      } else if (s.name() == "predict") {
        predicted = out;
        pps = out_rate;
        version = st.model_version.load();
        p99 = st.latency_p99_us.load();
      } else if (s.name() == "evaluate") {
        joined = out;
        quality = st.quality.load();
      } else if (s.name() == "train" && version < 0) {
        version = st.model_version.load();
      }
    }
    char buf[512];
    int n = std::snprintf(buf, sizeof buf, "%s%s:", line.empty() ? "" : " | ", ds->name().c_str());
    std::string part(buf, size_t(n));
    auto add = [&](const char* fmt, auto... args) {
      std::snprintf(buf, sizeof buf, fmt, args...);
      part += buf;
    };
    if (produced >= 0) add(" produced %lld (%.0f/s)", (long long)produced, rps);
    // A source that has run out still holds the outcomes not yet due: the run is not stuck.
    if (produced >= 0 && rps == 0 && held > 0) add(", %lld outcomes not yet due", (long long)held);
    if (ingested >= 0) add(" ingested %lld", (long long)ingested);
    if (predicted >= 0) add(" predicted %lld (%.0f/s)", (long long)predicted, pps);
    if (p99 > 0) add(" p99 %.1fms", double(p99) / 1000);
    add(" lag %lld", (long long)lag);
    if (version >= 0) add(" model v%lld", (long long)version);
    if (joined >= 0) add(" joined %lld", (long long)joined);
    if (!std::isnan(quality)) part += " " + format_metric(ds->model().metric, quality);
    if (dlq > 0) add(" dlq %lld", (long long)dlq);
    line += part;
  }
  return line;
}

Status Pipeline::run(const RunOptions& options, const std::atomic<int>& interrupted) {
  auto log = logger("run");
  std::mutex mu;
  Status first_failure;
  std::vector<std::jthread> threads;
  std::vector<std::stop_source> stops(entries_.size());
  std::atomic<int> failed{0};
  for (size_t i = 0; i < entries_.size(); ++i) {
    Stage* stage = entries_[i].stage.get();
    std::string label = stage->name() + "[" + entries_[i].dataset + "]";
    std::stop_token token = stops[i].get_token();
    threads.emplace_back([stage, label, token, &mu, &first_failure, &failed] {
      Status s;
      try {
        s = stage->run(token);
      } catch (const std::exception& e) {
        s = Status::internal(std::string("unexpected exception: ") + e.what());
      } catch (...) {
        s = Status::internal("unexpected exception");
      }
      stage->stats().running = false;
      if (!s.ok() && !token.stop_requested()) {
        logger("run")->error("{} stopped: {}", label, s.to_string());
        std::lock_guard lock(mu);
        if (first_failure.ok()) first_failure = s.with_context(label);
        failed.fetch_add(1);
      }
    });
  }

  const bool tty = isatty(STDERR_FILENO);
  const int64_t start = mono_nanos();
  int64_t last_status = start;
  auto elapsed_ms = [&] { return (mono_nanos() - start) / 1000000; };
  auto print_status = [&](bool force) {
    int64_t now = mono_nanos();
    double interval = double(now - last_status) / 1e9;
    if (!options.status_line || (!force && interval * 1000 < double(options.status_interval_ms)))
      return;
    last_status = now;
    std::string line = status_line(interval > 0 ? interval : 1);
    if (tty) std::fprintf(stderr, "\r\033[K%s", line.c_str());
    else if (int64_t(elapsed_ms() / options.status_interval_ms) % 5 == 0 || force)
      log->info("{}", line);
  };
  auto is_producer = [&](size_t i) { return entries_[i].stage->name() == "produce"; };
  auto producers_done = [&] {
    for (size_t i = 0; i < entries_.size(); ++i)
      if (is_producer(i) && !static_cast<ProduceStage*>(entries_[i].stage.get())->finished())
        return false;
    return true;
  };
  bool has_producer = false;
  for (size_t i = 0; i < entries_.size(); ++i) has_producer |= is_producer(i);

  // Phase 1: run until the duration, an interrupt, a failure, or bounded producers finish.
  while (!interrupted.load() && failed.load() == 0) {
    if (options.duration_ms > 0 && elapsed_ms() >= options.duration_ms) break;
    if (has_producer && producers_done()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    print_status(false);
  }
  // Phase 2: stop producers (they send their waiting outcomes), then let consumers drain.
  for (size_t i = 0; i < entries_.size(); ++i)
    if (is_producer(i)) stops[i].request_stop();
  for (size_t i = 0; i < entries_.size(); ++i)
    if (is_producer(i) && threads[i].joinable()) threads[i].join();
  if (failed.load() == 0 && interrupted.load() < 2 && has_producer) {
    const int64_t drain_start = mono_nanos();
    int quiet = 0;
    while (interrupted.load() < 2 && failed.load() == 0 &&
           (mono_nanos() - drain_start) / 1000000 < options.drain_timeout_ms) {
      bool all_idle = true;
      for (size_t i = 0; i < entries_.size(); ++i) {
        const auto& st = entries_[i].stage->stats();
        const std::string n = entries_[i].stage->name();
        if (n == "ingest" || n == "predict" || n == "evaluate")
          all_idle &= st.idle.load() && st.pending.load() == 0;
      }
      quiet = all_idle ? quiet + 1 : 0;
      if (quiet >= 10) break;  // idle for half a second
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      print_status(false);
    }
    if (quiet < 10) {
      std::string behind;
      for (const auto& e : entries_) {
        const auto& st = e.stage->stats();
        const std::string n = e.stage->name();
        if ((n == "ingest" || n == "predict" || n == "evaluate") &&
            (!st.idle.load() || st.pending.load() != 0))
          behind += fmt::format(" {}[{}] (lag {}, waiting {})", n, e.dataset, st.lag.load(),
                                st.pending.load());
      }
      log->warn("stopping before every stage caught up (drain timeout or interrupt):{}", behind);
    }
  }
  // Phase 3: stop the rest; evaluate publishes its last figures on the way out.
  for (auto& s : stops) s.request_stop();
  for (auto& t : threads)
    if (t.joinable()) t.join();
  print_status(true);
  if (tty && options.status_line) std::fprintf(stderr, "\n");
  std::lock_guard lock(mu);
  return first_failure;
}

}  // namespace flowcast::stages
