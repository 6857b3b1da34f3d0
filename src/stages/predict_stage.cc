#include "stages/predict_stage.h"

#include <algorithm>

#include "core/json_codec.h"
#include "core/log.h"
#include "core/time_util.h"
#include "stages/dlq_writer.h"
#include "stages/prediction_message.h"
#include "stages/serving_model.h"
#include "stages/stage_util.h"

namespace flowcast::stages {

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
  FC_RETURN_IF_ERROR(
      subscribe_from_store(*consumer, ctx_.store, group, {ds.topics().requests}, "predict"));
  ServingModel model(ds, ctx_.store);
  model.refresh();
  stats_.model_version = model.version();
  JsonCodec codec(ds);
  DlqWriter dlq("predict", ds.topics().dlq, stats_);
  bus::MessageBatch polled;
  std::vector<Record> records;
  std::vector<const Record*> ptrs;
  std::vector<int64_t> sent_ms;
  std::vector<double> scores;
  std::vector<std::string> values;
  std::vector<bus::OutMessage> out;
  store::SinkBatch batch;
  batch.group = group;
  OffsetTracker offsets;
  std::vector<int64_t> latencies;  // microseconds, recent window
  int64_t last_poll_ms = now_millis(), lag_checked = 0;
  stats_.running = true;

  while (!stop.stop_requested()) {
    if (now_millis() - last_poll_ms >= settings_.model_poll_ms) {
      model.refresh();
      stats_.model_version = model.version();
      last_poll_ms = now_millis();
    }
    Status s = consumer->poll(polled, size_t(settings_.batch_size), 100);
    if (!s.ok()) {
      stats_.set_error(s.to_string());
      if (!is_transient(s)) return s.with_context("predict poll");
      sleep_for(stop, 200);
      continue;
    }
    const int64_t now_ns = mono_nanos();
    if (now_ns - lag_checked > 500'000'000) {
      stats_.lag = total_lag(*consumer);
      lag_checked = now_ns;
    }
    stats_.idle = polled.empty() && stats_.lag.load() == 0;
    if (polled.empty()) continue;
    stats_.in.fetch_add(int64_t(polled.size()), std::memory_order_relaxed);

    records.resize(polled.size());
    ptrs.clear();
    sent_ms.clear();
    for (size_t i = 0; i < polled.size(); ++i) {
      bus::MessageView m = polled[i];
      offsets.consumed(m);
      Status d = codec.decode(m.value, RecordRole::kRequest, records[ptrs.size()]);
      if (!d.ok()) {
        dlq.add(m, d.message());
        continue;
      }
      ptrs.push_back(&records[ptrs.size()]);
      sent_ms.push_back(m.timestamp_ms);
    }
    scores.resize(ptrs.size());
    Status p = model.predict(ptrs, scores.data());
    if (!p.ok()) return p.with_context("predict");
    const int64_t version = model.version();
    const int64_t predicted_at = now_millis();
    values.resize(ptrs.size());
    out.clear();
    batch.predictions.clear();
    for (size_t i = 0; i < ptrs.size(); ++i) {
      PredictionMessage msg;
      msg.key = ptrs[i]->key;
      msg.model_version = version;
      msg.prediction = scores[i];
      msg.event_time_us = int64_t(ptrs[i]->number(ds.event_time_index()));
      msg.predicted_at_ms = predicted_at;
      values[i].clear();
      encode_prediction(ds.name(), msg, values[i]);
      out.push_back({ptrs[i]->key, values[i]});
      batch.predictions.push_back({ptrs[i]->key, version, scores[i], predicted_at});
    }
    // Publish first, then commit rows and offsets together: a crash in between re-scores the
    // batch (the topic may see a prediction twice; the store never holds it twice).
    Status ps = retry_transient(stop, "predict", "publishing predictions",
                                [&] { return producer->produce(ds.topics().predictions, out); });
    if (!ps.ok()) return ps.with_context("predict publish");
    dlq.flush(*producer);
    Status fs = retry_transient(stop, "predict", "flushing predictions",
                                [&] { return producer->flush(30000); });
    if (!fs.ok()) return fs.with_context("predict flush");
    batch.offsets = offsets.store_entries();
    Status c = retry_transient(stop, "predict", "committing to " + ctx_.store.describe(),
                               [&]() -> Status { return ctx_.store.commit(ds, batch).status(); },
                               [&](const Status& e) { stats_.set_error(e.to_string()); });
    if (!c.ok()) return c.with_context("predict commit");
    (void)consumer->commit(offsets.bus_offsets());  // informational; the store holds the truth
    offsets.clear();
    stats_.out.fetch_add(int64_t(ptrs.size()), std::memory_order_relaxed);

    const int64_t done_ms = now_millis();
    for (int64_t t : sent_ms) latencies.push_back((done_ms - t) * 1000);
    if (latencies.size() >= 2048) {
      std::sort(latencies.begin(), latencies.end());
      stats_.latency_p50_us = latencies[latencies.size() / 2];
      stats_.latency_p99_us = latencies[latencies.size() * 99 / 100];
      latencies.clear();
    }
  }
  stats_.running = false;
  return Status();
}

}  // namespace flowcast::stages
