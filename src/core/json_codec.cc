#include "core/json_codec.h"

#include <simdjson.h>

#include <charconv>
#include <cmath>
#include <optional>
#include <unordered_map>

#include "core/json_writer.h"
#include "core/time_util.h"

namespace flowcast {

namespace sj = simdjson;
namespace od = simdjson::ondemand;

struct JsonCodec::Impl {
  sj::dom::parser dom;  // the fast path: the whole document at once
  od::parser parser;    // the path that says exactly what is wrong with a document
  std::string scratch;  // padded copy of the input
  std::unordered_map<std::string_view, int> index;
  std::vector<uint8_t> seen;  // per field: present in the message being decoded
};

JsonCodec::JsonCodec(const DatasetSpec& spec) : spec_(spec), impl_(std::make_unique<Impl>()) {
  for (size_t i = 0; i < spec.fields().size(); ++i)
    impl_->index.emplace(spec.fields()[i].name, static_cast<int>(i));
}

JsonCodec::~JsonCodec() = default;

namespace {

const char* json_type_name(od::json_type t) {
  switch (t) {
    case od::json_type::array: return "an array";
    case od::json_type::object: return "an object";
    case od::json_type::number: return "a number";
    case od::json_type::string: return "a string";
    case od::json_type::boolean: return "a boolean";
    case od::json_type::null: return "null";
  }
  return "?";
}

Status field_error(const FieldSpec& f, const std::string& problem) {
  return Status::invalid("field '" + f.name + "': " + problem);
}

Status check_bounds(const FieldSpec& f, double v) {
  if (!std::isfinite(v)) return field_error(f, "not a finite number");
  if ((f.min && v < *f.min) || (f.max && v > *f.max)) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "%g is outside the allowed range [%g, %g]", v,
                  f.min ? *f.min : -INFINITY, f.max ? *f.max : INFINITY);
    return field_error(f, buf);
  }
  return Status();
}

// Stores `s` in `out`, reusing the string `out` already holds (a Record decoded into again and
// again keeps its strings' buffers: no allocation per field per message).
void set_string(Value& out, std::string_view s) {
  if (auto* p = std::get_if<std::string>(&out)) p->assign(s);
  else out.emplace<std::string>(s);
}

// The JSON type of a value, or nothing when it is malformed.
std::optional<od::json_type> type_of(od::value& v) {
  od::json_type type;
  if (v.type().get(type)) return std::nullopt;
  return type;
}

std::optional<od::json_type> type_of(sj::dom::element& v) {
  switch (v.type()) {
    case sj::dom::element_type::ARRAY: return od::json_type::array;
    case sj::dom::element_type::OBJECT: return od::json_type::object;
    case sj::dom::element_type::STRING: return od::json_type::string;
    case sj::dom::element_type::BOOL: return od::json_type::boolean;
    case sj::dom::element_type::NULL_VALUE: return od::json_type::null;
    default: return od::json_type::number;  // the integer, unsigned and double kinds
  }
}

