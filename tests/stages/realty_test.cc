// The realty example: the generator's pricing function, real city and street files, model
// quality against the known noise floor, and the whole pipeline on generated listings.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>

#include "cli/backends.h"
#include "ml/trainer.h"
#include "stages/pipeline.h"
#include "stages/realty_generator.h"
#include "support/test_support.h"

namespace flowcast::stages {
namespace {

Config realty_config(const std::vector<std::string>& overrides = {}) {
  return Config::load((testing::source_dir() / "examples" / "realty.yaml").string(), overrides);
}

TEST(RealtyGenerator, PricesFollowThePricingFunction) {
  Config config = realty_config();
  const DatasetSpec& ds = config.dataset("realty");
  RealtyGenerator gen(ds, builtin_cities(), builtin_streets(), 3, 0, 0.2, "r-");
  GeneratedEvent ev;
  std::map<std::string, std::pair<double, int>> ppm2;  // city -> sum of price per m2, count
  int requests = 0, first_floor = 0;
  double ape = 0;
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    ASSERT_TRUE(gen.next(ev, 0));
    const Record& r = ev.record;
    double price = r.number(ds.target_index());
    double area = r.number(ds.field_index("total_area"));
    ASSERT_GT(price, 100000);
    auto& e = ppm2[*r.text(ds.field_index("city"))];
    e.first += price / area;
    e.second++;
    requests += ev.kind == GeneratedEvent::Kind::kRequestThenOutcome;
    first_floor += r.number(ds.field_index("floor")) == 1;
    ape += std::fabs(gen.last_noiseless_price() - price) / price;
  }
  auto mean = [&](const char* city) { return ppm2[city].first / ppm2[city].second; };
  EXPECT_GT(mean("Москва"), 2.0 * mean("Курск"));
  EXPECT_GT(mean("Санкт-Петербург"), mean("Новосибирск"));
  EXPECT_NEAR(double(requests) / n, 0.2, 0.02);
  EXPECT_GT(first_floor, 0);
  // The noise floor: predicting the noiseless price gives MAPE ~ 8% with sigma 0.10.
  EXPECT_NEAR(ape / n, 0.080, 0.005);
}

TEST(RealtyGenerator, ReadsTheRealCityAndStreetFiles) {
  auto cities = testing::shared_data("ru-cities/city.csv");
  auto streets = testing::shared_data("ru-streets/street_counts.csv");
  if (!cities || !streets) GTEST_SKIP() << "../shared/data is absent (a fresh clone has no ../shared)";
  auto c = load_cities(cities->string());
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_GT(c->size(), 1000u);
  bool moscow = false;
  for (const auto& city : *c) moscow |= city.name == "Москва" && city.population > 10000000;
  EXPECT_TRUE(moscow) << "federal cities take their name from the region column";
  auto s = load_streets(streets->string());
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  EXPECT_GT(s->size(), 5000u);
}

TEST(RealtyGenerator, ACityFileWithoutTheColumnsNamesThem) {
  testing::TempDir dir;
  std::string path = dir.str() + "/cities.csv";
  std::ofstream(path) << "name,lat,lon\nX,1,2\n";
  auto c = load_cities(path);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find(
                "expected columns: federal_district, region, city, geo_lat, geo_lon, population"),
            std::string::npos)
      << c.status().message();
}

TEST(RealtyGenerator, ADuplicatedColumnInACityOrStreetFileIsNamed) {
  testing::TempDir dir;
  std::string path = dir.str() + "/cities.csv";
  std::ofstream(path) << "federal_district,region,city,geo_lat,geo_lon,population,geo_lat\n"
                         "Приволжский,Татарстан,Казань,55.79,49.12,1257391,0\n";
  auto c = load_cities(path);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(), path + ": duplicate column 'geo_lat' (columns 4 and 7)");
  std::ofstream(path) << "street_stem,osm_count,osm_count\nЛенина,10,20\n";
  auto s = load_streets(path);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().message(), path + ": duplicate column 'osm_count' (columns 2 and 3)");
}

