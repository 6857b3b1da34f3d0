#include "bus/local_format.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <system_error>

#include "core/crc32c.h"

namespace flowcast::bus {
namespace {

template <typename T>
void put(char* p, T v) {
  std::memcpy(p, &v, sizeof(T));
}
template <typename T>
T get(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

// Offsets further than this past min_offset are not believed when resynchronising.
constexpr int64_t kMaxOffsetJump = int64_t{1} << 40;

}  // namespace

size_t encode_frame(char* dst, int64_t offset, int64_t timestamp_ms, std::string_view key,
                    std::string_view value) {
  const size_t body_len = kFrameBodyFixedSize + key.size() + value.size();
  char* body = dst + kFrameHeaderSize;
  put<int64_t>(body, timestamp_ms);
  put<uint32_t>(body + 8, static_cast<uint32_t>(key.size()));
  if (!key.empty()) std::memcpy(body + kFrameBodyFixedSize, key.data(), key.size());
  if (!value.empty()) {
    std::memcpy(body + kFrameBodyFixedSize + key.size(), value.data(), value.size());
  }
  put<uint32_t>(dst, static_cast<uint32_t>(body_len));
  put<uint32_t>(dst + 4, crc32c(body, body_len));
  put<int64_t>(dst + 8, offset);
  put<uint32_t>(dst + 16, crc32c(dst, 16));
  return kFrameHeaderSize + body_len;
}

bool decode_frame_header(const char* p, FrameHeader* header) {
  if (get<uint32_t>(p + 16) != crc32c(p, 16)) return false;
  header->body_len = get<uint32_t>(p);
  header->body_crc = get<uint32_t>(p + 4);
  header->offset = get<int64_t>(p + 8);
  return header->body_len >= kFrameBodyFixedSize && header->body_len <= kMaxFrameBodySize &&
         header->offset >= 0;
}

bool decode_frame_body(const FrameHeader& header, const char* body, FrameRecord* record) {
  if (crc32c(body, header.body_len) != header.body_crc) return false;
  uint32_t key_len = get<uint32_t>(body + 8);
  if (key_len > header.body_len - kFrameBodyFixedSize) return false;
  record->timestamp_ms = get<int64_t>(body);
  record->key = std::string_view(body + kFrameBodyFixedSize, key_len);
  record->value = std::string_view(body + kFrameBodyFixedSize + key_len,
                                   header.body_len - kFrameBodyFixedSize - key_len);
  return true;
}

Result<bool> valid_frame_follows(const LocalFile& file, int64_t from, int64_t file_size,
                                 int64_t min_offset) {
  auto plausible = [&](const char* p) {
    FrameHeader h;
    return decode_frame_header(p, &h) && h.offset >= min_offset &&
           h.offset - min_offset < kMaxOffsetJump;
  };
  // Fast path: the bad frame's own header is sound (only its body is damaged), so the next frame
  // starts right after it.
  char head[kFrameHeaderSize];
  FC_ASSIGN_OR_RETURN(size_t n, file.pread(head, sizeof head, from));
  FrameHeader h;
  if (n == sizeof head && decode_frame_header(head, &h)) {
    int64_t next = from + static_cast<int64_t>(h.frame_size());
    FC_ASSIGN_OR_RETURN(size_t m, file.pread(head, sizeof head, next));
    if (m == sizeof head && plausible(head)) return true;
  }
  // Slow path: try every byte position.
  constexpr size_t kChunk = size_t{1} << 20;
  std::vector<char> buf(kChunk + kFrameHeaderSize);
  for (int64_t pos = from + 1; pos + static_cast<int64_t>(kFrameHeaderSize) <= file_size;) {
    FC_ASSIGN_OR_RETURN(size_t got, file.pread(buf.data(), buf.size(), pos));
    if (got < kFrameHeaderSize) break;
    size_t last = got - kFrameHeaderSize;
    for (size_t i = 0; i <= last; ++i) {
      if (plausible(buf.data() + i)) return true;
    }
    pos += static_cast<int64_t>(last) + 1;
  }
  return false;
}

std::string segment_file_name(int64_t base_offset) {
  char name[32];
  std::snprintf(name, sizeof name, "%020lld.log", static_cast<long long>(base_offset));
  return name;
}

std::optional<int64_t> parse_segment_file_name(std::string_view name) {
  if (name.size() != 24 || name.substr(20) != ".log") return std::nullopt;
  int64_t v = 0;
  for (size_t i = 0; i < 20; ++i) {
    char c = name[i];
    if (c < '0' || c > '9') return std::nullopt;
    if (v > (INT64_MAX - 9) / 10) return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

Result<std::vector<int64_t>> list_segments(const std::filesystem::path& partition_dir) {
  std::vector<int64_t> bases;
  std::error_code ec;
  std::filesystem::directory_iterator it(partition_dir, ec);
  if (ec) {
    if (ec == std::errc::no_such_file_or_directory) return bases;
    return Status::io_error("list " + partition_dir.string() + ": " + ec.message());
  }
  for (const auto& entry : it) {
    if (auto base = parse_segment_file_name(entry.path().filename().native())) {
      bases.push_back(*base);
    }
  }
  std::sort(bases.begin(), bases.end());
  return bases;
}

bool valid_topic_name(std::string_view topic) {
  if (topic.empty() || topic.size() > 249 || topic == "." || topic == "..") return false;
  return std::all_of(topic.begin(), topic.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

std::string escape_group_name(std::string_view group) {
  std::string out;
  for (size_t i = 0; i < group.size(); ++i) {
    auto c = static_cast<unsigned char>(group[i]);
    bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '_' || c == '-' || (c == '.' && i > 0);
    if (keep) {
      out += static_cast<char>(c);
    } else {
      char hex[4];
      std::snprintf(hex, sizeof hex, "%%%02X", c);
      out += hex;
    }
  }
  return out;
}

}  // namespace flowcast::bus
