// The HTTP server on the command line: `flowcast serve CONFIG` on its own, and the server inside
// `flowcast run` (on by default; --no-serve turns it off).
//
// Flags (both commands): --listen HOST:PORT (default: server.listen, else 127.0.0.1:8080; port 0
// picks a free one), --port-file PATH (the bound port and a newline, written once listening).
// The admin token comes from the environment (FLOWCAST_ADMIN_TOKEN), never from a file or a flag,
// so it does not end up in shell history or `ps`.
#pragma once

#include <CLI/CLI.hpp>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "bus/bus.h"
#include "core/config.h"
#include "server/server.h"
#include "stages/pipeline.h"
#include "store/store.h"

namespace flowcast::cli {

struct ServeFlags {
  std::string listen;
  std::string port_file;
  bool no_serve = false;
};

// Adds --listen and --port-file (and --no-serve when `in_run`) to `cmd`.
void add_serve_flags(CLI::App* cmd, ServeFlags& flags, bool in_run);

// The server's settings from the `server:` section, --listen and the environment. Throws
// ConfigError (call it before any backend is opened: a bad value writes nothing).
server::ServerOptions server_options(const Config& config, const ServeFlags& flags,
                                     const std::vector<std::string>& datasets);

// Starts `server` and writes the port file. On failure prints one line and returns 1.
int start_server(server::Server& server, const ServeFlags& flags);

// `flowcast serve`: opens the backends, creates missing topics and tables, serves until
// `interrupted` is set or `duration_ms` (0: no limit) elapses. Returns the exit code.
int serve(const Config& config, const std::vector<std::string>& datasets, const ServeFlags& flags,
          int64_t duration_ms, const std::atomic<int>& interrupted);

// The server inside `flowcast run`, reading `pipeline`'s stage counters. `server` is left empty
// under --no-serve. Returns the exit code (0: running or off).
int start_run_server(const Config& config, bus::Bus& bus, store::Store& store,
                     const stages::Pipeline& pipeline, server::ServerOptions options,
                     const ServeFlags& flags, std::unique_ptr<server::Server>& server);

}  // namespace flowcast::cli
