// The live status line: a source that has run out but still holds outcomes that are not yet due
// says so, rather than showing "(0/s)" as if the run were stuck.
#include <gtest/gtest.h>

#include <thread>

#include "cli/backends.h"
#include "stages/pipeline.h"
#include "support/test_support.h"

namespace flowcast::stages {
namespace {

TEST(PipelineStatus, HeldOutcomesAreShownOnceTheSourceHasRunOut) {
  testing::TempDir dir;
  // Speed-up 1: a trip's outcome is due minutes after its request, long after the 20 requests.
  Config config = testing::taxi_config(
      {"bus=local:" + dir.str() + "/bus", "store=sqlite:" + dir.str() + "/db", "log_level=warn",
       "stages.produce.rate=1000", "stages.produce.limit=20", "stages.produce.speedup=1"});
  auto bus = cli::open_bus(config);
  auto store = cli::open_store(config);
  ASSERT_TRUE(bus.ok() && store.ok());
  Pipeline pipeline(config, **bus, **store, {"produce"}, {});
  ASSERT_TRUE(pipeline.prepare().ok());
  RunOptions options;
  options.status_line = false;
  std::atomic<int> interrupted{0};
  std::thread t([&] { EXPECT_TRUE(pipeline.run(options, interrupted).ok()); });
  const auto& stats = pipeline.stages()[0].stage->stats();
  for (int i = 0; i < 200 && stats.in.load() < 20; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  pipeline.status_line(1.0);  // the rate is measured between two calls
  const std::string line = pipeline.status_line(1.0);
  interrupted = 1;  // the held outcomes are sent at stop
  t.join();
  EXPECT_NE(line.find("produced 20 (0/s), 20 outcomes not yet due"), std::string::npos) << line;
}

}  // namespace
}  // namespace flowcast::stages
