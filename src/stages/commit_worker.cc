#include "stages/commit_worker.h"

#include <chrono>
#include <exception>
#include <utility>

#include "core/time_util.h"
#include "stages/stage_util.h"

namespace flowcast::stages {

CommitWorker::CommitWorker(std::string stage, store::Store& store, const DatasetSpec& dataset,
                           std::stop_token stop, Hooks hooks, size_t max_waiting)
    : stage_(std::move(stage)),
      store_(store),
      dataset_(dataset),
      stop_(std::move(stop)),
      hooks_(std::move(hooks)),
      max_waiting_(max_waiting),
      thread_([this] { loop(); }) {}

CommitWorker::~CommitWorker() {
  {
    std::lock_guard lock(mu_);
    closing_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

Status CommitWorker::submit(store::SinkBatch&& batch) {
  std::unique_lock lock(mu_);
  const size_t slots = max_waiting_ == 0 ? 1 : max_waiting_;
  changed_.wait(lock, [&] { return !failure_.ok() || waiting_.size() < slots; });
  if (!failure_.ok()) return failure_;
  waiting_.push_back(std::move(batch));
  lock.unlock();
  changed_.notify_all();
  if (max_waiting_ > 0) return Status();
  // No batch may wait: back only once the worker has taken this one.
  lock.lock();
  changed_.wait(lock, [&] { return !failure_.ok() || waiting_.empty(); });
  return failure_;
}

store::SinkBatch CommitWorker::spare() {
  std::lock_guard lock(mu_);
  if (spares_.empty()) return {};
  store::SinkBatch b = std::move(spares_.back());
  spares_.pop_back();
  return b;
}

Status CommitWorker::drain() {
  std::unique_lock lock(mu_);
  changed_.wait(lock, [&] { return !failure_.ok() || (waiting_.empty() && !committing_); });
  return failure_;
}

bool CommitWorker::drained_within(int64_t ms) {
  std::unique_lock lock(mu_);
  return changed_.wait_for(lock, std::chrono::milliseconds(ms),
                           [&] { return !failure_.ok() || (waiting_.empty() && !committing_); });
}

void CommitWorker::loop() {
  const std::string what = "committing to " + store_.describe();
  for (;;) {
    store::SinkBatch batch;
    {
      std::unique_lock lock(mu_);
      changed_.wait(lock, [&] { return closing_ || !waiting_.empty(); });
      // Closing: what is still waiting is committed first (a failure drops the rest).
      if (waiting_.empty() || !failure_.ok()) return;
      batch = std::move(waiting_.front());
      waiting_.pop_front();
      committing_ = true;
    }
    changed_.notify_all();  // a slot is free for submit()
    const int64_t start_ns = mono_nanos();
    Status s;
    try {
      s = retry_transient(
          stop_, stage_, what, [&]() -> Status { return store_.commit(dataset_, batch).status(); },
          [&](const Status& e) {
            if (hooks_.on_failure) hooks_.on_failure(e);
          });
      if (s.ok() && hooks_.on_committed) hooks_.on_committed(batch, mono_nanos() - start_ns);
    } catch (const std::exception& e) {
      s = Status::internal(std::string("commit: ") + e.what());
    } catch (...) {
      s = Status::internal("commit: unknown exception");
    }
    {
      std::lock_guard lock(mu_);
      committing_ = false;
      if (!s.ok() && failure_.ok()) failure_ = s;
      if (s.ok() && spares_.size() < max_waiting_ + 1) spares_.push_back(std::move(batch));
    }
    changed_.notify_all();
  }
}

}  // namespace flowcast::stages
