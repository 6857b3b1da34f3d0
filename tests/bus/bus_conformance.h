// The Bus conformance suite: behaviour every backend must have, written once against bus.h.
// A backend joins by instantiating it with a BusFactory:
//
//   INSTANTIATE_TEST_SUITE_P(Local, BusConformance,
//                            ::testing::Values(BusFactory{"local", make_local_env}),
//                            BusFactoryName);
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bus/bus.h"

namespace flowcast::bus::testing {

// One test's private corner of a backend: a fresh directory (local) or a fresh topic and group
// prefix (Kafka). Any number of Bus objects opened from one environment see the same data.
class BusTestEnv {
 public:
  virtual ~BusTestEnv() = default;
  virtual Result<std::unique_ptr<Bus>> open() = 0;
  // A topic or group name unique to this environment.
  virtual std::string name(const std::string& base) { return base; }
};

struct BusFactory {
  std::string name;
  std::function<std::unique_ptr<BusTestEnv>()> make_env;
};

// For INSTANTIATE_TEST_SUITE_P's name generator.
std::string BusFactoryName(const ::testing::TestParamInfo<BusFactory>& info);

// A message copied out of a MessageBatch.
struct Received {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;
  int64_t timestamp_ms = 0;
  std::string key;
  std::string value;
};

// Polls until `count` messages arrived or `timeout_ms` passed; fails the test on a poll error.
std::vector<Received> consume(Consumer& consumer, size_t count, int64_t timeout_ms = 20000,
                              size_t max_per_poll = 1000);

class BusConformance : public ::testing::TestWithParam<BusFactory> {
 protected:
  void SetUp() override;
  std::unique_ptr<Bus> open_bus();
  std::unique_ptr<Producer> make_producer(Bus& bus);
  std::unique_ptr<Consumer> subscribe(Bus& bus, const std::string& group,
                                      const std::vector<std::string>& topics,
                                      RebalanceListener listener = {});
  void produce(Producer& producer, const std::string& topic,
               const std::vector<OutMessage>& messages);

  std::unique_ptr<BusTestEnv> env_;
};

}  // namespace flowcast::bus::testing
