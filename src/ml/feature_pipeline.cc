#include "ml/feature_pipeline.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <map>
#include <tuple>

#include "core/config_error.h"
#include "core/time_util.h"

namespace flowcast::ml {
namespace {

constexpr double kEarthRadiusKm = 6371.0088;
constexpr double kDegToRad = M_PI / 180.0;
const float kNaN = std::nanf("");

// What the geometry steps of one row share: a trip's pickup and dropoff feed haversine,
// manhattan, bearing and two distances. Each sine and cosine is computed once per row and looked
// up after. The same function of the same argument (compared bit for bit) gives the same result,
// so every feature is exactly what computing it afresh gives. (The calendar steps share their
// date through civil_from_micros, which keeps the last day's per thread.)
class RowMemo {
 public:
  double sin(double x) { return trig(kSin, x); }
  double cos(double x) { return trig(kCos, x); }

 private:
  enum Fn : uint8_t { kSin, kCos };
  static constexpr int kSize = 16;

  double trig(Fn fn, double x) {
    const uint64_t bits = std::bit_cast<uint64_t>(x);
    for (int i = 0; i < n_; ++i)
      if (bits_[i] == bits && fn_[i] == fn) return value_[i];
    const double v = fn == kSin ? std::sin(x) : std::cos(x);
    if (n_ < kSize) {
      bits_[n_] = bits;
      fn_[n_] = fn;
      value_[n_++] = v;
    }
    return v;
  }

