#include "cli/serve_command.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "cli/backends.h"
#include "core/config_error.h"
#include "core/log.h"
#include "core/time_util.h"

namespace flowcast::cli {

void add_serve_flags(CLI::App* cmd, ServeFlags& flags, bool in_run) {
  cmd->add_option("--listen", flags.listen,
                  "HTTP API and dashboard address HOST:PORT (default 127.0.0.1:8080; port 0 picks a "
                  "free one)");
  cmd->add_option("--port-file", flags.port_file,
                  "Write the bound port number to this file once listening");
  if (in_run) cmd->add_flag("--no-serve", flags.no_serve, "Run without the HTTP API and dashboard");
}

server::ServerOptions server_options(const Config& config, const ServeFlags& flags,
                                     const std::vector<std::string>& datasets) {
  server::ServerOptions o;
  o.settings = server::ServerSettings::parse(config.section("server"));
  if (!flags.listen.empty()) o.settings.set_listen(flags.listen, "--listen");
  if (const char* token = std::getenv("FLOWCAST_ADMIN_TOKEN"); token && *token) o.admin_token = token;
  for (const auto& d : datasets) config.dataset(d);  // unknown names throw here
  o.datasets = datasets;
  return o;
}

int start_server(server::Server& server, const ServeFlags& flags) {
  if (Status s = server.start(); !s.ok()) {
    std::fprintf(stderr, "flowcast: %s\n", s.message().c_str());
    return 1;
  }
  if (!flags.port_file.empty()) {
    // Written whole, then renamed: a reader never sees half a number.
    const std::string tmp = flags.port_file + ".tmp";
    {
      std::ofstream out(tmp, std::ios::trunc);
      out << server.port() << "\n";
      if (!out) {
        std::fprintf(stderr, "flowcast: cannot write the port file %s\n", flags.port_file.c_str());
        return 1;
      }
    }
    std::error_code ec;
    std::filesystem::rename(tmp, flags.port_file, ec);
    if (ec) {
      std::fprintf(stderr, "flowcast: cannot write the port file %s: %s\n", flags.port_file.c_str(),
                   ec.message().c_str());
      return 1;
    }
  }
  return 0;
}

int serve(const Config& config, const std::vector<std::string>& datasets, const ServeFlags& flags,
          int64_t duration_ms, const std::atomic<int>& interrupted) {
  server::ServerOptions options = server_options(config, flags, datasets);
  stages::Pipeline::validate(config, {"train"});  // POST .../train uses these settings
  auto bus = open_bus(config);
  if (!bus.ok()) {
    std::fprintf(stderr, "flowcast: cannot open the bus: %s\n", bus.status().to_string().c_str());
    return 1;
  }
  auto store = open_store(config);
  if (!store.ok()) {
    std::fprintf(stderr, "flowcast: cannot open the store: %s\n", store.status().to_string().c_str());
    return 1;
  }
  for (const auto& ds : config.datasets()) {
    if (!datasets.empty() && std::find(datasets.begin(), datasets.end(), ds.name()) == datasets.end())
      continue;
    const auto& t = ds.topics();
    for (const auto& topic : {t.requests, t.outcomes, t.observations, t.predictions, t.metrics, t.dlq}) {
      if (Status s = (*bus)->ensure_topic(topic, bus::TopicSettings{}); !s.ok()) {
        std::fprintf(stderr, "flowcast: creating topic %s: %s\n", topic.c_str(), s.to_string().c_str());
        return 1;
      }
    }
    if (Status s = (*store)->ensure_dataset(ds); !s.ok()) {
      std::fprintf(stderr, "flowcast: %s\n", s.to_string().c_str());
      return 1;
    }
  }
  server::Server server(config, **bus, **store, std::move(options));
  if (int rc = start_server(server, flags)) return rc;
  const int64_t start = mono_nanos();
  while (interrupted.load() == 0 &&
         (duration_ms <= 0 || (mono_nanos() - start) / 1000000 < duration_ms))
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  server.stop();
  return 0;
}

int start_run_server(const Config& config, bus::Bus& bus, store::Store& store,
                     const stages::Pipeline& pipeline, server::ServerOptions options,
                     const ServeFlags& flags, std::unique_ptr<server::Server>& server) {
  if (flags.no_serve) return 0;
  for (const auto& e : pipeline.stages())
    options.stages.push_back({e.dataset, e.stage->name(), &e.stage->stats()});
  server = std::make_unique<server::Server>(config, bus, store, std::move(options));
  if (int rc = start_server(*server, flags)) {
    server.reset();
    return rc;
  }
  return 0;
}

}  // namespace flowcast::cli
