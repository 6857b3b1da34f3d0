// LocalBus: the `local:PATH` bus backend, an embedded durable log in a directory. No server: every
// process that opens the directory reads and writes the files directly.
//
// Layout (see README.md in this folder for the byte-level format):
//   PATH/topics/<topic>/topic.meta                 partition count, written once at creation
//   PATH/topics/<topic>/<n>/<base offset>.log      segment files, 20-digit zero-padded base offset
//   PATH/topics/<topic>/<n>/writer.lock            flock of the partition's writer process
//   PATH/groups/<group>/member.lock                flock of the group's one member
//   PATH/groups/<group>/offsets                    committed offsets (tmp file + rename)
//
// Rules a user meets:
// - One writer process per partition. The first produce() to a partition takes its lock and holds
//   it as long as this process has the directory open; another process producing to the same
//   partition gets Status busy. Producers and threads of one process share one writer per
//   partition, and LocalBus objects opened on the same directory in one process share all state.
// - A consumer group has one member (it is given every partition of its topics). A second member,
//   in any process, gets Status busy: use Kafka to share partitions between members.
// - Readers work from any process. A poll sees writes of this process at once (condition
//   variable), those of other processes within ~5 ms.
//
// Thread-safety: LocalBus is thread-safe; see bus.h for Producer and Consumer.
// Lifetime: producers and consumers keep the shared state (and its locks, its fsync thread) alive
// after the LocalBus that made them is destroyed.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "bus/bus.h"
#include "core/config_node.h"

namespace flowcast::bus {

class LocalLog;

struct LocalBusOptions {
  // Partitions of topics created without an explicit count.
  int32_t default_partitions = 4;
  // kAlways: fdatasync after every produce batch, before produce() returns.
  // kInterval: a background thread fdatasyncs written partitions every fsync_interval_ms
  //   (Producer::flush() does not sync: see local_producer.h).
  // kNever: leave it to the OS (data survives a process crash, not a machine crash).
  enum class Fsync { kAlways, kInterval, kNever };
  Fsync fsync = Fsync::kInterval;
  int64_t fsync_interval_ms = 1000;
  // A segment file is rolled when the next batch would take it past this size (a single batch
  // larger than this gets a segment of its own).
  int64_t segment_bytes = int64_t{64} << 20;
};

// Reads the `local:` section of the configuration: partitions, fsync (always|interval|never),
// fsync_interval (a duration), segment_bytes. Missing keys keep their defaults. Throws
// ConfigError on an unknown key or a bad value.
LocalBusOptions parse_local_options(const flowcast::ConfigNode& section);

class LocalBus : public Bus {
 public:
  // Opens (creating if needed) the log directory `path`; a leading "local:" is accepted and
  // removed. Returns invalid for bad options, io_error when the directory cannot be created.
  // A second open of the same directory in this process shares the first one's state (and its
  // options, which win over `options`).
  static Result<std::unique_ptr<LocalBus>> open(const std::string& path,
                                                const LocalBusOptions& options = {});
  ~LocalBus() override;
  LocalBus(const LocalBus&) = delete;
  LocalBus& operator=(const LocalBus&) = delete;

  Status ensure_topic(const std::string& topic, const TopicSettings& settings) override;
  // not_found when the topic does not exist.
  Result<int32_t> partition_count(const std::string& topic) override;
  Result<std::unique_ptr<Producer>> producer() override;
  // Returns busy when the group already has a member (in this process or another).
  Result<std::unique_ptr<Consumer>> consumer(const std::string& group) override;
  std::string describe() const override;

  const LocalBusOptions& options() const;

 private:
  explicit LocalBus(std::shared_ptr<LocalLog> log);
  std::shared_ptr<LocalLog> log_;
};

}  // namespace flowcast::bus