  uint64_t bits_[kSize];
  double value_[kSize];
  Fn fn_[kSize];
  int n_ = 0;
};

double haversine_km(RowMemo& m, double lat1, double lon1, double lat2, double lon2) {
  double dlat = (lat2 - lat1) * kDegToRad, dlon = (lon2 - lon1) * kDegToRad;
  double sdlat = m.sin(dlat / 2), sdlon = m.sin(dlon / 2);
  double a = sdlat * sdlat + m.cos(lat1 * kDegToRad) * m.cos(lat2 * kDegToRad) * sdlon * sdlon;
  return 2 * kEarthRadiusKm * std::asin(std::min(1.0, std::sqrt(a)));
}

double bearing_deg(RowMemo& m, double lat1, double lon1, double lat2, double lon2) {
  double p1 = lat1 * kDegToRad, p2 = lat2 * kDegToRad, dl = (lon2 - lon1) * kDegToRad;
  double y = m.sin(dl) * m.cos(p2);
  double x = m.cos(p1) * m.sin(p2) - m.sin(p1) * m.cos(p2) * m.cos(dl);
  return std::atan2(y, x) / kDegToRad;
}

// Every transform: its name, how many inputs it takes and the step it runs.
struct KindInfo {
  const char* kind;
  int inputs;  // required count
  FeaturePipeline::Op op;
};
using Op = FeaturePipeline::Op;
constexpr KindInfo kKinds[] = {
    {"numeric", 1, Op::kNumeric},
    {"log1p", 1, Op::kLog1p},
    {"haversine_km", 4, Op::kHaversine},
    {"manhattan_km", 4, Op::kManhattan},
    {"bearing_deg", 4, Op::kBearing},
    {"hour", 1, Op::kHour},
    {"weekday", 1, Op::kWeekday},
    {"month", 1, Op::kMonth},
    {"day_of_year", 1, Op::kDayOfYear},
    {"equals", 1, Op::kEquals},
    {"one_hot", 1, Op::kOneHot},
    {"target_encode", 1, Op::kTargetEncode},
    {"distance_km", 2, Op::kDistance},
    {"ratio", 2, Op::kRatio},
    {"group_distance_km", 3, Op::kGroupDistance},
};

double param_double(const FeatureSpec& f, const std::string& key, double fallback,
                    const std::string& path) {
  auto it = f.params.find(key);
  if (it == f.params.end()) return fallback;
  try {
    return std::stod(it->second);
  } catch (const std::exception&) {
    throw ConfigError(path + "." + key, "expected a number, got '" + it->second + "'");
  }
}

}  // namespace

size_t FeaturePipeline::Step::width() const {
  if (kind == "one_hot") return vocabulary.size() + 1;
  return 1;
}

std::string FeaturePipeline::category_of(const Record& r, int field) {
  const Value& v = r.values[size_t(field)];
  if (auto* s = std::get_if<std::string>(&v)) return *s;
  if (auto* n = std::get_if<int64_t>(&v)) return std::to_string(*n);
  if (auto* b = std::get_if<bool>(&v)) return *b ? "true" : "false";
  if (auto* d = std::get_if<double>(&v)) return std::to_string(*d);
  return {};
}

FeaturePipeline FeaturePipeline::from_spec(const DatasetSpec& spec) {
  FeaturePipeline p;
  for (size_t i = 0; i < spec.features().size(); ++i) {
    const FeatureSpec& f = spec.features()[i];
    std::string path = "datasets." + spec.name() + ".features." + std::to_string(i);
    const KindInfo* info = nullptr;
    for (const auto& k : kKinds)
      if (f.transform == k.kind) info = &k;
    if (!info) {
      std::string known;
      for (const auto& k : kKinds) known += (known.empty() ? "" : ", ") + std::string(k.kind);
      throw ConfigError(path + ".transform",
                        "unknown transform '" + f.transform + "' (expected one of: " + known + ")");
    }
    if (static_cast<int>(f.inputs.size()) != info->inputs)
      throw ConfigError(path, "transform '" + f.transform + "' takes " +
                                  std::to_string(info->inputs) + " input(s), got " +
                                  std::to_string(f.inputs.size()));
    Step s;
    s.name = f.name;
    s.kind = f.transform;
    s.op = info->op;
    for (const auto& in : f.inputs) s.inputs.push_back(spec.field_index(in));
    s.timestamp_input = spec.field(s.inputs[0]).type == FieldType::kTimestamp;
    if (s.kind == "hour" || s.kind == "weekday" || s.kind == "month" || s.kind == "day_of_year") {
      if (!s.timestamp_input)
        throw ConfigError(path, "transform '" + s.kind + "' needs a timestamp input");
    }
    if (s.kind == "equals") {
      auto it = f.params.find("value");
      if (it == f.params.end()) throw ConfigError(path, "transform 'equals' needs 'value'");
      s.value = it->second;
    }
    s.max_values = static_cast<int>(param_double(f, "max_values", 16, path));
    if (s.max_values < 1 || s.max_values > 1000)
      throw ConfigError(path + ".max_values", "must be between 1 and 1000");
    s.smoothing = param_double(f, "smoothing", 20, path);
    s.lat = param_double(f, "lat", 0, path);
    s.lon = param_double(f, "lon", 0, path);
    p.steps_.push_back(std::move(s));
  }
  p.rebuild_names();
  return p;
}

void FeaturePipeline::rebuild_names() {
  names_.clear();
  for (const auto& s : steps_) {
    if (s.kind == "one_hot") {
      for (const auto& v : s.vocabulary) names_.push_back(s.name + "=" + v);
      names_.push_back(s.name + "=<other>");
    } else {
      names_.push_back(s.name);
    }
  }
}

void FeaturePipeline::fit(std::span<const Record> rows, std::span<const double> targets) {
  double global_mean = 0;
  for (double t : targets) global_mean += t;
  if (!targets.empty()) global_mean /= static_cast<double>(targets.size());
  for (auto& s : steps_) {
    if (s.kind == "one_hot") {
      std::map<std::string, int64_t> counts;
      for (const auto& r : rows)
        if (r.has(s.inputs[0])) counts[category_of(r, s.inputs[0])]++;
      std::vector<std::pair<std::string, int64_t>> sorted(counts.begin(), counts.end());
      std::stable_sort(sorted.begin(), sorted.end(),
                       [](const auto& a, const auto& b) { return a.second > b.second; });
      s.vocabulary.clear();
      for (size_t i = 0; i < sorted.size() && static_cast<int>(i) < s.max_values; ++i)
        s.vocabulary.push_back(sorted[i].first);
    } else if (s.kind == "group_distance_km") {
      std::unordered_map<std::string, std::tuple<double, double, int64_t>> sums;
      for (const auto& r : rows) {
        double la = r.number(s.inputs[1]), lo = r.number(s.inputs[2]);
        if (!r.has(s.inputs[0]) || std::isnan(la + lo)) continue;
        auto& e = sums[category_of(r, s.inputs[0])];
        std::get<0>(e) += la;
        std::get<1>(e) += lo;
        std::get<2>(e)++;
      }
      s.centres.clear();
      for (const auto& [k, e] : sums)
        s.centres[k] = {std::get<0>(e) / double(std::get<2>(e)),
                        std::get<1>(e) / double(std::get<2>(e))};
    } else if (s.kind == "target_encode") {
      std::unordered_map<std::string, std::pair<double, int64_t>> sums;
      for (size_t i = 0; i < rows.size() && i < targets.size(); ++i)
        if (rows[i].has(s.inputs[0])) {
          auto& e = sums[category_of(rows[i], s.inputs[0])];
          e.first += targets[i];
          e.second++;
        }
      s.encoding.clear();
      for (const auto& [k, e] : sums) {
        double n = static_cast<double>(e.second);
        s.encoding[k] =
            static_cast<float>((e.first + s.smoothing * global_mean) / (n + s.smoothing));
      }
      s.default_encoding = static_cast<float>(global_mean);
    }
  }
  rebuild_names();
}

void FeaturePipeline::transform(const Record& r, float* out) const {
  RowMemo memo;
  for (const auto& s : steps_) {
    const int a = s.inputs[0];
    if (s.op == Op::kOneHot) {
      size_t n = s.vocabulary.size();
      std::fill(out, out + n + 1, 0.0f);
      if (r.has(a)) {
        std::string c = category_of(r, a);
        auto it = std::find(s.vocabulary.begin(), s.vocabulary.end(), c);
        out[it == s.vocabulary.end() ? n : size_t(it - s.vocabulary.begin())] = 1.0f;
      }
      out += n + 1;
      continue;
    }
    float v = kNaN;
    switch (s.op) {
      case Op::kNumeric: {
        double x = r.number(a);
        v = static_cast<float>(s.timestamp_input ? x / 1e6 : x);
        break;
      }
      case Op::kLog1p: {
        double x = r.number(a);
        if (!std::isnan(x)) v = static_cast<float>(std::log1p(std::max(x, 0.0)));
        break;
      }
      case Op::kHaversine:
      case Op::kManhattan:
      case Op::kBearing: {
        double la1 = r.number(s.inputs[0]), lo1 = r.number(s.inputs[1]);
        double la2 = r.number(s.inputs[2]), lo2 = r.number(s.inputs[3]);
        if (!std::isnan(la1 + lo1 + la2 + lo2)) {
          if (s.op == Op::kHaversine)
            v = static_cast<float>(haversine_km(memo, la1, lo1, la2, lo2));
          else if (s.op == Op::kManhattan)
            v = static_cast<float>(haversine_km(memo, la1, lo1, la2, lo1) +
                                   haversine_km(memo, la2, lo1, la2, lo2));
          else
            v = static_cast<float>(bearing_deg(memo, la1, lo1, la2, lo2));
        }
        break;
      }
      case Op::kDistance: {
        double la = r.number(s.inputs[0]), lo = r.number(s.inputs[1]);
        if (!std::isnan(la + lo)) v = static_cast<float>(haversine_km(memo, la, lo, s.lat, s.lon));
        break;
      }
      case Op::kHour:
      case Op::kWeekday:
      case Op::kMonth:
      case Op::kDayOfYear:
        if (auto* ts = std::get_if<int64_t>(&r.values[size_t(a)])) {
          CivilTime c = civil_from_micros(*ts);
          if (s.op == Op::kHour)
            v = static_cast<float>(c.hour + c.minute / 60.0);
          else if (s.op == Op::kWeekday)
            v = static_cast<float>(c.weekday);
          else if (s.op == Op::kMonth)
            v = static_cast<float>(c.month);
          else
            v = static_cast<float>(c.day_of_year);
        }
        break;
      case Op::kEquals:
        if (r.has(a)) {
          // Compared in place: no copy of the value for the common case of a string field.
          if (auto* text = r.text(a))
            v = *text == s.value ? 1.0f : 0.0f;
          else
            v = category_of(r, a) == s.value ? 1.0f : 0.0f;
        }
        break;
      case Op::kRatio: {
        double x = r.number(s.inputs[0]), y = r.number(s.inputs[1]);
        if (!std::isnan(x + y) && y != 0) v = static_cast<float>(x / y);
        break;
      }
      case Op::kGroupDistance:
        if (r.has(a)) {
          auto it = s.centres.find(category_of(r, a));
          double la = r.number(s.inputs[1]), lo = r.number(s.inputs[2]);
          if (it != s.centres.end() && !std::isnan(la + lo))
            v = static_cast<float>(haversine_km(memo, la, lo, it->second.first, it->second.second));
        }
        break;
      case Op::kTargetEncode:
        v = s.default_encoding;
        if (r.has(a)) {
          auto it = s.encoding.find(category_of(r, a));
          if (it != s.encoding.end()) v = it->second;
        }
        break;
      case Op::kOneHot:
        break;
    }
    *out++ = v;
  }
}

nlohmann::json FeaturePipeline::to_json() const {
  nlohmann::json steps = nlohmann::json::array();
  for (const auto& s : steps_) {
    nlohmann::json j = {{"name", s.name}, {"kind", s.kind}};
    if (s.kind == "one_hot") j["vocabulary"] = s.vocabulary;
    if (s.kind == "group_distance_km") {
      nlohmann::json c = nlohmann::json::object();
      for (const auto& [k, v] : s.centres) c[k] = {v.first, v.second};
      j["centres"] = c;
    }
    if (s.kind == "target_encode") {
      j["default"] = s.default_encoding;
      nlohmann::json enc = nlohmann::json::object();
      for (const auto& [k, v] : s.encoding) enc[k] = v;
      j["encoding"] = enc;
    }
    steps.push_back(j);
  }
  return {{"steps", steps}, {"feature_names", names_}};
}

FeaturePipeline FeaturePipeline::from_json(const DatasetSpec& spec, const nlohmann::json& state) {
  FeaturePipeline p = from_spec(spec);
  const auto& steps = state.at("steps");
  if (steps.size() != p.steps_.size())
    throw ConfigError("model", "the model's feature pipeline has " + std::to_string(steps.size()) +
                                   " steps, the dataset declares " +
                                   std::to_string(p.steps_.size()));
  for (size_t i = 0; i < steps.size(); ++i) {
    auto& s = p.steps_[i];
    const auto& j = steps[i];
    if (j.at("kind").get<std::string>() != s.kind || j.at("name").get<std::string>() != s.name)
      throw ConfigError("model", "feature " + std::to_string(i) + " of the model is '" +
                                     j.at("name").get<std::string>() + "', the dataset declares '" +
                                     s.name + "'");
    if (j.contains("vocabulary")) s.vocabulary = j["vocabulary"].get<std::vector<std::string>>();
    if (j.contains("centres")) {
      for (auto it = j["centres"].begin(); it != j["centres"].end(); ++it)
        s.centres[it.key()] = {it.value()[0].get<double>(), it.value()[1].get<double>()};
    }
    if (j.contains("encoding")) {
      s.default_encoding = j.at("default").get<float>();
      for (auto it = j["encoding"].begin(); it != j["encoding"].end(); ++it)
        s.encoding[it.key()] = it.value().get<float>();
    }
  }
  p.rebuild_names();
  return p;
}

}  // namespace flowcast::ml
