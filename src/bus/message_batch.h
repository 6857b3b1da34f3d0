// MessageBatch: messages returned by one Consumer::poll(), held in one contiguous buffer so a poll
// of thousands of messages costs a few allocations, not thousands. Reused across polls.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace flowcast::bus {

struct MessageView {
  std::string_view topic;
  int32_t partition;
  int64_t offset;
  int64_t timestamp_ms;
  std::string_view key;
  std::string_view value;
};

class MessageBatch {
 public:
  void clear() {
    data_.clear();
    entries_.clear();
  }
  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  // Total bytes of keys and values.
  size_t bytes() const { return data_.size(); }

  void add(std::string_view topic, int32_t partition, int64_t offset, int64_t timestamp_ms,
           std::string_view key, std::string_view value) {
    Entry e;
    e.topic = intern(topic);
    e.partition = partition;
    e.offset = offset;
    e.timestamp_ms = timestamp_ms;
    e.key_pos = data_.size();
    e.key_len = static_cast<uint32_t>(key.size());
    data_.append(key);
    e.value_pos = data_.size();
    e.value_len = static_cast<uint32_t>(value.size());
    data_.append(value);
    entries_.push_back(e);
  }

  MessageView operator[](size_t i) const {
    const Entry& e = entries_[i];
    return MessageView{topics_[e.topic],
                       e.partition,
                       e.offset,
                       e.timestamp_ms,
                       std::string_view(data_).substr(e.key_pos, e.key_len),
                       std::string_view(data_).substr(e.value_pos, e.value_len)};
  }

 private:
  struct Entry {
    uint32_t topic;
    int32_t partition;
    int64_t offset;
    int64_t timestamp_ms;
    size_t key_pos;
    size_t value_pos;
    uint32_t key_len;
    uint32_t value_len;
  };
  uint32_t intern(std::string_view topic) {
    for (size_t i = 0; i < topics_.size(); ++i)
      if (topics_[i] == topic) return static_cast<uint32_t>(i);
    topics_.emplace_back(topic);
    return static_cast<uint32_t>(topics_.size() - 1);
  }
  std::string data_;
  std::vector<Entry> entries_;
  std::vector<std::string> topics_;
};

}  // namespace flowcast::bus
