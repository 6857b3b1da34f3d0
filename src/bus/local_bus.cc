#include "bus/local_bus.h"

#include "bus/local_consumer.h"
#include "bus/local_group.h"
#include "bus/local_log.h"
#include "bus/local_producer.h"

namespace flowcast::bus {
namespace {

Status check_options(const LocalBusOptions& o) {
  if (o.default_partitions < 1) return Status::invalid("local bus: partitions must be at least 1");
  if (o.fsync == LocalBusOptions::Fsync::kInterval && o.fsync_interval_ms < 1) {
    return Status::invalid("local bus: fsync_interval must be at least 1ms");
  }
  if (o.segment_bytes < 1) return Status::invalid("local bus: segment_bytes must be positive");
  return Status();
}

}  // namespace

LocalBusOptions parse_local_options(const flowcast::ConfigNode& section) {
  LocalBusOptions o;
  if (!section.defined()) return o;
  section.expect_keys({"partitions", "fsync", "fsync_interval", "segment_bytes"});
  o.default_partitions =
      static_cast<int32_t>(section.get_int("partitions", o.default_partitions, 1, 100000));
  std::string fsync = section.get_string("fsync", "interval");
  if (fsync == "always") {
    o.fsync = LocalBusOptions::Fsync::kAlways;
  } else if (fsync == "interval") {
    o.fsync = LocalBusOptions::Fsync::kInterval;
  } else if (fsync == "never") {
    o.fsync = LocalBusOptions::Fsync::kNever;
  } else {
    section["fsync"].fail("expected always, interval or never, got '" + fsync + "'");
  }
  o.fsync_interval_ms = section.get_duration_ms("fsync_interval", o.fsync_interval_ms);
  if (o.fsync_interval_ms < 1) section["fsync_interval"].fail("must be at least 1ms");
  o.segment_bytes = section.get_int("segment_bytes", o.segment_bytes, 4096, int64_t{1} << 40);
  return o;
}

LocalBus::LocalBus(std::shared_ptr<LocalLog> log) : log_(std::move(log)) {}
LocalBus::~LocalBus() = default;

Result<std::unique_ptr<LocalBus>> LocalBus::open(const std::string& path,
                                                 const LocalBusOptions& options) {
  FC_RETURN_IF_ERROR(check_options(options));
  std::string dir = path.rfind("local:", 0) == 0 ? path.substr(6) : path;
  if (dir.empty()) return Status::invalid("local bus: empty directory path");
  FC_ASSIGN_OR_RETURN(std::shared_ptr<LocalLog> log, LocalLog::open(dir, options));
  return std::unique_ptr<LocalBus>(new LocalBus(std::move(log)));
}

Status LocalBus::ensure_topic(const std::string& topic, const TopicSettings& settings) {
  return log_->ensure_topic(topic, settings.partitions).status();
}

Result<int32_t> LocalBus::partition_count(const std::string& topic) {
  return log_->partition_count(topic);
}

Result<std::unique_ptr<Producer>> LocalBus::producer() {
  return std::unique_ptr<Producer>(std::make_unique<LocalProducer>(log_));
}

Result<std::unique_ptr<Consumer>> LocalBus::consumer(const std::string& group) {
  FC_ASSIGN_OR_RETURN(LocalGroup g,
                      LocalGroup::join(log_->root(), log_->name(), group,
                                       log_->options().fsync != LocalBusOptions::Fsync::kNever));
  return std::unique_ptr<Consumer>(std::make_unique<LocalConsumer>(log_, std::move(g)));
}

std::string LocalBus::describe() const { return log_->name(); }

const LocalBusOptions& LocalBus::options() const { return log_->options(); }

}  // namespace flowcast::bus
