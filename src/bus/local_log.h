// LocalLog: the state of one local bus directory shared by everything of this process that uses
// it: topic metadata, the partition writers (at most one per partition per process), the end
// offsets they publish for in-process readers, the wake-up of waiting consumers, and the fsync
// thread of the `interval` policy.
//
// open() returns the same LocalLog for the same directory while one is alive in this process (a
// forked child gets its own), so several LocalBus objects on one directory share writers instead
// of locking each other out.
//
// Thread-safety: every method is thread-safe. Lifetime: writers, and thus their locks, live as
// long as the LocalLog; producers and consumers hold it by shared_ptr.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include "bus/local_bus.h"
#include "bus/local_partition_writer.h"
#include "bus/local_wake.h"
#include "core/status.h"

namespace flowcast::bus {

class LocalLog {
 public:
  // What this process knows about one partition. Pointers to it stay valid for the LocalLog's life.
  struct PartitionSlot {
    // End offset published by this process's writer; -1 while this process has none. When set it
    // is exact: no other process can write the partition while we hold its lock.
    std::atomic<int64_t> end{-1};
    std::mutex mu;  // guards opening `writer`
    std::unique_ptr<LocalPartitionWriter> writer;
    std::atomic<LocalPartitionWriter*> ready{nullptr};  // writer.get() once it is open
  };

  // REQUIRES: options are valid (LocalBus::open checks them).
  static Result<std::shared_ptr<LocalLog>> open(const std::filesystem::path& dir,
                                                const LocalBusOptions& options);
  ~LocalLog();
  LocalLog(const LocalLog&) = delete;
  LocalLog& operator=(const LocalLog&) = delete;

  const std::filesystem::path& root() const { return root_; }
  // "local:/abs/path".
  const std::string& name() const { return name_; }
  const LocalBusOptions& options() const { return options_; }

  // Creates `topic` with `partitions` (0: the default) unless it exists; returns its count.
  // Creation is atomic across processes (a directory built aside, then renamed into place).
  Result<int32_t> ensure_topic(const std::string& topic, int32_t partitions);
  // not_found when the topic does not exist.
  Result<int32_t> partition_count(const std::string& topic);
  std::filesystem::path partition_dir(const std::string& topic, int32_t partition) const;

  PartitionSlot* slot(const std::string& topic, int32_t partition);
  // The partition's writer, opened (lock taken, tail repaired) on first use. busy when another
  // process writes the partition; a later call tries again.
  Result<LocalPartitionWriter*> writer(const std::string& topic, int32_t partition);

  // A counter bumped after every append, and a wait for it to change. With the bus's `wake` file
  // mapped (local_wake.h) it counts appends by every process and the wait ends on any of them;
  // otherwise only this process's appends count and wake.
  uint64_t write_seq() const {
    return wake_ ? wake_->seq() : write_seq_.load(std::memory_order_acquire);
  }
  void notify_written();
  void wait_for_write(uint64_t seen, std::chrono::steady_clock::time_point until);

 private:
  LocalLog(std::filesystem::path root, const LocalBusOptions& options);
  Result<int32_t> read_topic_meta(const std::string& topic);
  void flusher_loop();

  const std::filesystem::path root_;
  const std::string name_;
  const LocalBusOptions options_;
  const pid_t pid_;

  std::mutex mu_;  // guards topics_, slots_, flusher_
  std::map<std::string, int32_t> topics_;
  std::map<std::pair<std::string, int32_t>, std::unique_ptr<PartitionSlot>> slots_;
  std::thread flusher_;
  uint64_t tmp_counter_ = 0;

  std::unique_ptr<LocalWake> wake_;  // null when the wake file could not be mapped
  std::mutex notify_mu_;
  std::condition_variable notify_cv_;
  std::atomic<uint64_t> write_seq_{0};

  std::mutex flush_mu_;
  std::condition_variable flush_cv_;
  bool stopping_ = false;  // guarded by flush_mu_
};

}  // namespace flowcast::bus
