// KafkaHandle<T>: a std::unique_ptr that frees a librdkafka C object with the right function, so
// no handle leaks on an error path. One deleter per librdkafka type:
//
//   KafkaHandle<rd_kafka_conf_t>                  rd_kafka_conf_destroy
//   KafkaHandle<rd_kafka_t>                       rd_kafka_destroy (a consumer must have been
//                                                 closed first: KafkaConsumer does it)
//   KafkaHandle<rd_kafka_topic_t>                 rd_kafka_topic_destroy
//   KafkaHandle<rd_kafka_topic_partition_list_t>  rd_kafka_topic_partition_list_destroy
//   KafkaHandle<rd_kafka_message_t>               rd_kafka_message_destroy
//   KafkaHandle<rd_kafka_queue_t>                 rd_kafka_queue_destroy
//   KafkaHandle<rd_kafka_event_t>                 rd_kafka_event_destroy (admin results)
//   KafkaHandle<rd_kafka_error_t>                 rd_kafka_error_destroy
//   KafkaHandle<rd_kafka_NewTopic_t>              rd_kafka_NewTopic_destroy
//   KafkaHandle<rd_kafka_ConfigResource_t>        rd_kafka_ConfigResource_destroy
//   KafkaHandle<rd_kafka_AdminOptions_t>          rd_kafka_AdminOptions_destroy
//   KafkaHandle<const rd_kafka_metadata_t>        rd_kafka_metadata_destroy
//
// Thread-safety: as the librdkafka object it holds.
#pragma once

#include <librdkafka/rdkafka.h>

#include <memory>

namespace flowcast::bus {

template <typename T>
struct KafkaFree;

#define FLOWCAST_KAFKA_FREE(T, fn)                  \
  template <>                                       \
  struct KafkaFree<T> {                             \
    void operator()(T* p) const noexcept { fn(p); } \
  }

FLOWCAST_KAFKA_FREE(rd_kafka_conf_t, rd_kafka_conf_destroy);
FLOWCAST_KAFKA_FREE(rd_kafka_t, rd_kafka_destroy);
FLOWCAST_KAFKA_FREE(rd_kafka_topic_t, rd_kafka_topic_destroy);
FLOWCAST_KAFKA_FREE(rd_kafka_topic_partition_list_t, rd_kafka_topic_partition_list_destroy);
FLOWCAST_KAFKA_FREE(rd_kafka_message_t, rd_kafka_message_destroy);
FLOWCAST_KAFKA_FREE(rd_kafka_queue_t, rd_kafka_queue_destroy);
FLOWCAST_KAFKA_FREE(rd_kafka_event_t, rd_kafka_event_destroy);
FLOWCAST_KAFKA_FREE(rd_kafka_error_t, rd_kafka_error_destroy);
FLOWCAST_KAFKA_FREE(rd_kafka_NewTopic_t, rd_kafka_NewTopic_destroy);
FLOWCAST_KAFKA_FREE(rd_kafka_ConfigResource_t, rd_kafka_ConfigResource_destroy);
FLOWCAST_KAFKA_FREE(rd_kafka_AdminOptions_t, rd_kafka_AdminOptions_destroy);
FLOWCAST_KAFKA_FREE(const rd_kafka_metadata_t, rd_kafka_metadata_destroy);

#undef FLOWCAST_KAFKA_FREE

template <typename T>
using KafkaHandle = std::unique_ptr<T, KafkaFree<T>>;

}  // namespace flowcast::bus
