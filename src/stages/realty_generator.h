// RealtyGenerator: apartments for sale in Russian cities, with a price that follows a documented
// pricing function, so the best possible model's error is known.
//
// Cities come from a CSV in the format of hflabs/city (`city.csv`: columns federal_district,
// region, city, settlement, geo_lat, geo_lon, population) or, without one, from a built-in list of
// the 50 largest Russian cities. Street names come from a CSV of stems with frequencies
// (`street_counts.csv`: street_stem, osm_count) or a built-in list, and are drawn by frequency.
// A city is drawn with probability proportional to population^0.7.
//
// The pricing function (price in roubles):
//   price = total_area * ppm2(city) * k_rooms * k_floor * k_type * k_age * k_centre * noise
//   ppm2(city)  = 55,000 * (population / 100,000)^0.22 * k_district, x1.6 in Moscow and x1.25 in
//                 Saint Petersburg
//   k_district  Центральный 1.10, Северо-Западный 1.05, Дальневосточный 1.05, Уральский 1.00,
//               Южный 0.97, Сибирский 0.93, Приволжский 0.92, Северо-Кавказский 0.82, other 1.0
//   k_rooms     studio and 1 room 1.08, 2 rooms 1.00, 3 rooms 0.96, 4+ rooms 0.93
//   k_floor     first floor 0.92, last floor 0.95, otherwise 1.00
//   k_type      monolith 1.08, brick 1.05, block 0.97, panel 0.92, wooden 0.75
//   k_age       built 2015 or later 1.10, 1990-2014 1.00, 1960-1989 0.88, before 1960 0.95
//   k_centre    exp(-0.035 * km from the city centre), the centre being the city's coordinates
//   noise       exp(sigma * N(0, 1)), sigma = kPriceNoiseSigma (0.10)
// With that noise, predicting the noiseless price gives a MAPE of E|exp(-sigma Z) - 1|, about
// 8.0%: the noise floor no model can beat on average (measured in tests/stages).
#pragma once

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/dataset_spec.h"
#include "core/status.h"
#include "stages/event_source.h"

namespace flowcast::stages {

struct RealtyCity {
  std::string name, region, district;
  double lat = 0, lon = 0;
  int64_t population = 0;
};

struct RealtyStreet {
  std::string name;
  double weight = 1;
};

constexpr double kPriceNoiseSigma = 0.10;

// Read a city or street file. A file-level problem fails naming the file (a missing or duplicated
// column, no usable row) and so does any bad value, naming the file, the line and the column
// ("city.csv:7: column 'geo_lat': expected a latitude between -90 and 90, got '999'"):
// coordinates must be decimal numbers in range, populations whole numbers from 1, street weights
// finite numbers above 0 whose sum is finite, and names valid UTF-8. A row of the wrong number
// of cells fails too. Rows without coordinates or population (cities) or without a name
// (streets) are left out.
Result<std::vector<RealtyCity>> load_cities(const std::string& path);
Result<std::vector<RealtyStreet>> load_streets(const std::string& path);
const std::vector<RealtyCity>& builtin_cities();
const std::vector<RealtyStreet>& builtin_streets();

class RealtyGenerator : public EventSource {
 public:
  // REQUIRES: the realty fields (see examples/realty.yaml); throws ConfigError naming a missing
  // one. `request_share` of the events are price requests (their sale price arrives later as
  // the outcome); the rest are listings with their price (observations).
  RealtyGenerator(const DatasetSpec& spec, std::vector<RealtyCity> cities,
                  std::vector<RealtyStreet> streets, uint64_t seed, int64_t limit,
                  double request_share, std::string key_prefix);
  bool next(GeneratedEvent& out, int64_t sim_time_us) override;
  // The noiseless price of the last generated apartment (for measuring the noise floor).
  double last_noiseless_price() const { return last_noiseless_; }

 private:
  const DatasetSpec& spec_;
  std::vector<RealtyCity> cities_;
  std::vector<RealtyStreet> streets_;
  std::discrete_distribution<size_t> pick_city_, pick_street_;
  std::mt19937_64 rng_;
  int64_t limit_, emitted_ = 0;
  double request_share_;
  std::string key_prefix_;
  double last_noiseless_ = 0;
  int f_region_, f_city_, f_street_, f_rooms_, f_floor_, f_floors_, f_area_, f_kitchen_, f_type_,
      f_year_, f_lat_, f_lon_, f_listed_, f_price_;
};

}  // namespace flowcast::stages
