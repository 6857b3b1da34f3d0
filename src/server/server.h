// flowcast::server: the HTTP API and the dashboard (the public face of this library).
//
// Server serves, on cpp-httplib's worker threads:
//   GET  /healthz, /readyz, /metrics (Prometheus text format)
//   GET  /v1/datasets, /v1/datasets/{name}/models, /v1/datasets/{name}/metrics
//   POST /v1/datasets/{name}/predict, /v1/datasets/{name}/events
//   POST /v1/datasets/{name}/models/{version}/promote, /v1/datasets/{name}/train   (admin)
//   GET  /v1/stream (Server-Sent Events)
//   GET  / and the dashboard's files (find_web_asset)
// docs/http-api.md is the reference: bodies, status codes, metric names, security rules.
//
// It reads what the rest of flowcast writes: the store (registry, metrics, counts), the bus (its
// own consumer group for the live stream) and, inside `flowcast run`, the Pipeline's StageStats.
// Predictions use the same ml::Model and feature code as the predict stage (ServingModels).
//
// Security: binds where ServerSettings says (loopback by default). Admin endpoints need
// `Authorization: Bearer <admin_token>`; with no token configured they answer 403, with a wrong
// or missing one 401, and in both cases change nothing. The token is never logged. Bodies over
// max_body_bytes get 413; open streams are capped at max_streams (503 beyond), so streams cannot
// take every worker thread.
//
// Lifecycle: construct (throws ConfigError for an unknown dataset name), start() (binds, loads
// the serving models, starts the workers; a busy or unusable address is a failed Status naming
// it), stop() (closes streams, stops accepting, joins; waits for a running training). The
// destructor stops. Bus, store, config and the StageStats must outlive the Server.
// Thread-safety: start() and stop() from one thread; port() from any.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "bus/bus.h"
#include "core/config.h"
#include "core/status.h"
#include "server/server_settings.h"
#include "stages/stage_stats.h"
#include "store/store.h"

namespace flowcast::server {

// A running stage whose counters the server reports (inside `flowcast run`).
struct StageRef {
  std::string dataset;
  std::string stage;  // produce, ingest, train, predict, evaluate
  const stages::StageStats* stats = nullptr;
};

struct ServerOptions {
  ServerSettings settings;
  std::string admin_token;             // FLOWCAST_ADMIN_TOKEN; empty: admin endpoints disabled
  std::vector<std::string> datasets;   // served datasets; empty: every dataset of the config
  std::vector<StageRef> stages;        // empty under `flowcast serve`
  std::string stream_group;            // live feed's consumer group; empty: unique per process
};

class Server {
 public:
  Server(const Config& config, bus::Bus& bus, store::Store& store, ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  Status start();
  void stop();
  // The bound port (the chosen one when the configured port was 0); 0 before start().
  int port() const;
  // "http://HOST:PORT" of the bound address.
  std::string url() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace flowcast::server
