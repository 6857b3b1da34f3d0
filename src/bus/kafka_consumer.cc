#include "bus/kafka_consumer.h"

#include <algorithm>
#include <cstring>

#include "bus/kafka_status.h"
#include "core/log.h"
#include "core/time_util.h"

namespace flowcast::bus {
namespace {

constexpr int kLagTimeoutMs = 2000;
constexpr int64_t kLagProducedWaitMs = 250;

std::vector<TopicPartition> to_vector(const rd_kafka_topic_partition_list_t* parts) {
  std::vector<TopicPartition> out;
  if (parts == nullptr) return out;
  out.reserve(size_t(parts->cnt));
  for (int i = 0; i < parts->cnt; ++i)
    out.push_back(TopicPartition{parts->elems[i].topic, parts->elems[i].partition});
  return out;
}

KafkaHandle<rd_kafka_topic_partition_list_t> to_list(const std::vector<TopicPartition>& tps,
                                                     int64_t offset) {
  KafkaHandle<rd_kafka_topic_partition_list_t> list(
      rd_kafka_topic_partition_list_new(int(std::max<size_t>(tps.size(), 1))));
  for (const auto& tp : tps)
    rd_kafka_topic_partition_list_add(list.get(), tp.topic.c_str(), tp.partition)->offset = offset;
  return list;
}

std::string name_of(const TopicPartition& tp) {
  return tp.topic + "/" + std::to_string(tp.partition);
}

}  // namespace

KafkaConsumer::KafkaConsumer(std::shared_ptr<KafkaAdmin> admin,
                             std::shared_ptr<KafkaProduceTracker> tracker, std::string group)
    : admin_(std::move(admin)), tracker_(std::move(tracker)), group_(std::move(group)) {}

Result<std::unique_ptr<KafkaConsumer>> KafkaConsumer::create(
    std::shared_ptr<KafkaAdmin> admin, std::shared_ptr<KafkaProduceTracker> tracker,
    const std::string& group) {
  if (group.empty()) return Status::invalid("a Kafka consumer needs a group name");
  std::unique_ptr<KafkaConsumer> c(new KafkaConsumer(std::move(admin), std::move(tracker), group));
  KafkaConsumer* self = c.get();
  KafkaClient::Handlers handlers;
  handlers.rebalance = [self](rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts) {
    self->on_rebalance(err, parts);
  };
  handlers.offset_commit = [self](rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* o) {
    self->on_commit(err, o);
  };
  FC_ASSIGN_OR_RETURN(c->client_,
                      KafkaClient::create(self->admin_->options(), KafkaRole::kConsumer,
                                          "consumer " + group, group, std::move(handlers)));
  // Errors, commit results and rebalances are served by rd_kafka_consumer_poll().
  rd_kafka_poll_set_consumer(c->client_->get());
  return c;
}

KafkaConsumer::~KafkaConsumer() {
  if (!client_ || client_->get() == nullptr) return;
  closing_ = true;
  held_.clear();
  rd_kafka_t* rk = client_->get();
  // Leave the group (pending commits go first), bounded: with the coordinator unreachable a close
  // could otherwise wait for librdkafka's own timeouts.
  bool closed = false;
  {
    KafkaHandle<rd_kafka_queue_t> q(rd_kafka_queue_new(rk));
    KafkaHandle<rd_kafka_error_t> e(rd_kafka_consumer_close_queue(rk, q.get()));
    if (e) {
      logger("bus.kafka")->warn("{}: close: {}", client_->name(), rd_kafka_error_string(e.get()));
    } else {
      const int64_t deadline = mono_nanos() + admin_->options().close_timeout_ms * 1000000;
      while (!(closed = rd_kafka_consumer_closed(rk)) && mono_nanos() < deadline) {
        // The revocation comes back as an event; on_rebalance skips the listener when closing.
        KafkaHandle<rd_kafka_event_t> ev(rd_kafka_queue_poll(q.get(), 100));
        if (ev && rd_kafka_event_type(ev.get()) == RD_KAFKA_EVENT_REBALANCE) {
          on_rebalance(rd_kafka_event_error(ev.get()),
                       rd_kafka_event_topic_partition_list(ev.get()));
        }
      }
    }
  }
  if (!closed) {
    logger("bus.kafka")
        ->warn(
            "{}: did not leave its group within {} ms; the group will notice "
            "after session.timeout.ms",
            client_->name(), admin_->options().close_timeout_ms);
    client_->destroy(RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
  }
  client_.reset();
}

bool KafkaConsumer::announcing(const TopicPartition& tp) const {
  return std::find(announcing_.begin(), announcing_.end(), tp) != announcing_.end();
}

void KafkaConsumer::on_rebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts) {
  rd_kafka_t* rk = client_->get();
  const bool cooperative = std::strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    assign(parts, cooperative);
  } else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
    revoke(parts, cooperative);
  } else {
    // librdkafka asks the application to drop its assignment on other errors.
    logger("bus.kafka")->warn("{}: rebalance error: {}", client_->name(), rd_kafka_err2str(err));
    rebalance_error_ = kafka_status(err, client_->name() + ": rebalance");
    auto all = assignment_;
    auto list = to_list(all, RD_KAFKA_OFFSET_INVALID);
    revoke(list.get(), cooperative);
  }
}

