// TaxiGenerator: synthetic NYC taxi trips with realistic geography and timing, for demos and
// tests when no Kaggle CSV is at hand.
//
// Pickups are drawn from weighted zones (Midtown, the Upper East and West Sides, Chelsea, the
// Financial District, the East Village, Harlem, Downtown Brooklyn, Williamsburg, Long Island City,
// the Bronx, JFK and LaGuardia); dropoffs prefer nearby zones. The duration follows the street
// (Manhattan) distance at a speed that depends on the hour and the day (rush hours slow, nights
// fast, highways to the airports faster), plus a fixed pickup overhead and log-normal noise of
// sigma 0.25, so the best possible RMSLE is about 0.25.
#pragma once

#include <random>
#include <string>

#include "core/dataset_spec.h"
#include "stages/event_source.h"

namespace flowcast::stages {

class TaxiGenerator : public EventSource {
 public:
  // REQUIRES: `spec` has the taxi fields (id, vendor_id, pickup_datetime, dropoff_datetime,
  // passenger_count, pickup/dropoff latitude/longitude, store_and_fwd_flag, trip_duration);
  // throws ConfigError naming a missing one. `limit` 0 = endless.
  TaxiGenerator(const DatasetSpec& spec, uint64_t seed, int64_t limit, std::string key_prefix);
  bool next(GeneratedEvent& out, int64_t sim_time_us) override;

 private:
  const DatasetSpec& spec_;
  std::mt19937_64 rng_;
  int64_t limit_, emitted_ = 0;
  std::string key_prefix_;
  int f_id_, f_vendor_, f_pickup_, f_dropoff_, f_passengers_, f_plon_, f_plat_, f_dlon_, f_dlat_,
      f_flag_, f_target_;
};

}  // namespace flowcast::stages
