// The on-disk format of the local bus: record frames, segment file names, topic names.
// README.md in this folder draws the layout; this header is its source of truth.
//
// A frame (all integers little-endian):
//
//   0  u32 body_len     bytes of the body (12 + key length + value length)
//   4  u32 body_crc     CRC-32C of the body
//   8  i64 offset       the record's offset in its partition
//  16  u32 header_crc   CRC-32C of bytes 0..15, so a damaged length or offset is caught before the
//                       length is trusted
//  20  body: i64 timestamp_ms, u32 key_len, key bytes, value bytes
//
// A reader can thus tell three states apart: incomplete (fewer bytes than the header or the
// length says: a write in progress, or a torn tail), damaged (a checksum fails) and whole.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bus/local_file.h"
#include "core/status.h"

namespace flowcast::bus {

static_assert(std::endian::native == std::endian::little,
              "the local bus writes little-endian frames with memcpy");

inline constexpr size_t kFrameHeaderSize = 20;
inline constexpr size_t kFrameBodyFixedSize = 12;
// Largest body a frame may have; a producer is refused a bigger record.
inline constexpr uint32_t kMaxFrameBodySize = 256u << 20;

struct FrameHeader {
  uint32_t body_len = 0;
  uint32_t body_crc = 0;
  int64_t offset = 0;
  size_t frame_size() const { return kFrameHeaderSize + body_len; }
};

struct FrameRecord {
  int64_t timestamp_ms = 0;
  std::string_view key;
  std::string_view value;
};

inline size_t frame_size(size_t key_size, size_t value_size) {
  return kFrameHeaderSize + kFrameBodyFixedSize + key_size + value_size;
}

// Writes one frame at `dst` (REQUIRES: frame_size(key, value) bytes of room and a body no larger
// than kMaxFrameBodySize). Returns the bytes written.
size_t encode_frame(char* dst, int64_t offset, int64_t timestamp_ms, std::string_view key,
                    std::string_view value);

// Reads the header at `p` (kFrameHeaderSize bytes). False when its checksum fails or the length
// is impossible.
bool decode_frame_header(const char* p, FrameHeader* header);

// Checks the body at `body` (header.body_len bytes) against its checksum and splits it. False
// when the checksum fails or the key length does not fit.
bool decode_frame_body(const FrameHeader& header, const char* body, FrameRecord* record);

// Whether a frame with a valid header and an offset >= min_offset starts anywhere in
// (from, file_size) of `file`. Used to tell a torn tail (nothing valid after the bad bytes: cut
// it, or wait for the writer to) from damage in the middle of a log (valid records follow: report
// it). Reads the rest of the file; only called when something is already wrong.
Result<bool> valid_frame_follows(const LocalFile& file, int64_t from, int64_t file_size,
                                 int64_t min_offset);

// "00000000000000001234.log" for base offset 1234, and back.
std::string segment_file_name(int64_t base_offset);
std::optional<int64_t> parse_segment_file_name(std::string_view name);
// Base offsets of the segment files in a partition directory, ascending (empty when the
// directory is absent).
Result<std::vector<int64_t>> list_segments(const std::filesystem::path& partition_dir);

// Kafka's rule: 1..249 characters of [A-Za-z0-9._-], not "." or "..".
bool valid_topic_name(std::string_view topic);
// A group name as a directory name: [A-Za-z0-9_-] and non-leading '.' kept, others as %XX.
std::string escape_group_name(std::string_view group);

}  // namespace flowcast::bus
