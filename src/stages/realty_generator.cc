#include "stages/realty_generator.h"

#include <algorithm>
#include <cfloat>
#include <charconv>
#include <cmath>
#include <map>
#include <string_view>

#include "core/config_error.h"
#include "core/csv_reader.h"
#include "core/utf8.h"

namespace flowcast::stages {
namespace {

int required(const DatasetSpec& spec, const char* name) {
  int i = spec.field_index(name);
  if (i < 0)
    throw ConfigError("datasets." + spec.name() + ".fields",
                      std::string("the realty generator needs a field '") + name + "'");
  return i;
}

double district_factor(const std::string& d) {
  static const std::map<std::string, double> k = {
      {"Центральный", 1.10}, {"Северо-Западный", 1.05}, {"Дальневосточный", 1.05},
      {"Уральский", 1.00},   {"Южный", 0.97},           {"Сибирский", 0.93},
      {"Приволжский", 0.92}, {"Северо-Кавказский", 0.82}};
  auto it = k.find(d);
  return it == k.end() ? 1.0 : it->second;
}

// The header of a city or street file: the column of each name, and how many there are.
struct Header {
  std::map<std::string, size_t> index;
  size_t columns = 0;
  size_t operator[](const char* name) const { return index.at(name); }
  bool has(const char* name) const { return index.count(name) != 0; }
};

// Reads the header; fails when a `needed` column is missing, or when a needed or `optional` one
// appears twice.
Result<Header> read_header(CsvReader& csv, const std::string& path,
                           const std::vector<const char*>& needed,
                           const std::vector<const char*>& optional = {}) {
  std::vector<std::string> header;
  if (!csv.next(header)) return Status::invalid(path + ": the file is empty");
  if (header[0].starts_with("\xEF\xBB\xBF")) header[0].erase(0, 3);  // BOM
  Header h;
  h.columns = header.size();
  for (size_t i = 0; i < header.size(); ++i) {
    const std::string& name = header[i];
    auto [it, added] = h.index.emplace(name, i);
    if (!added && (std::find(needed.begin(), needed.end(), name) != needed.end() ||
                   std::find(optional.begin(), optional.end(), name) != optional.end()))
      return Status::invalid(path + ": duplicate column '" + name + "' (columns " +
                             std::to_string(it->second + 1) + " and " + std::to_string(i + 1) + ")");
  }
  std::string missing;
  for (const char* n : needed)
    if (!h.has(n)) missing += (missing.empty() ? "" : ", ") + std::string(n);
  if (!missing.empty()) {
    std::string all;
    for (const char* n : needed) all += (all.empty() ? "" : ", ") + std::string(n);
    return Status::invalid(path + ": missing column(s) " + missing + " (expected columns: " + all + ")");
  }
  return h;
}

// One data row of a city or street file, for strict parsing: every failure names the file, the
// line and the column. These files steer every generated event, so a bad value fails the load
// instead of producing a stream of invalid events (a latitude of 999) or skewed picks (a weight
// of 1e308).
class Row {
 public:
  Row(const std::string& path, const CsvReader& csv, const Header& header,
      const std::vector<std::string>& cells)
      : path_(path), csv_(csv), header_(header), cells_(cells) {}

  // Fails when the row is malformed (an unclosed quote, another number of cells than the header).
  Status check_shape(const std::string& csv_error) const {
    if (!csv_error.empty()) return Status::invalid(where() + csv_error);
    if (cells_.size() != header_.columns)
      return Status::invalid(where() + "expected " + std::to_string(header_.columns) +
                             " columns, got " + std::to_string(cells_.size()));
    return Status();
  }
  // The cell's text, without the spaces around it.
  std::string_view cell(const char* column) const {
    std::string_view s = cells_[header_[column]];
    while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
    while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
    return s;
  }
  // The text of `column`, which becomes a value of generated events: it must be UTF-8.
  Result<std::string> text(const char* column) const {
    std::string_view s = cell(column);
    if (!valid_utf8(s))
      return Status::invalid(where() + "column '" + column +
                             "': not valid UTF-8 (is the file in another encoding, e.g. "
                             "Windows-1251? convert it with iconv -f cp1251 -t utf-8)");
    return std::string(s);
  }
  // A decimal number in [lo, hi] (above `lo` when `above_lo`), the whole cell: no hex, no inf
  // or nan, nothing after it ("5 apples").
  Result<double> number(const char* column, double lo, double hi, const char* what,
                        bool above_lo = false) const {
    std::string_view s = cell(column);
    double v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v, std::chars_format::general);
    if (s.empty() || ec != std::errc() || p != s.data() + s.size() || !std::isfinite(v) ||
        v < lo || v > hi || (above_lo && v == lo))
      return fail(column, what);
    return v;
  }
  Result<int64_t> whole(const char* column, int64_t lo, int64_t hi, const char* what) const {
    std::string_view s = cell(column);
    int64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc() || p != s.data() + s.size() || v < lo || v > hi)
      return fail(column, what);
    return v;
  }
  std::string where() const { return path_ + ":" + std::to_string(csv_.line()) + ": "; }

