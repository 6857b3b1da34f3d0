// kafka_status(): a librdkafka error code as a flowcast Status. Errors a retry can cure (broker
// down or moving, timeouts, not enough replicas in sync, coordinator loading) become unavailable
// or timeout, which is_transient() retries; an unknown topic or partition is not_found; the rest
// (authorization, invalid requests, records too large) are invalid, which stages do not retry.
#pragma once

#include <librdkafka/rdkafka.h>

#include <string>

#include "core/status.h"

namespace flowcast::bus {

// "<context>: <librdkafka's name of err>: <detail or librdkafka's description>".
Status kafka_status(rd_kafka_resp_err_t err, const std::string& context,
                    const std::string& detail = "");

}  // namespace flowcast::bus
