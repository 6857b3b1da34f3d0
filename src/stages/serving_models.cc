#include "stages/serving_models.h"

#include <algorithm>
#include <exception>

#include "core/log.h"

namespace flowcast::stages {

Status ServingModels::Snapshot::predict(std::span<const Record* const> rows, double* out) const {
  if (model) return model->predict(rows, out);
  std::fill(out, out + rows.size(), baseline);
  return Status();
}

ServingModels::ServingModels(std::vector<const DatasetSpec*> datasets, store::Store& store,
                             int64_t poll_ms)
    : datasets_(std::move(datasets)), poll_ms_(poll_ms) {
  published_ = std::make_unique<std::atomic<std::shared_ptr<const Snapshot>>[]>(datasets_.size());
  for (const DatasetSpec* ds : datasets_)
    serving_.push_back(std::make_unique<ServingModel>(*ds, store));
  for (size_t i = 0; i < datasets_.size(); ++i) {
    auto s = std::make_shared<Snapshot>();
    s->baseline = datasets_[i]->model().baseline;
    published_[i].store(std::move(s));
  }
}

ServingModels::~ServingModels() { stop(); }

void ServingModels::start() {
  refresh_all();
  thread_ = std::thread([this] {
    std::unique_lock lock(wake_mu_);
    while (!stopping_) {
      wake_.wait_for(lock, std::chrono::milliseconds(poll_ms_), [this] { return stopping_; });
      if (stopping_) break;
      lock.unlock();
      // No exception leaves this thread: a refresh that throws (out of memory while loading a
      // model, say) is logged, and the current model stays in place until the next poll.
      try {
        refresh_all();
      } catch (const std::exception& e) {
        logger("models")->error("model refresh failed: {}", e.what());
      }
      lock.lock();
    }
  });
}

void ServingModels::stop() {
  {
    std::lock_guard lock(wake_mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::shared_ptr<const ServingModels::Snapshot> ServingModels::snapshot(size_t i) const {
  return published_[i].load(std::memory_order_acquire);
}

void ServingModels::refresh_now() { refresh_all(); }

void ServingModels::refresh_all() {
  std::lock_guard lock(refresh_mu_);
  for (size_t i = 0; i < serving_.size(); ++i) {
    ServingModel& m = *serving_[i];
    m.refresh();
    auto current = published_[i].load(std::memory_order_acquire);
    if (current && current->model == m.shared_model() && current->version == m.version() &&
        current->baseline == m.baseline())
      continue;
    auto s = std::make_shared<Snapshot>();
    s->model = m.shared_model();
    s->version = m.version();
    s->baseline = m.baseline();
    published_[i].store(std::move(s), std::memory_order_release);
  }
}

}  // namespace flowcast::stages
