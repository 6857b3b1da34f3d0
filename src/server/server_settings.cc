#include "server/server_settings.h"

#include <cctype>
#include <charconv>

#include "core/config_error.h"

namespace flowcast::server {

ServerSettings ServerSettings::parse(const ConfigNode& node) {
  node.expect_keys({"listen", "threads", "max_streams", "max_body_bytes", "model_poll",
                    "keep_alive_timeout"});
  ServerSettings s;
  if (node["listen"].defined()) s.set_listen(node["listen"].as_string(), node["listen"].path());
  s.threads = int(node.get_int("threads", s.threads, 2, 1024));
  s.max_streams = int(node.get_int("max_streams", s.max_streams, 0, 1000));
  s.max_body_bytes = node.get_int("max_body_bytes", s.max_body_bytes, 1024, int64_t(1) << 30);
  s.model_poll_ms = node.get_duration_ms("model_poll", s.model_poll_ms);
  if (s.model_poll_ms < 10) node["model_poll"].fail("must be at least 10ms");
  s.keep_alive_timeout_ms = node.get_duration_ms("keep_alive_timeout", s.keep_alive_timeout_ms);
  if (s.keep_alive_timeout_ms < 1000) node["keep_alive_timeout"].fail("must be at least 1s");
  // A stream holds a worker thread for as long as it is open: keep threads for the API.
  if (s.max_streams + 2 > s.threads)
    node["max_streams"].fail("must leave at least 2 of the " + std::to_string(s.threads) +
                             " threads to the API (raise server.threads or lower max_streams)");
  return s;
}

void ServerSettings::set_listen(const std::string& text, const std::string& what) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size())
    throw ConfigError(what, "expected HOST:PORT such as 127.0.0.1:8080, got '" + text + "'");
  std::string host = text.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);  // [::1]:8080
  const std::string port_text = text.substr(colon + 1);
  int port = -1;
  auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || ptr != port_text.data() + port_text.size() || port < 0 || port > 65535)
    throw ConfigError(what, "expected a port number from 0 to 65535, got '" + port_text + "'");
  for (char c : host) {
    const bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == ':';
    if (!ok) throw ConfigError(what, "expected a host name or address, got '" + host + "'");
  }
  this->host = host;
  this->port = port;
}

std::string ServerSettings::listen() const {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

}  // namespace flowcast::server
