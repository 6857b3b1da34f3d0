#include "stages/csv_replay_source.h"

#include "core/log.h"

namespace flowcast::stages {

Result<std::unique_ptr<CsvReplaySource>> CsvReplaySource::open(const std::string& path,
                                                               const DatasetSpec& spec,
                                                               int64_t loops, int64_t limit) {
  auto src = std::unique_ptr<CsvReplaySource>(new CsvReplaySource(path, spec, loops, limit));
  FC_ASSIGN_OR_RETURN(src->reader_, CsvRecordReader::open(path, spec, true));
  return src;
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
      if (++loop_ >= loops_) return false;
      auto reopened = CsvRecordReader::open(path_, spec_, true);
      if (!reopened.ok()) return false;
      reader_ = std::move(reopened).value();
      continue;
    }
    if (!err.ok() || !out.record.has(spec_.target_index())) {
      ++skipped_;
      if (skipped_ <= 10)
        logger("produce")->warn("{}:{}: skipped: {}", path_, reader_->line(),
                                err.ok() ? "no target" : err.message());
      warn_encoding();
      continue;
    }
    if (loop_ > 0) {
      out.record.key += "#" + std::to_string(loop_ + 1);
      out.record.values[size_t(spec_.key_index())] = out.record.key;
    }
    out.kind = GeneratedEvent::Kind::kRequestThenOutcome;
    out.outcome_delay_s = out.record.number(spec_.target_index());
    ++emitted_;
    return true;
  }
}

}  // namespace flowcast::stages
