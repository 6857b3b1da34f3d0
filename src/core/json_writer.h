// JsonWriter: appends compact JSON to a string, fast enough for the hot path (no allocation beyond
// the output buffer). It does not validate nesting: callers write well-formed sequences.
#pragma once

#include <charconv>
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>

namespace flowcast {

class JsonWriter {
 public:
  explicit JsonWriter(std::string& out) : out_(out) {}

  void begin_object() { sep(); out_.push_back('{'); first_ = true; }
  void end_object() { out_.push_back('}'); first_ = false; }
  void begin_array() { sep(); out_.push_back('['); first_ = true; }
  void end_array() { out_.push_back(']'); first_ = false; }
  void key(std::string_view k) { sep(); append_string(out_, k); out_.push_back(':'); first_ = true; }

  void value(std::string_view s) { sep(); append_string(out_, s); }
  void value(const char* s) { value(std::string_view(s)); }
  void value(double d);  // non-finite values are written as null
  void value(int64_t n);
  void value(int n) { value(static_cast<int64_t>(n)); }
  void value(bool b) { sep(); out_.append(b ? "true" : "false"); }
  void null() { sep(); out_.append("null"); }
  // Appends already-encoded JSON as one value.
  void raw(std::string_view json) { sep(); out_.append(json); }

  template <typename T>
  void field(std::string_view k, const T& v) { key(k); value(v); }

  // Appends `s` as a JSON string literal. Bytes that are not valid UTF-8 are written as \u00XX.
  static void append_string(std::string& out, std::string_view s);
  // Appends a number as value() writes it: the shortest form that reads back exactly; a double
  // that is not finite as null. Inline: the prediction message calls them for every request.
  static void append_number(std::string& out, double d) {
    if (!std::isfinite(d)) {
      out.append("null");
      return;
    }
    char buf[32];
    auto [ptr, ec] = std::to_chars(buf, buf + sizeof buf, d);
    out.append(buf, static_cast<size_t>(ptr - buf));
  }
  static void append_number(std::string& out, int64_t n) {
    char buf[24];
    auto [ptr, ec] = std::to_chars(buf, buf + sizeof buf, n);
    out.append(buf, static_cast<size_t>(ptr - buf));
  }

 private:
  void sep() {
    if (!first_) out_.push_back(',');
    first_ = false;
  }
  std::string& out_;
  bool first_ = true;
};

}  // namespace flowcast
