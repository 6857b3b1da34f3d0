// The Kafka bus through librdkafka's mock cluster (3 brokers in this process, topics of 6
// partitions), shaped like the predict stage: requests (taxi-sized JSON, ~230 bytes, keyed by id)
// are consumed in batches of up to 2000; each batch is answered by one ~150-byte prediction per
// request produced to a second topic, flushed (acknowledged, acks=all), and its offsets committed
// to Kafka. Model scoring and the store are left out: this measures the bus.
//
//   BM_KafkaPredictThroughput  a producer thread writes requests as fast as it may (at most
//                              50,000 ahead of the predictor, so the mock's 5 MiB-per-partition
//                              retention never drops an unread request); items/s = requests
//                              answered per second. Each iteration answers 200,000 requests.
//   BM_KafkaPredictLatency     requests written at a steady 5,000/s; latency from the request's
//                              produce() call to the flush that acknowledged its prediction
//                              (p50_ms, p99_ms, max_ms over 10 s = 50,000 requests per iteration).
//
//   kafka_bench --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
//
// Client settings are flowcast's defaults (idempotent producer, acks=all, lz4, linger.ms=5,
// cooperative-sticky, bounded prefetch) plus fetch.wait.max.ms=10, which the mock needs for low
// latency (it holds an empty fetch for fetch.wait.max.ms even when data arrives meanwhile).
// Knobs for experiments: FLOWCAST_BENCH_KAFKA="property=value,..." adds librdkafka properties;
// FLOWCAST_BENCH_LOG=debug shows flowcast's and librdkafka's logs (with debug=... in the former).
#include <benchmark/benchmark.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "bus/kafka_bus.h"
#include "core/log.h"
#include "core/time_util.h"

namespace flowcast::bus {
namespace {

constexpr int kPartitions = 6;
constexpr size_t kBatch = 2000;

// The mock cluster, its host handle, and a KafkaBus on it; one per benchmark run.
class MockKafka {
 public:
  MockKafka() {
    char err[256];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "0", err, sizeof err);
    rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    mock_ = rd_kafka_mock_cluster_new(rk_, 3);
    KafkaOptions o;
    o.properties = {{"fetch.wait.max.ms", "10"},
                    {"session.timeout.ms", "6000"},
                    {"heartbeat.interval.ms", "1000"}};
    // Extra librdkafka properties for experiments: FLOWCAST_BENCH_KAFKA="k=v,k=v".
    if (const char* extra = std::getenv("FLOWCAST_BENCH_KAFKA")) {
      std::string all = extra;
      for (size_t pos = 0; pos < all.size();) {
        size_t end = all.find(',', pos);
        if (end == std::string::npos) end = all.size();
        std::string kv = all.substr(pos, end - pos);
        if (auto eq = kv.find('='); eq != std::string::npos)
          o.properties.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
        pos = end + 1;
      }
    }
    rd_kafka_mock_cluster_t* m = mock_;
    o.create_topic = [m](const std::string& topic, const TopicSettings& s) {
      rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(m, topic.c_str(), s.partitions, 3);
      for (int p = 0; p < s.partitions; ++p)
        rd_kafka_mock_partition_set_leader(m, topic.c_str(), p, p % 3 + 1);
      return e == RD_KAFKA_RESP_ERR_NO_ERROR ? Status() : Status::internal(rd_kafka_err2str(e));
    };
    auto bus = KafkaBus::open(std::string("kafka://") + rd_kafka_mock_cluster_bootstraps(mock_), o);
    if (!bus.ok()) {
      std::fprintf(stderr, "kafka_bench: %s\n", bus.status().to_string().c_str());
      std::abort();
    }
    bus_ = std::move(bus).value();
    for (const char* t : {"requests", "predictions"})
      if (!bus_->ensure_topic(t, TopicSettings{kPartitions}).ok()) std::abort();
  }
  ~MockKafka() {
    bus_.reset();
    rd_kafka_mock_cluster_destroy(mock_);
    rd_kafka_destroy(rk_);
  }
  Bus& bus() { return *bus_; }

 private:
  rd_kafka_t* rk_ = nullptr;
  rd_kafka_mock_cluster_t* mock_ = nullptr;
  std::unique_ptr<Bus> bus_;
};

std::string request_json(int64_t i, int64_t sent_ns) {
  char buf[320];
  int n =
      std::snprintf(buf, sizeof buf,
                    "{\"id\":\"id%010lld\",\"vendor_id\":2,\"pickup_datetime\":\"2016-03-14 "
                    "17:24:55\",\"passenger_count\":1,\"pickup_longitude\":-73.982155,"
                    "\"pickup_latitude\":40.767937,\"dropoff_longitude\":-73.964630,"
                    "\"dropoff_latitude\":40.765602,\"store_and_fwd_flag\":\"N\",\"sent_ns\":%lld}",
                    (long long)i, (long long)sent_ns);
  return std::string(buf, size_t(n));
}

int64_t sent_ns_of(std::string_view v) {
  auto pos = v.rfind("\"sent_ns\":");
  return pos == std::string_view::npos ? 0 : std::atoll(std::string(v.substr(pos + 10)).c_str());
}

// Writes requests [first, last) in batches of 500, keeping at most `ahead` unanswered (or at
// `rate` per second when rate > 0).
void write_requests(Producer& p, int64_t first, int64_t last, const std::atomic<int64_t>& answered,
                    int64_t ahead, double rate) {
  std::vector<std::string> keys, values;
  std::vector<OutMessage> out;
  const int64_t start = mono_nanos();
  const size_t chunk = rate > 0 ? 5 : 500;
  for (int64_t i = first; i < last;) {
    if (rate > 0) {
      int64_t due = first + int64_t(double(mono_nanos() - start) / 1e9 * rate);
      if (i >= due) {
        std::this_thread::sleep_for(std::chrono::microseconds(200));
        continue;
      }
    } else if (i - answered.load() > ahead) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
      continue;
    }
    keys.clear();
    values.clear();
    out.clear();
    for (size_t j = 0; j < chunk && i < last; ++j, ++i) {
      char key[24];
      std::snprintf(key, sizeof key, "id%010lld", (long long)i);
      keys.emplace_back(key);
      values.push_back(request_json(i, mono_nanos()));
    }
    for (size_t j = 0; j < keys.size(); ++j) out.push_back(OutMessage{keys[j], values[j]});
    if (!p.produce("requests", out).ok()) std::abort();
  }
  if (!p.flush(30000).ok()) std::abort();
}

