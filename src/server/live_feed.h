// LiveFeed: the server's own view of the live topics, fanned out to the open /v1/stream
// connections as Server-Sent Events.
//
// One thread owns one bus consumer in a consumer group of its own (`group`, unique per server
// process), subscribed to every dataset's requests, predictions, outcomes, observations and metrics
// topics.
// It starts at the END of each partition: when partitions are assigned it drops what the first
// poll returned for them, asks the consumer for the end offsets (Consumer::lag(), which both
// backends answer) and seeks there, so a server shows what happens from now on and never replays
// history. The group commits nothing. A bus that is down is retried every second; the API keeps
// serving meanwhile.
//
// For each message it hashes the key once and offers a ready-made SSE event to every subscriber
// that samples that key (see StreamSubscriber); about once a second it measures each dataset's
// message rate, lowers each subscriber's sampling fraction to fit its max_rate, and broadcasts the
// `stats` event that `stats_json` returns. Metric messages are handed to `on_metrics`.
//
// Lifecycle: construct, start(), stop() (joins; closes every subscriber). Thread-safety:
// subscribe()/unsubscribe() from any thread; the callbacks run on the feed thread.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bus/bus.h"
#include "core/dataset_spec.h"
#include "server/stream_subscriber.h"
#include "store/store.h"

namespace flowcast::server {

class LiveFeed {
 public:
  struct Callbacks {
    // The `data:` JSON of the stats event, called about once a second on the feed thread.
    std::function<std::string()> stats_json;
    // A metrics record of dataset `i` (index in the constructor's list).
    std::function<void(size_t, const store::MetricRow&)> on_metrics;
  };

  LiveFeed(std::vector<const DatasetSpec*> datasets, bus::Bus& bus, std::string group,
           Callbacks callbacks);
  ~LiveFeed();
  LiveFeed(const LiveFeed&) = delete;
  LiveFeed& operator=(const LiveFeed&) = delete;

  void start();
  void stop();

  std::shared_ptr<StreamSubscriber> subscribe(std::vector<bool> datasets, int max_rate);
  void unsubscribe(const std::shared_ptr<StreamSubscriber>& subscriber);

  // Messages read from the bus since start, and SSE events handed to subscribers.
  int64_t messages() const { return messages_.load(std::memory_order_relaxed); }
  int64_t events() const { return events_.load(std::memory_order_relaxed); }
  // Whether the consumer is subscribed (false while the bus is unreachable).
  bool connected() const { return connected_.load(); }

 private:
  enum class Kind { kRequest, kPrediction, kOutcome, kObservation, kMetrics };
  struct Route {
    size_t dataset;
    Kind kind;
  };
  void run();
  void tick(double seconds);
  void handle(const bus::MessageView& m, const Route& route,
              const std::vector<std::shared_ptr<StreamSubscriber>>& subs);

  std::vector<const DatasetSpec*> datasets_;
  bus::Bus& bus_;
  const std::string group_;
  Callbacks callbacks_;
  std::map<std::string, std::vector<Route>, std::less<>> routes_;
  std::vector<int64_t> counts_;  // feed thread: messages per dataset since the last tick
  std::vector<double> rates_;    // feed thread: messages per second per dataset

  std::mutex subs_mu_;
  std::vector<std::shared_ptr<StreamSubscriber>> subs_;  // guarded by subs_mu_
  std::atomic<uint64_t> subs_version_{0};

  std::atomic<bool> stop_{false};
  std::atomic<bool> connected_{false};
  std::atomic<int64_t> messages_{0}, events_{0};
  std::thread thread_;
};

}  // namespace flowcast::server
