#include "bus/local_file.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace flowcast::bus {

LocalFile::~LocalFile() { close(); }

LocalFile::LocalFile(LocalFile&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), path_(std::move(other.path_)) {}

LocalFile& LocalFile::operator=(LocalFile&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = std::exchange(other.fd_, -1);
    path_ = std::move(other.path_);
  }
  return *this;
}

void LocalFile::close() {
  if (fd_ >= 0) {
    // Closing also releases a flock held through this descriptor. EINTR from close() must not be
    // retried on Linux (the descriptor is already gone).
    ::close(fd_);
    fd_ = -1;
  }
}

Status LocalFile::errno_status(const char* what, int err) const {
  return Status::io_error(std::string(what) + " " + path_ + ": " + std::strerror(err));
}

Result<LocalFile> LocalFile::open(const std::filesystem::path& path, int flags, mode_t mode) {
  int fd;
  do {
    fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    int err = errno;
    std::string msg = "open " + path.string() + ": " + std::strerror(err);
    if (err == ENOENT) return Status::not_found(msg);
    return Status::io_error(msg);
  }
  return LocalFile(fd, path.string());
}

Result<size_t> LocalFile::pread(void* buf, size_t size, int64_t offset) const {
  auto* p = static_cast<char*>(buf);
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::pread(fd_, p + done, size - done, static_cast<off_t>(offset) + done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_status("read", errno);
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  return done;
}

Status LocalFile::write_all(const void* buf, size_t size) {
  const auto* p = static_cast<const char*>(buf);
  while (size > 0) {
    ssize_t n = ::write(fd_, p, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_status("write", errno);
    }
    p += n;
    size -= static_cast<size_t>(n);
  }
  return Status();
}

Status LocalFile::pwrite_all(const void* buf, size_t size, int64_t offset) {
  const auto* p = static_cast<const char*>(buf);
  while (size > 0) {
    ssize_t n = ::pwrite(fd_, p, size, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_status("write", errno);
    }
    p += n;
    offset += n;
    size -= static_cast<size_t>(n);
  }
  return Status();
}

Status LocalFile::sync() {
  if (::fdatasync(fd_) != 0) return errno_status("fdatasync", errno);
  return Status();
}

Result<int64_t> LocalFile::size() const {
  struct stat st;
  if (::fstat(fd_, &st) != 0) return errno_status("stat", errno);
  return static_cast<int64_t>(st.st_size);
}

Status LocalFile::truncate(int64_t size) {
  int rc;
  do {
    rc = ::ftruncate(fd_, static_cast<off_t>(size));
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) return errno_status("truncate", errno);
  return Status();
}

Status LocalFile::try_lock_exclusive() {
  int rc;
  do {
    rc = ::flock(fd_, LOCK_EX | LOCK_NB);
  } while (rc != 0 && errno == EINTR);
  if (rc == 0) return Status();
  if (errno == EWOULDBLOCK) return Status::busy("locked " + path_);
  return errno_status("lock", errno);
}

Status sync_directory(const std::filesystem::path& dir) {
  auto f = LocalFile::open(dir, O_RDONLY | O_DIRECTORY);
  if (!f.ok()) return f.status();
  if (::fsync(f->fd()) != 0) {
    return Status::io_error("fsync " + dir.string() + ": " + std::strerror(errno));
  }
  return Status();
}

Status write_file_atomically(const std::filesystem::path& path, const std::string& contents,
                             bool durable) {
  std::filesystem::path tmp = path;
  tmp += ".tmp";
  {
    FC_ASSIGN_OR_RETURN(LocalFile f, LocalFile::open(tmp, O_WRONLY | O_CREAT | O_TRUNC));
    FC_RETURN_IF_ERROR(f.write_all(contents.data(), contents.size()));
    if (durable) FC_RETURN_IF_ERROR(f.sync());
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return Status::io_error("rename " + tmp.string() + " to " + path.string() + ": " +
                            std::strerror(errno));
  }
  if (durable) return sync_directory(path.parent_path());
  return Status();
}

Result<std::string> read_small_file(const std::filesystem::path& path) {
  FC_ASSIGN_OR_RETURN(LocalFile f, LocalFile::open(path, O_RDONLY));
  FC_ASSIGN_OR_RETURN(int64_t size, f.size());
  std::string out(static_cast<size_t>(size), '\0');
  FC_ASSIGN_OR_RETURN(size_t n, f.pread(out.data(), out.size(), 0));
  out.resize(n);
  return out;
}

}  // namespace flowcast::bus