void KafkaConsumer::assign(rd_kafka_topic_partition_list_t* parts, bool cooperative) {
  const std::vector<TopicPartition> tps = to_vector(parts);
  pending_seeks_.clear();
  if (!closing_ && listener_.on_assigned && !tps.empty()) {
    announcing_ = tps;
    try {
      listener_.on_assigned(tps);
    } catch (...) {
      if (!listener_error_) listener_error_ = std::current_exception();
    }
    announcing_.clear();
  }
  for (int i = 0; i < parts->cnt; ++i) {
    auto it = pending_seeks_.find(TopicPartition{parts->elems[i].topic, parts->elems[i].partition});
    parts->elems[i].offset = it != pending_seeks_.end() ? it->second : RD_KAFKA_OFFSET_INVALID;
  }
  KafkaHandle<rd_kafka_error_t> error;
  if (cooperative) {
    error.reset(rd_kafka_incremental_assign(client_->get(), parts));
  } else if (rd_kafka_resp_err_t e = rd_kafka_assign(client_->get(), parts);
             e != RD_KAFKA_RESP_ERR_NO_ERROR) {
    rebalance_error_ = kafka_status(e, client_->name() + ": assign");
  }
  if (error) {
    rebalance_error_ =
        Status::internal(client_->name() + ": assign: " + rd_kafka_error_string(error.get()));
    logger("bus.kafka")->error("{}", rebalance_error_.message());
  }
  if (!cooperative) {
    assignment_.clear();
    positions_.clear();
  }
  for (const auto& tp : tps) {
    auto it = pending_seeks_.find(tp);
    positions_[tp] = it != pending_seeks_.end() ? it->second : -1;
    assignment_.push_back(tp);
  }
  std::sort(assignment_.begin(), assignment_.end());
  assignment_.erase(std::unique(assignment_.begin(), assignment_.end()), assignment_.end());
  pending_seeks_.clear();
  logger("bus.kafka")
      ->debug("{}: assigned {} partitions, {} in all", client_->name(), tps.size(),
              assignment_.size());
}

void KafkaConsumer::revoke(rd_kafka_topic_partition_list_t* parts, bool cooperative) {
  const std::vector<TopicPartition> tps = to_vector(parts);
  const bool lost = rd_kafka_assignment_lost(client_->get());
  if (lost) {
    logger("bus.kafka")
        ->warn(
            "{}: {} partitions lost (session timed out?); another member may "
            "already own them",
            client_->name(), tps.size());
  }
  if (!closing_ && listener_.on_revoked && !tps.empty()) {
    try {
      listener_.on_revoked(tps);
    } catch (...) {
      if (!listener_error_) listener_error_ = std::current_exception();
    }
  }
  // What this poll fetched from them and has not returned belongs to the next owner.
  std::erase_if(held_, [&](const KafkaHandle<rd_kafka_message_t>& m) {
    TopicPartition tp{rd_kafka_topic_name(m->rkt), m->partition};
    return std::find(tps.begin(), tps.end(), tp) != tps.end();
  });
  if (cooperative) {
    KafkaHandle<rd_kafka_error_t> error(rd_kafka_incremental_unassign(client_->get(), parts));
    if (error)
      logger("bus.kafka")
          ->error("{}: unassign: {}", client_->name(), rd_kafka_error_string(error.get()));
  } else {
    rd_kafka_assign(client_->get(), nullptr);
  }
  for (const auto& tp : tps) {
    std::erase(assignment_, tp);
    positions_.erase(tp);
  }
  if (!cooperative) {
    assignment_.clear();
    positions_.clear();
  }
  logger("bus.kafka")
      ->debug("{}: revoked {} partitions, {} left", client_->name(), tps.size(),
              assignment_.size());
}