 private:
  Status fail(const char* column, const char* what) const {
    std::string_view s = cell(column);
    return Status::invalid(where() + "column '" + column + "': expected " + what + ", got '" +
                           (valid_utf8(s) ? std::string(utf8_prefix(s, 40)) : "(not UTF-8)") +
                           "'");
  }
  const std::string& path_;
  const CsvReader& csv_;
  const Header& header_;
  const std::vector<std::string>& cells_;
};

}  // namespace

Result<std::vector<RealtyCity>> load_cities(const std::string& path) {
  FC_ASSIGN_OR_RETURN(auto csv, CsvReader::open(path));
  FC_ASSIGN_OR_RETURN(const Header header,
                      read_header(*csv, path, {"federal_district", "region", "city", "geo_lat",
                                               "geo_lon", "population"},
                                  {"settlement"}));
  std::vector<RealtyCity> out;
  std::vector<std::string> cells;
  std::string csv_error;
  double weight_sum = 0;
  while (csv->next(cells, &csv_error)) {
    const Row row(path, *csv, header, cells);
    FC_RETURN_IF_ERROR(row.check_shape(csv_error));
    // A row without coordinates or population (a settlement the source has no figures for)
    // cannot be priced, and is left out; a figure that is there must be right.
    if (row.cell("geo_lat").empty() || row.cell("geo_lon").empty() ||
        row.cell("population").empty())
      continue;
    RealtyCity c;
    FC_ASSIGN_OR_RETURN(c.region, row.text("region"));
    FC_ASSIGN_OR_RETURN(c.name, row.text("city"));
    if (c.name.empty() && header.has("settlement")) {
      FC_ASSIGN_OR_RETURN(c.name, row.text("settlement"));
    }
    if (c.name.empty()) c.name = c.region;  // federal cities: Moscow, Saint Petersburg
    if (c.name.empty()) continue;
    FC_ASSIGN_OR_RETURN(c.district, row.text("federal_district"));
    FC_ASSIGN_OR_RETURN(c.lat, row.number("geo_lat", -90, 90, "a latitude between -90 and 90"));
    FC_ASSIGN_OR_RETURN(c.lon,
                        row.number("geo_lon", -180, 180, "a longitude between -180 and 180"));
    FC_ASSIGN_OR_RETURN(c.population, row.whole("population", 1, 1'000'000'000,
                                                "a whole number of people, 1 to 1,000,000,000"));
    weight_sum += std::pow(double(c.population), 0.7);
    out.push_back(std::move(c));
  }
  if (out.empty()) return Status::invalid(path + ": no usable city rows");
  if (!std::isfinite(weight_sum)) return Status::invalid(path + ": the populations' weights overflow");
  return out;
}

Result<std::vector<RealtyStreet>> load_streets(const std::string& path) {
  FC_ASSIGN_OR_RETURN(auto csv, CsvReader::open(path));
  FC_ASSIGN_OR_RETURN(const Header header, read_header(*csv, path, {"street_stem", "osm_count"}));
  std::vector<RealtyStreet> out;
  std::vector<std::string> cells;
  std::string csv_error;
  double weight_sum = 0;
  while (csv->next(cells, &csv_error)) {
    const Row row(path, *csv, header, cells);
    FC_RETURN_IF_ERROR(row.check_shape(csv_error));
    if (row.cell("street_stem").empty()) continue;  // no street to name
    RealtyStreet s;
    FC_ASSIGN_OR_RETURN(s.name, row.text("street_stem"));
    FC_ASSIGN_OR_RETURN(s.weight, row.number("osm_count", 0, DBL_MAX,
                                             "a positive finite weight", /*above_lo=*/true));
    weight_sum += s.weight;
    if (!std::isfinite(weight_sum))
      return Status::invalid(row.where() + "column 'osm_count': the weights' sum overflows (is " +
                             "not a finite number); use smaller weights");
    out.push_back(std::move(s));
  }
  if (out.empty()) return Status::invalid(path + ": no usable street rows");
  return out;
}

