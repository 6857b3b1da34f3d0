#include "core/csv_reader.h"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <ctime>

#include "core/time_util.h"
#include "core/utf8.h"

namespace flowcast {

namespace {

const char* const kNotUtf8 =
    "not valid UTF-8 (is the file in another encoding, e.g. Windows-1251? convert it with iconv "
    "-f cp1251 -t utf-8)";
// The encoding hint is given when this many first data rows (or all, in a shorter file) are all
// rejected as not UTF-8: one bad cell is a bad row, a run of them from the start is a bad file.
constexpr int64_t kEncodingProbeRows = 5;

// Why a header may lack a column it seems to have, for the "missing required column" line: the
// file is not comma-separated UTF-8 text. Empty when nothing looks wrong.
std::string header_hint(const std::vector<std::string>& header) {
  const std::string& first = header.front();
  if (first.starts_with("\xFF\xFE") || first.starts_with("\xFE\xFF"))
    return "; the file is UTF-16: convert it with iconv -f utf-16 -t utf-8";
  for (const auto& h : header) {
    if (h.find('\0') != std::string::npos)
      return "; the header has NUL bytes: the file does not look like a text CSV";
  }
  for (const auto& h : header) {
    if (!valid_utf8(h)) return std::string("; the header is ") + kNotUtf8;
  }
  if (header.size() == 1) {
    for (auto [sep, name] : {std::pair{';', ";-separated"}, std::pair{'\t', "tab-separated"},
                             std::pair{'|', "|-separated"}}) {
      if (first.find(sep) != std::string::npos)
        return std::string(" (the file looks ") + name + "; flowcast reads comma-separated CSV)";
    }
  }
  return "";
}

}  // namespace

Result<std::unique_ptr<CsvReader>> CsvReader::open(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return Status::io_error("cannot open " + path + ": " + std::strerror(errno));
  return std::unique_ptr<CsvReader>(new CsvReader(f, path));
}

CsvReader::~CsvReader() {
  if (file_) std::fclose(file_);
}

int CsvReader::getc() {
  if (pos_ == len_) {
    consumed_ += int64_t(len_);
    len_ = std::fread(buf_.data(), 1, buf_.size(), file_);
    pos_ = 0;
    if (len_ == 0) return EOF;
  }
  return static_cast<unsigned char>(buf_[pos_++]);
}

int CsvReader::peek() {
  const int c = getc();
  if (c != EOF) --pos_;  // getc() just took it from the current buffer
  return c;
}

bool CsvReader::next(std::vector<std::string>& cells, std::string* error) {
  cells.clear();
  int c = getc();
  // Blank lines (between rows, or a file's trailing ones) are no rows.
  for (; c == '\n' || c == '\r'; c = getc()) {
    if (c == '\r' && peek() == '\n') getc();
    ++current_line_;
  }
  if (c == EOF) return false;
  row_line_ = current_line_;
  std::string cell;
  bool quoted = false;
  for (;; c = getc()) {
    if (c == EOF) {
      if (quoted && error) *error = "unclosed quote";
      cells.push_back(std::move(cell));
      return true;
    }
    if (quoted) {
      if (c == '"') {
        int d = getc();
        if (d == '"') {
          cell.push_back('"');
          continue;
        }
        quoted = false;
        c = d;
        if (c == EOF) {
          cells.push_back(std::move(cell));
          return true;
        }
      } else {
        // A line break inside quotes is the cell's content, kept as written; it still counts as
        // a line, so later rows' line numbers match an editor's.
        if (c == '\n' || (c == '\r' && peek() != '\n')) ++current_line_;
        cell.push_back(static_cast<char>(c));
        continue;
      }
    }
    if (c == '"' && cell.empty()) {
      quoted = true;
    } else if (c == ',') {
      cells.push_back(std::move(cell));
      cell.clear();
    } else if (c == '\n' || c == '\r') {
      // Rows end with LF, CRLF (Windows) or a lone CR (old Mac exports, a file's last line).
      if (c == '\r' && peek() == '\n') getc();
      ++current_line_;
      cells.push_back(std::move(cell));
      return true;
    } else {
      cell.push_back(static_cast<char>(c));
    }
  }
}

Status parse_text_value(const FieldSpec& f, std::string_view s, Value& out,
                        const ColumnMapping* mapping) {
  const double scale = mapping ? mapping->scale : 1.0;
  auto fail = [&](const std::string& what) {
    // Bytes that are not UTF-8 are not quoted: the reason goes into UTF-8 files and JSON.
    if (!valid_utf8(s)) return Status::invalid("field '" + f.name + "': " + kNotUtf8);
    return Status::invalid("field '" + f.name + "': " + what + ", got '" +
                           std::string(utf8_prefix(s, 40)) + "'");
  };
  auto bounds = [&](double v) -> Status {
    if (!std::isfinite(v)) return fail("expected a finite number");
    if ((f.min && v < *f.min) || (f.max && v > *f.max)) return fail("value outside the allowed range");
    return Status();
  };
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  if (s.empty()) {
    out = std::monostate{};
    return Status();
  }
  switch (f.type) {
    case FieldType::kInt: {
      int64_t v;
      auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
      if (ec != std::errc() || p != s.data() + s.size()) {
        double d;  // "12.0" or a scaled value
        auto [p2, ec2] = std::from_chars(s.data(), s.data() + s.size(), d);
        if (ec2 != std::errc() || p2 != s.data() + s.size() || d * scale != std::floor(d * scale))
          return fail("expected an integer");
        v = static_cast<int64_t>(d * scale);
      } else if (scale != 1) {
        v = static_cast<int64_t>(std::llround(double(v) * scale));
      }
      FC_RETURN_IF_ERROR(bounds(double(v)));
      out = v;
      return Status();
    }
    case FieldType::kFloat:
    case FieldType::kLatitude:
    case FieldType::kLongitude: {
      double v;
      auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
      if (ec != std::errc() || p != s.data() + s.size()) {
        // Decimal commas, as in many European exports: "54,3".
        std::string t(s);
        for (char& ch : t)
          if (ch == ',') ch = '.';
        auto [p2, ec2] = std::from_chars(t.data(), t.data() + t.size(), v);
        if (ec2 != std::errc() || p2 != t.data() + t.size()) return fail("expected a number");
      }
      v *= scale;
      FC_RETURN_IF_ERROR(bounds(v));
      out = v;
      return Status();
    }
    case FieldType::kBool: {
      if (s == "true" || s == "1" || s == "Y" || s == "yes" || s == "True") out = true;
      else if (s == "false" || s == "0" || s == "N" || s == "no" || s == "False") out = false;
      else return fail("expected true/false");
      return Status();
    }
    case FieldType::kString:
    case FieldType::kCategory:
      // Checked here, where text enters a Record: everything downstream (the JSON codec, the
      // model artifact, PostgreSQL) refuses malformed UTF-8, and a stored one breaks training.
      if (!valid_utf8(s)) return Status::invalid("field '" + f.name + "': " + kNotUtf8);
      // A Record parsed into again keeps its strings' buffers: no allocation per cell.
      if (auto* text = std::get_if<std::string>(&out))
        text->assign(s);
      else
        out = std::string(s);
      return Status();
    case FieldType::kTimestamp: {
      if (mapping && !mapping->format.empty()) {
        std::tm tm{};
        std::string text(s);
        const char* end = strptime(text.c_str(), mapping->format.c_str(), &tm);
        if (!end || *end != '\0') return fail("expected a timestamp in the format " + mapping->format);
        out = int64_t(timegm(&tm)) * 1000000;
        return Status();
      }
      auto ts = parse_timestamp_micros(s);
      if (!ts) return fail("expected a timestamp (YYYY-MM-DD HH:MM:SS)");
      out = *ts;
      return Status();
    }
  }
  return fail("unsupported type");
}

Result<std::unique_ptr<CsvRecordReader>> CsvRecordReader::open(const std::string& path,
                                                               const DatasetSpec& spec,
                                                               bool need_target) {
  auto r = std::unique_ptr<CsvRecordReader>(new CsvRecordReader());
  FC_ASSIGN_OR_RETURN(r->csv_, CsvReader::open(path));
  r->spec_ = &spec;
  r->need_target_ = need_target;
  std::vector<std::string> header;
  if (!r->csv_->next(header)) return Status::invalid(path + ": the file is empty (no header row)");
  if (!header.empty() && header[0].starts_with("\xEF\xBB\xBF")) header[0].erase(0, 3);  // BOM
  std::vector<size_t> field_column(spec.fields().size(), 0);  // 1-based column feeding each field
  for (auto& h : header) {
    const ColumnMapping* mapping = nullptr;
    for (const auto& m : spec.columns())
      if (m.column == h) mapping = &m;
    // A field that a mapping feeds from another column is not also read from its own name.
    bool renamed_away = false;
    for (const auto& m : spec.columns()) renamed_away |= !mapping && m.field == h && m.column != h;
    int idx = mapping ? spec.field_index(mapping->field) : renamed_away ? -1 : spec.field_index(h);
    r->column_field_.push_back(idx);
    r->column_mapping_.push_back(mapping);
    if (idx < 0) continue;
    // Two columns feeding one field: which one wins would be an accident of their order.
    const size_t column = r->column_field_.size();
    if (const size_t first = field_column[size_t(idx)]; first != 0) {
      const std::string& other = header[first - 1];
      if (other == h)
        return Status::invalid(path + ": duplicate column '" + h + "' (columns " +
                               std::to_string(first) + " and " + std::to_string(column) + ")");
      return Status::invalid(path + ": columns '" + other + "' (column " + std::to_string(first) +
                             ") and '" + h + "' (column " + std::to_string(column) +
                             ") both map to field '" + spec.field(idx).name + "'");
    }
    field_column[size_t(idx)] = column;
  }
  for (size_t i = 0; i < spec.fields().size(); ++i)
    if (field_column[i] == 0) r->unfed_fields_.push_back(i);
  for (size_t i = 0; i < spec.fields().size(); ++i) {
    const auto& f = spec.fields()[i];
    bool needed = static_cast<int>(i) == spec.key_index() ||
                  (f.role == FieldRole::kRequest && f.required) ||
                  (need_target && static_cast<int>(i) == spec.target_index());
    if (needed && field_column[i] == 0) {
      std::string column = f.name;
      for (const auto& m : spec.columns())
        if (m.field == f.name) column = m.column;
      return Status::invalid(path + ": missing required column '" + column + "'" +
                             (column != f.name ? " (for field '" + f.name + "')" : "") +
                             header_hint(header));
    }
  }
  return r;
}

bool CsvRecordReader::next(Record& out, Status& error) {
  bool not_utf8 = false;
  if (!read(out, error, not_utf8)) {
    if (probing_ && leading_not_utf8_ > 0) hint_ready_ = true;  // a short file, every row bad
    probing_ = false;
    return false;
  }
  if (probing_ && !not_utf8) {
    probing_ = false;
  } else if (probing_ && ++leading_not_utf8_ >= kEncodingProbeRows) {
    hint_ready_ = true;
    probing_ = false;
  }
  return true;
}

std::string CsvRecordReader::encoding_hint() {
  if (!hint_ready_) return "";
  hint_ready_ = false;
  return csv_->path() + ": the first " +
         (leading_not_utf8_ == 1 ? std::string("row is") : std::to_string(leading_not_utf8_) + " rows are") +
         " not valid UTF-8: the file is probably in another encoding; if it is Windows-1251, "
         "convert it with: iconv -f cp1251 -t utf-8 " + csv_->path() + " > utf8.csv";
}

bool CsvRecordReader::read(Record& out, Status& error, bool& not_utf8) {
  std::string csv_error;
  if (!csv_->next(cells_, &csv_error)) return false;
  error = Status();
  // Fields no column feeds are absent; every other one is assigned below (on a row that fails,
  // some keep the previous row's values, but the caller never uses a failed row).
  out.values.resize(spec_->fields().size());
  for (size_t i : unfed_fields_) out.values[i] = std::monostate{};
  out.key.clear();
  if (!csv_error.empty()) {
    error = Status::invalid(csv_error);
    return true;
  }
  if (cells_.size() != column_field_.size()) {
    error = Status::invalid("expected " + std::to_string(column_field_.size()) + " columns, got " +
                            std::to_string(cells_.size()));
    return true;
  }
  for (size_t c = 0; c < cells_.size(); ++c) {
    int idx = column_field_[c];
    if (idx < 0) continue;
    Status s = parse_text_value(spec_->field(idx), cells_[c], out.values[size_t(idx)],
                                column_mapping_[c]);
    if (!s.ok()) {
      error = s;
      not_utf8 = !valid_utf8(cells_[c]);
      return true;
    }
  }
  for (size_t i = 0; i < spec_->fields().size(); ++i) {
    const auto& f = spec_->fields()[i];
    bool needed = (f.role == FieldRole::kRequest && f.required) ||
                  (need_target_ && static_cast<int>(i) == spec_->target_index());
    if (needed && !out.has(static_cast<int>(i))) {
      error = Status::invalid("missing required field '" + f.name + "'");
      return true;
    }
  }
  const Value& key = out.values[size_t(spec_->key_index())];
  if (auto* s = std::get_if<std::string>(&key)) out.key = *s;
  else if (auto* n = std::get_if<int64_t>(&key)) out.key = std::to_string(*n);
  if (out.key.empty()) error = Status::invalid("missing key '" + spec_->field(spec_->key_index()).name + "'");
  return true;
}

}  // namespace flowcast
