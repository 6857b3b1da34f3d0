#include "stages/serving_model.h"

#include <algorithm>

#include "core/log.h"

namespace flowcast::stages {

bool ServingModel::refresh() {
  auto log = logger("predict");
  auto active = store_.active_model(spec_.name());
  if (!active.ok()) {
    log->warn("model registry: {}", active.status().to_string());
    return false;
  }
  if (!active->has_value()) {
    // Version 0: the median of what has been seen, else the declared baseline.
    auto targets = store_.recent_targets(spec_, 10000);
    double b = spec_.model().baseline;
    if (targets.ok() && !targets->empty()) {
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
  if (!bytes.ok()) {
    log->error("{}: could not read model v{}: {}", spec_.name(), v, bytes.status().to_string());
    return false;
  }
  auto m = ml::Model::load(*bytes, spec_);
  if (!m.ok()) {
    log->error("{}: model v{} refused, v{} stays in place: {}", spec_.name(), v, version(),
               m.status().message());
    failed_version_ = v;
    return false;
  }
  (*m)->set_version(v);
  const int64_t old = version();
  // The first model a process loads at start replaced nothing it had served.
  const bool first = !model_ && !baseline_set_;
  model_ = std::shared_ptr<const ml::Model>(std::move(m).value());
  if (first)
    log->info("{}: serving model v{}", spec_.name(), v);
  else
    log->info("{}: now serving model v{} (was v{})", spec_.name(), v, old);
  return true;
}

Status ServingModel::predict(std::span<const Record* const> rows, double* out) const {
  if (model_) return model_->predict(rows, out);
  std::fill(out, out + rows.size(), baseline());
  return Status();
}

}  // namespace flowcast::stages
