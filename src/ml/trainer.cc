#include "ml/trainer.h"

#include <algorithm>
#include <cmath>

#include "core/time_util.h"

namespace flowcast::ml {

nlohmann::json metrics_to_json(const RegressionMetrics& m) {
  return {{"count", m.count}, {"mae", m.mae},   {"rmse", m.rmse},
          {"rmsle", m.rmsle}, {"mape", m.mape}, {"within_30", m.within_30}};
}

Result<TrainOutcome> train_model(const DatasetSpec& spec, std::vector<Record> rows,
                                 const TrainOptions& options) {
  const int64_t started = mono_nanos();
  const int target = spec.target_index();
  const bool log1p = spec.model().target_transform == "log1p";
  if (rows.size() < 10) return Status::invalid("need at least 10 labelled rows to train");

  std::vector<double> y(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    double t = rows[i].number(target);
    y[i] = log1p ? std::log1p(std::max(t, 0.0)) : t;
  }
  size_t n_val = static_cast<size_t>(double(rows.size()) * options.validation_fraction);
  if (options.validation_fraction > 0) n_val = std::max<size_t>(n_val, 1);
  const size_t n_train = rows.size() - n_val;

  // Fit the pipeline's state on training rows only, so validation sees encoders as serving will.
  FeaturePipeline pipeline = FeaturePipeline::from_spec(spec);
  pipeline.fit(std::span<const Record>(rows.data(), n_train), std::span<const double>(y.data(), n_train));
  const size_t w = pipeline.width();
  std::vector<float> x(rows.size() * w), yf(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    pipeline.transform(rows[i], &x[i * w]);
    yf[i] = static_cast<float>(y[i]);
  }

  FC_ASSIGN_OR_RETURN(auto learner, make_learner(spec.model().learner, spec.model().params));
  Matrix train{x.data(), n_train, w}, val{x.data() + n_train * w, n_val, w};
  FC_RETURN_IF_ERROR(learner->fit(train, yf.data(), val, yf.data() + n_train));

  TrainOutcome out;
  out.train_rows = static_cast<int64_t>(n_train);
  out.validation_rows = static_cast<int64_t>(n_val);
  if (n_val > 0) {
    std::vector<float> scores(n_val);
    FC_RETURN_IF_ERROR(learner->predict(val, scores.data()));
    MetricsAccumulator acc;
    for (size_t i = 0; i < n_val; ++i) {
      double p = log1p ? std::expm1(double(scores[i])) : scores[i];
      acc.add(p, rows[n_train + i].number(target));
    }
    out.validation = acc.result();
  }
  nlohmann::json learner_summary = nlohmann::json::parse(learner->summary_json());

  if (options.refit_on_all && n_val > 0) {
    auto params = spec.model().params;
    if (learner_summary.contains("rounds")) {
      params["rounds"] = std::to_string(learner_summary["rounds"].get<int>());
      params["early_stopping_rounds"] = "1000000";
    }
    pipeline = FeaturePipeline::from_spec(spec);
    pipeline.fit(rows, y);
    for (size_t i = 0; i < rows.size(); ++i) pipeline.transform(rows[i], &x[i * w]);
    FC_ASSIGN_OR_RETURN(auto refit, make_learner(spec.model().learner, params));
    FC_RETURN_IF_ERROR(refit->fit(Matrix{x.data(), rows.size(), w}, yf.data(), Matrix{}, nullptr));
    learner = std::move(refit);
  }

  const int et = spec.event_time_index();
  nlohmann::json card;
  card["created_at_ms"] = now_millis();
  card["learner_summary"] = learner_summary;
  card["validation"] = metrics_to_json(out.validation);
  out.seconds = double(mono_nanos() - started) / 1e9;
  card["training"] = {{"rows", rows.size()},
                      {"train_rows", n_train},
                      {"validation_rows", n_val},
                      {"window_start", format_timestamp_micros(int64_t(rows.front().number(et)))},
                      {"window_end", format_timestamp_micros(int64_t(rows.back().number(et)))},
                      {"seconds", out.seconds},
                      {"refit_on_all", options.refit_on_all}};
  card["feature_names"] = pipeline.feature_names();
  out.model = std::make_unique<Model>(spec, std::move(pipeline), std::move(learner), std::move(card));
  return out;
}

}  // namespace flowcast::ml
