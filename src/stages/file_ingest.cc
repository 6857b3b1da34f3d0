#include "stages/file_ingest.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "core/csv_reader.h"
#include "core/time_util.h"

namespace flowcast::stages {
namespace {

void draw_progress(int64_t bytes, int64_t total, int64_t rows, int64_t rejected, double seconds) {
  double frac = total > 0 ? std::min(1.0, double(bytes) / double(total)) : 0;
  constexpr int kWidth = 30;
  int filled = static_cast<int>(frac * kWidth);
  std::string bar(size_t(filled), '#');
  bar.append(size_t(kWidth - filled), '.');
  std::fprintf(stderr, "\r\033[K[%s] %3.0f%%  %lld rows  %lld rejected  %.0f rows/s", bar.c_str(),
               frac * 100, (long long)rows, (long long)rejected,
               seconds > 0 ? double(rows) / seconds : 0.0);
}

}  // namespace

Result<FileIngestSummary> ingest_file(const DatasetSpec& spec, store::Store& store,
                                      const FileIngestOptions& options,
                                      const std::atomic<int>& interrupted) {
  FC_ASSIGN_OR_RETURN(auto reader, CsvRecordReader::open(options.csv_path, spec, true));
  FC_RETURN_IF_ERROR(store.ensure_dataset(spec));
  FC_ASSIGN_OR_RETURN(const store::Store::RecordCheck storable, store.record_check(spec));
  std::error_code ec;
  const int64_t total = int64_t(std::filesystem::file_size(options.csv_path, ec));
  const bool bar = options.progress && isatty(STDERR_FILENO);
  std::ofstream rejects;
  store::SinkBatch batch;
  FileIngestSummary summary;
  const int64_t start = mono_nanos();
  int64_t last_draw = 0;
  Record rec;
  Status err;

  auto commit = [&]() -> Status {
    if (batch.observations.empty()) return Status();
    auto r = store.commit(spec, batch);
    if (!r.ok()) return r.status();
    summary.loaded += int64_t(batch.observations.size());
    batch.observations.clear();
    return Status();
  };

  while (interrupted.load() == 0 && reader->next(rec, err)) {
    if (err.ok() && storable) err = storable(rec, RecordRole::kObservation);
    if (!err.ok()) {
      if (!rejects.is_open()) {
        rejects.open(options.rejects_path);
        if (!rejects) return Status::io_error("cannot write the reject file " + options.rejects_path);
        rejects << "line,reason\n";
      }
      std::string cell = "\"";  // RFC 4180 quoting
      for (char c : err.message()) cell += c == '"' ? std::string("\"\"") : std::string(1, c);
      rejects << reader->line() << "," << cell << "\"\n";
      ++summary.rejected;
      continue;
    }
    batch.observations.push_back(std::move(rec));
    rec = Record();
    if (int64_t(batch.observations.size()) >= options.batch_size) {
      FC_RETURN_IF_ERROR(commit().with_context("loading " + options.csv_path));
      const int64_t now = mono_nanos();
      if (bar && now - last_draw > 200'000'000) {
        draw_progress(reader->bytes_read(), total, summary.loaded, summary.rejected,
                      double(now - start) / 1e9);
        last_draw = now;
      }
    }
  }
  FC_RETURN_IF_ERROR(commit().with_context("loading " + options.csv_path));
  summary.seconds = double(mono_nanos() - start) / 1e9;
  if (bar) {
    draw_progress(total, total, summary.loaded, summary.rejected, summary.seconds);
    std::fprintf(stderr, "\n");
  }
  if (interrupted.load() != 0) return Status::unavailable("interrupted; rows loaded so far stay");
  return summary;
}

}  // namespace flowcast::stages
