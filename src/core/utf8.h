// UTF-8 checks shared by every layer: text that enters a Record from outside (a CSV cell, a
// message) must be well-formed UTF-8, because JSON (the codec, the model artifact) and PostgreSQL
// refuse anything else. Header-only; thread-safe (pure functions).
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

namespace flowcast {

// True when `text` is well-formed UTF-8: no stray continuation bytes, no truncated sequences, no
// overlong forms, no surrogates (U+D800..U+DFFF) and nothing past U+10FFFF, the same rules as
// nlohmann::json, simdjson and PostgreSQL.
inline bool valid_utf8(std::string_view text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const auto* end = p + text.size();
  while (p < end) {
    // ASCII runs, 8 bytes at a time.
    while (end - p >= 8) {
      uint64_t w;
      std::memcpy(&w, p, 8);
      if ((w & 0x8080808080808080ull) != 0) break;
      p += 8;
    }
    if (p >= end) break;
    const unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    int len;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;  // a continuation byte, an overlong lead (C0, C1) or past U+10FFFF (F5..FF)
    }
    if (end - p < len) return false;
    for (int i = 1; i < len; ++i) {
      if ((p[i] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i] & 0x3F);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
      return false;
    p += len;
  }
  return true;
}

// The longest prefix of `text` of at most `max_bytes` bytes that does not end inside a UTF-8
// sequence, for quoting a value in a message without cutting a character in two.
inline std::string_view utf8_prefix(std::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  size_t n = max_bytes;
  while (n > 0 && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80) --n;
  return text.substr(0, n);
}

}  // namespace flowcast
