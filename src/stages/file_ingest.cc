#include "stages/file_ingest.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stop_token>

#include "core/csv_reader.h"
#include "core/log.h"
#include "core/time_util.h"
#include "stages/commit_worker.h"

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

// The reject file could not be opened or written: say why (the stream's failure leaves errno).
Status reject_file_error(const std::string& path) {
  return Status::io_error("cannot write the reject file " + path + ": " +
                          (errno != 0 ? std::strerror(errno) : "write failed"));
}

// The reader's one-line hint that the whole file is in another encoding, once.
void warn_encoding(CsvRecordReader& reader, bool bar) {
  if (std::string hint = reader.encoding_hint(); !hint.empty()) {
    if (bar) std::fprintf(stderr, "\r\033[K");  // over the progress bar
    logger("ingest-file")->warn("{}", hint);
  }
}

}  // namespace

Result<FileIngestSummary> ingest_file(const DatasetSpec& spec, store::Store& store,
                                      const FileIngestOptions& options,
                                      const std::atomic<int>& interrupted) {
  FC_ASSIGN_OR_RETURN(auto reader, CsvRecordReader::open(options.csv_path, spec, true));
  FC_RETURN_IF_ERROR(store.ensure_dataset(spec));
  FC_ASSIGN_OR_RETURN(const store::Store::RecordCheck storable, store.record_check(spec));
  // From here on the store may hold several batches in one transaction; end_bulk_load() below
  // commits what it holds on every path that gets there.
  FC_RETURN_IF_ERROR(store.begin_bulk_load({options.group_rows, options.group_ms}));
  std::error_code ec;
  const int64_t total = int64_t(std::filesystem::file_size(options.csv_path, ec));
  const bool bar = options.progress && isatty(STDERR_FILENO);
  const size_t batch_size = size_t(std::max<int64_t>(1, options.batch_size));
  const int64_t start = mono_nanos();

  // Two threads: this one parses the CSV into batches while a commit worker writes the previous
  // batch to the store, so parsing and SQLite's (or PostgreSQL's) work overlap; at most two
  // batches wait between them, and a transient store failure is retried. The committer is the
  // bottleneck (the store's B-tree work), so everything that need not run inside the
  // transaction runs here instead: each batch is sorted by key before it is handed over (the
  // store applies a batch in key order and skips its own sort when the batch already is), and a
  // committed batch comes back (`spare()`), its Records parsed into again, so the committer
  // neither sorts nor frees.
  std::atomic<int64_t> loaded{0};
  std::stop_source stop;  // requested on an interrupt: a failing commit is then not retried
  CommitWorker committer("ingest-file", store, spec, stop.get_token(),
                         {{},
                          [&](const store::SinkBatch& b, int64_t) {
                            loaded.fetch_add(int64_t(b.observations.size()),
                                             std::memory_order_relaxed);
                          }},
                         /*max_waiting=*/2);
  // The Records of rows[0, used) are this batch's; those past `used` (from a recycled batch) are
  // parsed into next. Sorting is stable, so a key's rows keep their order and the last one wins.
  std::vector<Record> rows;
  size_t used = 0;
  auto hand_over = [&]() -> Status {
    rows.resize(used);
    sort_by_key(rows);  // stable: a key's rows keep their order
    store::SinkBatch batch = committer.spare();
    std::swap(batch.observations, rows);  // rows gets the spare's Records to parse into
    used = 0;
    rows.reserve(batch_size);
    return committer.submit(std::move(batch));
  };

  std::ofstream rejects;
  FileIngestSummary summary;
  Status parse_error;
  int64_t last_draw = 0;
  rows.reserve(batch_size);
  Status err;
  for (;;) {
    if (interrupted.load() != 0) break;
    if (used == rows.size()) rows.emplace_back();
    Record& rec = rows[used];
    if (!reader->next(rec, err)) break;
    if (err.ok() && storable) err = storable(rec, RecordRole::kObservation);
    if (!err.ok()) {
      if (!rejects.is_open()) {
        errno = 0;
        rejects.open(options.rejects_path);
        if (!rejects) {
          parse_error = reject_file_error(options.rejects_path);
          break;
        }
        rejects << "line,reason\n";
      }
      std::string cell = "\"";  // RFC 4180 quoting
      for (char c : err.message()) cell += c == '"' ? std::string("\"\"") : std::string(1, c);
      errno = 0;  // so a failing write's reason is the one reported
      rejects << reader->line() << "," << cell << "\"\n";
      if (!rejects) {  // a write failed (a full disk)
        parse_error = reject_file_error(options.rejects_path);
        break;
      }
      ++summary.rejected;
      warn_encoding(*reader, bar);
      continue;  // the next row is parsed into the same Record
    }
    if (++used >= batch_size) {
      if (!hand_over().ok()) break;  // the worker's failure, reported below
      const int64_t now = mono_nanos();
      if (bar && now - last_draw > 200'000'000) {
        draw_progress(reader->bytes_read(), total, loaded.load(), summary.rejected,
                      double(now - start) / 1e9);
        last_draw = now;
      }
    }
  }
  warn_encoding(*reader, bar);  // a short file whose every row was not UTF-8
  if (rejects.is_open() && parse_error.ok()) {
    errno = 0;
    rejects.close();  // the last rejects reach the disk here
    if (!rejects) parse_error = reject_file_error(options.rejects_path);
  }
  if (parse_error.ok() && used > 0) (void)hand_over();
  // What was handed over is committed; an interrupt meanwhile stops retrying a failing store.
  while (!committer.drained_within(100))
    if (interrupted.load() != 0) stop.request_stop();
  Status committed = committer.drain();
  // Commits what the store still holds (also after a parse error or an interrupt: the rows
  // handed over stay) and makes it durable; after a failed commit nothing is held any more.
  Status ended = store.end_bulk_load();
  if (!committed.ok()) return committed.with_context("loading " + options.csv_path);
  if (!ended.ok()) return ended.with_context("loading " + options.csv_path);
  FC_RETURN_IF_ERROR(parse_error);
  summary.loaded = loaded.load();
  summary.seconds = double(mono_nanos() - start) / 1e9;
  if (bar) {
    draw_progress(total, total, summary.loaded, summary.rejected, summary.seconds);
    std::fprintf(stderr, "\n");
  }
  if (interrupted.load() != 0) return Status::unavailable("interrupted; rows loaded so far stay");
  return summary;
}

}  // namespace flowcast::stages