// Every generated event takes its coordinates from a city row and its street from a weighted
// pick: a bad value fails the load naming the file, the line and the column.
TEST(RealtyGenerator, BadCityValuesFailTheLoadNamingLineAndColumn) {
  testing::TempDir dir;
  const std::string path = dir.str() + "/cities.csv";
  const std::string header = "federal_district,region,city,geo_lat,geo_lon,population\n";
  const std::string good = "Приволжский,Татарстан,Казань,55.79,49.12,1257391\n";
  struct Case {
    std::string row, error;
  };
  const std::vector<Case> cases = {
      {"Южный,Адыгея,Майкоп,999,40.1,144055",
       "column 'geo_lat': expected a latitude between -90 and 90, got '999'"},
      {"Южный,Адыгея,Майкоп,nan,40.1,144055",
       "column 'geo_lat': expected a latitude between -90 and 90, got 'nan'"},
      {"Южный,Адыгея,Майкоп,44.6,-180.5,144055",
       "column 'geo_lon': expected a longitude between -180 and 180, got '-180.5'"},
      {"Южный,Адыгея,Майкоп,44.6,inf,144055",
       "column 'geo_lon': expected a longitude between -180 and 180, got 'inf'"},
      {"Южный,Адыгея,Майкоп,0x10,40.1,144055",
       "column 'geo_lat': expected a latitude between -90 and 90, got '0x10'"},
      {"Южный,Адыгея,Майкоп,44.6,40.1,5 apples",
       "column 'population': expected a whole number of people, 1 to 1,000,000,000, got '5 "
       "apples'"},
      {"Южный,Адыгея,Майкоп,44.6,40.1,0",
       "column 'population': expected a whole number of people, 1 to 1,000,000,000, got '0'"},
      {"Южный,Адыгея,\xCC\xE0\xE9\xEA\xEE\xEF,44.6,40.1,144055",  // Майкоп in Windows-1251
       "column 'city': not valid UTF-8 (is the file in another encoding, e.g. Windows-1251? "
       "convert it with iconv -f cp1251 -t utf-8)"},
      {"Южный,Адыгея,Майкоп,44.6,40.1", "expected 6 columns, got 5"},
  };
  for (const Case& c : cases) {
    std::ofstream(path) << header << good << c.row << "\n" << good;
    auto loaded = load_cities(path);
    ASSERT_FALSE(loaded.ok()) << c.row;
    EXPECT_EQ(loaded.status().message(), path + ":3: " + c.error);
  }
  // Spaces around a number are no error; a row without figures is left out.
  std::ofstream(path) << header << good << "Южный,Адыгея,Майкоп, 44.6 ,40.1,144055\n"
                      << "Южный,Адыгея,Нигде,,,\n";
  auto loaded = load_cities(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
  ASSERT_EQ(loaded->size(), 2u);
  EXPECT_DOUBLE_EQ((*loaded)[1].lat, 44.6);
}

TEST(RealtyGenerator, BadStreetWeightsFailTheLoadNamingLineAndColumn) {
  testing::TempDir dir;
  const std::string path = dir.str() + "/streets.csv";
  struct Case {
    std::string rows, error;
  };
  const std::string expected = "column 'osm_count': expected a positive finite weight, got ";
  const std::vector<Case> cases = {
      {"Ленина,10\nМира,inf\n", "3: " + expected + "'inf'"},
      {"Ленина,10\nМира,5 apples\n", "3: " + expected + "'5 apples'"},
      {"Ленина,10\nМира,0x10\n", "3: " + expected + "'0x10'"},
      {"Ленина,10\nМира,0\n", "3: " + expected + "'0'"},
      {"Ленина,10\nМира,-3\n", "3: " + expected + "'-3'"},
      {"Ленина,10\nМира,\n", "3: " + expected + "''"},
      {"Ленина,1e308\nМира,1e308\n",
       "3: column 'osm_count': the weights' sum overflows (is not a finite number); use smaller "
       "weights"},
  };
  for (const Case& c : cases) {
    std::ofstream(path) << "street_stem,osm_count\n" << c.rows;
    auto loaded = load_streets(path);
    ASSERT_FALSE(loaded.ok()) << c.rows;
    EXPECT_EQ(loaded.status().message(), path + ":" + c.error);
  }
  std::ofstream(path) << "street_stem,osm_count\nЛенина,10\nМира,2.5\n,7\n";
  auto loaded = load_streets(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
  ASSERT_EQ(loaded->size(), 2u);
  EXPECT_DOUBLE_EQ((*loaded)[1].weight, 2.5);
}

TEST(RealtyModel, MapeIsCloseToTheNoiseFloor) {
  Config config = realty_config();
  const DatasetSpec& ds = config.dataset("realty");
  RealtyGenerator gen(ds, builtin_cities(), builtin_streets(), 11, 0, 0.0, "m-");
  std::vector<Record> train, test;
  std::vector<double> noiseless;
  GeneratedEvent ev;
  for (int i = 0; i < 50000; ++i) {
    gen.next(ev, int64_t(i) * 1000000);
    if (i < 42000) {
      train.push_back(ev.record);
    } else {
      test.push_back(ev.record);
      noiseless.push_back(gen.last_noiseless_price());
    }
  }
  auto outcome = ml::train_model(ds, std::move(train), {});
  ASSERT_TRUE(outcome.ok()) << outcome.status().to_string();
  std::vector<const Record*> ptrs;
  std::vector<double> actual;
  for (const auto& r : test) {
    ptrs.push_back(&r);
    actual.push_back(r.number(ds.target_index()));
  }
  std::vector<double> pred(test.size());
  ASSERT_TRUE(outcome->model->predict(ptrs, pred.data()).ok());
  double model_mape = ml::compute_metrics(pred, actual).mape;
  double floor_mape = ml::compute_metrics(noiseless, actual).mape;
  std::printf("realty: model MAPE %.4f, noise floor %.4f, ratio %.3f\n", model_mape, floor_mape,
              model_mape / floor_mape);
  EXPECT_LT(model_mape / floor_mape, 1.2);
}

TEST(RealtyPipeline, ListingsRequestsAndSalesFlowWithoutLoss) {
  testing::TempDir dir;
  Config config = realty_config({"bus=local:" + dir.str() + "/bus",
                                 "store=sqlite:" + dir.str() + "/db", "log_level=warn",
                                 "stages.produce.rate=5000", "stages.produce.limit=5000",
                                 "stages.produce.seed=5", "stages.train.min_rows=1000",
                                 "stages.train.poll_interval=200ms",
                                 "datasets.realty.model.params.rounds=50"});
  auto bus = cli::open_bus(config);
  auto store = cli::open_store(config);
  ASSERT_TRUE(bus.ok() && store.ok());
  Pipeline pipeline(config, **bus, **store, {"produce", "ingest", "train", "predict", "evaluate"}, {});
  ASSERT_TRUE(pipeline.prepare().ok());
  RunOptions options;
  options.status_line = false;
  std::atomic<int> interrupted{0};
  ASSERT_TRUE(pipeline.run(options, interrupted).ok());
  auto st = (*store)->stats(config.dataset("realty"));
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->records, 5000);
  EXPECT_EQ(st->labelled, 5000) << "every listing and every sold request has its price";
  EXPECT_GT(st->predictions, 700);
  EXPECT_EQ(st->predicted_keys, st->predictions) << "a request scored twice";
  int64_t requests_read = -1;
  for (const auto& e : pipeline.stages())
    if (e.stage->name() == "predict") requests_read = e.stage->stats().in.load();
  EXPECT_EQ(st->predictions, requests_read) << "a price request without an answer";
  EXPECT_EQ(st->evaluations, st->predictions) << "a request's sale left unjoined";
  for (const auto& e : pipeline.stages()) EXPECT_EQ(e.stage->stats().dlq.load(), 0) << e.stage->name();
  // realty is judged by MAPE (model.metric): the status line leads with it, not RMSLE.
  const std::string line = pipeline.status_line(1.0);
  EXPECT_NE(line.find(" MAPE "), std::string::npos) << line;
  EXPECT_EQ(line.find("RMSLE"), std::string::npos) << line;
}

}  // namespace
}  // namespace flowcast::stages
