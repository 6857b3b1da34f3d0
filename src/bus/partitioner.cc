#include <cstring>

#include "bus/bus.h"

namespace flowcast::bus {

uint32_t murmur2(const void* data, size_t size) {
  // The variant used by Kafka's Java client (seed 0x9747b28c).
  const uint32_t m = 0x5bd1e995;
  const int r = 24;
  uint32_t h = 0x9747b28c ^ static_cast<uint32_t>(size);
  const auto* p = static_cast<const unsigned char*>(data);
  size_t len = size;
  while (len >= 4) {
    uint32_t k;
    std::memcpy(&k, p, 4);
    k *= m;
    k ^= k >> r;
    k *= m;
    h *= m;
    h ^= k;
    p += 4;
    len -= 4;
  }
  switch (len) {
    case 3: h ^= static_cast<uint32_t>(p[2]) << 16; [[fallthrough]];
    case 2: h ^= static_cast<uint32_t>(p[1]) << 8; [[fallthrough]];
    case 1:
      h ^= p[0];
      h *= m;
  }
  h ^= h >> 13;
  h *= m;
  h ^= h >> 15;
  return h;
}

int32_t partition_for_key(std::string_view key, int32_t partitions) {
  uint32_t h = murmur2(key.data(), key.size()) & 0x7fffffff;
  return static_cast<int32_t>(h % static_cast<uint32_t>(partitions));
}

}  // namespace flowcast::bus
