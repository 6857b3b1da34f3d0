// LocalProducer: Producer of the local bus. produce() groups a batch by partition and hands each
// group to the partition's writer (one pwrite per partition), then wakes in-process consumers.
// It returns once the records are in the segment files (and fdatasynced under `always`). When a
// partition fails (busy, I/O error), the partitions before it in the batch stay written and the
// rest are not: the error says which partition failed.
//
// flush(): nothing is left to do once produce() has returned: the records are in the segment
// files, which a process crash cannot lose. How soon they are on the disk (a machine crash) is
// the fsync policy's: every batch under `always`, within `fsync_interval` under `interval` (the
// log's sync thread), when the OS decides under `never`. flush() does not fdatasync under
// `interval`: the predict stage flushes before every store commit, and a sync there made every
// batch wait for the disk (3 ms on average, 81 ms at worst, on a shared disk at 20,000
// requests/s), which is `always`'s price, not `interval`'s.
//
// Thread-safety: produce() and flush() may be called from several threads.
#pragma once

#include <memory>
#include <span>
#include <string>

#include "bus/bus.h"

namespace flowcast::bus {

class LocalLog;
class LocalPartitionWriter;

class LocalProducer : public Producer {
 public:
  explicit LocalProducer(std::shared_ptr<LocalLog> log);
  Status produce(const std::string& topic, std::span<const OutMessage> messages) override;
  Status flush(int64_t timeout_ms) override;

 private:
  std::shared_ptr<LocalLog> log_;
};

}  // namespace flowcast::bus
