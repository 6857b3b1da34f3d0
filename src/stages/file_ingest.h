// ingest_file: bulk-loads a CSV of labelled records (observations) straight into the store,
// through the dataset's column mapping (`columns:`). The calling thread parses while a second
// thread commits the previous batch. Rows go to the store in batches, which it may group into
// fewer transactions (Store::begin_bulk_load; every 1,000,000 rows or 5 s and at the end of the
// file); each is idempotent by key, so loading a file twice changes nothing, and loading it
// again after a crash completes it. Success is reported once the last rows are durable. A row that
// does not parse, or lacks a required field or the target, is written to the reject file as
// `line,reason` and the rest load. A file missing a required column fails before anything is
// loaded.
#pragma once

#include <atomic>
#include <string>

#include "core/dataset_spec.h"
#include "core/status.h"
#include "store/store.h"

namespace flowcast::stages {

struct FileIngestOptions {
  std::string csv_path;
  std::string rejects_path;  // created only when a row is rejected
  int64_t batch_size =
      50000;             // rows per store transaction (large: random keys rewrite index pages)
  bool progress = true;  // a progress bar on stderr when it is a terminal
  // The store may keep batches in one transaction until it holds this many rows or has been
  // open this long (Store::begin_bulk_load): with random keys each commit rewrites every index
  // page it touches, so fewer commits write far fewer pages. A crash loses at most the rows
  // since the last commit; loading the file again completes it.
  int64_t group_rows = 1000000;
  int64_t group_ms = 5000;
};

struct FileIngestSummary {
  int64_t loaded = 0, rejected = 0;
  double seconds = 0;
};

Result<FileIngestSummary> ingest_file(const DatasetSpec& spec, store::Store& store,
                                      const FileIngestOptions& options,
                                      const std::atomic<int>& interrupted);

}  // namespace flowcast::stages
