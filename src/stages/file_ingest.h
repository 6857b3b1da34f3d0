// ingest_file: bulk-loads a CSV of labelled records (observations) straight into the store,
// through the dataset's column mapping (`columns:`). The calling thread parses while a second
// thread commits the previous batch. Rows are committed in batches; each batch is
// idempotent by key, so loading a file twice changes nothing. A row that does not parse, or lacks
// a required field or the target, is written to the reject file as `line,reason` and the rest
// load. A file missing a required column fails before anything is loaded.
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
};

struct FileIngestSummary {
  int64_t loaded = 0, rejected = 0;
  double seconds = 0;
};

Result<FileIngestSummary> ingest_file(const DatasetSpec& spec, store::Store& store,
                                      const FileIngestOptions& options,
                                      const std::atomic<int>& interrupted);

}  // namespace flowcast::stages
