#include "ml/feature_pipeline.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <random>

#include "core/config.h"
#include "core/config_error.h"
#include "core/time_util.h"

namespace flowcast::ml {
namespace {

const char* kYaml = R"(
datasets:
  d:
    key: id
    event_time: ts
    target: y
    fields:
      id: string
      ts: timestamp
      lat1: latitude
      lon1: longitude
      lat2: latitude
      lon2: longitude
      city: {type: category, required: false}
      flag: {type: category, required: false}
      y: float
    features:
      - {name: dist, transform: haversine_km, inputs: [lat1, lon1, lat2, lon2]}
      - {name: manh, transform: manhattan_km, inputs: [lat1, lon1, lat2, lon2]}
      - {name: bear, transform: bearing_deg, inputs: [lat1, lon1, lat2, lon2]}
      - {name: hour, transform: hour, input: ts}
      - {name: wd, transform: weekday, input: ts}
      - {name: f, transform: equals, input: flag, value: "Y"}
      - {name: city, transform: one_hot, input: city, max_values: 2}
      - {name: city_te, transform: target_encode, input: city, smoothing: 1}
)";

class FeaturePipelineTest : public ::testing::Test {
 protected:
  Config config_ = Config::parse(kYaml, {});
  const DatasetSpec& spec_ = config_.dataset("d");

  Record row(double lat1, double lon1, double lat2, double lon2, const std::string& city,
             const std::string& ts = "2016-01-08 22:30:00") {
    Record r;
    r.values.assign(spec_.fields().size(), std::monostate{});
    r.key = "k";
    r.values[0] = r.key;
    r.values[1] = *parse_timestamp_micros(ts);
    r.values[2] = lat1;
    r.values[3] = lon1;
    r.values[4] = lat2;
    r.values[5] = lon2;
    if (!city.empty()) r.values[6] = city;
    return r;
  }
};

TEST_F(FeaturePipelineTest, GeometryAndCalendar) {
  FeaturePipeline p = FeaturePipeline::from_spec(spec_);
  std::vector<float> out(p.width());
  // One degree of latitude due north.
  p.transform(row(40, -74, 41, -74, ""), out.data());
  EXPECT_NEAR(out[0], 111.19, 0.05);
  EXPECT_NEAR(out[1], 111.19, 0.05);
  EXPECT_NEAR(out[2], 0, 1e-4);
  EXPECT_FLOAT_EQ(out[3], 22.5f);
  EXPECT_FLOAT_EQ(out[4], 4);  // Friday
  EXPECT_TRUE(std::isnan(out[5]));  // flag absent
  // Due east: bearing 90, Manhattan distance equals the east-west leg.
  p.transform(row(0, 0, 0, 1, ""), out.data());
  EXPECT_NEAR(out[2], 90, 1e-3);
  EXPECT_NEAR(out[0], out[1], 1e-3);
}

// The formulas as written before a row's sines, cosines and civil time were shared between its
// steps: every call made afresh.
constexpr double kRad = M_PI / 180.0;
double fresh_haversine(double lat1, double lon1, double lat2, double lon2) {
  double dlat = (lat2 - lat1) * kRad, dlon = (lon2 - lon1) * kRad;
  double a = std::sin(dlat / 2) * std::sin(dlat / 2) + std::cos(lat1 * kRad) *
                                                           std::cos(lat2 * kRad) *
                                                           std::sin(dlon / 2) * std::sin(dlon / 2);
  return 2 * 6371.0088 * std::asin(std::min(1.0, std::sqrt(a)));
}
double fresh_bearing(double lat1, double lon1, double lat2, double lon2) {
  double p1 = lat1 * kRad, p2 = lat2 * kRad, dl = (lon2 - lon1) * kRad;
  double y = std::sin(dl) * std::cos(p2);
  double x = std::cos(p1) * std::sin(p2) - std::sin(p1) * std::cos(p2) * std::cos(dl);
  return std::atan2(y, x) / kRad;
}

TEST(FeaturePipeline, SharedSinesAndCivilTimesGiveTheFeaturesBitForBit) {
  const Config config = Config::parse(R"(
datasets:
  d:
    key: id
    event_time: ts
    target: y
    fields: {id: string, ts: timestamp, a: latitude, b: longitude, c: latitude, d: longitude,
             y: float}
    features:
      - {name: dist, transform: haversine_km, inputs: [a, b, c, d]}
      - {name: manh, transform: manhattan_km, inputs: [a, b, c, d]}
      - {name: bear, transform: bearing_deg, inputs: [a, b, c, d]}
      - {name: back, transform: bearing_deg, inputs: [c, d, a, b]}
      - {name: from, transform: distance_km, inputs: [a, b], lat: 40.6413, lon: -73.7781}
      - {name: to, transform: distance_km, inputs: [c, d], lat: 40.6413, lon: -73.7781}
      - {name: hour, transform: hour, input: ts}
      - {name: wd, transform: weekday, input: ts}
      - {name: month, transform: month, input: ts}
      - {name: doy, transform: day_of_year, input: ts}
)",
                                      {});
  const DatasetSpec& spec = config.dataset("d");
  FeaturePipeline p = FeaturePipeline::from_spec(spec);
  ASSERT_EQ(p.width(), 10u);
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> lat(-89, 89), lon(-179, 179);
  std::uniform_int_distribution<int64_t> ts(-2'000'000'000'000'000, 4'000'000'000'000'000);
  std::vector<float> out(p.width());
  auto bits = [](float f) { return std::bit_cast<uint32_t>(f); };
  for (int i = 0; i < 20000; ++i) {
    double a = lat(rng), b = lon(rng), c = lat(rng), d = lon(rng);
    // Shared points and zeros, where one row's calls repeat an argument most.
    if (i % 4 == 1) c = a;
    if (i % 4 == 2) d = b;
    if (i % 8 == 3) a = c = -0.0;
    if (i % 16 == 5) a = c = 40.6413, b = -73.7781;
    Record r;
    r.key = "k";
    r.values = {r.key, ts(rng), a, b, c, d, std::monostate{}};
    p.transform(r, out.data());
    const int64_t micros = std::get<int64_t>(r.values[1]);
    const CivilTime t = civil_from_micros(micros);
    const float want[] = {float(fresh_haversine(a, b, c, d)),
                          float(fresh_haversine(a, b, c, b) + fresh_haversine(c, b, c, d)),
                          float(fresh_bearing(a, b, c, d)),
                          float(fresh_bearing(c, d, a, b)),
                          float(fresh_haversine(a, b, 40.6413, -73.7781)),
                          float(fresh_haversine(c, d, 40.6413, -73.7781)),
                          float(t.hour + t.minute / 60.0),
                          float(t.weekday),
                          float(t.month),
                          float(t.day_of_year)};
    for (size_t k = 0; k < p.width(); ++k)
      ASSERT_EQ(bits(out[k]), bits(want[k])) << "row " << i << " feature " << p.feature_names()[k]
                                             << ": " << out[k] << " vs " << want[k];
  }
}

