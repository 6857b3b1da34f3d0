// Logging: spdlog loggers that share one stderr sink, one per subsystem or stage ("ingest",
// "bus.local", ...). Secrets never reach a log line: URLs are logged through redact_url().
#pragma once

#include <spdlog/spdlog.h>

#include <memory>
#include <string>
#include <vector>

namespace flowcast {

// Sets the level of every logger ("trace" .. "off"). Safe to call more than once.
void init_logging(const std::string& level);
// The logger called `name`, created on first use. Thread-safe.
std::shared_ptr<spdlog::logger> logger(const std::string& name);
// "postgresql://user:secret@host/db" -> "postgresql://user:***@host/db"; passwords in
// "password=..." query parameters are masked too.
std::string redact_url(const std::string& url);
// The passwords written in `url` (its userinfo's and any "password=" parameter's), as written.
std::vector<std::string> url_passwords(const std::string& url);
// `text` (a library's message about `url`) with `url` redacted wherever it appears, and each of
// its passwords masked wherever it appears alone.
std::string redact_secrets(std::string text, const std::string& url);

}  // namespace flowcast
