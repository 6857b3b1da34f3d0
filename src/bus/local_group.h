// LocalGroup: membership and committed offsets of one consumer group of the local bus.
//
// A local group has exactly one member: join() takes an exclusive flock on
// PATH/groups/<group>/member.lock (writing the member's pid into it) and the LocalGroup holds it
// until destruction. A second join, from another process or from this one, gets Status busy.
// Offsets live in PATH/groups/<group>/offsets, replaced atomically (temporary file, fsync, rename,
// fsync of the directory; the fsyncs are skipped under the `never` fsync policy).
//
// Thread-safety: none; owned by one consumer.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "bus/bus.h"
#include "bus/local_file.h"
#include "core/status.h"

namespace flowcast::bus {

class LocalGroup {
 public:
  static constexpr const char* kLockFileName = "member.lock";
  static constexpr const char* kOffsetsFileName = "offsets";

  // `root` is the bus directory, `bus_name` its "local:PATH" for messages.
  static Result<LocalGroup> join(const std::filesystem::path& root, const std::string& bus_name,
                                 const std::string& group, bool durable);

  const std::string& name() const { return group_; }
  std::optional<int64_t> committed(const TopicPartition& tp) const;
  // Merges `offsets` into the stored ones and persists them all.
  Status commit(const std::vector<PartitionOffset>& offsets);

 private:
  LocalGroup() = default;
  Status load();

  std::string group_;
  std::filesystem::path dir_;
  bool durable_ = true;
  LocalFile lock_;
  std::map<TopicPartition, int64_t> offsets_;
};

}  // namespace flowcast::bus
