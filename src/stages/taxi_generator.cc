#include "stages/taxi_generator.h"

#include <cmath>

#include "core/config_error.h"
#include "core/time_util.h"

namespace flowcast::stages {
namespace {

struct Zone {
  const char* name;
  double lat, lon, radius_km, weight;
  bool airport;
};

constexpr Zone kZones[] = {
    {"Midtown", 40.7549, -73.9840, 1.1, 30, false},
    {"Upper East Side", 40.7736, -73.9566, 0.9, 12, false},
    {"Upper West Side", 40.7870, -73.9754, 0.9, 9, false},
    {"Chelsea", 40.7420, -74.0010, 0.8, 12, false},
    {"Financial District", 40.7075, -74.0113, 0.6, 8, false},
    {"East Village", 40.7265, -73.9815, 0.8, 9, false},
    {"Harlem", 40.8116, -73.9465, 1.0, 3, false},
    {"Downtown Brooklyn", 40.6928, -73.9903, 1.0, 3, false},
    {"Williamsburg", 40.7081, -73.9571, 0.9, 3, false},
    {"Long Island City", 40.7480, -73.9380, 1.0, 2, false},
    {"Bronx", 40.8370, -73.8860, 1.8, 1, false},
    {"JFK Airport", 40.6413, -73.7781, 0.6, 3, true},
    {"LaGuardia Airport", 40.7769, -73.8740, 0.4, 3, true},
};
constexpr size_t kZoneCount = sizeof(kZones) / sizeof(kZones[0]);

double km_between(double lat1, double lon1, double lat2, double lon2) {
  // Equirectangular approximation: plenty for a city.
  double x = (lon2 - lon1) * std::cos((lat1 + lat2) * M_PI / 360.0) * 111.32;
  double y = (lat2 - lat1) * 110.57;
  return std::sqrt(x * x + y * y);
}

int required(const DatasetSpec& spec, const char* name) {
  int i = spec.field_index(name);
  if (i < 0)
    throw ConfigError("datasets." + spec.name() + ".fields",
                      std::string("the taxi generator needs a field '") + name + "'");
  return i;
}

}  // namespace

TaxiGenerator::TaxiGenerator(const DatasetSpec& spec, uint64_t seed, int64_t limit,
                             std::string key_prefix)
    : spec_(spec), rng_(seed), limit_(limit), key_prefix_(std::move(key_prefix)) {
  f_id_ = spec.key_index();
  f_vendor_ = required(spec, "vendor_id");
  f_pickup_ = required(spec, "pickup_datetime");
  f_dropoff_ = required(spec, "dropoff_datetime");
  f_passengers_ = required(spec, "passenger_count");
  f_plon_ = required(spec, "pickup_longitude");
  f_plat_ = required(spec, "pickup_latitude");
  f_dlon_ = required(spec, "dropoff_longitude");
  f_dlat_ = required(spec, "dropoff_latitude");
  f_flag_ = required(spec, "store_and_fwd_flag");
  f_target_ = spec.target_index();
}

bool TaxiGenerator::next(GeneratedEvent& out, int64_t sim_time_us) {
  if (limit_ > 0 && emitted_ >= limit_) return false;
  std::uniform_real_distribution<double> u(0, 1);
  std::normal_distribution<double> gauss(0, 1);

  auto pick = [&](const double* weights) {
    double total = 0;
    for (size_t i = 0; i < kZoneCount; ++i) total += weights[i];
    double r = u(rng_) * total;
    for (size_t i = 0; i < kZoneCount; ++i) {
      r -= weights[i];
      if (r <= 0) return i;
    }
    return kZoneCount - 1;
  };
  double w[kZoneCount];
  for (size_t i = 0; i < kZoneCount; ++i) w[i] = kZones[i].weight;
  const Zone& from = kZones[pick(w)];
  for (size_t i = 0; i < kZoneCount; ++i) {
    double d = km_between(from.lat, from.lon, kZones[i].lat, kZones[i].lon);
    // Most trips stay close; airport runs are common from anywhere.
    w[i] = kZones[i].weight * (std::exp(-d / 4.0) + (kZones[i].airport && !from.airport ? 0.08 : 0.0));
  }
  const Zone& to = kZones[pick(w)];
  auto jitter = [&](const Zone& z, double& lat, double& lon) {
    lat = z.lat + gauss(rng_) * z.radius_km / 110.57;
    lon = z.lon + gauss(rng_) * z.radius_km / (111.32 * std::cos(z.lat * M_PI / 180));
  };
  double plat, plon, dlat, dlon;
  jitter(from, plat, plon);
  jitter(to, dlat, dlon);

  // Street distance: north-south plus east-west legs, Manhattan's grid rotated ~29 degrees.
  double dy = (dlat - plat) * 110.57;
  double dx = (dlon - plon) * 111.32 * std::cos(plat * M_PI / 180);
  const double theta = 29.0 * M_PI / 180;
  double along = std::fabs(dx * std::sin(theta) + dy * std::cos(theta));
  double across = std::fabs(dx * std::cos(theta) - dy * std::sin(theta));
  double road_km = (along + across) * 1.1 + 0.3;

  CivilTime t = civil_from_micros(sim_time_us);
  double hour = t.hour + t.minute / 60.0;
  bool weekend = t.weekday >= 5;
  double speed = 17.0;  // km/h in Manhattan traffic
  if (!weekend && ((hour >= 7 && hour < 10) || (hour >= 16 && hour < 19.5))) speed *= 0.68;
  else if (hour < 5.5) speed *= 1.7;
  else if (hour >= 21) speed *= 1.25;
  if (weekend && hour >= 5.5) speed *= 1.12;
  double seconds = 110;  // pickup and drop-off overhead
  double city_km = std::min(road_km, 6.0), highway_km = road_km - city_km;
  seconds += city_km / speed * 3600 + highway_km / (speed * 2.2) * 3600;
  seconds *= std::exp(0.25 * gauss(rng_));
  seconds = std::clamp(std::round(seconds), 60.0, 4.0 * 3600);

  Record& r = out.record;
  r.values.assign(spec_.fields().size(), std::monostate{});
  r.key = key_prefix_ + std::to_string(emitted_);
  r.values[size_t(f_id_)] = r.key;
  r.values[size_t(f_vendor_)] = int64_t(u(rng_) < 0.53 ? 2 : 1);
  r.values[size_t(f_pickup_)] = sim_time_us;
  r.values[size_t(f_dropoff_)] = sim_time_us + int64_t(seconds * 1e6);
  static constexpr double kPassengers[] = {0.71, 0.85, 0.89, 0.91, 0.96, 1.0};
  double pr = u(rng_);
  int64_t passengers = 1;
  while (passengers < 6 && pr > kPassengers[passengers - 1]) ++passengers;
  r.values[size_t(f_passengers_)] = passengers;
  r.values[size_t(f_plat_)] = plat;
  r.values[size_t(f_plon_)] = plon;
  r.values[size_t(f_dlat_)] = dlat;
  r.values[size_t(f_dlon_)] = dlon;
  r.values[size_t(f_flag_)] = std::string(u(rng_) < 0.005 ? "Y" : "N");
  r.values[size_t(f_target_)] = seconds;
  out.kind = GeneratedEvent::Kind::kRequestThenOutcome;
  out.outcome_delay_s = seconds;
  ++emitted_;
  return true;
}

}  // namespace flowcast::stages