const std::vector<RealtyCity>& builtin_cities() {
  // The 50 largest Russian cities: name, region, federal district, centre, population.
  static const std::vector<RealtyCity> k = {
      {"Москва", "Москва", "Центральный", 55.7558, 37.6173, 12655050},
      {"Санкт-Петербург", "Санкт-Петербург", "Северо-Западный", 59.9391, 30.3159, 5384342},
      {"Новосибирск", "Новосибирская", "Сибирский", 55.0302, 82.9204, 1620162},
      {"Екатеринбург", "Свердловская", "Уральский", 56.8389, 60.6057, 1493749},
      {"Казань", "Татарстан", "Приволжский", 55.7963, 49.1088, 1257391},
      {"Нижний Новгород", "Нижегородская", "Приволжский", 56.3269, 44.0059, 1249861},
      {"Челябинск", "Челябинская", "Уральский", 55.1644, 61.4368, 1189525},
      {"Самара", "Самарская", "Приволжский", 53.1959, 50.1002, 1144759},
      {"Омск", "Омская", "Сибирский", 54.9885, 73.3242, 1125695},
      {"Ростов-на-Дону", "Ростовская", "Южный", 47.2357, 39.7015, 1137904},
      {"Уфа", "Башкортостан", "Приволжский", 54.7348, 55.9579, 1125933},
      {"Красноярск", "Красноярский", "Сибирский", 56.0153, 92.8932, 1092851},
      {"Воронеж", "Воронежская", "Центральный", 51.6608, 39.2003, 1057681},
      {"Пермь", "Пермский", "Приволжский", 58.0105, 56.2502, 1055397},
      {"Волгоград", "Волгоградская", "Южный", 48.7080, 44.5133, 1004763},
      {"Краснодар", "Краснодарский", "Южный", 45.0355, 38.9753, 948827},
      {"Саратов", "Саратовская", "Приволжский", 51.5336, 46.0343, 838042},
      {"Тюмень", "Тюменская", "Уральский", 57.1522, 65.5272, 807271},
      {"Тольятти", "Самарская", "Приволжский", 53.5078, 49.4204, 699429},
      {"Ижевск", "Удмуртская", "Приволжский", 56.8526, 53.2045, 648146},
      {"Барнаул", "Алтайский", "Сибирский", 53.3548, 83.7698, 632391},
      {"Ульяновск", "Ульяновская", "Приволжский", 54.3142, 48.4031, 627705},
      {"Иркутск", "Иркутская", "Сибирский", 52.2870, 104.3050, 617473},
      {"Хабаровск", "Хабаровский", "Дальневосточный", 48.4827, 135.0838, 616242},
      {"Ярославль", "Ярославская", "Центральный", 57.6261, 39.8845, 608353},
      {"Владивосток", "Приморский", "Дальневосточный", 43.1155, 131.8855, 606653},
      {"Махачкала", "Дагестан", "Северо-Кавказский", 42.9849, 47.5047, 603518},
      {"Томск", "Томская", "Сибирский", 56.4846, 84.9476, 576624},
      {"Оренбург", "Оренбургская", "Приволжский", 51.7682, 55.0969, 564773},
      {"Кемерово", "Кемеровская", "Сибирский", 55.3547, 86.0873, 556382},
      {"Новокузнецк", "Кемеровская", "Сибирский", 53.7596, 87.1216, 549403},
      {"Рязань", "Рязанская", "Центральный", 54.6269, 39.6916, 538962},
      {"Астрахань", "Астраханская", "Южный", 46.3479, 48.0336, 532504},
      {"Набережные Челны", "Татарстан", "Приволжский", 55.7436, 52.3958, 529797},
      {"Пенза", "Пензенская", "Приволжский", 53.1959, 45.0183, 523726},
      {"Киров", "Кировская", "Приволжский", 58.6036, 49.6680, 507155},
      {"Липецк", "Липецкая", "Центральный", 52.6088, 39.5992, 509735},
      {"Чебоксары", "Чувашская", "Приволжский", 56.1439, 47.2489, 497618},
      {"Калининград", "Калининградская", "Северо-Западный", 54.7104, 20.4522, 489359},
      {"Тула", "Тульская", "Центральный", 54.1931, 37.6173, 475161},
      {"Ставрополь", "Ставропольский", "Северо-Кавказский", 45.0428, 41.9734, 450680},
      {"Курск", "Курская", "Центральный", 51.7304, 36.1926, 449063},
      {"Сочи", "Краснодарский", "Южный", 43.5855, 39.7231, 443562},
      {"Улан-Удэ", "Бурятия", "Дальневосточный", 51.8335, 107.5841, 439128},
      {"Тверь", "Тверская", "Центральный", 56.8587, 35.9176, 416219},
      {"Магнитогорск", "Челябинская", "Уральский", 53.4072, 58.9791, 416521},
      {"Иваново", "Ивановская", "Центральный", 57.0004, 40.9739, 406933},
      {"Брянск", "Брянская", "Центральный", 53.2436, 34.3634, 404987},
      {"Белгород", "Белгородская", "Центральный", 50.5955, 36.5873, 391135},
      {"Сургут", "Ханты-Мансийский", "Уральский", 61.2540, 73.3962, 380632},
  };
  return k;
}