// One field's value, from simdjson's on-demand value or DOM element (the same accessors).
template <typename V>
Status read_value(V& v, const FieldSpec& f, Value& out) {
  const std::optional<od::json_type> t = type_of(v);
  if (!t) return field_error(f, "malformed value");
  const od::json_type type = *t;
  if (type == od::json_type::null) {
    out = std::monostate{};
    return Status();
  }
  switch (f.type) {
    case FieldType::kInt: {
      if (type != od::json_type::number)
        return field_error(f, std::string("expected an integer, got ") + json_type_name(type));
      int64_t n;
      if (v.get_int64().get(n)) {
        double d;
        if (v.get_double().get(d) || !std::isfinite(d) || d != std::floor(d) ||
            std::fabs(d) > 9.0e15)
          return field_error(f, "expected an integer, got a fractional or out-of-range number");
        n = static_cast<int64_t>(d);
      }
      FC_RETURN_IF_ERROR(check_bounds(f, static_cast<double>(n)));
      out = n;
      return Status();
    }
    case FieldType::kFloat:
    case FieldType::kLatitude:
    case FieldType::kLongitude: {
      if (type != od::json_type::number)
        return field_error(f, std::string("expected a number, got ") + json_type_name(type));
      double d;
      if (v.get_double().get(d)) return field_error(f, "number out of range");
      FC_RETURN_IF_ERROR(check_bounds(f, d));
      out = d;
      return Status();
    }
    case FieldType::kBool: {
      bool b;
      if (type != od::json_type::boolean || v.get_bool().get(b))
        return field_error(f, std::string("expected true or false, got ") + json_type_name(type));
      out = b;
      return Status();
    }
    case FieldType::kString:
    case FieldType::kCategory: {
      if (type == od::json_type::number && f.type == FieldType::kCategory) {
        int64_t n;
        if (v.get_int64().get(n)) return field_error(f, "expected a string or an integer code");
        char buf[24];
        auto [end, ec] = std::to_chars(buf, buf + sizeof buf, n);
        set_string(out, std::string_view(buf, size_t(end - buf)));
        return Status();
      }
      std::string_view s;
      if (type != od::json_type::string)
        return field_error(f, std::string("expected a string, got ") + json_type_name(type));
      if (auto err = v.get_string().get(s))  // a lone surrogate escape, say
        return field_error(f, std::string("not a valid string: ") + sj::error_message(err));
      set_string(out, s);
      return Status();
    }
    case FieldType::kTimestamp: {
      if (type == od::json_type::number) {
        double secs;
        if (v.get_double().get(secs) || !std::isfinite(secs))
          return field_error(f, "timestamp out of range");
        out = static_cast<int64_t>(std::llround(secs * 1e6));
        return Status();
      }
      std::string_view s;
      if (type != od::json_type::string || v.get_string().get(s))
        return field_error(f, std::string("expected a timestamp, got ") + json_type_name(type));
      auto ts = parse_timestamp_micros(s);
      if (!ts)
        return field_error(f, "'" + std::string(s.substr(0, 40)) +
                                  "' is not a timestamp (expected YYYY-MM-DD, optionally with "
                                  "HH:MM[:SS[.ffffff]] after a space or T, and Z or +HH:MM; "
                                  "or seconds since 1970 as a number)");
      out = *ts;
      return Status();
    }
  }
  return field_error(f, "unsupported type");
}

bool belongs(const FieldSpec& f, RecordRole role, bool is_key) {
  if (is_key || role == RecordRole::kObservation) return true;
  return (role == RecordRole::kRequest) == (f.role == FieldRole::kRequest);
}

}  // namespace

