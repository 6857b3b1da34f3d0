// The one place that wires concrete backends to URLs: bus URLs (local:PATH) and store URLs
// (sqlite:PATH). Everything else sees only the Bus and Store interfaces.
#pragma once

#include <memory>

#include "bus/bus.h"
#include "core/config.h"
#include "store/store.h"

namespace flowcast::cli {

// Parse errors in the URL or its options throw ConfigError; a backend that cannot be opened
// returns its Status (the URL in it has no password).
Result<std::unique_ptr<bus::Bus>> open_bus(const Config& config);
// kExisting (read-only commands such as status): an SQLite file that does not exist is
// kNotFound, not created with its directories, so a mistyped path cannot pass for an empty store.
enum class StoreOpen { kCreate, kExisting };
Result<std::unique_ptr<store::Store>> open_store(const Config& config,
                                                 StoreOpen mode = StoreOpen::kCreate);

}  // namespace flowcast::cli
