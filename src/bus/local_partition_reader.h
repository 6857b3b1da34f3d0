// LocalPartitionReader: reads one partition of the local log in offset order, from any process.
//
// Reads go through a 1 MiB buffer filled by pread(2), so a caught-up reader costs two syscalls per
// poll (a pread at the end of the segment, an open() probing for the next segment) and a lagging
// one about one pread per 4,000 records of 200 bytes. Every record's checksum is verified.
//
// Seeking lists the segment files, opens the one with the largest base offset <= the target, and
// skips frames up to the target reading headers only (there is no sparse index: a seek costs up
// to one segment's worth of sequential reads, ~10 ms for 64 MiB from the page cache).
//
// What the bytes at the read position can be:
// - a whole frame with the expected offset: returned;
// - an incomplete frame at the end of the last segment: a write in progress (or a torn tail): not
//   yet written, read() returns what it has and tries again next time;
// - a damaged frame with valid frames after it, or in a segment that is not the last: corruption,
//   reported by read() (after the good records before it were returned by an earlier call);
// - a damaged frame with nothing valid after it in the last segment: a torn tail left by a writer
//   that crashed; treated as not yet written (the next writer to open the partition cuts it).
//
// Thread-safety: none; one consumer thread uses a reader.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "bus/local_file.h"
#include "bus/message_batch.h"
#include "core/status.h"

namespace flowcast::bus {

class LocalPartitionReader {
 public:
  // `in_process_end` is this process's published end offset of the partition (-1 when this
  // process does not write it); it must outlive the reader.
  LocalPartitionReader(std::string topic, int32_t partition, std::filesystem::path dir,
                       const std::atomic<int64_t>* in_process_end);

  // The next read() starts at `offset`. An offset before the first segment starts at the first
  // segment; an offset past the end waits until it is written.
  void seek(int64_t offset);
  int64_t position() const { return position_; }

  // Appends up to `max` records at position() to `out` and advances. Returns how many (0 when
  // there is nothing new), or corruption when the next record is damaged (never after appending
  // something: the damage is reported by the following call).
  Result<size_t> read(MessageBatch& out, size_t max);

  // The partition's end offset as cheaply known: exact for partitions this process writes, else
  // the hint the writing process keeps in writer.lock, at least what this reader has seen.
  int64_t end_offset_hint();

 private:
  Status locate();
  Result<bool> fill(size_t need);
  Result<bool> open_next_segment();
  Result<size_t> on_bad_frame(size_t appended, const char* what);
  Status check_not_superseded(size_t appended);
  size_t buffered() const { return buf_len_ - static_cast<size_t>(pos_ - buf_pos_); }
  std::string where() const;

  const std::string topic_;
  const int32_t partition_;
  const std::filesystem::path dir_;
  const std::atomic<int64_t>* const in_process_end_;

  int64_t position_ = 0;        // next offset to return
  int64_t seen_end_ = 0;        // highest offset returned + 1
  int64_t next_looked_ns_ = 0;  // when open_next_segment() last looked for the file
  static constexpr int64_t kNextSegmentLookNs = 100'000'000;
  bool located_ = false;
  LocalFile segment_;
  int64_t segment_base_ = 0;
  int64_t segment_next_ = 0;  // offset after the last frame parsed in this segment
  int64_t pos_ = 0;           // file position of the next frame
  std::vector<char> buf_;
  int64_t buf_pos_ = 0;  // file position of buf_[0]
  size_t buf_len_ = 0;
  bool tail_partial_ = false;  // the last read stopped at an incomplete or torn frame
  // The last torn-tail verdict (segment base, file position, file size), to avoid rescanning.
  int64_t torn_base_ = -1, torn_pos_ = -1, torn_size_ = -1;
  LocalFile hint_file_;
};

}  // namespace flowcast::bus
