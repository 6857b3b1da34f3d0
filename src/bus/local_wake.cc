#include "bus/local_wake.h"

#include <fcntl.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>

#include "bus/local_file.h"

namespace flowcast::bus {
namespace {

constexpr size_t kMappedBytes = 4096;  // one page; the two words live at its start

static_assert(std::atomic<uint32_t>::is_always_lock_free,
              "a shared futex word must be a lock-free 32-bit atomic");
static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t));

long futex(std::atomic<uint32_t>* word, int op, uint32_t value, const timespec* timeout) {
  // Not FUTEX_PRIVATE_FLAG: the word is shared between processes.
  return ::syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), op, value, timeout, nullptr, 0);
}

}  // namespace

Result<std::unique_ptr<LocalWake>> LocalWake::open(const std::filesystem::path& path) {
  FC_ASSIGN_OR_RETURN(LocalFile file, LocalFile::open(path, O_RDWR | O_CREAT));
  FC_ASSIGN_OR_RETURN(int64_t size, file.size());
  // Several processes may grow it at once; all grow it to the same size, and new bytes are zero.
  if (size < int64_t(kMappedBytes)) FC_RETURN_IF_ERROR(file.truncate(int64_t(kMappedBytes)));
  void* mapping = ::mmap(nullptr, kMappedBytes, PROT_READ | PROT_WRITE, MAP_SHARED, file.fd(), 0);
  if (mapping == MAP_FAILED)
    return Status::io_error("mmap " + path.string() + ": " + std::strerror(errno));
  // The mapping outlives the descriptor, which `file` closes.
  return std::unique_ptr<LocalWake>(new LocalWake(mapping));
}

LocalWake::~LocalWake() { ::munmap(mapping_, kMappedBytes); }

void LocalWake::notify() {
  counter().fetch_add(1, std::memory_order_seq_cst);
  // seq_cst on both sides: either a waiter sees the new count before it sleeps, or this sees it.
  if (waiters().load(std::memory_order_seq_cst) > 0)
    futex(&counter(), FUTEX_WAKE, INT_MAX, nullptr);
}

void LocalWake::wait(uint32_t seen, std::chrono::steady_clock::time_point until) {
  const auto left = until - std::chrono::steady_clock::now();
  if (left <= std::chrono::steady_clock::duration::zero()) return;
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
  const timespec timeout{static_cast<time_t>(ns / 1'000'000'000),
                         static_cast<long>(ns % 1'000'000'000)};
  waiters().fetch_add(1, std::memory_order_seq_cst);
  // The kernel sleeps only if the word still equals `seen`, so a notify between the caller's
  // read and this call is not lost. EINTR, EAGAIN and ETIMEDOUT all just return.
  if (counter().load(std::memory_order_seq_cst) == seen)
    futex(&counter(), FUTEX_WAIT, seen, &timeout);
  waiters().fetch_sub(1, std::memory_order_seq_cst);
}

}  // namespace flowcast::bus
