#include "stages/ingest_stage.h"

#include <algorithm>

#include "core/json_codec.h"
#include "core/log.h"
#include "core/time_util.h"
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
  store::SinkBatch batch;
  batch.group = group;
  OffsetTracker offsets;  // what the batch in flight consumed
  Record rec;
  int64_t batch_started = 0, lag_checked = 0;
  size_t in_batch = 0;

  auto clear_batch = [&] {
    batch.requests.clear();
    batch.outcomes.clear();
    batch.observations.clear();
    offsets.clear();
    in_batch = 0;
  };
  // Rows and offsets of the batch in flight, in one store transaction, retried for up to
  // `max_ms` (-1: until it succeeds, fails permanently or stop is requested).
  const std::string committing = "committing to " + ctx_.store.describe();
  auto commit = [&](int64_t max_ms) {
    dlq.flush(*producer);
    batch.offsets = offsets.store_entries();
    const size_t rows = batch.requests.size() + batch.outcomes.size() + batch.observations.size();
    Status c = retry_transient(
        stop, "ingest", committing, [&] { return ctx_.store.commit(ds, batch).status(); },
        [&](const Status& e) { stats_.set_error(e.to_string()); }, max_ms);
    if (!c.ok()) return c;
    stats_.out.fetch_add(int64_t(rows), std::memory_order_relaxed);
    // The store holds the truth; the bus copy lets standard lag tools see progress.
    Status bc = consumer->commit(offsets.bus_offsets());
    if (!bc.ok()) log->debug("bus offset commit: {}", bc.to_string());
    clear_batch();
    return Status();
  };
  // Partitions taken away mid-batch (another member joined or left): the batch in flight holds
  // messages of them, so it is committed now, before their next owner reads the stored offsets.
  // A batch that cannot be committed within a bounded time is abandoned whole: the partitions
  // this member keeps are rewound to where the batch began, and the revoked ones resume at the
  // stored offsets elsewhere. Either way no batch is half-applied.
  auto on_revoked = [&](const std::vector<bus::TopicPartition>& revoked) {
    if (offsets.empty()) return;
    Status c = commit(15000);
    if (c.ok()) {
      log->debug("{}: committed the batch in flight as {} partitions were revoked", ds.name(),
                 revoked.size());
      return;
    }
    log->warn("{}: abandoning the batch in flight ({} messages) at a rebalance: {}", ds.name(),
              in_batch, c.to_string());
    for (const auto& [tp, first] : offsets.first()) {
      if (std::find(revoked.begin(), revoked.end(), tp) != revoked.end()) continue;
      Status sk = consumer->seek(tp, first);
      if (!sk.ok()) log->warn("rewinding {}/{}: {}", tp.topic, tp.partition, sk.to_string());
    }
    clear_batch();
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
    stats_.idle = polled.empty() && in_batch == 0 && stats_.lag.load() == 0;
    bool full = in_batch >= size_t(settings_.batch_size);
    bool waited = in_batch > 0 && (now - batch_started) / 1000000 >= settings_.max_wait_ms;
    if (!full && !waited && !(polled.empty() && in_batch > 0)) continue;
    if (offsets.empty()) continue;

    Status c = commit(-1);
    if (!c.ok()) return c.with_context("ingest commit");
  }
  stats_.running = false;
  return Status();
}

}  // namespace flowcast::stages
