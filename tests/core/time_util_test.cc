#include "core/time_util.h"

#include <gtest/gtest.h>

#include <chrono>
#include <random>

namespace flowcast {
namespace {

TEST(TimeUtil, ParsesKaggleAndIsoForms) {
  auto a = parse_timestamp_micros("2016-01-08 22:31:12");
  ASSERT_TRUE(a);
  EXPECT_EQ(*a, 1452292272LL * 1000000);
  EXPECT_EQ(parse_timestamp_micros("2016-01-08T22:31:12Z"), a);
  EXPECT_EQ(parse_timestamp_micros("2016-01-08T23:31:12+01:00"), a);
  EXPECT_EQ(*parse_timestamp_micros("2016-01-08T22:31:12.250Z"), *a + 250000);
  EXPECT_EQ(*parse_timestamp_micros("1970-01-01"), 0);
}

TEST(TimeUtil, RejectsMalformed) {
  for (const char* bad : {"", "2016-13-01", "2016-01-08 25:00:00", "yesterday", "2016-01-08 22:31:12 UTC",
                          "2016/01/08", "2016-01-08T22:31:12.Z"}) {
    EXPECT_FALSE(parse_timestamp_micros(bad)) << bad;
  }
}

// A day past the month's end is refused, not carried into the next month.
TEST(TimeUtil, RejectsDaysTheMonthDoesNotHave) {
  for (const char* bad : {"2021-02-30 10:00:00", "2021-02-29", "1900-02-29", "2021-04-31",
                          "2021-06-31T00:00:00Z", "2021-11-31"})
    EXPECT_FALSE(parse_timestamp_micros(bad).has_value()) << bad;
  for (const char* good : {"2020-02-29", "2000-02-29 23:59:59", "2021-01-31", "2021-12-31"})
    EXPECT_TRUE(parse_timestamp_micros(good).has_value()) << good;
}

TEST(TimeUtil, FormatRoundTrips) {
  int64_t t = *parse_timestamp_micros("2024-02-29 23:59:59.123456");
  EXPECT_EQ(format_timestamp_micros(t), "2024-02-29T23:59:59.123456Z");
  EXPECT_EQ(parse_timestamp_micros(format_timestamp_micros(t)), t);
}

TEST(TimeUtil, FormatsWithoutAllocatingExactlyAsTheStringForm) {
  const std::pair<int64_t, const char*> cases[] = {
      {*parse_timestamp_micros("2016-01-08 22:31:12"), "2016-01-08T22:31:12Z"},
      {*parse_timestamp_micros("1969-12-31 23:59:59.5"), "1969-12-31T23:59:59.500000Z"},
      {0, "1970-01-01T00:00:00Z"},
      {*parse_timestamp_micros("0001-01-01"), "0001-01-01T00:00:00Z"},
  };
  for (const auto& [micros, text] : cases) {
    char buf[kTimestampChars];
    EXPECT_EQ(std::string(buf, format_timestamp_micros(micros, buf)), text);
    EXPECT_EQ(format_timestamp_micros(micros), text);
  }
  // A year past 9999 takes the snprintf path; both forms still agree.
  const int64_t far = int64_t{20000} * 365 * 86400 * 1000000;
  char buf[kTimestampChars];
  const std::string s = format_timestamp_micros(far);
  EXPECT_EQ(std::string(buf, format_timestamp_micros(far, buf)), s);
  EXPECT_GT(s.size(), 20u);
}

TEST(TimeUtil, CivilFields) {
  CivilTime c = civil_from_micros(*parse_timestamp_micros("2016-01-08 22:31:12"));
  EXPECT_EQ(c.year, 2016);
  EXPECT_EQ(c.month, 1);
  EXPECT_EQ(c.day, 8);
  EXPECT_EQ(c.hour, 22);
  EXPECT_EQ(c.weekday, 4);  // a Friday
  EXPECT_EQ(c.day_of_year, 8);
  EXPECT_EQ(civil_from_micros(*parse_timestamp_micros("1969-12-31 23:00:00")).weekday, 2);
}

TEST(TimeUtil, Durations) {
  EXPECT_EQ(parse_duration_millis("30s"), 30000);
  EXPECT_EQ(parse_duration_millis("250ms"), 250);
  EXPECT_EQ(parse_duration_millis("5m"), 300000);
  EXPECT_EQ(parse_duration_millis("2h"), 7200000);
  EXPECT_EQ(parse_duration_millis("1.5"), 1500);
  EXPECT_FALSE(parse_duration_millis("soon"));
  EXPECT_FALSE(parse_duration_millis("-3s"));
  EXPECT_FALSE(parse_duration_millis("3 weeks"));
}

TEST(TimeUtil, CivilTimeAgreesWithTheStandardCalendarAcrossDaysAndYears) {
  // Runs of times within a day (the date is reused), then jumps to other days, years and
  // before 1970, against std::chrono's calendar.
  namespace ch = std::chrono;
  std::mt19937_64 rng(9);
  std::uniform_int_distribution<int64_t> any(-5'000'000'000'000'000, 5'000'000'000'000'000);
  std::uniform_int_distribution<int64_t> within(0, 86'399'999'999);
  for (int run = 0; run < 2000; ++run) {
    const int64_t base = any(rng);
    for (int k = 0; k < 5; ++k) {
      const int64_t micros = k == 4 ? base : base - base % 86'400'000'000 + within(rng);
      const CivilTime c = civil_from_micros(micros);
      const auto tp = ch::sys_time<ch::microseconds>(ch::microseconds(micros));
      const auto day = ch::floor<ch::days>(tp);
      const ch::year_month_day ymd(day);
      const ch::hh_mm_ss<ch::microseconds> hms(tp - day);
      ASSERT_EQ(c.year, int(ymd.year())) << micros;
      ASSERT_EQ(c.month, int(unsigned(ymd.month()))) << micros;
      ASSERT_EQ(c.day, int(unsigned(ymd.day()))) << micros;
      ASSERT_EQ(c.hour, int(hms.hours().count())) << micros;
      ASSERT_EQ(c.minute, int(hms.minutes().count())) << micros;
      ASSERT_EQ(c.second, int(hms.seconds().count())) << micros;
      ASSERT_EQ(c.weekday, int(ch::weekday(day).iso_encoding()) - 1) << micros;
      const auto jan1 = ch::sys_days(ymd.year() / ch::January / 1);
      ASSERT_EQ(c.day_of_year, int((day - jan1).count()) + 1) << micros;
    }
  }
}

}  // namespace
}  // namespace flowcast
