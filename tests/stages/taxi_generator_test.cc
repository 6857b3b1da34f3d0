#include "stages/taxi_generator.h"

#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "core/time_util.h"
#include "support/test_support.h"

namespace flowcast::stages {
namespace {

TEST(TaxiGenerator, TripsAreInNewYorkAndDurationsFollowDistanceAndRushHour) {
  Config config = testing::taxi_config();
  const DatasetSpec& ds = config.dataset("taxi");
  TaxiGenerator gen(ds, 42, 0, "t-");
  const int plat = ds.field_index("pickup_latitude"), plon = ds.field_index("pickup_longitude");
  const int dlat = ds.field_index("dropoff_latitude"), dlon = ds.field_index("dropoff_longitude");
  const int64_t night = *parse_timestamp_micros("2016-03-08 03:00:00");  // Tuesday
  const int64_t rush = *parse_timestamp_micros("2016-03-08 08:30:00");
  std::set<std::string> keys;
  double night_speed = 0, rush_speed = 0;
  int airports = 0;
  GeneratedEvent ev;
  for (int i = 0; i < 4000; ++i) {
    bool is_rush = i % 2;
    ASSERT_TRUE(gen.next(ev, is_rush ? rush : night));
    const Record& r = ev.record;
    keys.insert(r.key);
    for (int f : {plat, dlat}) {
      EXPECT_GT(r.number(f), 40.4);
      EXPECT_LT(r.number(f), 41.0);
    }
    for (int f : {plon, dlon}) {
      EXPECT_GT(r.number(f), -74.3);
      EXPECT_LT(r.number(f), -73.6);
    }
    double secs = r.number(ds.target_index());
    EXPECT_GE(secs, 60);
    EXPECT_DOUBLE_EQ(ev.outcome_delay_s, secs);
    double km = std::hypot((r.number(dlat) - r.number(plat)) * 110.6,
                           (r.number(dlon) - r.number(plon)) * 84.3);
    (is_rush ? rush_speed : night_speed) += km / secs;
    if (std::fabs(r.number(dlat) - 40.64) < 0.02 && std::fabs(r.number(dlon) + 73.78) < 0.03)
      ++airports;
    EXPECT_EQ(std::get<int64_t>(r.values[size_t(ds.field_index("dropoff_datetime"))]),
              (is_rush ? rush : night) + int64_t(secs * 1e6));
  }
  EXPECT_EQ(keys.size(), 4000u);
  EXPECT_GT(night_speed, rush_speed * 1.8) << "nights should be much faster than rush hour";
  EXPECT_GT(airports, 20) << "some trips go to JFK";
}

TEST(TaxiGenerator, SameSeedSameTripsAndLimitStops) {
  Config config = testing::taxi_config();
  const DatasetSpec& ds = config.dataset("taxi");
  TaxiGenerator a(ds, 9, 3, "k"), b(ds, 9, 3, "k");
  GeneratedEvent ea, eb;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(a.next(ea, 0));
    ASSERT_TRUE(b.next(eb, 0));
    EXPECT_EQ(ea.record.values, eb.record.values);
  }
  EXPECT_FALSE(a.next(ea, 0));
}

}  // namespace
}  // namespace flowcast::stages
