// flowcast::core: the public face of the core subsystem. Everything else depends on it; it depends
// on nothing of flowcast's own.
#pragma once

#include "core/config.h"
#include "core/config_error.h"
#include "core/config_node.h"
#include "core/crc32c.h"
#include "core/dataset_spec.h"
#include "core/json_codec.h"
#include "core/json_writer.h"
#include "core/log.h"
#include "core/record.h"
#include "core/status.h"
#include "core/time_util.h"
#include "core/csv_reader.h"
#include "core/backoff.h"
