// EventSource: what the produce stage emits. Each event is a complete record; the produce stage
// decides from `kind` what goes on the bus: the request now and the outcome `outcome_delay_s`
// (event-time seconds, divided by the speed-up) later, or the whole record as an observation.
#pragma once

#include "core/record.h"

namespace flowcast::stages {

struct GeneratedEvent {
  enum class Kind { kRequestThenOutcome, kObservation, kRequestOnly };
  Kind kind = Kind::kRequestThenOutcome;
  Record record;
  double outcome_delay_s = 0;
};

class EventSource {
 public:
  virtual ~EventSource() = default;
  // Fills `out` with the next event; false when the source is exhausted.
  // `sim_time_us` is the producer's simulated clock, for sources that make up event times.
  virtual bool next(GeneratedEvent& out, int64_t sim_time_us) = 0;
  // Records that could not be read (a bad CSV row), already logged.
  virtual int64_t skipped() const { return 0; }
};

}  // namespace flowcast::stages
