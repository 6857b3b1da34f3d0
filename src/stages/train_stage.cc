#include "stages/train_stage.h"

#include "stages/prediction_message.h"

#include "core/log.h"
#include "core/time_util.h"
#include "ml/trainer.h"
#include "stages/stage_util.h"

namespace flowcast::stages {

TrainSettings TrainSettings::parse(const ConfigNode& node) {
  node.expect_keys({"min_rows", "retrain_rows", "retrain_interval", "max_rows",
                    "validation_fraction", "poll_interval", "auto_promote", "mature_after"});
  TrainSettings s;
  s.min_rows = node.get_int("min_rows", 1000, 10);
  s.retrain_rows = node.get_int("retrain_rows", 10000, 1);
  s.retrain_interval_ms = node.get_duration_ms("retrain_interval", 300000);
  s.max_rows = node.get_int("max_rows", 1000000, 10);
  s.validation_fraction = node.get_double("validation_fraction", 0.1);
  if (s.validation_fraction < 0 || s.validation_fraction >= 0.9)
    node["validation_fraction"].fail("must be at least 0 and below 0.9");
  s.poll_interval_ms = node.get_duration_ms("poll_interval", 2000);
  s.auto_promote = node.get_bool("auto_promote", true);
  s.mature_after_ms = node.get_duration_ms("mature_after", 0);
  return s;
}

TrainStage::TrainStage(const StageContext& ctx, TrainSettings settings)
    : ctx_(ctx), settings_(settings) {}

Result<int64_t> TrainStage::train_once() {
  auto log = logger("train");
  const DatasetSpec& ds = ctx_.dataset;
  std::vector<Record> rows;
  const int64_t read_start = mono_nanos();
  FC_RETURN_IF_ERROR(ctx_.store.scan_labelled(ds, settings_.max_rows,
                                              [&](const Record& r) { rows.push_back(r); }));
  const double read_s = double(mono_nanos() - read_start) / 1e9;
  if (settings_.mature_after_ms > 0 && !rows.empty()) {
    // Rows arrive oldest first: keep those at least mature_after older than the newest.
    const int et = ds.event_time_index();
    const double cutoff = rows.back().number(et) - double(settings_.mature_after_ms) * 1000.0;
    size_t keep = 0;
    while (keep < rows.size() && rows[keep].number(et) <= cutoff) ++keep;
    rows.resize(keep);
  }
  if (int64_t(rows.size()) < settings_.min_rows)
    return Status::unavailable("only " + std::to_string(rows.size()) + " mature labelled rows (" +
                               "min_rows is " + std::to_string(settings_.min_rows) +
                               "; --set stages.train.min_rows=N trains on fewer)");
  const int64_t n = int64_t(rows.size());
  ml::TrainOptions opts;
  opts.validation_fraction = settings_.validation_fraction;
  FC_ASSIGN_OR_RETURN(auto outcome, ml::train_model(ds, std::move(rows), opts));
  outcome.model->card()["training"]["read_seconds"] = read_s;
  FC_ASSIGN_OR_RETURN(std::string artifact, outcome.model->serialize());
  store::ModelInfo info;
  info.dataset = ds.name();
  info.created_at_ms = now_millis();
  info.learner = outcome.model->learner_kind();
  info.trained_rows = n;
  nlohmann::json m = {{"validation", ml::metrics_to_json(outcome.validation)},
                      {"training", outcome.model->card()["training"]}};
  info.metrics_json = m.dump();
  FC_ASSIGN_OR_RETURN(int64_t version,
                      ctx_.store.register_model(info, artifact, settings_.auto_promote));
  stats_.model_version = version;
  const ml::RegressionMetrics& v = outcome.validation;
  store::MetricRow figures;
  figures.mae = v.mae, figures.rmse = v.rmse, figures.rmsle = v.rmsle, figures.mape = v.mape,
  figures.within_30 = v.within_30;
  stats_.quality = metric_figure(figures, ds.model().metric);
  stats_.out.fetch_add(1);
  const std::string shown = format_metrics(figures, ds.model().metric);
  log->info("{}: model v{} ({}) trained on {} rows in {:.2f}s (read {:.2f}s): validation {}{}",
            ds.name(), version, info.learner, n, outcome.seconds, read_s, shown,
            settings_.auto_promote ? "; now serving" : "; candidate (auto_promote is off)");
  return version;
}

Status TrainStage::run(std::stop_token stop) {
  auto log = logger("train");
  const DatasetSpec& ds = ctx_.dataset;
  FC_RETURN_IF_ERROR(ctx_.store.ensure_dataset(ds));
  stats_.running = true;
  int64_t trained_at_rows = -1;
  int64_t trained_at_ms = 0;
  if (auto active = ctx_.store.active_model(ds.name()); active.ok() && active->has_value()) {
    trained_at_rows = (*active)->trained_rows;
    trained_at_ms = now_millis();
    stats_.model_version = (*active)->version;
    log->info("{}: v{} is serving; retraining after {} new labelled rows or {}s", ds.name(),
              (*active)->version, settings_.retrain_rows, settings_.retrain_interval_ms / 1000);
  }
  while (sleep_for(stop, trained_at_rows < 0 ? std::min<int64_t>(settings_.poll_interval_ms, 1000)
                                             : settings_.poll_interval_ms)) {
    // An upper bound first (PostgreSQL counts one table for it instead of joining two): while
    // even the bound says training is not due, the exact count is not needed.
    auto bound = ctx_.store.count_labelled_at_most(ds);
    if (!bound.ok()) {
      stats_.set_error(bound.status().to_string());
      log->warn("counting labelled rows: {}", bound.status().to_string());
      continue;
    }
    auto due_at = [&](int64_t count) {
      if (trained_at_rows < 0) return count >= settings_.min_rows;
      int64_t fresh = count - std::min(trained_at_rows, count);
      return fresh >= settings_.retrain_rows ||
             (fresh > 0 && now_millis() - trained_at_ms >= settings_.retrain_interval_ms);
    };
    stats_.in = *bound;
    if (!due_at(*bound)) continue;
    auto count = ctx_.store.count_labelled(ds);
    if (!count.ok()) {
      stats_.set_error(count.status().to_string());
      log->warn("counting labelled rows: {}", count.status().to_string());
      continue;
    }
    stats_.in = *count;
    if (!due_at(*count)) continue;
    auto v = train_once();
    if (!v.ok() && v.status().code() == StatusCode::kUnavailable && trained_at_rows < 0) {
      log->debug("{}: {}", ds.name(), v.status().message());
      continue;  // not enough mature rows yet
    }
    trained_at_ms = now_millis();
    if (!v.ok()) {
      stats_.set_error(v.status().to_string());
      log->error("{}: training failed: {}", ds.name(), v.status().to_string());
      continue;
    }
    trained_at_rows = *count;
  }
  stats_.running = false;
  return Status();
}

}  // namespace flowcast::stages
