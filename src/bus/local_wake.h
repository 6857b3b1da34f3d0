// LocalWake: wakes consumers in every process of one local bus when any process appends.
//
// A bus directory holds a small file, `wake`, that each process maps shared. Its first word is a
// counter that every append bumps; its second counts the threads waiting on it. A consumer with
// nothing to read sleeps on the counter with futex(2) (a shared futex: the kernel keys it by the
// file, so it works across processes) until the counter moves or its timeout passes; a producer
// bumps the counter and, only when someone waits, wakes them. Without it a consumer in another
// process than its producer could only re-read on a timer (1-5 ms), which was most of the
// request-to-prediction latency of stages run as separate processes.
//
// The counter is only a hint: a consumer always re-reads the partitions themselves, and keeps a
// timer as a fallback, so a lost or spurious wake costs latency, never data. A thread that dies
// while waiting leaves the waiter count raised; producers then make one needless wake call per
// append until the file is recreated.
//
// Thread-safety: all methods may be called from any thread and any process.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>

#include "core/status.h"

namespace flowcast::bus {

class LocalWake {
 public:
  // Creates `path` if missing and maps it. io_error when the file cannot be created or mapped.
  static Result<std::unique_ptr<LocalWake>> open(const std::filesystem::path& path);
  ~LocalWake();
  LocalWake(const LocalWake&) = delete;
  LocalWake& operator=(const LocalWake&) = delete;

  // The counter; it changes after every append by any process.
  uint32_t seq() const { return counter().load(std::memory_order_seq_cst); }
  // Bumps the counter and wakes the waiting threads, if any.
  void notify();
  // Sleeps while the counter equals `seen`, until `until` at the latest. Spurious returns are
  // possible; callers re-check what they wait for.
  void wait(uint32_t seen, std::chrono::steady_clock::time_point until);

 private:
  explicit LocalWake(void* mapping) : mapping_(mapping) {}
  std::atomic<uint32_t>& counter() const {
    return static_cast<std::atomic<uint32_t>*>(mapping_)[0];
  }
  std::atomic<uint32_t>& waiters() const {
    return static_cast<std::atomic<uint32_t>*>(mapping_)[1];
  }

  void* mapping_;  // kMappedBytes of the `wake` file, MAP_SHARED; unmapped by the destructor
};

}  // namespace flowcast::bus
