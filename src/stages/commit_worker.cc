#include "stages/commit_worker.h"

#include <algorithm>
#include <chrono>
#include <exception>
#include <iterator>
#include <utility>

#include "core/time_util.h"
#include "stages/stage_util.h"

namespace flowcast::stages {

CommitWorker::CommitWorker(std::string stage, store::Store& store, const DatasetSpec& dataset,
                           std::stop_token stop, Hooks hooks, size_t max_waiting,
                           CommitGrouping grouping)
    : stage_(std::move(stage)),
      store_(store),
      dataset_(dataset),
      stop_(std::move(stop)),
      hooks_(std::move(hooks)),
      max_waiting_(max_waiting),
      grouping_(grouping),
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

void CommitWorker::hurry() {
  {
    std::lock_guard lock(mu_);
    hurry_ = true;
  }
  changed_.notify_all();
}

Status CommitWorker::drain() {
  std::unique_lock lock(mu_);
  ++draining_;
  changed_.notify_all();  // a worker lingering for more batches commits now
  changed_.wait(lock, [&] { return !failure_.ok() || (waiting_.empty() && !committing_); });
  --draining_;
  return failure_;
}

bool CommitWorker::drained_within(int64_t ms) {
  std::unique_lock lock(mu_);
  ++draining_;
  changed_.notify_all();
  bool drained = changed_.wait_for(lock, std::chrono::milliseconds(ms), [&] {
    return !failure_.ok() || (waiting_.empty() && !committing_);
  });
  --draining_;
  return drained;
}

bool CommitWorker::can_group(const store::SinkBatch& first, const store::SinkBatch& later) {
  auto rows_only = [](const store::SinkBatch& b) {
    return b.requests.empty() && b.outcomes.empty() && b.observations.empty() &&
           b.evaluations.empty();
  };
  return first.group == later.group && rows_only(first) && rows_only(later);
}

void CommitWorker::group_into(store::SinkBatch& into, store::SinkBatch& later) {
  auto append = [](auto& to, auto& from) {
    to.insert(to.end(), std::make_move_iterator(from.begin()), std::make_move_iterator(from.end()));
    from.clear();
  };
  append(into.predictions, later.predictions);
  append(into.metrics, later.metrics);
  // One entry per partition, the later batch's where both have one: a store may write a
  // batch's offsets in one statement, which must not name a partition twice.
  for (store::OffsetEntry& e : later.offsets) {
    auto same = std::find_if(into.offsets.begin(), into.offsets.end(), [&](const auto& o) {
      return o.partition == e.partition && o.topic == e.topic;
    });
    if (same != into.offsets.end())
      same->next_offset = e.next_offset;
    else
      into.offsets.push_back(std::move(e));
  }
  later.offsets.clear();
}

void CommitWorker::loop() {
  const std::string what = "committing to " + store_.describe();
  std::vector<store::SinkBatch> grouped;  // emptied into `batch`, back to spares_ after
  for (;;) {
    store::SinkBatch batch;
    {
      std::unique_lock lock(mu_);
      changed_.wait(lock, [&] { return closing_ || !waiting_.empty(); });
      // Grouping: linger until the queue is full, for at most linger_ms after the first batch
      // arrived, unless someone waits for the commit.
      if (grouping_.together)
        changed_.wait_for(lock, std::chrono::milliseconds(grouping_.linger_ms), [&] {
          return closing_ || hurry_ || draining_ > 0 || waiting_.size() >= max_waiting_;
        });
      // Closing: what is still waiting is committed first (a failure drops the rest).
      if (waiting_.empty() || !failure_.ok()) return;
      batch = std::move(waiting_.front());
      waiting_.pop_front();
      hurry_ = false;
      while (grouping_.together && !waiting_.empty() && can_group(batch, waiting_.front())) {
        grouped.push_back(std::move(waiting_.front()));
        waiting_.pop_front();
      }
      committing_ = true;
    }
    changed_.notify_all();  // slots are free for submit()
    for (store::SinkBatch& later : grouped) group_into(batch, later);
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
      for (store::SinkBatch& b : grouped)
        if (spares_.size() < max_waiting_ + 1) spares_.push_back(std::move(b));
    }
    grouped.clear();
    changed_.notify_all();
  }
}

}  // namespace flowcast::stages