const std::vector<RealtyStreet>& builtin_streets() {
  static const std::vector<RealtyStreet> k = {
      {"Центральная", 3431}, {"Советская", 3060}, {"Школьная", 2773},   {"Ленина", 2495},
      {"Молодёжная", 2487},  {"Садовая", 2300},   {"Лесная", 2200},     {"Новая", 2100},
      {"Набережная", 1900},  {"Мира", 1800},      {"Заречная", 1600},   {"Полевая", 1500},
      {"Гагарина", 1400},    {"Пушкина", 1300},   {"Октябрьская", 1250}, {"Комсомольская", 1200},
      {"Первомайская", 1100}, {"Кирова", 1000},   {"Зелёная", 950},     {"Победы", 900},
      {"Луговая", 850},      {"Солнечная", 800},  {"Строителей", 750},  {"Рабочая", 700},
      {"Юбилейная", 650},    {"Чапаева", 600},    {"Калинина", 550},    {"Горького", 500},
      {"Мичурина", 450},     {"Лермонтова", 400},
  };
  return k;
}

RealtyGenerator::RealtyGenerator(const DatasetSpec& spec, std::vector<RealtyCity> cities,
                                 std::vector<RealtyStreet> streets, uint64_t seed, int64_t limit,
                                 double request_share, std::string key_prefix)
    : spec_(spec),
      cities_(std::move(cities)),
      streets_(std::move(streets)),
      rng_(seed),
      limit_(limit),
      request_share_(request_share),
      key_prefix_(std::move(key_prefix)) {
  std::vector<double> cw, sw;
  for (const auto& c : cities_) cw.push_back(std::pow(double(c.population), 0.7));
  for (const auto& s : streets_) sw.push_back(s.weight);
  pick_city_ = std::discrete_distribution<size_t>(cw.begin(), cw.end());
  pick_street_ = std::discrete_distribution<size_t>(sw.begin(), sw.end());
  f_region_ = required(spec, "region");
  f_city_ = required(spec, "city");
  f_street_ = required(spec, "street");
  f_rooms_ = required(spec, "rooms");
  f_floor_ = required(spec, "floor");
  f_floors_ = required(spec, "floors_total");
  f_area_ = required(spec, "total_area");
  f_kitchen_ = required(spec, "kitchen_area");
  f_type_ = required(spec, "building_type");
  f_year_ = required(spec, "year_built");
  f_lat_ = required(spec, "lat");
  f_lon_ = required(spec, "lon");
  f_listed_ = required(spec, "listed_at");
  f_price_ = spec.target_index();
}

