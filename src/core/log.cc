#include "core/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <unistd.h>

#include <mutex>
#include <regex>

namespace flowcast {
namespace {
std::mutex g_mu;
spdlog::level::level_enum g_level = spdlog::level::info;
std::shared_ptr<spdlog::sinks::sink> g_sink;

std::shared_ptr<spdlog::sinks::sink> sink() {
  if (!g_sink) {
    g_sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
    // On a terminal a live status line may sit on the last row: clear it before each log line.
    std::string prefix = isatty(STDERR_FILENO) ? "\r\033[K" : "";
    g_sink->set_pattern(prefix + "%Y-%m-%d %H:%M:%S.%e %^%-5l%$ [%n] %v");
  }
  return g_sink;
}
}  // namespace

void init_logging(const std::string& level) {
  std::lock_guard lock(g_mu);
  g_level = spdlog::level::from_str(level);
  spdlog::apply_all([](const std::shared_ptr<spdlog::logger>& l) { l->set_level(g_level); });
}

std::shared_ptr<spdlog::logger> logger(const std::string& name) {
  std::lock_guard lock(g_mu);
  if (auto l = spdlog::get(name)) return l;
  auto l = std::make_shared<spdlog::logger>(name, sink());
  l->set_level(g_level);
  spdlog::register_logger(l);
  return l;
}

std::string redact_url(const std::string& url) {
  static const std::regex kUserinfo(R"(^([a-zA-Z][a-zA-Z0-9+.-]*://[^:/@]*):[^@/]*@)");
  static const std::regex kParam(R"((password=)[^&\s]*)", std::regex::icase);
  std::string out = std::regex_replace(url, kUserinfo, "$1:***@");
  return std::regex_replace(out, kParam, "$1***");
}

}  // namespace flowcast
