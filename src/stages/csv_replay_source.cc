#include "stages/csv_replay_source.h"

#include <algorithm>

#include "core/log.h"

namespace flowcast::stages {

Result<std::unique_ptr<CsvReplaySource>> CsvReplaySource::open(const std::string& path,
                                                               const DatasetSpec& spec,
                                                               int64_t loops, int64_t limit) {
  auto src = std::unique_ptr<CsvReplaySource>(new CsvReplaySource(path, spec, loops, limit));
  FC_ASSIGN_OR_RETURN(src->reader_, CsvRecordReader::open(path, spec, true));
  src->outcome_time_ = outcome_time_index(spec);
  return src;
}

int CsvReplaySource::outcome_time_index(const DatasetSpec& spec) {
  for (size_t i = 0; i < spec.fields().size(); ++i) {
    const FieldSpec& f = spec.fields()[i];
    if (f.role == FieldRole::kOutcome && f.type == FieldType::kTimestamp &&
        static_cast<int>(i) != spec.target_index())
      return static_cast<int>(i);
  }
  return -1;
}

double CsvReplaySource::outcome_delay_s(const Record& r) const {
  // The target is not a time in general (realty's is a price of millions of roubles), so only an
  // outcome timestamp says when the outcome happened.
  const int event = spec_.event_time_index();
  if (outcome_time_ < 0 || event < 0 || !r.has(outcome_time_) || !r.has(event)) return 0;
  const auto* at = std::get_if<int64_t>(&r.values[size_t(outcome_time_)]);
  const auto* from = std::get_if<int64_t>(&r.values[size_t(event)]);
  if (!at || !from) return 0;
  return std::clamp(double(*at - *from) / 1e6, 0.0, kMaxOutcomeDelayS);
}

void CsvReplaySource::warn_encoding() {
  // Once: a file reopened for its next loop would give the same hint again.
  if (std::string hint = reader_->encoding_hint(); !hint.empty() && loop_ == 0)
    logger("produce")->warn("{}", hint);
}

bool CsvReplaySource::next(GeneratedEvent& out, int64_t) {
  if (limit_ > 0 && emitted_ >= limit_) return false;
  for (;;) {
    Status err;
    if (!reader_->next(out.record, err)) {
      warn_encoding();  // a short file whose every row was not UTF-8
      // A pass that emitted nothing would be followed by more of the same.
      if (++loop_ >= loops_ || emitted_ == 0) return false;
      auto reopened = CsvRecordReader::open(path_, spec_, true);
      if (!reopened.ok()) {
        logger("produce")->error("{}: cannot replay it again: {}", path_, reopened.status().message());
        return false;
      }
      reader_ = std::move(reopened).value();
      continue;
    }
    if (!err.ok() || !out.record.has(spec_.target_index())) {
      ++skipped_;
      if (skipped_ <= kLoggedSkips)
        logger("produce")->warn("{}:{}: skipped: {}{}", path_, reader_->line(),
                                err.ok() ? "no target" : err.message(),
                                skipped_ == kLoggedSkips ? " (further skipped rows are counted)" : "");
      warn_encoding();
      continue;
    }
    if (loop_ > 0) {
      out.record.key += "#" + std::to_string(loop_ + 1);
      out.record.values[size_t(spec_.key_index())] = out.record.key;
    }
    out.kind = GeneratedEvent::Kind::kRequestThenOutcome;
    out.outcome_delay_s = outcome_delay_s(out.record);
    ++emitted_;
    return true;
  }
}

}  // namespace flowcast::stages
