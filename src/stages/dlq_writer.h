// DlqWriter: sends rejected input to the dataset's dead-letter topic with the reason and the
// original bytes, and counts it. The DLQ message is JSON:
//   {"stage":"ingest","reason":"field 'x': ...","topic":"new_trips","partition":0,"offset":42,
//    "key":"...","original":"<the bytes as a JSON string>"}
// ("original_base64" instead of "original" when the bytes are not valid UTF-8).
#pragma once

#include <string>
#include <vector>

#include "bus/bus.h"
#include "stages/stage_stats.h"

namespace flowcast::stages {

class DlqWriter {
 public:
  DlqWriter(std::string stage, std::string topic, StageStats& stats)
      : stage_(std::move(stage)), topic_(std::move(topic)), stats_(stats) {}
  void add(const bus::MessageView& m, const std::string& reason);
  bool empty() const { return values_.empty(); }
  // Produces what was added since the last flush. A failure is logged and counted, never fatal:
  // bad input must not stop the stream.
  void flush(bus::Producer& producer);

 private:
  std::string stage_, topic_;
  StageStats& stats_;
  std::vector<std::string> keys_, values_;
  int64_t logged_ = 0;
};

}  // namespace flowcast::stages
