#include "stages/dlq_writer.h"

#include "core/json_writer.h"
#include "core/utf8.h"
#include "core/log.h"

namespace flowcast::stages {
namespace {

std::string base64(std::string_view in) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    for (int k = 18; k >= 0; k -= 6) out.push_back(t[(v >> k) & 63]);
  }
  if (i < in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    if (i + 1 < in.size()) v |= uint8_t(in[i + 1]) << 8;
    out.push_back(t[(v >> 18) & 63]);
    out.push_back(t[(v >> 12) & 63]);
    out.push_back(i + 1 < in.size() ? t[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

}  // namespace

void DlqWriter::add(const bus::MessageView& m, const std::string& reason) {
  std::string v;
  JsonWriter w(v);
  w.begin_object();
  w.field("stage", stage_);
  w.field("reason", reason);
  w.field("topic", m.topic);
  w.field("partition", static_cast<int64_t>(m.partition));
  w.field("offset", m.offset);
  w.field("key", m.key);
  if (valid_utf8(m.value)) w.field("original", m.value);
  else w.field("original_base64", base64(m.value));
  w.end_object();
  keys_.emplace_back(m.key);
  values_.push_back(std::move(v));
  stats_.dlq.fetch_add(1, std::memory_order_relaxed);
  if (logged_ < 10 || logged_ % 10000 == 0)
    logger(stage_)->warn("rejected {}/{}@{} to {}: {}", m.topic, m.partition, m.offset, topic_, reason);
  ++logged_;
}

void DlqWriter::flush(bus::Producer& producer) {
  if (values_.empty()) return;
  std::vector<bus::OutMessage> msgs;
  for (size_t i = 0; i < values_.size(); ++i) msgs.push_back({keys_[i], values_[i]});
  Status s = producer.produce(topic_, msgs);
  if (!s.ok()) {
    stats_.set_error("dead-letter topic: " + s.to_string());
    logger(stage_)->error("could not write {} rejected records to {}: {}", values_.size(), topic_,
                          s.to_string());
  }
  keys_.clear();
  values_.clear();
}

}  // namespace flowcast::stages
