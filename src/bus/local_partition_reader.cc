#include "bus/local_partition_reader.h"

#include "core/time_util.h"

#include <fcntl.h>

#include <algorithm>
#include <cstring>

#include "bus/local_format.h"
#include "bus/local_partition_writer.h"
#include "core/crc32c.h"
#include "core/log.h"

namespace flowcast::bus {
namespace {
constexpr size_t kReadChunk = size_t{1} << 20;
}  // namespace

LocalPartitionReader::LocalPartitionReader(std::string topic, int32_t partition,
                                           std::filesystem::path dir,
                                           const std::atomic<int64_t>* in_process_end)
    : topic_(std::move(topic)),
      partition_(partition),
      dir_(std::move(dir)),
      in_process_end_(in_process_end) {}

std::string LocalPartitionReader::where() const {
  return topic_ + "/" + std::to_string(partition_);
}

void LocalPartitionReader::seek(int64_t offset) {
  position_ = offset;
  located_ = false;
}

Status LocalPartitionReader::locate() {
  FC_ASSIGN_OR_RETURN(std::vector<int64_t> bases, list_segments(dir_));
  if (bases.empty()) return Status();  // nothing written yet
  auto it = std::upper_bound(bases.begin(), bases.end(), position_);
  int64_t base;
  if (it == bases.begin()) {
    base = bases.front();
    logger("bus.local")
        ->info("{}: offset {} is before the log's first record {}; reading from there", where(),
               position_, base);
    position_ = base;
  } else {
    base = *(it - 1);
  }
  FC_ASSIGN_OR_RETURN(segment_, LocalFile::open(dir_ / segment_file_name(base), O_RDONLY));
  segment_base_ = base;
  segment_next_ = base;
  pos_ = 0;
  buf_pos_ = 0;
  buf_len_ = 0;
  tail_partial_ = false;
  located_ = true;
  return Status();
}

Result<bool> LocalPartitionReader::fill(size_t need) {
  size_t avail = buffered();
  if (avail >= need) return true;
  size_t at = static_cast<size_t>(pos_ - buf_pos_);
  if (at > 0) {
    std::memmove(buf_.data(), buf_.data() + at, avail);
    buf_pos_ = pos_;
    buf_len_ = avail;
  }
  if (buf_.size() < std::max(need, kReadChunk)) buf_.resize(std::max(need, kReadChunk));
  FC_ASSIGN_OR_RETURN(size_t got, segment_.pread(buf_.data() + buf_len_, buf_.size() - buf_len_,
                                                 buf_pos_ + static_cast<int64_t>(buf_len_)));
  buf_len_ += got;
  return buf_len_ >= need;
}

Result<bool> LocalPartitionReader::open_next_segment() {
  // The writer rolls only between whole batches, so the next segment is named after the offset
  // that follows this segment's last record. An empty segment has no successor yet.
  if (segment_next_ == segment_base_) return false;
  // A reader at the end of the partition comes here on every read that finds nothing new, and
  // the look is a path lookup that mostly ends in "not found". The next segment can only exist
  // once the partition's end is past this segment's records, which the writer's end hint tells
  // at the cost of a 12-byte read; as the hint is best effort, a look every 100 ms still catches
  // a segment that a stale hint hides.
  const int64_t now_ns = mono_nanos();
  if (end_offset_hint() <= segment_next_ && now_ns - next_looked_ns_ < kNextSegmentLookNs)
    return false;
  next_looked_ns_ = now_ns;
  auto next = LocalFile::open(dir_ / segment_file_name(segment_next_), O_RDONLY);
  if (!next.ok()) {
    if (next.status().code() == StatusCode::kNotFound) return false;
    return next.status();
  }
  segment_ = std::move(next).value();
  segment_base_ = segment_next_;
  pos_ = 0;
  buf_pos_ = 0;
  buf_len_ = 0;
  return true;
}

Result<size_t> LocalPartitionReader::read(MessageBatch& out, size_t max) {
  if (in_process_end_ != nullptr) {
    int64_t end = in_process_end_->load(std::memory_order_acquire);
    if (end >= 0 && position_ >= end) return 0;
  }
  if (!located_) {
    FC_RETURN_IF_ERROR(locate());
    if (!located_) return 0;
  }
  if (tail_partial_) {
    // Forget the unparsed bytes: a writer may have cut and rewritten them since.
    buf_len_ = static_cast<size_t>(pos_ - buf_pos_);
    tail_partial_ = false;
  }
  size_t n = 0;
  while (n < max) {
    if (buffered() < kFrameHeaderSize) {
      FC_ASSIGN_OR_RETURN(bool have, fill(kFrameHeaderSize));
      if (have) continue;
      if (buffered() == 0) {
        FC_ASSIGN_OR_RETURN(bool switched, open_next_segment());
        if (switched) continue;
        break;
      }
      FC_RETURN_IF_ERROR(check_not_superseded(n));
      tail_partial_ = true;
      break;
    }
    const char* p = buf_.data() + (pos_ - buf_pos_);
    FrameHeader h;
    if (!decode_frame_header(p, &h)) return on_bad_frame(n, "a record header fails its checksum");
    if (h.offset != segment_next_) return on_bad_frame(n, "a record has an unexpected offset");
    if (buffered() < h.frame_size()) {
      FC_ASSIGN_OR_RETURN(bool have, fill(h.frame_size()));
      if (have) continue;
      FC_RETURN_IF_ERROR(check_not_superseded(n));
      tail_partial_ = true;
      break;
    }
    if (h.offset < position_) {  // seeking forward within the segment
      pos_ += static_cast<int64_t>(h.frame_size());
      ++segment_next_;
      continue;
    }
    FrameRecord rec;
    if (!decode_frame_body(h, p + kFrameHeaderSize, &rec)) {
      return on_bad_frame(n, "a record fails its checksum");
    }
    out.add(topic_, partition_, h.offset, rec.timestamp_ms, rec.key, rec.value);
    pos_ += static_cast<int64_t>(h.frame_size());
    ++segment_next_;
    ++position_;
    ++n;
  }
  if (n > 0) seen_end_ = std::max(seen_end_, position_);
  return n;
}

Status LocalPartitionReader::check_not_superseded(size_t appended) {
  // An incomplete frame is a write in progress only in the last segment: the writer rolls after
  // whole batches, so a successor means this segment kept a torn tail that nobody will cut.
  if (appended > 0) return Status();
  FC_ASSIGN_OR_RETURN(std::vector<int64_t> bases, list_segments(dir_));
  if (bases.empty() || bases.back() <= segment_base_) return Status();
  return Status::corruption("partition " + where() + ": " + segment_.path() +
                            " ends in the middle of a record at byte " + std::to_string(pos_) +
                            " although a later segment exists (offset " +
                            std::to_string(segment_next_) + " is lost)");
}

Result<size_t> LocalPartitionReader::on_bad_frame(size_t appended, const char* what) {
  if (appended > 0) {
    seen_end_ = std::max(seen_end_, position_);
    return appended;
  }
  FC_ASSIGN_OR_RETURN(int64_t size, segment_.size());
  if (torn_base_ == segment_base_ && torn_pos_ == pos_ && torn_size_ == size) {
    tail_partial_ = true;
    return 0;
  }
  FC_ASSIGN_OR_RETURN(std::vector<int64_t> bases, list_segments(dir_));
  bool last_segment = bases.empty() || bases.back() <= segment_base_;
  bool valid_after = true;
  if (last_segment) {
    FC_ASSIGN_OR_RETURN(valid_after, valid_frame_follows(segment_, pos_, size, segment_next_));
  }
  if (!valid_after) {
    logger("bus.local")
        ->warn(
            "{}: {} at byte {} of {} and nothing valid follows: a torn tail left by a crashed "
            "writer; waiting for the next writer of the partition to cut it",
            where(), what, pos_, segment_.path());
    torn_base_ = segment_base_;
    torn_pos_ = pos_;
    torn_size_ = size;
    tail_partial_ = true;
    return 0;
  }
  return Status::corruption("partition " + where() + ": " + what + " at byte " +
                            std::to_string(pos_) + " of " + segment_.path() + " (offset " +
                            std::to_string(segment_next_) + ") with valid records after it");
}

int64_t LocalPartitionReader::end_offset_hint() {
  int64_t end = in_process_end_ != nullptr ? in_process_end_->load(std::memory_order_acquire) : -1;
  if (end < 0) {
    if (!hint_file_.valid()) {
      auto f = LocalFile::open(dir_ / LocalPartitionWriter::kLockFileName, O_RDONLY);
      if (f.ok()) hint_file_ = std::move(f).value();
    }
    if (hint_file_.valid()) {
      char hint[12];
      auto n = hint_file_.pread(hint, sizeof hint, LocalPartitionWriter::kEndHintPosition);
      uint32_t crc;
      std::memcpy(&crc, hint + 8, 4);
      if (n.ok() && *n == sizeof hint && crc == crc32c(hint, 8)) std::memcpy(&end, hint, 8);
    }
  }
  return std::max(end, seen_end_);
}

}  // namespace flowcast::bus
