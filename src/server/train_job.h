// TrainJob: at most one background training at a time, started by POST .../train.
//
// A training runs TrainStage::train_once() on its own thread, the same code path as
// `flowcast train --once` (stages.train settings: max_rows, mature_after, auto_promote, ...), and
// calls `on_done` when it finishes (the server refreshes its serving models there).
//
// Lifecycle: start() returns false while a training runs; the destructor waits for a running one
// (a training cannot be interrupted half-way; it is bounded by stages.train.max_rows).
// Thread-safety: every member may be called from any thread.
#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "core/config.h"
#include "core/status.h"
#include "bus/bus.h"
#include "store/store.h"

namespace flowcast::server {

class TrainJob {
 public:
  struct LastRun {
    std::string dataset;
    int64_t version = 0;     // the registered version, 0 when it failed
    std::string error;       // empty when it succeeded
    int64_t finished_at_ms = 0;
  };

  TrainJob(const Config& config, bus::Bus& bus, store::Store& store);
  ~TrainJob();
  TrainJob(const TrainJob&) = delete;
  TrainJob& operator=(const TrainJob&) = delete;

  // Starts training `dataset` unless a training is running (then false).
  bool start(const DatasetSpec& dataset, std::function<void(const LastRun&)> on_done);
  bool running() const { return running_.load(); }
  LastRun last() const;

 private:
  const Config& config_;
  bus::Bus& bus_;
  store::Store& store_;
  std::atomic<bool> running_{false};
  mutable std::mutex mu_;
  LastRun last_;        // guarded by mu_
  std::thread thread_;  // guarded by mu_
};

}  // namespace flowcast::server
