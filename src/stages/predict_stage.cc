#include "stages/predict_stage.h"

#include <algorithm>
#include <atomic>
#include <mutex>

#include "core/json_codec.h"
#include "core/log.h"
#include "core/time_util.h"
#include "stages/commit_worker.h"
#include "stages/dlq_writer.h"
#include "stages/prediction_message.h"
#include "stages/serving_models.h"
#include "stages/stage_util.h"

namespace flowcast::stages {
namespace {

// The store transactions' durations, written by the commit worker's thread.
struct CommitTimes {
  std::atomic<int64_t> total_ns{0}, max_ns{0}, count{0};
  void add(int64_t ns) {
    total_ns.fetch_add(ns, std::memory_order_relaxed);
    count.fetch_add(1, std::memory_order_relaxed);
    int64_t m = max_ns.load(std::memory_order_relaxed);
    while (ns > m && !max_ns.compare_exchange_weak(m, ns, std::memory_order_relaxed)) {
    }
  }
};

// Where the batches' time goes: compute (decode, features, trees, encode), publish, flush
// (predictions durable on the bus), handover (waiting for the commit worker to take the batch)
// and, on the worker's thread, commit (the store transaction). Logged at debug level every 10 s,
// for `flowcast bench --set log_level=debug --keep` and for diagnosing a slow stage.
class BatchClock {
 public:
  struct Phase {
    int64_t total_ns = 0, max_ns = 0;
    void add(int64_t ns) {
      total_ns += ns;
      max_ns = std::max(max_ns, ns);
    }
  };
  Phase compute, publish, flush, handover;
  int64_t batches = 0, requests = 0;
  CommitTimes* commits = nullptr;

  // Logs and resets when `interval_ns` has passed since the last report.
  void maybe_report(const std::shared_ptr<spdlog::logger>& log, int64_t now_ns,
                    int64_t interval_ns) {
    if (now_ns - since_ns_ < interval_ns) return;
    if (batches > 0) {
      auto ms = [&](const Phase& p) {
        return fmt::format("{:.2f}/{:.2f}", double(p.total_ns) / double(batches) / 1e6,
                           double(p.max_ns) / 1e6);
      };
      std::string commit = "-";
      if (commits) {
        const int64_t n = commits->count.exchange(0), total = commits->total_ns.exchange(0);
        const int64_t max = commits->max_ns.exchange(0);
        if (n > 0)
          commit = fmt::format("{:.2f}/{:.2f} ({} commits)", double(total) / double(n) / 1e6,
                               double(max) / 1e6, n);
      }
      log->debug(
          "batches {} (mean {:.0f} requests); ms per batch mean/max: compute {}, publish {}, "
          "flush {}, handover {}, commit {}",
          batches, double(requests) / double(batches), ms(compute), ms(publish), ms(flush),
          ms(handover), commit);
    }
    CommitTimes* keep = commits;
    *this = BatchClock();
    commits = keep;
    since_ns_ = now_ns;
  }

