// CsvReplaySource: replays a CSV of labelled records (such as Kaggle's taxi train.csv) as
// requests followed by their outcomes, and ends when the file ends (after `loops` passes; with
// `loops` > 1 "#<n>" is appended to the keys so every request stays unique).
//
// When its outcome comes: a dataset with an outcome timestamp (the first field of type timestamp
// and role outcome, such as the taxi's dropoff_datetime) has each outcome that long after its
// event time (never before it, and at most kMaxOutcomeDelayS later); the produce stage divides
// the delay by its speed-up. Without one, or when a row lacks either time, the outcome follows
// its request at once: the target is no duration in general (realty's is a price).
//
// Bad rows (unparsable, not UTF-8, without the target) are skipped and counted (skipped()); the
// first kLoggedSkips are logged with their line and reason.
#pragma once

#include <memory>
#include <string>

#include "core/csv_reader.h"
#include "stages/event_source.h"

namespace flowcast::stages {

class CsvReplaySource : public EventSource {
 public:
  // A day of event time: a replay ends at most this long (divided by the speed-up) after its
  // last row.
  static constexpr double kMaxOutcomeDelayS = 86400;
  static constexpr int64_t kLoggedSkips = 10;

  // Fails when the file cannot be opened or lacks a required column (named in the Status).
  static Result<std::unique_ptr<CsvReplaySource>> open(const std::string& path,
                                                       const DatasetSpec& spec, int64_t loops,
                                                       int64_t limit);
  bool next(GeneratedEvent& out, int64_t sim_time_us) override;
  int64_t skipped() const override { return skipped_; }
  // The field whose time says when a record's outcome happened, or -1.
  static int outcome_time_index(const DatasetSpec& spec);

 private:
  CsvReplaySource(std::string path, const DatasetSpec& spec, int64_t loops, int64_t limit)
      : path_(std::move(path)), spec_(spec), loops_(loops), limit_(limit) {}
  double outcome_delay_s(const Record& r) const;
  void warn_encoding();
  std::string path_;
  const DatasetSpec& spec_;
  std::unique_ptr<CsvRecordReader> reader_;
  int outcome_time_ = -1;
  int64_t loops_, limit_, loop_ = 0, emitted_ = 0, skipped_ = 0;
};

}  // namespace flowcast::stages