// The predict-like loop: answers `count` requests. Latencies (ns) are appended when given.
void answer(Consumer& c, Producer& p, int64_t count, std::atomic<int64_t>& answered,
            std::vector<int64_t>* latencies) {
  MessageBatch batch;
  std::vector<std::string> values;
  std::vector<OutMessage> out;
  std::vector<PartitionOffset> offsets;
  const int64_t target = answered.load() + count;
  while (answered.load() < target) {
    if (!c.poll(batch, kBatch, 100).ok() || batch.empty()) continue;
    values.resize(batch.size());
    out.clear();
    offsets.clear();
    for (size_t i = 0; i < batch.size(); ++i) {
      MessageView m = batch[i];
      values[i] = "{\"dataset\":\"taxi\",\"key\":\"" + std::string(m.key) +
                  "\",\"model_version\":3,\"prediction\":612.4,\"event_time\":\"2016-03-14T17:24:"
                  "55Z\",\"predicted_at_ms\":1763762400000}";
      out.push_back(OutMessage{m.key, values[i]});
      bool found = false;
      for (auto& o : offsets) {
        if (o.tp.partition == m.partition) {
          o.offset = m.offset + 1;
          found = true;
        }
      }
      if (!found) offsets.push_back({{std::string(m.topic), m.partition}, m.offset + 1});
    }
    if (!p.produce("predictions", out).ok()) std::abort();
    if (!p.flush(30000).ok()) std::abort();
    (void)c.commit(offsets);
    if (latencies) {
      const int64_t now = mono_nanos();
      for (size_t i = 0; i < batch.size(); ++i)
        latencies->push_back(now - sent_ns_of(batch[i].value));
    }
    answered.fetch_add(int64_t(batch.size()));
  }
}

struct Pipeline {
  MockKafka kafka;
  std::unique_ptr<Producer> request_writer, prediction_writer;
  std::unique_ptr<Consumer> consumer;
  std::atomic<int64_t> answered{0};
  int64_t next_request = 0;

  Pipeline() {
    request_writer = std::move(kafka.bus().producer()).value();
    prediction_writer = std::move(kafka.bus().producer()).value();
    consumer = std::move(kafka.bus().consumer("predict")).value();
    if (!consumer->subscribe({"requests"}, {}).ok()) std::abort();
    // Warm-up outside the measurement: the group forms (the mock waits 3 s for a new group),
    // connections and producer ids are set up.
    run(2000, 0, nullptr);
  }
  void run(int64_t n, double rate, std::vector<int64_t>* latencies) {
    std::thread writer([&, first = next_request] {
      write_requests(*request_writer, first, first + n, answered, 50000, rate);
    });
    answer(*consumer, *prediction_writer, n, answered, latencies);
    writer.join();
    next_request += n;
  }
};

void BM_KafkaPredictThroughput(benchmark::State& state) {
  init_logging(std::getenv("FLOWCAST_BENCH_LOG") ? std::getenv("FLOWCAST_BENCH_LOG") : "warn");
  Pipeline pipeline;
  const int64_t n = 200000;
  for (auto _ : state) pipeline.run(n, 0, nullptr);
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_KafkaPredictThroughput)->Unit(benchmark::kMillisecond)->Iterations(3)->UseRealTime();

void BM_KafkaPredictLatency(benchmark::State& state) {
  init_logging(std::getenv("FLOWCAST_BENCH_LOG") ? std::getenv("FLOWCAST_BENCH_LOG") : "warn");
  Pipeline pipeline;
  const double rate = 5000;
  std::vector<int64_t> lat;
  for (auto _ : state) {
    lat.clear();
    pipeline.run(int64_t(rate * 10), rate, &lat);
  }
  std::sort(lat.begin(), lat.end());
  auto at = [&](double q) {
    return lat.empty() ? 0.0 : double(lat[size_t(q * double(lat.size() - 1))]) / 1e6;
  };
  state.counters["p50_ms"] = at(0.50);
  state.counters["p99_ms"] = at(0.99);
  state.counters["max_ms"] = at(1.0);
  state.SetItemsProcessed(state.iterations() * int64_t(rate * 10));
}
BENCHMARK(BM_KafkaPredictLatency)->Unit(benchmark::kMillisecond)->Iterations(1)->UseRealTime();

}  // namespace
}  // namespace flowcast::bus

BENCHMARK_MAIN();
