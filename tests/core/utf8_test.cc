#include "core/utf8.h"

#include <gtest/gtest.h>

#include <string>

namespace flowcast {
namespace {

TEST(Utf8, AcceptsWellFormedText) {
  EXPECT_TRUE(valid_utf8(""));
  EXPECT_TRUE(valid_utf8("plain ascii, longer than eight bytes"));
  EXPECT_TRUE(valid_utf8("Казань, улица Баумана"));
  EXPECT_TRUE(valid_utf8("\xE2\x82\xAC"));          // U+20AC
  EXPECT_TRUE(valid_utf8("\xF0\x9F\x98\x80"));      // U+1F600
  EXPECT_TRUE(valid_utf8("\xF4\x8F\xBF\xBF"));      // U+10FFFF, the last code point
  EXPECT_TRUE(valid_utf8(std::string("a\0b", 3)));  // NUL is valid UTF-8
}

TEST(Utf8, RejectsMalformedText) {
  EXPECT_FALSE(valid_utf8("\xCA\xE0\xE7\xE0\xED\xFC"));  // "Казань" in Windows-1251
  EXPECT_FALSE(valid_utf8("abcdefgh\x80"));              // a stray continuation byte
  EXPECT_FALSE(valid_utf8("\xD0"));                      // truncated
  EXPECT_FALSE(valid_utf8("\xE2\x82"));                  // truncated
  EXPECT_FALSE(valid_utf8("\xC0\xAF"));                  // overlong '/'
  EXPECT_FALSE(valid_utf8("\xE0\x80\xAF"));              // overlong '/'
  EXPECT_FALSE(valid_utf8("\xED\xA0\x80"));              // U+D800, a surrogate
  EXPECT_FALSE(valid_utf8("\xF4\x90\x80\x80"));          // past U+10FFFF
  EXPECT_FALSE(valid_utf8("\xFF"));
}

TEST(Utf8, PrefixNeverCutsACharacter) {
  EXPECT_EQ(utf8_prefix("abc", 10), "abc");
  EXPECT_EQ(utf8_prefix("abc", 2), "ab");
  EXPECT_EQ(utf8_prefix("жжж", 3), "ж");  // 2 bytes each: the second is not cut in half
  EXPECT_EQ(utf8_prefix("жжж", 4), "жж");
  EXPECT_EQ(utf8_prefix("ж", 1), "");
}

}  // namespace
}  // namespace flowcast
