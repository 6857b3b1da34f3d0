#include "support/test_support.h"

#include <cstdlib>
#include <random>

namespace flowcast::testing {

TempDir::TempDir() {
  std::random_device rd;
  auto base = std::filesystem::temp_directory_path();
  for (;;) {
    path_ = base / ("flowcast-test-" + std::to_string(rd()));
    if (std::filesystem::create_directory(path_)) break;
  }
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::filesystem::path source_dir() {
  if (const char* s = std::getenv("FLOWCAST_SOURCE_DIR"); s && *s) return s;
#ifdef FLOWCAST_SOURCE_DIR_DEFAULT
  return FLOWCAST_SOURCE_DIR_DEFAULT;
#else
  return std::filesystem::current_path();
#endif
}

std::string flowcast_binary() {
  if (const char* b = std::getenv("FLOWCAST_BINARY"); b && *b) return b;
  return FLOWCAST_BINARY_DEFAULT;
}

std::optional<std::filesystem::path> shared_data(const std::string& rel) {
  auto p = source_dir().parent_path() / "shared" / "data" / rel;
  if (std::filesystem::exists(p)) return p;
  return std::nullopt;
}

Config taxi_config(const std::vector<std::string>& overrides) {
  return Config::load((source_dir() / "examples" / "taxi.yaml").string(), overrides);
}

DatasetSpec tiny_dataset() {
  const char* yaml = R"(
datasets:
  tiny:
    key: id
    event_time: ts
    target: y
    fields:
      id: string
      ts: timestamp
      x: {type: float, min: -1000, max: 1000}
      n: {type: int, required: false}
      flag: {type: bool, required: false}
      cat: {type: category, required: false}
      y: float
    features:
      - {transform: numeric, input: x}
)";
  return Config::parse(yaml, {}).datasets().front();
}

}  // namespace flowcast::testing
