#include "stages/serving_model.h"

#include <algorithm>

#include "core/log.h"

namespace flowcast::stages {

bool ServingModel::refresh() {
  Result<bool> changed = try_refresh();
  if (changed.ok()) return *changed;
  if (changed.status().code() == StatusCode::kInvalidArgument)
    logger("predict")->error("{}, v{} stays in place", changed.status().message(), version());
  else
    logger("predict")->warn("{}", changed.status().message());
  return false;
}

Result<bool> ServingModel::try_refresh() {
  auto active = store_.active_model(spec_.name());
  if (!active.ok()) return active.status().with_context("reading the model registry");
  if (!active->has_value()) {
    // Version 0: the median of what has been seen, else the declared baseline.
    auto targets = store_.recent_targets(spec_, 10000);
    baseline_from_data_ = targets.ok() && !targets->empty();
    double b = spec_.model().baseline;
    if (baseline_from_data_) {
      auto& t = *targets;
      std::nth_element(t.begin(), t.begin() + long(t.size() / 2), t.end());
      b = t[t.size() / 2];
    }
    baseline_ = b;
    baseline_set_ = true;
    return false;  // still version 0
  }
  const int64_t v = (*active)->version;
  if ((model_ && model_->version() == v) || v == failed_version_) return false;
  auto bytes = store_.load_artifact(spec_.name(), v);
  if (!bytes.ok())
    return bytes.status().with_context("cannot read model v" + std::to_string(v) + " of '" +
                                       spec_.name() + "'");
  auto m = ml::Model::load(*bytes, spec_);
  if (!m.ok()) {
    failed_version_ = v;
    return Status::invalid("the active model v" + std::to_string(v) + " of '" + spec_.name() +
                           "' does not fit this configuration: " + m.status().message());
  }
  (*m)->set_version(v);
  const int64_t old = version();
  // The first model a process loads at start replaced nothing it had served.
  const bool first = !model_ && !baseline_set_;
  model_ = std::shared_ptr<const ml::Model>(std::move(m).value());
  if (first)
    logger("predict")->info("{}: serving model v{}, scored by {}", spec_.name(), v,
                            model_->scorer_description());
  else
    logger("predict")->info("{}: now serving model v{} (was v{}), scored by {}", spec_.name(), v,
                            old, model_->scorer_description());
  return true;
}

Status ServingModel::predict(std::span<const Record* const> rows, double* out) const {
  if (model_) return model_->predict(rows, out);
  std::fill(out, out + rows.size(), baseline());
  return Status();
}

}  // namespace flowcast::stages