void KafkaConsumer::on_commit(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* offsets) {
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR__NO_OFFSET) {
    for (int i = 0; offsets && i < offsets->cnt; ++i) {
      if (offsets->elems[i].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        err = offsets->elems[i].err;
        break;
      }
    }
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR__NO_OFFSET) return;
  }
  // The store holds the truth: a failed Kafka commit only delays what lag tools show.
  logger("bus.kafka")
      ->info("{}: offset commit failed (the store's offsets are unaffected): {}", client_->name(),
             rd_kafka_err2str(err));
}

Status KafkaConsumer::subscribe(const std::vector<std::string>& topics,
                                RebalanceListener listener) {
  if (topics.empty()) return Status::invalid("subscribe: no topics");
  for (const auto& t : topics) FC_RETURN_IF_ERROR(admin_->ensure_exists(t));
  listener_ = std::move(listener);
  KafkaHandle<rd_kafka_topic_partition_list_t> list(
      rd_kafka_topic_partition_list_new(int(topics.size())));
  for (const auto& t : topics)
    rd_kafka_topic_partition_list_add(list.get(), t.c_str(), RD_KAFKA_PARTITION_UA);
  return kafka_status(rd_kafka_subscribe(client_->get(), list.get()),
                      client_->name() + ": subscribe");
}

Status KafkaConsumer::poll(MessageBatch& out, size_t max_messages, int64_t timeout_ms) {
  out.clear();
  if (std::string f = client_->fatal_error(); !f.empty())
    return Status::internal(client_->name() + " cannot consume any more: " + f);
  if (max_messages == 0) return Status();
  rd_kafka_t* rk = client_->get();
  const int64_t deadline = mono_nanos() + std::max<int64_t>(timeout_ms, 0) * 1000000;
  Status message_error;
  held_.clear();
  while (held_.size() < max_messages) {
    int64_t wait_ms = 0;
    if (held_.empty()) wait_ms = std::max<int64_t>(0, (deadline - mono_nanos() + 999999) / 1000000);
    rd_kafka_message_t* raw = rd_kafka_consumer_poll(rk, int(std::min<int64_t>(wait_ms, 1000)));
    if (listener_error_) {
      std::exception_ptr e = listener_error_;
      listener_error_ = nullptr;
      if (raw) rd_kafka_message_destroy(raw);
      held_.clear();
      std::rethrow_exception(e);
    }
    if (raw == nullptr) {
      if (held_.empty() && mono_nanos() < deadline && message_error.ok()) continue;
      break;
    }
    KafkaHandle<rd_kafka_message_t> m(raw);
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) continue;
      std::string where =
          m->rkt ? std::string(rd_kafka_topic_name(m->rkt)) + "/" + std::to_string(m->partition)
                 : std::string("group ") + group_;
      Status e =
          kafka_status(m->err, client_->name() + ": " + where, rd_kafka_message_errstr(m.get()));
      if (m->err == RD_KAFKA_RESP_ERR__FATAL) e = Status::internal(e.message());
      logger("bus.kafka")->warn("{}", e.message());
      // librdkafka retries what a retry can cure (a fetch that timed out, a leader that moved):
      // logged only. The rest (authorization, a deleted topic) is the caller's to see.
      if (is_transient(e)) continue;
      message_error = e;
      if (!held_.empty()) break;
      continue;
    }
    held_.push_back(std::move(m));
  }
  for (const auto& m : held_) {
    rd_kafka_timestamp_type_t type;
    int64_t ts = rd_kafka_message_timestamp(m.get(), &type);
    out.add(rd_kafka_topic_name(m->rkt), m->partition, m->offset, ts < 0 ? 0 : ts,
            std::string_view(static_cast<const char*>(m->key), m->key ? m->key_len : 0),
            std::string_view(static_cast<const char*>(m->payload), m->payload ? m->len : 0));
  }
  // Positions: the last message of each partition (batches are in offset order per partition).
  const char* last_topic = nullptr;
  int32_t last_partition = -1;
  for (size_t i = held_.size(); i-- > 0;) {
    const rd_kafka_message_t* m = held_[i].get();
    const char* topic = rd_kafka_topic_name(m->rkt);
    if (topic == last_topic && m->partition == last_partition) continue;
    last_topic = topic;
    last_partition = m->partition;
    auto it = positions_.find(TopicPartition{topic, m->partition});
    if (it != positions_.end() && it->second <= m->offset) it->second = m->offset + 1;
  }
  held_.clear();
  if (!out.empty()) return Status();
  if (!rebalance_error_.ok()) return std::exchange(rebalance_error_, Status());
  if (!message_error.ok()) return message_error;
  auto errors = client_->take_errors();
  if (!errors.empty()) return errors.back();
  return Status();
}