TEST_F(FeaturePipelineTest, EncodersAreFittedOnceAndFrozen) {
  FeaturePipeline p = FeaturePipeline::from_spec(spec_);
  std::vector<Record> rows = {row(0, 0, 0, 0, "Moscow"), row(0, 0, 0, 0, "Moscow"),
                              row(0, 0, 0, 0, "Kazan"), row(0, 0, 0, 0, "Omsk"),
                              row(0, 0, 0, 0, "Moscow")};
  std::vector<double> y = {10, 20, 5, 1, 30};
  p.fit(rows, y);
  // one_hot keeps the 2 most frequent values plus <other>.
  ASSERT_EQ(p.width(), 6u + 3u + 1u);
  EXPECT_EQ(p.feature_names()[6], "city=Moscow");
  std::vector<float> out(p.width());
  p.transform(row(0, 0, 0, 0, "Moscow"), out.data());
  EXPECT_FLOAT_EQ(out[6], 1);
  double mean = (10 + 20 + 5 + 1 + 30) / 5.0;
  EXPECT_NEAR(out[9], (60 + 1 * mean) / (3 + 1), 1e-4);

  // A city first seen at scoring time: <other> and the learned default; nothing is refitted.
  nlohmann::json before = p.to_json();
  p.transform(row(0, 0, 0, 0, "Vladivostok"), out.data());
  EXPECT_FLOAT_EQ(out[6], 0);
  EXPECT_FLOAT_EQ(out[8], 1);
  EXPECT_NEAR(out[9], mean, 1e-4);
  EXPECT_EQ(p.to_json(), before);

  // State survives a round trip through JSON.
  FeaturePipeline q = FeaturePipeline::from_json(spec_, before);
  std::vector<float> again(q.width());
  q.transform(row(0, 0, 0, 0, "Kazan"), again.data());
  p.transform(row(0, 0, 0, 0, "Kazan"), out.data());
  for (size_t i = 0; i < out.size(); ++i)
    if (!std::isnan(out[i])) {
      EXPECT_FLOAT_EQ(out[i], again[i]) << i;
    }
}

TEST(FeaturePipeline, UnknownTransformAndWrongArityAreConfigErrors) {
  std::string yaml = kYaml;
  Config c = Config::parse(yaml, {"datasets.d.features.0.transform=teleport"});
  try {
    FeaturePipeline::from_spec(c.dataset("d"));
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.path(), "datasets.d.features.0.transform");
  }
  Config c2 = Config::parse(yaml, {"datasets.d.features.3.transform=haversine_km"});
  EXPECT_THROW(FeaturePipeline::from_spec(c2.dataset("d")), ConfigError);
}

}  // namespace
}  // namespace flowcast::ml
