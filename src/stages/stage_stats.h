// StageStats: live counters of one stage, written by the stage's thread and read by the status
// line, the metrics endpoint and tests. Lock-free except for the last error text.
#pragma once

#include <atomic>
#include <limits>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "core/latency_histogram.h"

namespace flowcast::stages {

class StageStats {
 public:
  std::atomic<int64_t> in{0};        // records consumed (or generated, for produce)
  std::atomic<int64_t> out{0};       // records written (rows committed, predictions published)
  std::atomic<int64_t> dlq{0};       // records rejected to the dead-letter topic
  std::atomic<int64_t> errors{0};    // failures reported with set_error (retried or not)
  std::atomic<int64_t> lag{0};       // messages behind the end of the input topics
  std::atomic<int64_t> model_version{-1};  // serving (predict) or latest trained (train)
  std::atomic<int64_t> pending{0};   // evaluate: predictions/outcomes waiting for their match;
                                     // produce: outcomes held until they are due
  std::atomic<int64_t> latency_p50_us{0}, latency_p99_us{0};  // predict: request to prediction
  // The dataset's declared quality figure (model.metric: rmsle, mape, ...), NaN until known.
  // Evaluate: rolling, of the newest version; train: on the validation rows.
  std::atomic<double> quality{std::numeric_limits<double>::quiet_NaN()};
  std::atomic<bool> running{false};
  std::atomic<bool> idle{false};     // nothing consumed in the last poll and no lag
  LatencyHistogram latency;          // predict: request to prediction, every record since start

  // Lag of each assigned input partition, as of the last lag check.
  struct PartitionLag {
    std::string topic;
    int32_t partition = 0;
    int64_t lag = 0;
  };
  void set_partition_lag(std::vector<PartitionLag> lags) {
    std::lock_guard lock(mu_);
    partition_lag_ = std::move(lags);
  }
  std::vector<PartitionLag> partition_lag() const {
    std::lock_guard lock(mu_);
    return partition_lag_;
  }

  // A failure the stage reported (a poll, a commit, a publish that failed; transient ones are
  // retried): counted, and the text kept for the status line and the API.
  void set_error(const std::string& e) {
    errors.fetch_add(1, std::memory_order_relaxed);
    std::lock_guard lock(mu_);
    last_error_ = e;
  }
  std::string last_error() const {
    std::lock_guard lock(mu_);
    return last_error_;
  }

 private:
  mutable std::mutex mu_;
  std::string last_error_;
  std::vector<PartitionLag> partition_lag_;
};

}  // namespace flowcast::stages