 private:
  int64_t since_ns_ = mono_nanos();
};

}  // namespace

PredictSettings PredictSettings::parse(const ConfigNode& node) {
  node.expect_keys({"batch_size", "model_poll"});
  PredictSettings s;
  s.batch_size = node.get_int("batch_size", 2000, 1, 1000000);
  s.model_poll_ms = node.get_duration_ms("model_poll", 1000);
  return s;
}

PredictStage::PredictStage(const StageContext& ctx, PredictSettings settings)
    : ctx_(ctx), settings_(settings) {}

Status PredictStage::run(std::stop_token stop) {
  auto log = logger("predict");
  const DatasetSpec& ds = ctx_.dataset;
  const std::string group = group_name("predict", ds);
  FC_RETURN_IF_ERROR(ctx_.store.ensure_dataset(ds));
  FC_ASSIGN_OR_RETURN(auto consumer, ctx_.bus.consumer(group));
  FC_ASSIGN_OR_RETURN(auto producer, ctx_.bus.producer());
  // Requests the store could not hold (a NUL byte in a PostgreSQL key, say) go to the dlq here:
  // their prediction rows would otherwise fail every commit of the batch.
  FC_ASSIGN_OR_RETURN(const store::Store::RecordCheck storable, ctx_.store.record_check(ds));
  // Batches are published here, then committed (rows and offsets) by the worker's thread while
  // this one scores the next batch. Offsets it committed are passed back for the bus's
  // informational commit, which only this thread may make.
  CommitTimes commit_times;
  BusOffsetCopy bus_copy;
  // Group commit: batches that wait while one commits go in one transaction, up to 8 of them
  // (prediction rows are small: a key and three numbers). A batch of random keys dirties about
  // a page of the store per row; grouped, a row costs the store fewer page writes and commits.
  constexpr size_t kCommitGroup = 8;
  CommitWorker committer("predict", ctx_.store, ds, stop,
                         {[this](const Status& e) { stats_.set_error(e.to_string()); },
                          [&](const store::SinkBatch& b, int64_t ns) {
                            commit_times.add(ns);
                            bus_copy.add(b.offsets);
                          }},
                         kCommitGroup, CommitGrouping{.together = true});
  // A partition taken away mid-stream: its published batches are committed before its next owner
  // reads the stored offsets, so the owner does not score them again.
  FC_RETURN_IF_ERROR(subscribe_from_store(*consumer, ctx_.store, group, {ds.topics().requests},
                                          "predict",
                                          [&](const std::vector<bus::TopicPartition>& revoked) {
                                            (void)committer.drain();
                                            bus_copy.forget(revoked);
                                          }));
  // The model is loaded and swapped by the refresher's thread: loading a new version takes a
  // large model hundreds of milliseconds, which scoring would otherwise wait for. A batch scores
  // with the snapshot it took, so it is never split across two versions.
  ServingModels models({&ds}, ctx_.store, settings_.model_poll_ms);
  models.start();
  stats_.model_version = models.snapshot(0)->version;
  JsonCodec codec(ds);
  DlqWriter dlq("predict", ds.topics().dlq, stats_);
  bus::MessageBatch polled;
  std::vector<Record> records;
  std::vector<const Record*> ptrs;
  std::vector<int64_t> sent_ms;
  std::vector<double> scores;
  std::vector<std::string> values;
  std::vector<bus::OutMessage> out;
  PredictionMessage msg;
  store::SinkBatch batch;
  OffsetTracker offsets;
  // p50/p99 of the latency histogram over the most recent 2048 requests or second, whichever
  // ends first: the status line and the dashboard's stream both show these.
  LatencyHistogram::Snapshot latency_window = stats_.latency.snapshot();
  size_t in_latency_window = 0;
  int64_t latency_window_ns = mono_nanos();
  BatchClock clock;
  clock.commits = &commit_times;

  int64_t lag_checked = 0;
  stats_.running = true;

  while (!stop.stop_requested()) {
    Status s = consumer->poll(polled, size_t(settings_.batch_size), 100);
    if (!s.ok()) {
      stats_.set_error(s.to_string());
      if (!is_transient(s)) return s.with_context("predict poll");
      sleep_for(stop, 200);
      continue;
    }
    const int64_t now_ns = mono_nanos();
    clock.maybe_report(log, now_ns, 10'000'000'000);
    if (now_ns - lag_checked > 500'000'000) {
      stats_.lag = total_lag(*consumer, &stats_);
      lag_checked = now_ns;
    }
    bus_copy.maybe_send(*consumer);
    stats_.idle = polled.empty() && stats_.lag.load() == 0;
    const std::shared_ptr<const ServingModels::Snapshot> model = models.snapshot(0);
    stats_.model_version = model->version;
    if (polled.empty()) continue;
    stats_.in.fetch_add(int64_t(polled.size()), std::memory_order_relaxed);

    // Records only grow: decoding into a used Record reuses its strings' buffers.
    if (records.size() < polled.size()) records.resize(polled.size());
    ptrs.clear();
    sent_ms.clear();
    offsets.consumed(polled);
    for (size_t i = 0; i < polled.size(); ++i) {
      bus::MessageView m = polled[i];
      Status d = codec.decode(m.value, RecordRole::kRequest, records[ptrs.size()]);
      if (d.ok() && storable) d = storable(records[ptrs.size()], RecordRole::kRequest);
      if (!d.ok()) {
        dlq.add(m, d.message());
        continue;
      }
      ptrs.push_back(&records[ptrs.size()]);
      sent_ms.push_back(m.timestamp_ms);
    }
    scores.resize(ptrs.size());
    Status p = model->predict(ptrs, scores.data());
    if (!p.ok()) return p.with_context("predict");
    const int64_t version = model->version;
    const int64_t predicted_at = now_millis();
    if (values.size() < ptrs.size()) values.resize(ptrs.size());
    out.clear();
    // A batch the worker committed before: resized, not cleared, so its rows' key strings keep
    // their buffers from batch to batch.
    batch = committer.spare();
    batch.group = group;
    batch.predictions.resize(ptrs.size());
    for (size_t i = 0; i < ptrs.size(); ++i) {
      msg.key = ptrs[i]->key;
      msg.model_version = version;
      msg.prediction = scores[i];
      msg.event_time_us = int64_t(ptrs[i]->number(ds.event_time_index()));
      msg.predicted_at_ms = predicted_at;
      values[i].clear();
      encode_prediction(ds.name(), msg, values[i]);
      out.push_back({ptrs[i]->key, values[i]});
      store::PredictionRow& row = batch.predictions[i];
      row.key = ptrs[i]->key;
      row.model_version = version;
      row.prediction = scores[i];
      row.predicted_at_ms = predicted_at;
    }
    const int64_t computed_ns = mono_nanos();
    clock.compute.add(computed_ns - now_ns);
    // Publish first, then commit rows and offsets together: a crash in between re-scores the
    // batch (the topic may see a prediction twice; the store never holds it twice).
    Status ps = retry_transient(stop, "predict", "publishing predictions",
                                [&] { return producer->produce(ds.topics().predictions, out); });
    if (!ps.ok()) return ps.with_context("predict publish");
    dlq.flush(*producer);
    const int64_t published_ns = mono_nanos();
    clock.publish.add(published_ns - computed_ns);
    Status fs = retry_transient(stop, "predict", "flushing predictions",
                                [&] { return producer->flush(30000); });
    if (!fs.ok()) return fs.with_context("predict flush");
    const int64_t flushed_ns = mono_nanos();
    clock.flush.add(flushed_ns - published_ns);
    // The predictions are on the bus: this is when they count as made.
    stats_.out.fetch_add(int64_t(ptrs.size()), std::memory_order_relaxed);
    const int64_t done_ms = now_millis();
    batch.offsets = offsets.store_entries();
    offsets.clear();
    Status c = committer.submit(std::move(batch));
    if (!c.ok()) return c.with_context("predict commit");
    // A short batch: the stage has caught up, so no more batches are coming to group with.
    if (polled.size() < size_t(settings_.batch_size)) committer.hurry();
    clock.handover.add(mono_nanos() - flushed_ns);
    clock.batches += 1;
    clock.requests += int64_t(polled.size());

    // Requests stamped in the same millisecond (most of a batch) are recorded together.
    for (size_t i = 0, j; i < sent_ms.size(); i = j) {
      for (j = i + 1; j < sent_ms.size() && sent_ms[j] == sent_ms[i];) ++j;
      stats_.latency.record((done_ms - sent_ms[i]) * 1000, int64_t(j - i));
    }
    in_latency_window += sent_ms.size();
    if (in_latency_window >= 2048 ||
        (in_latency_window > 0 && flushed_ns - latency_window_ns >= 1'000'000'000)) {
      const LatencyHistogram::Snapshot now = stats_.latency.snapshot();
      const LatencyHistogram::Snapshot recent = now.since(latency_window);
      stats_.latency_p50_us = int64_t(recent.quantile_us(0.5));
      stats_.latency_p99_us = int64_t(recent.quantile_us(0.99));
      latency_window = now;
      latency_window_ns = flushed_ns;
      in_latency_window = 0;
    }
  }
  // Stopping: what was published is committed too (one attempt each now that stop is requested).
  Status drained = committer.drain();
  bus_copy.maybe_send(*consumer, /*now=*/true);
  clock.maybe_report(log, INT64_MAX, 0);
  stats_.running = false;
  if (!drained.ok() && !stop.stop_requested()) return drained.with_context("predict commit");
  return Status();
}

}  // namespace flowcast::stages
