#include "store/postgres_record_encoder.h"

#include "core/utf8.h"
#include "store/record_checks.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace flowcast::store {
namespace {

constexpr int kRequest = 0, kOutcome = 1, kObservation = 2;
constexpr const char* kRoleNames[] = {"request", "outcome", "observation"};

// A value that replaces the stored one: present, and not NaN (stored as NULL, so "absent").
bool present(const Value& v) {
  if (v.index() == 0) return false;
  if (const double* d = std::get_if<double>(&v)) return !std::isnan(*d);
  return true;
}

// A record in the batch, with its key_prefix (core/record.h). Sorting and grouping compare the
// prefixes first and read the records only on a tie: the records are scattered in memory, and
// touching them in key order is what costs.
struct Ref {
  uint64_t prefix;
  const Record* record;
  int role;
};

bool key_less(const Ref& a, const Ref& b) {
  if (a.prefix != b.prefix) return a.prefix < b.prefix;
  return a.record->key < b.record->key;
}

bool same_key(const Ref& a, const Ref& b) {
  return a.prefix == b.prefix && a.record->key == b.record->key;
}

}  // namespace

Status PostgresRecordEncoder::check(const Record& r, int role, size_t index) const {
  auto where = [&] {
    return std::string(kRoleNames[role]) +
           (index == SIZE_MAX ? std::string() : " " + std::to_string(index)) + " (key '" +
           shown_text(r.key) + "')";
  };
  FC_RETURN_IF_ERROR(check_record_shape(spec_, sql_.value_index, r, where));
  if (r.key.find('\0') != std::string::npos)
    return Status::invalid(where() + ": the key holds a NUL byte, which PostgreSQL cannot store");
  if (check_utf8_ && !valid_utf8(r.key))
    return Status::invalid(where() + ": the key is not valid UTF-8");
  const std::vector<uint8_t>* writes = role == kRequest   ? &sql_.request_writes
                                       : role == kOutcome ? &sql_.outcome_writes
                                                          : nullptr;
  for (size_t f = 0; f < r.values.size(); ++f) {
    const Value& v = r.values[f];
    const size_t got = v.index();
    if (got == 0) continue;
    const FieldSpec& fs = spec_.field(static_cast<int>(f));
    if (writes != nullptr && !(*writes)[f]) continue;  // not stored: nothing more to check
    if (const std::string* s = std::get_if<std::string>(&v)) {
      if (s->find('\0') != std::string::npos)
        return Status::invalid(where() + ": field '" + fs.name +
                               "' holds a NUL byte, which PostgreSQL text cannot store");
      if (check_utf8_ && !valid_utf8(*s))
        return Status::invalid(where() + ": field '" + fs.name + "' is not valid UTF-8");
    } else if (fs.type == FieldType::kTimestamp &&
               *std::get_if<int64_t>(&v) < kMinPostgresTimestampMicros) {
      return Status::invalid(where() + ": field '" + fs.name +
                             "' is before 4714 BC, which PostgreSQL cannot store");
    }
  }
  return Status::ok_status();
}

Status PostgresRecordEncoder::encode(const SinkBatch& batch, int64_t now_ms,
                                     PostgresCopyBuffer& requests,
                                     PostgresCopyBuffer& outcomes) const {
  std::vector<Ref> refs;
  refs.reserve(batch.requests.size() + batch.outcomes.size() + batch.observations.size());
  int role = kRequest;
  for (const std::vector<Record>* list : {&batch.requests, &batch.outcomes, &batch.observations}) {
    for (size_t i = 0; i < list->size(); ++i) {
      FC_RETURN_IF_ERROR(check((*list)[i], role, i));
      refs.push_back({key_prefix((*list)[i].key), &(*list)[i], role});
    }
    ++role;
  }
  // Stable: records of one key stay in the order they would have been applied.
  std::stable_sort(refs.begin(), refs.end(), key_less);

  requests.clear();
  outcomes.clear();
  requests.reserve((batch.requests.size() + batch.observations.size()) * 128 + 64);
  outcomes.reserve((batch.outcomes.size() + batch.observations.size()) * 48 + 64);
  const int n = static_cast<int>(spec_.fields().size());
  const int target = spec_.target_index();
  std::vector<const Value*> chosen(static_cast<size_t>(n));

  // One row of `table`: the key, its fields' chosen values (NULL when none), the time column.
  auto write_row = [&](PostgresCopyBuffer& out, const PostgresRecordTable& table,
                       const std::string& key, bool timed) {
    out.begin_row(static_cast<int16_t>(table.fields.size() + 2));
    out.add_text(key);
    for (int f : table.fields) {
      const Value* v = chosen[static_cast<size_t>(f)];
      if (v == nullptr) {
        out.add_null();
        continue;
      }
      switch (v->index()) {
        case 1:
          if (spec_.field(f).type == FieldType::kTimestamp)
            out.add_timestamp_micros(*std::get_if<int64_t>(v));
          else
            out.add_int64(*std::get_if<int64_t>(v));
          break;
        case 2:
          out.add_double(*std::get_if<double>(v));
          break;
        case 3:
          out.add_bool(*std::get_if<bool>(v));
          break;
        default:
          out.add_text(*std::get_if<std::string>(v));
          break;
      }
    }
    if (timed)
      out.add_int64(now_ms);
    else
      out.add_null();
  };

  constexpr size_t kAhead = 8;  // records fetched ahead: the Record, then its values
  for (size_t begin = 0; begin < refs.size();) {
    if (begin + 2 * kAhead < refs.size()) __builtin_prefetch(refs[begin + 2 * kAhead].record);
    if (begin + kAhead < refs.size()) {
      const std::vector<Value>& v = refs[begin + kAhead].record->values;
      const char* p = reinterpret_cast<const char*>(v.data());
      const char* e = reinterpret_cast<const char*>(v.data() + v.size());
      for (; p < e; p += 64) __builtin_prefetch(p);
    }
    size_t end = begin + 1;
    while (end < refs.size() && same_key(refs[end], refs[begin])) ++end;
    std::fill(chosen.begin(), chosen.end(), nullptr);
    // A request or an observation makes a D_requests row; an outcome, or an observation that
    // carries an outcome field, a D_outcomes row.
    bool ingested = false, labelled = false, outcome_row = false;
    for (size_t m = begin; m < end; ++m) {
      const Record& r = *refs[m].record;
      const int rl = refs[m].role;
      const std::vector<uint8_t>* writes = rl == kRequest   ? &sql_.request_writes
                                           : rl == kOutcome ? &sql_.outcome_writes
                                                            : nullptr;
      for (int f = 0; f < n; ++f) {
        const Value& v = r.values[static_cast<size_t>(f)];
        if ((writes == nullptr || (*writes)[static_cast<size_t>(f)]) && present(v)) {
          chosen[static_cast<size_t>(f)] = &v;
          if (rl == kObservation && !sql_.request_writes[static_cast<size_t>(f)])
            outcome_row = true;
        }
      }
      if (rl != kOutcome) ingested = true;
      if (rl == kOutcome) outcome_row = true;
      if (rl != kRequest && r.has(target)) labelled = true;
    }
    const std::string& key = refs[begin].record->key;
    if (ingested) write_row(requests, sql_.requests, key, true);
    if (outcome_row) write_row(outcomes, sql_.outcomes, key, labelled);
    begin = end;
  }
  requests.finish();
  outcomes.finish();
  return Status::ok_status();
}

}  // namespace flowcast::store
