// CsvReplaySource: replays a CSV of labelled records (such as Kaggle's taxi train.csv) as
// requests followed by their outcomes; the outcome of a row comes `target` seconds after its
// request (the taxi's duration). With `loops` > 1 the file is replayed again with "#<n>" appended
// to the keys so every request stays unique. Bad rows are logged with their line and skipped.
#pragma once

#include <memory>
#include <string>

#include "core/csv_reader.h"
#include "stages/event_source.h"

namespace flowcast::stages {

class CsvReplaySource : public EventSource {
 public:
  // Fails when the file cannot be opened or lacks a required column (named in the Status).
  static Result<std::unique_ptr<CsvReplaySource>> open(const std::string& path,
                                                       const DatasetSpec& spec, int64_t loops,
                                                       int64_t limit);
  bool next(GeneratedEvent& out, int64_t sim_time_us) override;
  int64_t skipped() const override { return skipped_; }

 private:
  CsvReplaySource(std::string path, const DatasetSpec& spec, int64_t loops, int64_t limit)
      : path_(std::move(path)), spec_(spec), loops_(loops), limit_(limit) {}
  void warn_encoding();
  std::string path_;
  const DatasetSpec& spec_;
  std::unique_ptr<CsvRecordReader> reader_;
  int64_t loops_, limit_, loop_ = 0, emitted_ = 0, skipped_ = 0;
};

}  // namespace flowcast::stages
