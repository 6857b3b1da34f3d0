// The dashboard's files (web/), embedded into the binary at build time: nothing to deploy.
#pragma once

#include <string_view>

namespace flowcast::server {

struct WebAsset {
  std::string_view content_type;  // e.g. "text/html; charset=utf-8"
  std::string_view body;
};

// The asset served at `path` ("/" is "/index.html"); nullptr when there is none.
const WebAsset* find_web_asset(std::string_view path);

}  // namespace flowcast::server