Status KafkaConsumer::seek(const TopicPartition& tp, int64_t offset) {
  if (offset < 0) return Status::invalid("seek: negative offset " + std::to_string(offset));
  if (announcing(tp)) {
    pending_seeks_[tp] = offset;  // applied by the assignment that follows on_assigned
    return Status();
  }
  if (!std::binary_search(assignment_.begin(), assignment_.end(), tp))
    return Status::invalid("seek: " + name_of(tp) + " is not assigned to this consumer");
  auto list = to_list({tp}, offset);
  KafkaHandle<rd_kafka_error_t> error(rd_kafka_seek_partitions(
      client_->get(), list.get(), int(admin_->options().admin_timeout_ms)));
  if (error)
    return Status::unavailable(client_->name() + ": seek " + name_of(tp) + ": " +
                               rd_kafka_error_string(error.get()));
  if (list->elems[0].err != RD_KAFKA_RESP_ERR_NO_ERROR)
    return kafka_status(list->elems[0].err, client_->name() + ": seek " + name_of(tp));
  positions_[tp] = offset;
  return Status();
}

Status KafkaConsumer::commit(const std::vector<PartitionOffset>& offsets) {
  if (offsets.empty()) return Status();
  KafkaHandle<rd_kafka_topic_partition_list_t> list(
      rd_kafka_topic_partition_list_new(int(offsets.size())));
  for (const auto& o : offsets) {
    if (o.offset < 0) return Status::invalid("commit: negative offset for " + name_of(o.tp));
    rd_kafka_topic_partition_list_add(list.get(), o.tp.topic.c_str(), o.tp.partition)->offset =
        o.offset;
  }
  return kafka_status(rd_kafka_commit(client_->get(), list.get(), 1), client_->name() + ": commit");
}

std::vector<TopicPartition> KafkaConsumer::assignment() const { return assignment_; }

std::vector<PartitionLag> KafkaConsumer::lag() {
  std::vector<PartitionLag> out;
  if (assignment_.empty()) return out;
  rd_kafka_t* rk = client_->get();
  tracker_->wait_for_enqueued(kLagProducedWaitMs);

  // Positions not known yet (assigned without a seek, nothing returned): the committed offset.
  std::vector<TopicPartition> unknown;
  for (const auto& tp : assignment_)
    if (positions_[tp] < 0) unknown.push_back(tp);
  if (!unknown.empty()) {
    auto list = to_list(unknown, RD_KAFKA_OFFSET_INVALID);
    if (rd_kafka_committed(rk, list.get(), kLagTimeoutMs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      for (int i = 0; i < list->cnt; ++i) {
        const auto& e = list->elems[i];
        if (e.err == RD_KAFKA_RESP_ERR_NO_ERROR && e.offset >= 0)
          positions_[TopicPartition{e.topic, e.partition}] = e.offset;
      }
    }
  }
  // End offsets: one ListOffsets(LATEST) round for all partitions.
  auto ends = to_list(assignment_, RD_KAFKA_OFFSET_END);
  const bool listed =
      rd_kafka_offsets_for_times(rk, ends.get(), kLagTimeoutMs) == RD_KAFKA_RESP_ERR_NO_ERROR;
  const bool from_end = [&] {
    std::string reset =
        kafka_property(admin_->options(), KafkaRole::kConsumer, "auto.offset.reset");
    return reset == "latest" || reset == "largest" || reset == "end";
  }();
  for (int i = 0; i < ends->cnt; ++i) {
    const auto& e = ends->elems[i];
    TopicPartition tp{e.topic, e.partition};
    int64_t lo = -1, hi = -1;
    if (listed && e.err == RD_KAFKA_RESP_ERR_NO_ERROR && e.offset >= 0) {
      hi = e.offset;
    } else {
      rd_kafka_get_watermark_offsets(rk, e.topic, e.partition, &lo, &hi);
    }
    int64_t& known = positions_[tp];
    int64_t pos = known;
    if (pos < 0) {
      // Nothing committed either: the consumer starts where auto.offset.reset says (remembered,
      // so this costs a round trip once per assignment).
      int64_t qlo = -1, qhi = -1;
      if (from_end) {
        pos = known = hi;
      } else if (rd_kafka_query_watermark_offsets(rk, e.topic, e.partition, &qlo, &qhi,
                                                  kLagTimeoutMs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        pos = known = qlo;
      }
    }
    if (hi < 0) hi = std::max<int64_t>(pos, 0);
    out.push_back(PartitionLag{tp, std::max<int64_t>(pos, 0), hi});
  }
  return out;
}

}  // namespace flowcast::bus
