// The dashboard's files are embedded with the right content types, byte for byte.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "server/web_assets.h"

namespace flowcast::server {
namespace {

std::string read_source(const std::string& rel) {
  std::ifstream in(std::string(FLOWCAST_WEB_DIR) + rel, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(WebAssets, RootIsTheIndexPage) {
  const WebAsset* root = find_web_asset("/");
  ASSERT_NE(root, nullptr);
  EXPECT_EQ(root->content_type, "text/html; charset=utf-8");
  EXPECT_EQ(root, find_web_asset("/index.html"));
  EXPECT_NE(root->body.find("js/app.js"), std::string_view::npos);
  EXPECT_EQ(root->body, read_source("/index.html"));
}

TEST(WebAssets, EveryPageScriptIsJavaScript) {
  for (const char* path : {"/js/app.js", "/js/live.js", "/js/quality.js", "/js/models.js", "/js/price.js",
                           "/js/stream.js", "/js/chart.js", "/js/api.js", "/js/geo.js", "/js/format.js"}) {
    const WebAsset* a = find_web_asset(path);
    ASSERT_NE(a, nullptr) << path;
    EXPECT_EQ(a->content_type, "text/javascript; charset=utf-8") << path;
    EXPECT_EQ(a->body, read_source(path)) << path;
  }
}

TEST(WebAssets, StylesAndIcon) {
  const WebAsset* css = find_web_asset("/style.css");
  ASSERT_NE(css, nullptr);
  EXPECT_EQ(css->content_type, "text/css; charset=utf-8");
  const WebAsset* icon = find_web_asset("/favicon.svg");
  ASSERT_NE(icon, nullptr);
  EXPECT_EQ(icon->content_type, "image/svg+xml");
}

TEST(WebAssets, QueryStringIsIgnoredAndUnknownPathsAreNotFound) {
  EXPECT_EQ(find_web_asset("/js/app.js?v=2"), find_web_asset("/js/app.js"));
  EXPECT_EQ(find_web_asset("/nope.js"), nullptr);
  EXPECT_EQ(find_web_asset("/js"), nullptr);
  EXPECT_EQ(find_web_asset("/CMakeLists.txt"), nullptr);
  EXPECT_EQ(find_web_asset("/embed_web_assets.cmake"), nullptr);
}

}  // namespace
}  // namespace flowcast::server
