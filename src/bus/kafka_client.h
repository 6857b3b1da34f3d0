// KafkaClient: one rd_kafka_t (producer, consumer or admin handle) built from KafkaOptions, with
// flowcast's callbacks attached:
//   - librdkafka's log lines go to the spdlog logger "bus.kafka" (syslog levels 0-3 error,
//     4 warn, 5 info, 6-7 debug), on whatever librdkafka thread logs them;
//   - error events (broker down, all brokers down, authentication, fatal) are logged, counted and
//     queued for the owner to report (take_errors());
//   - the owner's delivery, rebalance and offset-commit handlers, if given.
// Every callback catches every exception: none may unwind through librdkafka's C frames or cross
// a thread. Error, delivery and commit callbacks run on the thread that polls the handle;
// rebalance callbacks inside rd_kafka_consumer_poll().
//
// Lifetime: the handle is destroyed by the destructor. A consumer must be closed by its owner
// first (rd_kafka_consumer_close), a producer's poll thread stopped.
// Thread-safety: get() and the error accessors are thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "bus/kafka_handle.h"
#include "bus/kafka_options.h"
#include "core/status.h"

namespace flowcast::bus {

class KafkaClient {
 public:
  struct Handlers {
    std::function<void(const rd_kafka_message_t&)> delivery;
    std::function<void(rd_kafka_resp_err_t, rd_kafka_topic_partition_list_t*)> rebalance;
    std::function<void(rd_kafka_resp_err_t, rd_kafka_topic_partition_list_t*)> offset_commit;
  };

  // `what` names the client in logs and errors ("producer", "consumer flowcast.predict.taxi").
  // Returns invalid when librdkafka refuses the configuration.
  static Result<std::unique_ptr<KafkaClient>> create(const KafkaOptions& options, KafkaRole role,
                                                     const std::string& what,
                                                     const std::string& group = "",
                                                     Handlers handlers = {});
  ~KafkaClient();
  KafkaClient(const KafkaClient&) = delete;
  KafkaClient& operator=(const KafkaClient&) = delete;

  rd_kafka_t* get() const { return rk_.get(); }
  // "kafka://host:port,... producer": for messages.
  const std::string& name() const { return name_; }

  // Error events since the last call, oldest first (at most 32 are kept).
  std::vector<Status> take_errors();
  // The last error event's text ("_TRANSPORT: 127.0.0.1:9092/1: Connect to ... failed"), "" if
  // none yet.
  std::string last_error() const;
  int64_t error_count() const { return error_count_.load(); }
  // librdkafka's fatal error ("" while none): the handle cannot be used any more.
  std::string fatal_error() const;

  // Destroys the handle now with rd_kafka_destroy_flags (a consumer whose close timed out:
  // RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE). get() is null afterwards.
  void destroy(int flags);

 private:
  KafkaClient() = default;
  static void on_log(const rd_kafka_t* rk, int level, const char* fac, const char* buf);
  static void on_error(rd_kafka_t* rk, int err, const char* reason, void* opaque);
  static void on_delivery(rd_kafka_t* rk, const rd_kafka_message_t* m, void* opaque);
  static void on_rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                           rd_kafka_topic_partition_list_t* parts, void* opaque);
  static void on_commit(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                        rd_kafka_topic_partition_list_t* offsets, void* opaque);

  std::string name_;
  Handlers handlers_;
  KafkaHandle<rd_kafka_t> rk_;
  mutable std::mutex mu_;
  std::deque<Status> errors_;  // guarded by mu_
  std::string last_error_;     // guarded by mu_
  std::atomic<int64_t> error_count_{0};
  std::atomic<bool> fatal_{false};
};

}  // namespace flowcast::bus