Status JsonCodec::decode(std::string_view json, RecordRole role, Record& out,
                         bool require_key) {
  const auto& fields = spec_.fields();
  // Values are overwritten in place (strings keep their buffers); what the message lacks is
  // cleared after the fields are read.
  out.values.resize(fields.size());
  auto& seen = impl_->seen;
  seen.assign(fields.size(), 0);
  out.key.clear();

  auto& scratch = impl_->scratch;
  scratch.assign(json);
  scratch.append(sj::SIMDJSON_PADDING, '\0');
  size_t next_guess = 0;
  // One member of the object: found among the spec's fields and read, or skipped.
  auto member = [&](std::string_view name, auto& value) -> Status {
    // Producers usually write the fields in schema order: try the next field before hashing.
    int index = -1;
    if (next_guess < fields.size() && fields[next_guess].name == name) {
      index = int(next_guess);
    } else if (auto it = impl_->index.find(name); it != impl_->index.end()) {
      index = it->second;
    }
    if (index < 0) {
      if (name == "dataset") {
        std::string_view ds;
        if (value.get_string().get(ds) || ds != spec_.name())
          return Status::invalid("unknown dataset '" + std::string(ds) + "' (this topic carries '" +
                                 spec_.name() + "')");
      }
      return Status();  // unknown fields are allowed: producers may add columns
    }
    next_guess = size_t(index) + 1;
    FC_RETURN_IF_ERROR(read_value(value, fields[size_t(index)], out.values[size_t(index)]));
    seen[size_t(index)] = 1;
    return Status();
  };

  // The fast path parses and validates the whole document, numbers and strings included, in
  // one pass. A document it refuses goes through the on-demand parser, which says what is wrong
  // (and which the fast path agrees with on every document both accept).
  sj::dom::element root;
  sj::dom::object fast;
  if (impl_->dom.parse(scratch.data(), json.size(), false).get(root) == sj::SUCCESS &&
      root.get_object().get(fast) == sj::SUCCESS) {
    for (sj::dom::key_value_pair kv : fast) FC_RETURN_IF_ERROR(member(kv.key, kv.value));
  } else {
    od::document doc;
    if (auto err = impl_->parser.iterate(scratch.data(), json.size(), scratch.size()).get(doc))
      return Status::invalid(std::string("invalid JSON: ") + sj::error_message(err));
    od::object obj;
    if (auto err = doc.get_object().get(obj))
      return Status::invalid(err == sj::INCORRECT_TYPE
                                 ? "invalid JSON: expected an object"
                                 : std::string("invalid JSON: ") + sj::error_message(err));
    for (auto field_result : obj) {
      od::field field;
      if (auto err = std::move(field_result).get(field))
        return Status::invalid(std::string("invalid JSON: ") + sj::error_message(err));
      std::string_view name;
      if (field.unescaped_key().get(name)) return Status::invalid("invalid JSON: bad key");
      od::value v = field.value();
      FC_RETURN_IF_ERROR(member(name, v));
    }
    // current_location() fails once the iterator is past the last token.
    const char* trailing = nullptr;
    if (doc.current_location().get(trailing) == sj::SUCCESS)
      return Status::invalid("invalid JSON: trailing content after the object");
  }
  for (size_t i = 0; i < fields.size(); ++i)
    if (!seen[i]) out.values[i] = std::monostate{};

  // Keep only what the role carries, then check what it requires.
  const int key = spec_.key_index();
  for (size_t i = 0; i < fields.size(); ++i) {
    const auto& f = fields[i];
    bool is_key = static_cast<int>(i) == key;
    if (!belongs(f, role, is_key)) {
      out.values[i] = std::monostate{};
      continue;
    }
    bool present = out.has(static_cast<int>(i));
    bool needed = is_key ? require_key
                         : (static_cast<int>(i) == spec_.target_index() && role != RecordRole::kRequest) ||
                               (f.required && f.role == FieldRole::kRequest && role != RecordRole::kOutcome);
    if (needed && !present) return Status::invalid("missing required field '" + f.name + "'");
  }
  const Value& kv = out.values[size_t(key)];
  if (std::holds_alternative<std::monostate>(kv)) {  // absent, and not required
    out.key.clear();
    return Status();
  }
  if (auto* s = std::get_if<std::string>(&kv)) {
    if (s->empty()) return Status::invalid("field '" + fields[size_t(key)].name + "': empty key");
    if (s->size() > 256)
      return Status::invalid("field '" + fields[size_t(key)].name + "': key longer than 256 bytes");
    out.key = *s;
  } else {
    out.key = std::to_string(std::get<int64_t>(kv));
  }
  return Status();
}

void JsonCodec::encode(const Record& record, RecordRole role, std::string& out) const {
  JsonWriter w(out);
  w.begin_object();
  const auto& fields = spec_.fields();
  for (size_t i = 0; i < fields.size(); ++i) {
    const auto& f = fields[i];
    if (!belongs(f, role, static_cast<int>(i) == spec_.key_index())) continue;
    const Value& v = record.values[i];
    if (std::holds_alternative<std::monostate>(v)) continue;
    w.key(f.name);
    if (f.type == FieldType::kTimestamp) {
      char ts[kTimestampChars];
      w.value(std::string_view(ts, format_timestamp_micros(std::get<int64_t>(v), ts)));
    } else if (auto* n = std::get_if<int64_t>(&v)) {
      w.value(*n);
    } else if (auto* d = std::get_if<double>(&v)) {
      w.value(*d);
    } else if (auto* b = std::get_if<bool>(&v)) {
      w.value(*b);
    } else {
      w.value(std::get<std::string>(v));
    }
  }
  w.end_object();
}

const char* record_role_name(RecordRole role) {
  switch (role) {
    case RecordRole::kRequest: return "request";
    case RecordRole::kOutcome: return "outcome";
    case RecordRole::kObservation: return "observation";
  }
  return "?";
}

}  // namespace flowcast
