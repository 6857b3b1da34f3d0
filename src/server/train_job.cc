#include "server/train_job.h"

#include "core/log.h"
#include "core/time_util.h"
#include "stages/train_stage.h"

namespace flowcast::server {

TrainJob::TrainJob(const Config& config, bus::Bus& bus, store::Store& store)
    : config_(config), bus_(bus), store_(store) {}

TrainJob::~TrainJob() {
  std::thread t;
  {
    std::lock_guard lock(mu_);
    t = std::move(thread_);
  }
  if (t.joinable()) t.join();  // the thread takes mu_ on its way out
}

bool TrainJob::start(const DatasetSpec& dataset, std::function<void(const LastRun&)> on_done) {
  bool expected = false;
  if (!running_.compare_exchange_strong(expected, true)) return false;
  std::lock_guard lock(mu_);
  if (thread_.joinable()) thread_.join();  // the previous one has finished: running_ was false
  thread_ = std::thread([this, &dataset, on_done = std::move(on_done)] {
    LastRun run;
    run.dataset = dataset.name();
    try {
      // Settings were validated at start-up, so parse() does not throw here.
      stages::TrainStage stage({config_, dataset, bus_, store_},
                               stages::TrainSettings::parse(config_.stage("train")));
      auto v = stage.train_once();
      if (v.ok()) run.version = *v;
      else run.error = v.status().to_string();
    } catch (const std::exception& e) {
      run.error = e.what();
    }
    run.finished_at_ms = now_millis();
    if (!run.error.empty())
      logger("server")->warn("{}: training requested over HTTP failed: {}", run.dataset, run.error);
    {
      std::lock_guard lock(mu_);
      last_ = run;
    }
    if (on_done) on_done(run);
    running_ = false;
  });
  return true;
}

TrainJob::LastRun TrainJob::last() const {
  std::lock_guard lock(mu_);
  return last_;
}

}  // namespace flowcast::server
