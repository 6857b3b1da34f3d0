#include "core/time_util.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <climits>
#include <cstdio>

namespace flowcast {
namespace {

// Howard Hinnant's days_from_civil: proleptic Gregorian calendar, no time zone database needed.
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void civil_from_days(int64_t z, int& y, int& m, int& d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t yy = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  m = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  y = static_cast<int>(yy + (m <= 2));
}

bool digits(std::string_view s, size_t pos, size_t n, int& out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = 0; i < n; ++i) {
    char c = s[pos + i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  out = v;
  return true;
}

}  // namespace

int64_t now_micros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t now_millis() { return now_micros() / 1000; }

int64_t mono_nanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::optional<int64_t> parse_timestamp_micros(std::string_view s) {
  int year, month, day, hour = 0, minute = 0, second = 0;
  if (!digits(s, 0, 4, year) || s.size() < 10 || s[4] != '-' || !digits(s, 5, 2, month) ||
      s[7] != '-' || !digits(s, 8, 2, day))
    return std::nullopt;
  // The month's own length: 2021-02-30 is refused, not read as 2 March.
  static constexpr int kDays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month < 1 || month > 12 || day < 1 || day > kDays[month - 1]) return std::nullopt;
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  if (month == 2 && day == 29 && !leap) return std::nullopt;
  size_t pos = 10;
  int64_t frac_micros = 0;
  if (pos < s.size() && (s[pos] == ' ' || s[pos] == 'T')) {
    if (!digits(s, pos + 1, 2, hour) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !digits(s, pos + 4, 2, minute))
      return std::nullopt;
    pos += 6;
    if (pos < s.size() && s[pos] == ':') {
      if (!digits(s, pos + 1, 2, second)) return std::nullopt;
      pos += 3;
      if (pos < s.size() && (s[pos] == '.' || s[pos] == ',')) {
        ++pos;
        int64_t scale = 100000;
        size_t start = pos;
        while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
          if (scale > 0) frac_micros += (s[pos] - '0') * scale;
          scale /= 10;
          ++pos;
        }
        if (pos == start) return std::nullopt;
      }
    }
    if (hour > 23 || minute > 59 || second > 60) return std::nullopt;
  }
  int64_t offset_seconds = 0;
  if (pos < s.size()) {
    if (s[pos] == 'Z' && pos + 1 == s.size()) {
      pos++;
    } else if ((s[pos] == '+' || s[pos] == '-') && s.size() == pos + 6 && s[pos + 3] == ':') {
      int oh, om;
      if (!digits(s, pos + 1, 2, oh) || !digits(s, pos + 4, 2, om)) return std::nullopt;
      offset_seconds = (oh * 3600 + om * 60) * (s[pos] == '+' ? 1 : -1);
      pos = s.size();
    } else {
      return std::nullopt;
    }
  }
  int64_t days = days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  int64_t secs = days * 86400 + hour * 3600 + minute * 60 + second - offset_seconds;
  return secs * 1000000 + frac_micros;
}

CivilTime civil_from_micros(int64_t micros) {
  int64_t secs = micros >= 0 ? micros / 1000000 : -((-micros + 999999) / 1000000);
  int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
  int64_t rem = secs - days * 86400;
  // The date of the last day asked for on this thread: a stream's timestamps mostly fall on the
  // day of the one before (every prediction message formats its event time), and the date is
  // the costly part.
  thread_local int64_t last_days = INT64_MIN;
  thread_local CivilTime last_date{};
  if (days != last_days) {
    CivilTime d{};
    civil_from_days(days, d.year, d.month, d.day);
    // 1970-01-01 was a Thursday (weekday 3 when Monday is 0).
    d.weekday = static_cast<int>(((days % 7) + 7 + 3) % 7);
    d.day_of_year = static_cast<int>(days - days_from_civil(d.year, 1, 1)) + 1;
    last_date = d;
    last_days = days;
  }
  CivilTime t = last_date;
  t.hour = static_cast<int>(rem / 3600);
  t.minute = static_cast<int>((rem % 3600) / 60);
  t.second = static_cast<int>(rem % 60);
  return t;
}

namespace {
char* put_digits(char* p, int value, int width) {
  for (int i = width - 1; i >= 0; --i) {
    p[i] = char('0' + value % 10);
    value /= 10;
  }
  return p + width;
}
}  // namespace

size_t format_timestamp_micros(int64_t micros, char* buf) {
  const CivilTime t = civil_from_micros(micros);
  const int64_t frac = ((micros % 1000000) + 1000000) % 1000000;
  if (t.year < 0 || t.year > 9999) {  // rare: let snprintf handle the width and the sign
    const int n = frac == 0 ? std::snprintf(buf, kTimestampChars, "%04d-%02d-%02dT%02d:%02d:%02dZ",
                                            t.year, t.month, t.day, t.hour, t.minute, t.second)
                            : std::snprintf(buf, kTimestampChars,
                                            "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", t.year, t.month,
                                            t.day, t.hour, t.minute, t.second,
                                            static_cast<long long>(frac));
    return size_t(std::clamp(n, 0, int(kTimestampChars) - 1));
  }
  char* p = buf;
  p = put_digits(p, t.year, 4);
  *p++ = '-';
  p = put_digits(p, t.month, 2);
  *p++ = '-';
  p = put_digits(p, t.day, 2);
  *p++ = 'T';
  p = put_digits(p, t.hour, 2);
  *p++ = ':';
  p = put_digits(p, t.minute, 2);
  *p++ = ':';
  p = put_digits(p, t.second, 2);
  if (frac != 0) {
    *p++ = '.';
    p = put_digits(p, int(frac), 6);
  }
  *p++ = 'Z';
  return size_t(p - buf);
}

std::string format_timestamp_micros(int64_t micros) {
  char buf[kTimestampChars];
  return std::string(buf, format_timestamp_micros(micros, buf));
}

std::optional<int64_t> parse_duration_millis(std::string_view text) {
  double value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || value < 0) return std::nullopt;
  std::string_view unit(ptr, static_cast<size_t>(text.data() + text.size() - ptr));
  double scale;
  if (unit.empty() || unit == "s") scale = 1000;
  else if (unit == "ms") scale = 1;
  else if (unit == "m" || unit == "min") scale = 60000;
  else if (unit == "h") scale = 3600000;
  else return std::nullopt;
  return static_cast<int64_t>(value * scale);
}

}  // namespace flowcast
