// Time helpers: wall clock, timestamp parsing/formatting, human durations ("30s", "5m").
//
// flowcast keeps timestamps as int64 microseconds since the Unix epoch. Timestamps without a zone
// ("2016-01-08 22:31:12", as in the Kaggle taxi data) are read as UTC wall-clock time, and calendar
// features (hour, weekday) are computed in UTC, so training and serving always agree.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace flowcast {

int64_t now_micros();
int64_t now_millis();
// Monotonic clock in nanoseconds, for latency and rate measurements.
int64_t mono_nanos();

// Accepts "YYYY-MM-DD", "YYYY-MM-DD HH:MM[:SS[.ffffff]]", the same with 'T', and an optional
// "Z" or "+hh:mm"/"-hh:mm" suffix. Returns nullopt on anything else.
std::optional<int64_t> parse_timestamp_micros(std::string_view text);
// "YYYY-MM-DDTHH:MM:SS[.ffffff]Z" (fraction only when non-zero).
std::string format_timestamp_micros(int64_t micros);
// The same text written into `buf` (at least kTimestampChars bytes) without allocating, for
// per-record paths; returns its length.
inline constexpr size_t kTimestampChars = 48;
size_t format_timestamp_micros(int64_t micros, char* buf);

// Calendar fields of a UTC timestamp.
struct CivilTime {
  int year, month, day, hour, minute, second, weekday;  // weekday: 0 = Monday .. 6 = Sunday
  int day_of_year;                                      // 1..366
};
CivilTime civil_from_micros(int64_t micros);

// "250ms", "30s", "5m", "2h", or a bare number of seconds. Returns nullopt when malformed.
std::optional<int64_t> parse_duration_millis(std::string_view text);

}  // namespace flowcast
