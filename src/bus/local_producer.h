// LocalProducer: Producer of the local bus. produce() groups a batch by partition and hands each
// group to the partition's writer (one pwrite per partition), then wakes in-process consumers.
// It returns once the records are in the segment files (and fdatasynced under `always`). When a
// partition fails (busy, I/O error), the partitions before it in the batch stay written and the
// rest are not: the error says which partition failed.
//
// flush(): under `interval`, fdatasyncs every partition this producer wrote since the last flush;
// under `always` there is nothing left to do; under `never` records reach the page cache only.
// The timeout is not enforced (an fdatasync cannot be interrupted).
//
// Thread-safety: produce() and flush() may be called from several threads.
#pragma once

#include <memory>
#include <mutex>
#include <set>
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
  std::mutex mu_;
  std::set<LocalPartitionWriter*> unsynced_;  // guarded by mu_
};

}  // namespace flowcast::bus
