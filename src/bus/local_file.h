// LocalFile: the RAII file descriptor of the local bus (the "FileHandle" of the design; files of
// src/bus/local_* are named after their class). Every fd and every flock the local bus holds lives
// in one of these, so no error path leaks a descriptor or a lock.
//
// Errors are returned as Status values naming the file and the errno text. A LocalFile is
// move-only. Calls on one object from several threads are safe where the kernel call is (pread,
// write, fdatasync); the object itself is not synchronised.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

#include "core/status.h"

namespace flowcast::bus {

class LocalFile {
 public:
  LocalFile() = default;
  ~LocalFile();
  LocalFile(LocalFile&& other) noexcept;
  LocalFile& operator=(LocalFile&& other) noexcept;
  LocalFile(const LocalFile&) = delete;
  LocalFile& operator=(const LocalFile&) = delete;

  // open(2) with O_CLOEXEC added. Returns not_found for ENOENT, io_error otherwise.
  static Result<LocalFile> open(const std::filesystem::path& path, int flags, mode_t mode = 0644);

  bool valid() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  const std::string& path() const { return path_; }

  // Reads up to `size` bytes at `offset`; fewer only at end of file. Retries EINTR.
  Result<size_t> pread(void* buf, size_t size, int64_t offset) const;
  // Writes all of `size` bytes at the file position (O_APPEND files: at the end).
  Status write_all(const void* buf, size_t size);
  Status pwrite_all(const void* buf, size_t size, int64_t offset);
  // fdatasync(2).
  Status sync();
  Result<int64_t> size() const;
  Status truncate(int64_t size);
  // Takes an exclusive flock(2) without waiting. Returns busy when another open file description
  // (another process, or another open() of the same file in this process) holds it.
  Status try_lock_exclusive();
  void close();

 private:
  LocalFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  Status errno_status(const char* what, int err) const;

  int fd_ = -1;
  std::string path_;
};

// fsync(2) of a directory, so that files created or renamed in it survive a crash.
Status sync_directory(const std::filesystem::path& dir);

// Writes `contents` to `path` atomically: a temporary file next to it, fsync (when `durable`),
// rename over `path`, fsync of the directory (when `durable`).
Status write_file_atomically(const std::filesystem::path& path, const std::string& contents,
                             bool durable);

// The whole file as a string (not_found when absent).
Result<std::string> read_small_file(const std::filesystem::path& path);

}  // namespace flowcast::bus
