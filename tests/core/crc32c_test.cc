#include "core/crc32c.h"

#include <gtest/gtest.h>

#include <string>

namespace flowcast {
namespace {

TEST(Crc32c, KnownVectors) {
  // RFC 3720 test vectors.
  EXPECT_EQ(crc32c("", 0), 0u);
  std::string digits = "123456789";
  EXPECT_EQ(crc32c(digits.data(), digits.size()), 0xE3069283u);
  std::string zeros(32, '\0');
  EXPECT_EQ(crc32c(zeros.data(), zeros.size()), 0x8A9136AAu);
}

TEST(Crc32c, ChainsAcrossCalls) {
  std::string s = "the quick brown fox jumps over the lazy dog";
  uint32_t whole = crc32c(s.data(), s.size());
  uint32_t part = crc32c(s.data(), 10);
  EXPECT_EQ(crc32c(s.data() + 10, s.size() - 10, part), whole);
}

TEST(Crc32c, DetectsSingleBitFlip) {
  std::string s(1000, 'a');
  uint32_t before = crc32c(s.data(), s.size());
  s[517] ^= 0x04;
  EXPECT_NE(crc32c(s.data(), s.size()), before);
}

}  // namespace
}  // namespace flowcast
