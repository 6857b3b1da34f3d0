#include "server/prometheus_writer.h"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace flowcast::server {
namespace {

void append_number(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else {
    char buf[32];
    auto [ptr, ec] = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, size_t(ptr - buf));
  }
}

}  // namespace

void PrometheusWriter::family(std::string_view name, std::string_view type, std::string_view help) {
  if (std::find(announced_.begin(), announced_.end(), name) != announced_.end()) return;
  announced_.emplace_back(name);
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  out_ += help;
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += ' ';
  out_ += type;
  out_ += '\n';
}

void PrometheusWriter::labels(const Labels& labels, std::string_view extra_name,
                              std::string_view extra_value) {
  if (labels.empty() && extra_name.empty()) return;
  out_ += '{';
  bool first = true;
  auto one = [&](std::string_view k, std::string_view v) {
    if (!first) out_ += ',';
    first = false;
    out_ += k;
    out_ += "=\"";
    for (char c : v) {
      if (c == '\\') out_ += "\\\\";
      else if (c == '"') out_ += "\\\"";
      else if (c == '\n') out_ += "\\n";
      else out_ += c;
    }
    out_ += '"';
  };
  for (const auto& [k, v] : labels) one(k, v);
  if (!extra_name.empty()) one(extra_name, extra_value);
  out_ += '}';
}

void PrometheusWriter::sample(std::string_view name, const Labels& l, double value) {
  out_ += name;
  labels(l);
  out_ += ' ';
  append_number(out_, value);
  out_ += '\n';
}

void PrometheusWriter::sample(std::string_view name, const Labels& l, int64_t value) {
  out_ += name;
  labels(l);
  out_ += ' ';
  out_ += std::to_string(value);
  out_ += '\n';
}

void PrometheusWriter::histogram(std::string_view name, const Labels& l,
                                 const LatencyHistogram::Snapshot& s, double min_us,
                                 double max_us) {
  const std::string bucket = std::string(name) + "_bucket";
  int64_t cumulative = 0;
  int i = 0;
  // Bucket bounds are exact powers of two (every fourth LatencyHistogram bucket), so the
  // cumulative counts are exact, not interpolated.
  for (double bound = min_us; bound <= max_us; bound *= 2) {
    while (i < LatencyHistogram::kBuckets - 1 && LatencyHistogram::upper_us(i) <= bound * 1.0000001)
      cumulative += s.counts[size_t(i++)];
    std::string le;
    append_number(le, bound / 1e6);
    out_ += bucket;
    labels(l, "le", le);
    out_ += ' ';
    out_ += std::to_string(cumulative);
    out_ += '\n';
  }
  out_ += bucket;
  labels(l, "le", "+Inf");
  out_ += ' ';
  out_ += std::to_string(s.count);
  out_ += '\n';
  sample(std::string(name) + "_sum", l, double(s.sum_us) / 1e6);
  sample(std::string(name) + "_count", l, s.count);
}

}  // namespace flowcast::server
