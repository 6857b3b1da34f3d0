#include "core/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <unistd.h>

#include <mutex>
#include <regex>
#include <vector>

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

namespace {
// The password of a URL's userinfo (group 2) and of its "password=" parameters (group 2).
const std::regex& userinfo_re() {
  static const std::regex re(R"(^([a-zA-Z][a-zA-Z0-9+.-]*://[^:/@]*):([^@/]*)@)");
  return re;
}
const std::regex& param_re() {
  static const std::regex re(R"((password=)([^&\s]*))", std::regex::icase);
  return re;
}
}  // namespace

std::string redact_url(const std::string& url) {
  std::string out = std::regex_replace(url, userinfo_re(), "$1:***@");
  return std::regex_replace(out, param_re(), "$1***");
}

std::vector<std::string> url_passwords(const std::string& url) {
  std::vector<std::string> out;
  std::smatch m;
  if (std::regex_search(url, m, userinfo_re()) && m[2].length() > 0) out.push_back(m[2]);
  for (auto it = std::sregex_iterator(url.begin(), url.end(), param_re());
       it != std::sregex_iterator(); ++it)
    if ((*it)[2].length() > 0) out.push_back((*it)[2]);
  return out;
}

std::string redact_secrets(std::string text, const std::string& url) {
  auto replace_all = [&text](const std::string& from, const std::string& to) {
    if (from.empty()) return;
    for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
      text.replace(at, from.size(), to);
  };
  replace_all(url, redact_url(url));
  for (const std::string& p : url_passwords(url)) replace_all(p, "***");
  return text;
}

}  // namespace flowcast
