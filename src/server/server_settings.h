// ServerSettings: the `server:` section of the configuration, checked at start-up.
//
//   server:
//     listen: 127.0.0.1:8080     # HOST:PORT; port 0 picks a free port. Loopback unless told.
//     threads: 32                # HTTP worker threads (one per open connection, keep-alive included)
//     max_streams: 8             # open /v1/stream connections at most; more get 503
//     max_body_bytes: 1048576    # larger request bodies get 413
//     model_poll: 1s             # how often the registry is checked for a newer serving model
//     keep_alive_timeout: 5s     # an idle keep-alive connection is closed after this long
//
// Every value is validated by parse(); a bad one throws ConfigError naming the key, so
// `flowcast serve` and `flowcast run` refuse to start with one clear line.
#pragma once

#include <cstdint>
#include <string>

#include "core/config_node.h"

namespace flowcast::server {

struct ServerSettings {
  std::string host = "127.0.0.1";
  int port = 8080;
  int threads = 32;
  int max_streams = 8;
  int64_t max_body_bytes = 1 << 20;
  int64_t model_poll_ms = 1000;
  int64_t keep_alive_timeout_ms = 5000;

  // Parses the section at `node` (possibly undefined: the defaults). Throws ConfigError.
  static ServerSettings parse(const ConfigNode& node);
  // Applies "HOST:PORT" (as --listen gives it). Throws ConfigError naming `what`.
  void set_listen(const std::string& text, const std::string& what);
  // "HOST:PORT" as configured (the port may be 0).
  std::string listen() const;
};

}  // namespace flowcast::server
