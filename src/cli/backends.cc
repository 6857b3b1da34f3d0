#include "cli/backends.h"

#include <filesystem>

#include "bus/kafka_bus.h"
#include "bus/local_bus.h"
#include "core/config_error.h"
#include "core/log.h"
#include "store/postgres_store.h"
#include "store/sqlite_store.h"

namespace flowcast::cli {
namespace {
bool starts_with(const std::string& s, const char* p) { return s.rfind(p, 0) == 0; }
}  // namespace

Result<std::unique_ptr<bus::Bus>> open_bus(const Config& config) {
  const std::string& url = config.bus_url();
  if (starts_with(url, "local:")) {
    std::string path = url.substr(6);
    if (path.empty()) throw ConfigError("bus", "local: needs a directory, as in local:.flowcast/bus");
    bus::LocalBusOptions options = bus::parse_local_options(config.section("local"));
    FC_ASSIGN_OR_RETURN(auto b, bus::LocalBus::open(path, options));
    return std::unique_ptr<bus::Bus>(std::move(b));
  }
  if (starts_with(url, "kafka://")) {
    auto brokers = bus::KafkaBus::parse_url(url);
    if (!brokers.ok()) throw ConfigError("bus", brokers.status().message());
    // Every property is checked here, before anything connects: a bad one is a ConfigError.
    bus::KafkaOptions options = bus::parse_kafka_options(config.section("kafka"));
    FC_ASSIGN_OR_RETURN(auto b, bus::KafkaBus::open(url, std::move(options)));
    return std::unique_ptr<bus::Bus>(std::move(b));
  }
  throw ConfigError("bus", "unsupported bus URL '" + redact_url(url) +
                               "' (this build supports local:PATH and kafka://host:port,...)");
}

Result<std::unique_ptr<store::Store>> open_store(const Config& config, StoreOpen mode) {
  const std::string& url = config.store_url();
  if (starts_with(url, "sqlite:")) {
    std::string path = url.substr(7);
    if (starts_with(path, "//")) path = path.substr(2);  // sqlite:///abs/path also accepted
    if (path.empty()) throw ConfigError("store", "sqlite: needs a file, as in sqlite:.flowcast/flowcast.db");
    std::error_code ec;
    if (mode == StoreOpen::kExisting && !std::filesystem::exists(path, ec))
      return Status::not_found("no store at " + url +
                               ": nothing has been stored there yet (is `store:` right?)");
    store::SqliteOptions options = store::parse_sqlite_options(config.section("sqlite"));
    FC_ASSIGN_OR_RETURN(auto s, store::SqliteStore::open(path, options));
    return std::unique_ptr<store::Store>(std::move(s));
  }
  if (starts_with(url, "postgresql://") || starts_with(url, "postgres://")) {
    // A URL libpq cannot parse is a configuration error; connecting happens in open().
    if (Status bad = store::PostgresStore::check_url(url); !bad.ok())
      throw ConfigError("store", bad.message());
    store::PostgresOptions options = store::parse_postgres_options(config.section("postgresql"));
    FC_ASSIGN_OR_RETURN(auto s, store::PostgresStore::open(url, options));
    return std::unique_ptr<store::Store>(std::move(s));
  }
  throw ConfigError("store", "unsupported store URL '" + redact_url(url) +
                                 "' (this build supports sqlite:PATH and postgresql://...)");
}

}  // namespace flowcast::cli
