// LookupSchedule: a waiting key's store lookups back off while they find nothing.
#include <gtest/gtest.h>

#include "stages/stage_util.h"

namespace flowcast::stages {
namespace {

TEST(LookupSchedule, MissesDoubleTheWaitUpToTheCap) {
  LookupSchedule s(5'000, 60'000);
  EXPECT_TRUE(s.due("a", 0)) << "a key never looked up is due";
  int64_t now = 10'000;
  // Waits after each miss: 5, 10, 20, 40, 60, 60 s.
  for (int64_t wait : {5'000, 10'000, 20'000, 40'000, 60'000, 60'000}) {
    s.missed("a", now);
    EXPECT_FALSE(s.due("a", now + wait - 1)) << wait;
    EXPECT_TRUE(s.due("a", now + wait)) << wait;
    now += wait;
  }
  // Keys have schedules of their own.
  EXPECT_TRUE(s.due("b", now - 1));
  s.missed("b", now);
  EXPECT_FALSE(s.due("b", now + 4'999));
  EXPECT_EQ(s.size(), 2u);
}

TEST(LookupSchedule, AForgottenKeyStartsAgain) {
  LookupSchedule s(1'000, 60'000);
  for (int i = 0; i < 5; ++i) s.missed("a", 0);
  EXPECT_FALSE(s.due("a", 15'000));
  s.forget("a");
  EXPECT_TRUE(s.due("a", 0));
  s.missed("a", 0);
  EXPECT_TRUE(s.due("a", 1'000)) << "back to the first wait";

  s.missed("b", 0);
  s.missed("c", 0);
  s.keep_only([](const std::string& key) { return key == "c"; });
  EXPECT_EQ(s.size(), 1u);
  EXPECT_TRUE(s.due("a", 0));
  EXPECT_FALSE(s.due("c", 999));
}

}  // namespace
}  // namespace flowcast::stages
