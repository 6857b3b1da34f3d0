#include "bus/local_partition_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <system_error>

#include "bus/local_format.h"
#include "core/crc32c.h"
#include "core/log.h"

namespace flowcast::bus {
namespace {

// The pid a writer stored in its lock file, or "unknown".
std::string lock_holder_pid(const LocalFile& lock) {
  char buf[32] = {};
  auto n = lock.pread(buf, sizeof buf - 1, 0);
  if (!n.ok() || *n < 5 || std::strncmp(buf, "pid ", 4) != 0) return "unknown";
  std::string pid;
  for (size_t i = 4; i < *n && buf[i] >= '0' && buf[i] <= '9'; ++i) pid += buf[i];
  return pid.empty() ? "unknown" : pid;
}

}  // namespace

LocalPartitionWriter::LocalPartitionWriter(std::filesystem::path dir, std::string name,
                                           const LocalBusOptions& options,
                                           std::atomic<int64_t>* published_end)
    : dir_(std::move(dir)),
      name_(std::move(name)),
      options_(options),
      published_end_(published_end) {}

LocalPartitionWriter::~LocalPartitionWriter() {
  if (options_.fsync != LocalBusOptions::Fsync::kNever) {
    Status s = sync();
    if (!s.ok()) logger("bus.local")->error("{}: final sync failed: {}", name_, s.to_string());
  }
}

Result<std::unique_ptr<LocalPartitionWriter>> LocalPartitionWriter::open(
    std::filesystem::path dir, std::string topic, int32_t partition, const std::string& bus_name,
    const LocalBusOptions& options, std::atomic<int64_t>* published_end) {
  std::string name = topic + "/" + std::to_string(partition);
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::io_error("create " + dir.string() + ": " + ec.message());

  FC_ASSIGN_OR_RETURN(LocalFile lock, LocalFile::open(dir / kLockFileName, O_RDWR | O_CREAT));
  Status locked = lock.try_lock_exclusive();
  if (locked.code() == StatusCode::kBusy) {
    return Status::busy("partition " + name + " of " + bus_name +
                        " is written by another process (pid " + lock_holder_pid(lock) +
                        "); the local bus allows one writer process per partition");
  }
  FC_RETURN_IF_ERROR(locked);
  // Rewrite the whole header: "pid N\n" padded with spaces up to the end-offset hint.
  std::string head = "pid " + std::to_string(::getpid()) + "\n";
  head.resize(kEndHintPosition, ' ');
  FC_RETURN_IF_ERROR(lock.truncate(0));
  FC_RETURN_IF_ERROR(lock.pwrite_all(head.data(), head.size(), 0));

  std::unique_ptr<LocalPartitionWriter> w(
      new LocalPartitionWriter(std::move(dir), std::move(name), options, published_end));
  w->lock_ = std::move(lock);
  FC_RETURN_IF_ERROR(w->recover());
  w->publish();
  return w;
}

Status LocalPartitionWriter::recover() {
  FC_ASSIGN_OR_RETURN(std::vector<int64_t> bases, list_segments(dir_));
  const bool durable = options_.fsync != LocalBusOptions::Fsync::kNever;
  if (bases.empty()) {
    FC_ASSIGN_OR_RETURN(LocalFile f,
                        LocalFile::open(dir_ / segment_file_name(0), O_RDWR | O_CREAT));
    if (durable) FC_RETURN_IF_ERROR(sync_directory(dir_));
    segment_ = std::make_shared<LocalFile>(std::move(f));
    return Status();
  }

  segment_base_ = bases.back();
  FC_ASSIGN_OR_RETURN(LocalFile f,
                      LocalFile::open(dir_ / segment_file_name(segment_base_), O_RDWR));
  FC_ASSIGN_OR_RETURN(int64_t size, f.size());

  // Walk the frames of the last segment in big reads; stop at the first one that is incomplete,
  // fails a checksum or has an unexpected offset.
  constexpr size_t kChunk = size_t{1} << 20;
  std::vector<char> buf(kChunk);
  int64_t pos = 0;      // file position of the next frame
  int64_t buf_pos = 0;  // file position of buf[0]
  size_t buf_len = 0;
  int64_t offset = segment_base_;
  while (pos < size) {
    size_t at = static_cast<size_t>(pos - buf_pos);
    size_t need = kFrameHeaderSize;
    FrameHeader h;
    bool have_header = buf_len - at >= kFrameHeaderSize;
    if (have_header) {
      if (!decode_frame_header(buf.data() + at, &h) || h.offset != offset) break;
      need = h.frame_size();
    }
    if (buf_len - at < need) {
      if (pos + static_cast<int64_t>(need) > size) break;  // incomplete frame at the end
      if (need > buf.size()) buf.resize(need);
      FC_ASSIGN_OR_RETURN(buf_len, f.pread(buf.data(), buf.size(), pos));
      buf_pos = pos;
      if (buf_len < need) break;  // the file shrank under us: treat the rest as a torn tail
      continue;
    }
    FrameRecord rec;
    if (!decode_frame_body(h, buf.data() + at + kFrameHeaderSize, &rec)) break;
    pos += static_cast<int64_t>(h.frame_size());
    ++offset;
  }

  if (pos < size) {
    FC_ASSIGN_OR_RETURN(bool damage_inside, valid_frame_follows(f, pos, size, offset));
    if (damage_inside) {
      return Status::corruption(f.path() + ": the record at byte " + std::to_string(pos) +
                                " (offset " + std::to_string(offset) +
                                ") is damaged but valid records follow it; refusing to cut them. "
                                "To give up that record and all after it, truncate the file to " +
                                std::to_string(pos) + " bytes");
    }
    logger("bus.local")
        ->warn("{}: cut {} bytes of a torn tail at byte {} of {} (offset {})", name_, size - pos,
               pos, f.path(), offset);
    FC_RETURN_IF_ERROR(f.truncate(pos));
    if (durable) FC_RETURN_IF_ERROR(f.sync());
  }
  segment_size_ = pos;
  next_offset_ = offset;
  synced_end_ = offset;
  segment_ = std::make_shared<LocalFile>(std::move(f));
  return Status();
}

Status LocalPartitionWriter::roll() {
  const bool durable = options_.fsync != LocalBusOptions::Fsync::kNever;
  if (durable && synced_end_ < next_offset_) {
    FC_RETURN_IF_ERROR(segment_->sync());
    synced_end_ = next_offset_;
  }
  FC_ASSIGN_OR_RETURN(LocalFile f,
                      LocalFile::open(dir_ / segment_file_name(next_offset_), O_RDWR | O_CREAT));
  if (durable) FC_RETURN_IF_ERROR(sync_directory(dir_));
  segment_ = std::make_shared<LocalFile>(std::move(f));
  segment_base_ = next_offset_;
  segment_size_ = 0;
  return Status();
}

Status LocalPartitionWriter::append(std::span<const OutMessage> messages,
                                    std::span<const uint32_t> which, int64_t now_ms) {
  if (which.empty()) return Status();
  std::lock_guard lock(mu_);
  size_t total = 0;
  for (uint32_t i : which) total += frame_size(messages[i].key.size(), messages[i].value.size());
  if (buf_.size() < total) buf_.resize(total);
  char* p = buf_.data();
  int64_t offset = next_offset_;
  for (uint32_t i : which) {
    const OutMessage& m = messages[i];
    p += encode_frame(p, offset++, m.timestamp_ms != 0 ? m.timestamp_ms : now_ms, m.key, m.value);
  }

  if (segment_size_ > 0 && segment_size_ + static_cast<int64_t>(total) > options_.segment_bytes) {
    FC_RETURN_IF_ERROR(roll().with_context("partition " + name_));
  }
  Status written = segment_->pwrite_all(buf_.data(), total, segment_size_);
  if (!written.ok()) {
    // Leave no partial batch behind: readers would wait on it, and the next open would cut it.
    Status cut = segment_->truncate(segment_size_);
    if (!cut.ok()) {
      logger("bus.local")->error("{}: could not cut a failed write: {}", name_, cut.to_string());
    }
    return written.with_context("partition " + name_);
  }
  segment_size_ += static_cast<int64_t>(total);
  next_offset_ = offset;
  if (options_.fsync == LocalBusOptions::Fsync::kAlways) {
    FC_RETURN_IF_ERROR(segment_->sync().with_context("partition " + name_));
    synced_end_ = next_offset_;
  }
  publish();
  return Status();
}

void LocalPartitionWriter::publish() {
  published_end_->store(next_offset_, std::memory_order_release);
  // The hint for other processes' lag(). Best effort: the log itself is the truth.
  char hint[12];
  std::memcpy(hint, &next_offset_, 8);
  uint32_t crc = crc32c(hint, 8);
  std::memcpy(hint + 8, &crc, 4);
  (void)lock_.pwrite_all(hint, sizeof hint, kEndHintPosition);
}

Status LocalPartitionWriter::sync() {
  std::shared_ptr<LocalFile> file;
  int64_t target;
  {
    std::lock_guard lock(mu_);
    if (synced_end_ >= next_offset_) return Status();
    file = segment_;
    target = next_offset_;
  }
  // A roll in the meantime syncs the old segment itself, so syncing `file` covers `target`.
  FC_RETURN_IF_ERROR(file->sync().with_context("partition " + name_));
  std::lock_guard lock(mu_);
  synced_end_ = std::max(synced_end_, target);
  return Status();
}

int64_t LocalPartitionWriter::end_offset() const {
  std::lock_guard lock(mu_);
  return next_offset_;
}

}  // namespace flowcast::bus
