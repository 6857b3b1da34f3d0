// CRC-32C (Castagnoli), the checksum of the local log's record frames.
// Uses the SSE4.2 instruction when the CPU has it, a table otherwise; both give the same value.
#pragma once

#include <cstddef>
#include <cstdint>

namespace flowcast {

uint32_t crc32c(const void* data, size_t size, uint32_t seed = 0);

}  // namespace flowcast
