// LocalPartitionWriter: the one writer of a partition of the local log in this process.
//
// open() takes the partition's writer.lock (flock, held until destruction), scans the last segment
// and cuts a torn tail (a partial frame or one that fails its checksum with nothing valid after
// it), then appends after the last whole record. Damage followed by valid records is not a torn
// tail: open() returns corruption rather than cut good records.
//
// append() writes a whole batch with one pwrite(2), rolling to a new segment first when the batch
// would take the current one past segment_bytes, then publishes the new end offset (an atomic the
// LocalLog shares with in-process readers, and a hint in writer.lock for other processes).
//
// Thread-safety: all methods may be called from any thread; appends are serialised by a mutex.
// sync() does its fdatasync outside that mutex, so the fsync thread never stalls producers.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "bus/bus.h"
#include "bus/local_bus.h"
#include "bus/local_file.h"
#include "core/status.h"

namespace flowcast::bus {

class LocalPartitionWriter {
 public:
  // Byte position in writer.lock of the end-offset hint: i64 end offset, u32 CRC-32C of it.
  static constexpr int64_t kEndHintPosition = 64;
  static constexpr const char* kLockFileName = "writer.lock";

  // `bus_name` is "local:PATH" for messages; `published_end` receives the end offset after every
  // append and must outlive the writer. Returns busy when another process holds the lock.
  static Result<std::unique_ptr<LocalPartitionWriter>> open(std::filesystem::path dir,
                                                            std::string topic, int32_t partition,
                                                            const std::string& bus_name,
                                                            const LocalBusOptions& options,
                                                            std::atomic<int64_t>* published_end);
  ~LocalPartitionWriter();
  LocalPartitionWriter(const LocalPartitionWriter&) = delete;
  LocalPartitionWriter& operator=(const LocalPartitionWriter&) = delete;

  // Appends messages[i] for every i in `which`, in that order, with offsets end_offset(),
  // end_offset()+1, ...; a timestamp of 0 becomes `now_ms`. REQUIRES: each record fits
  // kMaxFrameBodySize. On a failed write the segment is cut back, so no partial batch remains.
  Status append(std::span<const OutMessage> messages, std::span<const uint32_t> which,
                int64_t now_ms);
  // Makes every record appended so far durable (fdatasync), unless it already is.
  Status sync();
  int64_t end_offset() const;

 private:
  LocalPartitionWriter(std::filesystem::path dir, std::string name, const LocalBusOptions& options,
                       std::atomic<int64_t>* published_end);
  Status recover();
  Status roll();
  void publish();

  const std::filesystem::path dir_;
  const std::string name_;  // "topic/partition"
  const LocalBusOptions options_;
  std::atomic<int64_t>* const published_end_;
  LocalFile lock_;

  mutable std::mutex mu_;
  std::shared_ptr<LocalFile> segment_;  // shared with sync() running outside mu_
  int64_t segment_base_ = 0;
  int64_t segment_size_ = 0;
  int64_t next_offset_ = 0;
  int64_t synced_end_ = 0;
  std::vector<char> buf_;
};

}  // namespace flowcast::bus
