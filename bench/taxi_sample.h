// What the per-record benchmarks share: examples/taxi.yaml and one taxi request as the produce
// stage writes it to new_trips.
#pragma once

#include <filesystem>

#include "core/config.h"

namespace flowcast::bench {

// A trip from the Kaggle "NYC Taxi Trip Duration" training file, as a request (no target).
inline constexpr const char* kTaxiRequest =
    R"({"id":"id2875421","vendor_id":2,"pickup_datetime":"2016-03-14 17:24:55",)"
    R"("passenger_count":1,"pickup_longitude":-73.982154846191406,)"
    R"("pickup_latitude":40.767936706542969,"dropoff_longitude":-73.964630126953125,)"
    R"("dropoff_latitude":40.765602111816406,"store_and_fwd_flag":"N"})";

inline const Config& taxi_config() {
  static const Config config = Config::load(
      (std::filesystem::path(__FILE__).parent_path().parent_path() / "examples" / "taxi.yaml")
          .string(),
      {});
  return config;
}

}  // namespace flowcast::bench
