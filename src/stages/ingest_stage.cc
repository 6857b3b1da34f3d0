#include "stages/ingest_stage.h"

#include <algorithm>

#include "core/json_codec.h"
#include "core/log.h"
#include "core/time_util.h"
#include "stages/commit_worker.h"
#include "stages/dlq_writer.h"
#include "stages/stage_util.h"

namespace flowcast::stages {

IngestSettings IngestSettings::parse(const ConfigNode& node) {
  node.expect_keys({"batch_size", "max_wait"});
  IngestSettings s;
  s.batch_size = node.get_int("batch_size", 50000, 1, 1000000);
  s.max_wait_ms = node.get_duration_ms("max_wait", 200);
  return s;
}

IngestStage::IngestStage(const StageContext& ctx, IngestSettings settings)
    : ctx_(ctx), settings_(settings) {}

Status IngestStage::run(std::stop_token stop) {
  auto log = logger("ingest");
  const DatasetSpec& ds = ctx_.dataset;
  const auto& topics = ds.topics();
  const std::string group = group_name("ingest", ds);
  FC_RETURN_IF_ERROR(ctx_.store.ensure_dataset(ds));
  FC_ASSIGN_OR_RETURN(auto consumer, ctx_.bus.consumer(group));
  FC_ASSIGN_OR_RETURN(auto producer, ctx_.bus.producer());
  FC_ASSIGN_OR_RETURN(const store::Store::RecordCheck storable, ctx_.store.record_check(ds));
  JsonCodec codec(ds);
  DlqWriter dlq("ingest", topics.dlq, stats_);
  bus::MessageBatch polled;
  OffsetTracker offsets;  // what the batch being filled consumed
  Record rec;
  int64_t batch_started = 0, lag_checked = 0;
  size_t in_batch = 0;

  // Batches are committed (rows and offsets, one transaction each, in order) by the worker's
  // thread while this one polls and decodes the next: with a server store the stage no longer
  // waits for the server, and the server no longer waits for the stage. Offsets the worker
  // committed come back for the bus's informational copy, which only this thread may send.
  BusOffsetCopy bus_copy;
  CommitWorker committer(
      "ingest", ctx_.store, ds, stop,
      {[this](const Status& e) { stats_.set_error(e.to_string()); },
       [&](const store::SinkBatch& b, int64_t) {
         stats_.out.fetch_add(
             int64_t(b.requests.size() + b.outcomes.size() + b.observations.size()),
             std::memory_order_relaxed);
         bus_copy.add(b.offsets);
       }},
      /*max_waiting=*/0);  // one batch committing, one being read: no third in memory
  store::SinkBatch batch;
  batch.group = group;
  auto clear_batch = [&] {
    batch.requests.clear();
    batch.outcomes.clear();
    batch.observations.clear();
    offsets.clear();
    in_batch = 0;
  };
  // Hands the batch being filled to the worker, its dead letters sent to the bus first (as
  // before a synchronous commit).
  auto hand_over = [&]() -> Status {
    dlq.flush(*producer);
    batch.offsets = offsets.store_entries();
    Status c = committer.submit(std::move(batch));
    // A batch the worker committed before: its vectors keep their capacity.
    batch = committer.spare();
    batch.group = group;
    clear_batch();
    return c;
  };
  // Partitions taken away mid-batch (another member joined or left): the batches handed over
  // and the one being filled hold messages of them, so they are committed now, before their next
  // owner reads the stored offsets. Each wait is bounded (15 s), so a store that does not answer
  // cannot hold up the rebalance:
  //  - while the worker is still committing an earlier batch, the one being filled is abandoned
  //    whole: the partitions this member keeps are rewound to where it began, the revoked ones
  //    resume at the stored offsets elsewhere;
  //  - batches already handed over stay queued and are retried; committed late, they only write
  //    rows again that upserts absorb, never offsets past rows that are not stored.
  auto on_revoked = [&](const std::vector<bus::TopicPartition>& revoked) {
    bus_copy.forget(revoked);
    if (!committer.drained_within(15000)) {
      log->warn("{}: the store did not commit the batches in flight within 15s of a rebalance; "
                "they stay queued, and the {} messages being read are read again",
                ds.name(), in_batch);
      for (const auto& [tp, first] : offsets.first()) {
        if (std::find(revoked.begin(), revoked.end(), tp) != revoked.end()) continue;
        Status sk = consumer->seek(tp, first);
        if (!sk.ok()) log->warn("rewinding {}/{}: {}", tp.topic, tp.partition, sk.to_string());
      }
      clear_batch();
      return;
    }
    if (offsets.empty()) return;
    // The worker is idle: the hand-over returns at once, and the commit has 15 s.
    Status h = hand_over();
    if (!h.ok())
      log->warn("{}: handing over the batch in flight at a rebalance: {}", ds.name(),
                h.to_string());
    else if (!committer.drained_within(15000))
      log->warn("{}: the store did not commit the batch in flight within 15s of a rebalance; "
                "it stays queued and is retried",
                ds.name());
    else
      log->debug("{}: committed the batch in flight as {} partitions were revoked", ds.name(),
                 revoked.size());
  };
  FC_RETURN_IF_ERROR(subscribe_from_store(*consumer, ctx_.store, group,
                                          {topics.requests, topics.outcomes, topics.observations},
                                          "ingest", on_revoked));
  stats_.running = true;

  while (!stop.stop_requested()) {
    Status s = consumer->poll(polled, size_t(settings_.batch_size) - in_batch, 100);
    if (!s.ok()) {
      stats_.set_error(s.to_string());
      if (!is_transient(s)) return s.with_context("ingest poll");
      log->warn("poll: {}", s.to_string());
      sleep_for(stop, 200);
      continue;
    }
    if (!polled.empty() && in_batch == 0) batch_started = mono_nanos();
    offsets.consumed(polled);
    for (size_t i = 0; i < polled.size(); ++i) {
      bus::MessageView m = polled[i];
      RecordRole role = m.topic == topics.requests   ? RecordRole::kRequest
                        : m.topic == topics.outcomes ? RecordRole::kOutcome
                                                     : RecordRole::kObservation;
      Status d = codec.decode(m.value, role, rec);
      if (d.ok() && storable) d = storable(rec, role);
      if (!d.ok()) {
        dlq.add(m, d.message());
        continue;
      }
      auto& rows = role == RecordRole::kRequest   ? batch.requests
                   : role == RecordRole::kOutcome ? batch.outcomes
                                                  : batch.observations;
      rows.push_back(std::move(rec));
      rec = Record();
    }
    in_batch += polled.size();
    stats_.in.fetch_add(int64_t(polled.size()), std::memory_order_relaxed);

    const int64_t now = mono_nanos();
    if (now - lag_checked > 500'000'000) {
      stats_.lag = total_lag(*consumer, &stats_);
      lag_checked = now;
    }
    stats_.idle = polled.empty() && in_batch == 0 && stats_.lag.load() == 0 &&
                  committer.drained_within(0);
    bool full = in_batch >= size_t(settings_.batch_size);
    bool waited = in_batch > 0 && (now - batch_started) / 1000000 >= settings_.max_wait_ms;
    bus_copy.maybe_send(*consumer);
    if (!full && !waited && !(polled.empty() && in_batch > 0)) continue;
    if (offsets.empty()) continue;

    Status c = hand_over();
    if (!c.ok()) return c.with_context("ingest commit");
  }
  // Stopping: what was handed over is committed too (one attempt each now that stop is
  // requested); the batch being filled is not, and is read again at the next start.
  Status drained = committer.drain();
  bus_copy.maybe_send(*consumer, /*now=*/true);
  stats_.running = false;
  if (!drained.ok() && !stop.stop_requested()) return drained.with_context("ingest commit");
  return Status();
}

}  // namespace flowcast::stages
