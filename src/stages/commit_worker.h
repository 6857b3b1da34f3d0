// CommitWorker: commits a stage's batches to the store on a thread of its own, in the order they
// were handed over, so that the stage scores and publishes its next batch while the store's
// transaction runs. The predict stage uses it: its predictions reach the bus (and so the
// dashboard and evaluate) without waiting for the store, and on two cores the store's work no
// longer adds to the stage's time per batch.
//
// Guarantees: batches commit in order, each with its offsets in one transaction, as SinkBatch
// says; a transient failure is retried (retry_transient, capped backoff) before the next batch
// is tried, so no later batch's offsets can pass an uncommitted one. A permanent
// failure stops the worker: it commits nothing more, and submit() and drain() return the failure.
// Batches handed over but not committed when the process dies are not lost: the stage publishes
// before it hands over, and a restart resumes from the offsets the store holds, so it scores them
// again (the store's rows are idempotent).
//
// Group commit (CommitGrouping::together): an idle worker that is handed a batch waits up to
// `linger_ms` for the queue to fill (no longer once hurry(), drain() or the destructor asks),
// then commits every waiting batch it may group (can_group) in one transaction. SQLite writes
// whole pages, and a batch of random keys dirties about a page per row, so one transaction for
// several batches writes fewer pages per row and runs fewer commits. The costs: a batch is in the
// store up to `linger_ms` later (it is on the bus before it is handed over either way), and a
// batch that others were grouped into keeps the capacity it grew to among the spares.
//
// Thread-safety: submit(), spare() and drain() are for the stage's thread; `on_committed` runs on
// the worker's thread. No exception leaves the worker's thread: one thrown by the store becomes
// the worker's failure.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "core/dataset_spec.h"
#include "core/status.h"
#include "store/store.h"

namespace flowcast::stages {

// How a CommitWorker groups waiting batches (see group commit above).
struct CommitGrouping {
  bool together = false;  // commit waiting batches in one transaction
  int64_t linger_ms = 20;
};

class CommitWorker {
 public:
  // True when `later`, committed in one transaction after `first`, stores exactly what the two
  // committed one after the other would. So it is for prediction and metric rows (appended in
  // order: the store keeps the first prediction of a key and version either way) and offsets
  // (the later batch's supersede), within one consumer group. Batches with records or
  // evaluations never group: a store applies a batch's requests, outcomes and observations
  // table by table, not in arrival order, and reports evaluations per batch.
  static bool can_group(const store::SinkBatch& first, const store::SinkBatch& later);
  // Moves `later`'s rows and offsets into `into` (can_group must hold); `later` is left empty,
  // its vectors' capacity kept.
  static void group_into(store::SinkBatch& into, store::SinkBatch& later);

  struct Hooks {
    // Every failed attempt, transient or not (for the stage's status).
    std::function<void(const Status&)> on_failure;
    // After each commit, with the batch (batches grouped in one transaction: their rows and the
    // last one's offsets) and the transaction's duration.
    std::function<void(const store::SinkBatch&, int64_t commit_ns)> on_committed;
  };

  // `stop` is the stage's: once it is requested, a failing commit is no longer retried.
  // `max_waiting` batches may wait behind the one being committed before submit() blocks; with
  // 0, submit() returns once the worker has taken the batch, so at most two batches exist (one
  // committing, one being filled).
  // Grouping together, up to `max_waiting` batches commit in one transaction.
  CommitWorker(std::string stage, store::Store& store, const DatasetSpec& dataset,
               std::stop_token stop, Hooks hooks, size_t max_waiting = 1,
               CommitGrouping grouping = {});
  // Commits what was handed over (one attempt each once stop is requested), then joins.
  ~CommitWorker();
  CommitWorker(const CommitWorker&) = delete;
  CommitWorker& operator=(const CommitWorker&) = delete;

  // Hands `batch` over. Blocks while `max_waiting` batches wait. Returns the worker's failure if
  // it has failed (the batch is then dropped, uncommitted).
  Status submit(store::SinkBatch&& batch);
  // A committed batch to fill again (its vectors keep their capacity and their strings their
  // buffers), or an empty one.
  store::SinkBatch spare();
  // Ends a linger without waiting: what waits is committed as soon as the worker is free. For a
  // stage that has caught up with its input (a batch shorter than it asked for), so that its
  // last batches are not held back for more that may not come.
  void hurry();
  // Waits until every batch handed over is committed; returns the worker's failure, if any.
  Status drain();
  // Like drain(), but waits at most `ms`: false when batches are still being committed.
  bool drained_within(int64_t ms);

 private:
  void loop();

  const std::string stage_;
  store::Store& store_;
  const DatasetSpec& dataset_;
  const std::stop_token stop_;
  const Hooks hooks_;
  const size_t max_waiting_;
  const CommitGrouping grouping_;

  std::mutex mu_;
  std::condition_variable changed_;
  std::deque<store::SinkBatch> waiting_;  // guarded by mu_
  std::vector<store::SinkBatch> spares_;  // guarded by mu_
  bool committing_ = false;               // guarded by mu_: the worker holds a batch
  bool closing_ = false;                  // guarded by mu_
  int draining_ = 0;                      // guarded by mu_: drain() calls waiting
  bool hurry_ = false;                    // guarded by mu_: hurry() since the last batch taken
  Status failure_;                        // guarded by mu_
  std::thread thread_;                    // last: started when everything above exists
};

}  // namespace flowcast::stages
