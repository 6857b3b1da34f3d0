#include "stages/evaluate_stage.h"

#include <algorithm>

#include <deque>
#include <map>
#include <set>
#include <unordered_map>

#include "core/json_codec.h"
#include "core/log.h"
#include "core/time_util.h"
#include "ml/regression_metrics.h"
#include "stages/dlq_writer.h"
#include "stages/prediction_message.h"
#include "stages/stage_util.h"

namespace flowcast::stages {

EvaluateSettings EvaluateSettings::parse(const ConfigNode& node) {
  node.expect_keys({"window", "publish_interval", "join_ttl", "batch_size", "store_lookup_after"});
  EvaluateSettings s;
  s.window_ms = node.get_duration_ms("window", 60000);
  s.publish_interval_ms = node.get_duration_ms("publish_interval", 5000);
  s.join_ttl_ms = node.get_duration_ms("join_ttl", 600000);
  s.batch_size = node.get_int("batch_size", 5000, 1, 1000000);
  s.store_lookup_after_ms = node.get_duration_ms("store_lookup_after", 5000);
  if (s.window_ms < 1000) node["window"].fail("must be at least 1s");
  if (s.publish_interval_ms < 100) node["publish_interval"].fail("must be at least 100ms");
  return s;
}

EvaluateStage::EvaluateStage(const StageContext& ctx, EvaluateSettings settings)
    : ctx_(ctx), settings_(settings) {}

namespace {

// Where a waiting record was read, so offsets are held back until it is matched.
struct Origin {
  bus::TopicPartition tp;
  int64_t offset;
  int64_t arrived_ms;
};

struct WaitingPrediction {
  int64_t version;
  double prediction;
  Origin origin;
};

struct Joined {
  int64_t at_ms;
  double prediction, actual;
};

}  // namespace

Status EvaluateStage::run(std::stop_token stop) {
  auto log = logger("evaluate");
  const DatasetSpec& ds = ctx_.dataset;
  const auto& topics = ds.topics();
  const std::string group = group_name("evaluate", ds);
  FC_RETURN_IF_ERROR(ctx_.store.ensure_dataset(ds));
  FC_ASSIGN_OR_RETURN(auto consumer, ctx_.bus.consumer(group));
  FC_ASSIGN_OR_RETURN(auto producer, ctx_.bus.producer());
  FC_ASSIGN_OR_RETURN(const store::Store::RecordCheck storable, ctx_.store.record_check(ds));
  JsonCodec codec(ds);
  DlqWriter dlq("evaluate", topics.dlq, stats_);

  std::unordered_map<std::string, std::vector<WaitingPrediction>> waiting_predictions;
  std::unordered_map<std::string, std::pair<double, Origin>> waiting_outcomes;
  // Outcomes already joined, kept for join_ttl so a later prediction (another version) joins too.
  std::unordered_map<std::string, std::pair<double, int64_t>> recent_outcomes;
  std::deque<std::pair<int64_t, std::string>> recent_order;
  // Store lookups of waiting keys: again after 5 s (store_lookup_after, at least 1 s), then
  // doubling up to a minute, as long as each finds nothing.
  LookupSchedule lookups(std::max<int64_t>(settings_.store_lookup_after_ms, 1000), 60'000);
  std::map<bus::TopicPartition, std::multiset<int64_t>> held;  // offsets of waiting records
  std::map<int64_t, std::deque<Joined>> window;                // per model version
  std::map<int64_t, int64_t> joined_total;

  OffsetTracker offsets;                             // everything consumed since start
  std::map<bus::TopicPartition, int64_t> committed;  // what the store holds now
  bus::MessageBatch polled;
  store::SinkBatch batch;
  batch.group = group;
  Record rec;
  PredictionMessage pm;
  int64_t last_publish = now_millis(), lag_checked = 0;
  stats_.running = true;

  bool released = false;  // a hold was lifted: offsets may advance without new messages
  auto hold = [&](const Origin& o) { held[o.tp].insert(o.offset); };
  auto release = [&](const Origin& o) {
    released = true;
    auto& s = held[o.tp];
    if (auto it = s.find(o.offset); it != s.end()) s.erase(it);
  };
  auto join = [&](const std::string& key, int64_t version, double prediction, double actual) {
    batch.evaluations.push_back({key, version, prediction, actual, now_millis()});
  };

  auto publish_metrics = [&](int64_t now) {
    std::vector<std::string> values;
    for (auto& [version, dq] : window) {
      while (!dq.empty() && dq.front().at_ms < now - settings_.window_ms) dq.pop_front();
      if (dq.empty()) continue;
      ml::MetricsAccumulator acc;
      for (const auto& j : dq) acc.add(j.prediction, j.actual);
      ml::RegressionMetrics m = acc.result();
      store::MetricRow row{version, now,    settings_.window_ms, m.count, m.mae, m.rmse,
                           m.rmsle, m.mape, m.within_30};
      batch.metrics.push_back(row);
      values.emplace_back();
      encode_metrics(ds.name(), row, joined_total[version], values.back());
      stats_.quality = metric_figure(row, ds.model().metric);
    }
    if (values.empty()) return;
    std::vector<bus::OutMessage> msgs;
    for (const auto& v : values) msgs.push_back({ds.name(), v});
    Status s = producer->produce(topics.metrics, msgs);
    if (!s.ok()) log->warn("publishing metrics: {}", s.to_string());
  };

  BusOffsetCopy bus_copy;  // the bus's informational copy of the offsets, about once a second
  auto commit = [&]() -> Status {
    // Offsets may advance only up to the oldest record still waiting in each partition; a
    // partition whose waiting records were released advances even if it had no new messages.
    std::vector<store::OffsetEntry> entries;
    for (auto& [tp, next] : offsets.next()) {
      int64_t safe = next;
      if (auto it = held.find(tp); it != held.end() && !it->second.empty())
        safe = std::min(safe, *it->second.begin());
      auto c = committed.find(tp);
      if (c == committed.end() || c->second != safe)
        entries.push_back({tp.topic, tp.partition, safe});
    }
    batch.offsets = entries;
    Result<store::CommitResult> result = Status::internal("not run");
    Status c = retry_transient(stop, "evaluate", "committing to " + ctx_.store.describe(), [&]() {
      result = ctx_.store.commit(ds, batch);
      return result.status();
    });
    if (!c.ok()) return c;
    const auto& inserted = result->evaluation_inserted;
    for (size_t i = 0; i < batch.evaluations.size(); ++i) {
      if (i < inserted.size() && !inserted[i]) continue;  // stored before a restart: count once
      const auto& e = batch.evaluations[i];
      window[e.model_version].push_back({e.joined_at_ms, e.prediction, e.actual});
      joined_total[e.model_version]++;
      joined_.fetch_add(1, std::memory_order_relaxed);
      stats_.out.fetch_add(1, std::memory_order_relaxed);
    }
    for (const auto& e : entries) committed[{e.topic, e.partition}] = e.next_offset;
    bus_copy.add(entries);
    bus_copy.maybe_send(*consumer);
    batch.evaluations.clear();
    batch.metrics.clear();
    return Status();
  };

  // Partitions taken away (another member joined or left the group). Every join made so far is
  // committed (each loop commits before it polls again), so what remains of them here is waiting
  // records and offsets: both are dropped. The stored offsets of those partitions stop at their
  // oldest waiting record, so the next owner reads the waiting records again; this member must
  // never write those offsets again (a late release here would move them past records the next
  // owner is still holding).
  auto on_revoked = [&](const std::vector<bus::TopicPartition>& revoked) {
    auto gone = [&](const bus::TopicPartition& tp) {
      return std::find(revoked.begin(), revoked.end(), tp) != revoked.end();
    };
    size_t dropped = 0;
    for (auto it = waiting_predictions.begin(); it != waiting_predictions.end();) {
      dropped += size_t(
          std::erase_if(it->second, [&](const WaitingPrediction& w) { return gone(w.origin.tp); }));
      it = it->second.empty() ? waiting_predictions.erase(it) : std::next(it);
    }
    dropped += size_t(
        std::erase_if(waiting_outcomes, [&](const auto& kv) { return gone(kv.second.second.tp); }));
    for (const auto& tp : revoked) {
      offsets.next().erase(tp);
      held.erase(tp);
      committed.erase(tp);
    }
    bus_copy.forget(revoked);
    if (dropped > 0)
      log->debug("{}: {} partitions revoked; {} waiting records left to their next owner",
                 ds.name(), revoked.size(), dropped);
  };
  FC_RETURN_IF_ERROR(subscribe_from_store(
      *consumer, ctx_.store, group, {topics.predictions, topics.outcomes}, "evaluate", on_revoked));

  for (;;) {
    const bool stopping = stop.stop_requested();
    Status s = stopping ? Status() : consumer->poll(polled, size_t(settings_.batch_size), 100);
    if (stopping) polled.clear();
    if (!s.ok()) {
      stats_.set_error(s.to_string());
      if (!is_transient(s)) return s.with_context("evaluate poll");
      sleep_for(stop, 200);
      continue;
    }
    const int64_t now = now_millis();
    stats_.in.fetch_add(int64_t(polled.size()), std::memory_order_relaxed);
    offsets.consumed(polled);
    for (size_t i = 0; i < polled.size(); ++i) {
      bus::MessageView m = polled[i];
      Origin origin{{std::string(m.topic), m.partition}, m.offset, now};
      if (m.topic == topics.predictions) {
        Status d = decode_prediction(m.value, pm);
        if (!d.ok()) {
          dlq.add(m, d.message());
          continue;
        }
        if (auto it = recent_outcomes.find(pm.key); it != recent_outcomes.end()) {
          join(pm.key, pm.model_version, pm.prediction, it->second.first);
        } else if (auto wo = waiting_outcomes.find(pm.key); wo != waiting_outcomes.end()) {
          join(pm.key, pm.model_version, pm.prediction, wo->second.first);
          release(wo->second.second);
          recent_outcomes[pm.key] = {wo->second.first, now};
          recent_order.emplace_back(now, pm.key);
          waiting_outcomes.erase(wo);
        } else {
          auto& list = waiting_predictions[pm.key];
          bool dup = false;  // a re-delivered prediction of the same version waits once
          for (const auto& w : list) dup |= w.version == pm.model_version;
          if (dup) continue;
          list.push_back({pm.model_version, pm.prediction, origin});
          hold(origin);
        }
      } else {
        Status d = codec.decode(m.value, RecordRole::kOutcome, rec);
        if (d.ok() && storable) d = storable(rec, RecordRole::kOutcome);  // its key is stored
        if (!d.ok()) {
          dlq.add(m, d.message());
          continue;
        }
        double actual = rec.number(ds.target_index());
        if (auto wp = waiting_predictions.find(rec.key); wp != waiting_predictions.end()) {
          for (const auto& w : wp->second) {
            join(rec.key, w.version, w.prediction, actual);
            release(w.origin);
          }
          waiting_predictions.erase(wp);
          recent_outcomes[rec.key] = {actual, now};
          recent_order.emplace_back(now, rec.key);
        } else if (!recent_outcomes.count(rec.key) && !waiting_outcomes.count(rec.key)) {
          waiting_outcomes[rec.key] = {actual, origin};
          hold(origin);
        }
      }
    }
    // Expire what waited too long.
    while (!recent_order.empty() && recent_order.front().first < now - settings_.join_ttl_ms) {
      auto it = recent_outcomes.find(recent_order.front().second);
      if (it != recent_outcomes.end() && it->second.second == recent_order.front().first)
        recent_outcomes.erase(it);
      recent_order.pop_front();
    }
    if (now - lag_checked > 1000) {
      // A prediction still waiting after a few seconds may have had its outcome read before a
      // restart (or dropped from the recent cache): the store holds every ingested outcome.
      int64_t looked_up = 0;
      for (auto it = waiting_predictions.begin();
           it != waiting_predictions.end() && looked_up < settings_.batch_size;) {
        if (it->second.front().origin.arrived_ms > now - settings_.store_lookup_after_ms ||
            !lookups.due(it->first, now)) {
          ++it;
          continue;
        }
        ++looked_up;
        auto stored = ctx_.store.get_record(ds, it->first);
        if (!stored.ok() || !stored->has_value() || !(*stored)->has(ds.target_index())) {
          lookups.missed(it->first, now);
          ++it;
          continue;
        }
        double actual = (*stored)->number(ds.target_index());
        for (const auto& w : it->second) {
          join(it->first, w.version, w.prediction, actual);
          release(w.origin);
        }
        // The outcome itself may still come by (a replay, or ingest behind evaluate): it joins
        // nothing new and must not wait join_ttl for a prediction.
        recent_outcomes[it->first] = {actual, now};
        recent_order.emplace_back(now, it->first);
        it = waiting_predictions.erase(it);
      }
      // Likewise an outcome still waiting may have had its predictions read before a restart
      // (or joined from the store, above, before the restart): the store holds every prediction.
      // Pairs already stored are not counted again.
      for (auto it = waiting_outcomes.begin();
           it != waiting_outcomes.end() && looked_up < settings_.batch_size;) {
        const auto& [actual, origin] = it->second;
        if (origin.arrived_ms > now - settings_.store_lookup_after_ms ||
            !lookups.due(it->first, now)) {
          ++it;
          continue;
        }
        ++looked_up;
        auto stored = ctx_.store.predictions_for(ds, it->first);
        if (!stored.ok() || stored->empty()) {
          lookups.missed(it->first, now);
          ++it;
          continue;
        }
        for (const auto& p : *stored) join(it->first, p.model_version, p.prediction, actual);
        release(origin);
        recent_outcomes[it->first] = {actual, now};
        recent_order.emplace_back(now, it->first);
        it = waiting_outcomes.erase(it);
      }
      int64_t expired = 0;
      for (auto it = waiting_predictions.begin(); it != waiting_predictions.end();) {
        auto& list = it->second;
        for (auto w = list.begin(); w != list.end();) {
          if (w->origin.arrived_ms < now - settings_.join_ttl_ms) {
            release(w->origin);
            w = list.erase(w);
            ++expired;
          } else {
            ++w;
          }
        }
        it = list.empty() ? waiting_predictions.erase(it) : std::next(it);
      }
      for (auto it = waiting_outcomes.begin(); it != waiting_outcomes.end();) {
        if (it->second.second.arrived_ms < now - settings_.join_ttl_ms) {
          release(it->second.second);
          it = waiting_outcomes.erase(it);
          ++expired;
        } else {
          ++it;
        }
      }
      // Keys joined (here or from the bus), expired or revoked need no schedule any more.
      lookups.keep_only([&](const std::string& key) {
        return waiting_predictions.count(key) > 0 || waiting_outcomes.count(key) > 0;
      });
      if (expired) {
        unjoined_.fetch_add(expired);
        log->warn("{}: {} predictions/outcomes found no match within {}s", ds.name(), expired,
                  settings_.join_ttl_ms / 1000);
      }
      stats_.lag = total_lag(*consumer, &stats_);
      lag_checked = now;
    }
    stats_.pending = int64_t(waiting_predictions.size() + waiting_outcomes.size());
    stats_.idle = polled.empty() && stats_.lag.load() == 0 && batch.evaluations.empty();

    if (!batch.evaluations.empty() || !polled.empty() || !dlq.empty() || released) {
      released = false;
      dlq.flush(*producer);
      Status c = commit();
      if (!c.ok()) {
        if (stopping) break;
        return c.with_context("evaluate commit");
      }
    }
    if (now - last_publish >= settings_.publish_interval_ms || stopping) {
      last_publish = now;
      publish_metrics(now);
      if (!batch.metrics.empty()) {
        Status c = commit();
        if (!c.ok() && !stopping) return c.with_context("evaluate commit");
      }
    }
    if (stopping) break;
  }
  if (Status f = producer->flush(10000); !f.ok()) log->warn("flush at stop: {}", f.to_string());
  bus_copy.maybe_send(*consumer, /*now=*/true);
  stats_.running = false;
  return Status();
}

}  // namespace flowcast::stages