bool RealtyGenerator::next(GeneratedEvent& out, int64_t sim_time_us) {
  if (limit_ > 0 && emitted_ >= limit_) return false;
  std::uniform_real_distribution<double> u(0, 1);
  std::normal_distribution<double> gauss(0, 1);
  const RealtyCity& city = cities_[pick_city_(rng_)];

  // Rooms and area.
  double r = u(rng_);
  int64_t rooms = r < 0.08 ? 0 : r < 0.40 ? 1 : r < 0.74 ? 2 : r < 0.94 ? 3 : 4;
  static constexpr double kAreaLo[] = {22, 30, 42, 58, 78}, kAreaHi[] = {32, 46, 66, 92, 140};
  double area = std::round((kAreaLo[rooms] + (kAreaHi[rooms] - kAreaLo[rooms]) * u(rng_)) * 10) / 10;
  double kitchen = std::round(std::max(4.0, area * (0.12 + 0.08 * u(rng_))) * 10) / 10;

  // Building.
  static const char* kTypes[] = {"panel", "brick", "monolith", "block", "wooden"};
  static constexpr double kTypeWeight[] = {0.42, 0.25, 0.22, 0.08, 0.03};
  static constexpr double kTypeFactor[] = {0.92, 1.05, 1.08, 0.97, 0.75};
  double t = u(rng_);
  int type = 0;
  while (type < 4 && t > kTypeWeight[type]) t -= kTypeWeight[type++];
  int64_t year;
  if (type == 2) year = 1995 + int64_t(u(rng_) * 30);           // monolith: modern
  else if (type == 0) year = 1960 + int64_t(u(rng_) * 50);      // panel
  else if (type == 4) year = 1920 + int64_t(u(rng_) * 50);      // wooden
  else year = 1930 + int64_t(u(rng_) * 95);
  year = std::min<int64_t>(year, 2024);
  static constexpr int64_t kFloors[] = {5, 9, 12, 16, 25};
  int64_t floors = type == 4 ? 2 : kFloors[size_t(u(rng_) * (type == 2 ? 5 : 4)) % 5];
  int64_t floor = 1 + int64_t(u(rng_) * double(floors));

  // Location: around the centre, denser near it.
  double km = std::min(25.0, -std::log(1 - u(rng_) * 0.999) * 4.0);
  double angle = u(rng_) * 2 * M_PI;
  double lat = city.lat + km * std::sin(angle) / 110.57;
  double lon = city.lon + km * std::cos(angle) / (111.32 * std::cos(city.lat * M_PI / 180));

  // The pricing function (see the header).
  double ppm2 = 55000 * std::pow(double(city.population) / 100000.0, 0.22) * district_factor(city.district);
  if (city.name == "Москва") ppm2 *= 1.6;
  if (city.name == "Санкт-Петербург") ppm2 *= 1.25;
  double k_rooms = rooms <= 1 ? 1.08 : rooms == 2 ? 1.00 : rooms == 3 ? 0.96 : 0.93;
  double k_floor = floor == 1 ? 0.92 : floor == floors ? 0.95 : 1.0;
  double k_age = year >= 2015 ? 1.10 : year >= 1990 ? 1.00 : year >= 1960 ? 0.88 : 0.95;
  double k_centre = std::exp(-0.035 * km);
  double noiseless = area * ppm2 * k_rooms * k_floor * kTypeFactor[type] * k_age * k_centre;
  double price = std::round(noiseless * std::exp(kPriceNoiseSigma * gauss(rng_)) / 1000) * 1000;
  last_noiseless_ = noiseless;

  Record& rec = out.record;
  rec.values.assign(spec_.fields().size(), std::monostate{});
  rec.key = key_prefix_ + std::to_string(emitted_);
  rec.values[size_t(spec_.key_index())] = rec.key;
  rec.values[size_t(f_region_)] = city.region;
  rec.values[size_t(f_city_)] = city.name;
  rec.values[size_t(f_street_)] = "улица " + streets_[pick_street_(rng_)].name;
  rec.values[size_t(f_rooms_)] = rooms;
  rec.values[size_t(f_floor_)] = floor;
  rec.values[size_t(f_floors_)] = floors;
  rec.values[size_t(f_area_)] = area;
  rec.values[size_t(f_kitchen_)] = kitchen;
  rec.values[size_t(f_type_)] = std::string(kTypes[type]);
  rec.values[size_t(f_year_)] = year;
  rec.values[size_t(f_lat_)] = lat;
  rec.values[size_t(f_lon_)] = lon;
  rec.values[size_t(f_listed_)] = sim_time_us;
  rec.values[size_t(f_price_)] = price;
  if (u(rng_) < request_share_) {
    // A price request; the apartment's sale price arrives later as the outcome.
    out.kind = GeneratedEvent::Kind::kRequestThenOutcome;
    out.outcome_delay_s = 1800 + 3600 * u(rng_);
  } else {
    out.kind = GeneratedEvent::Kind::kObservation;
    out.outcome_delay_s = 0;
  }
  ++emitted_;
  return true;
}

}  // namespace flowcast::stages
