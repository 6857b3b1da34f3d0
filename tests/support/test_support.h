// Helpers shared by the test suites: temporary directories, the taxi test dataset, shared data.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "core/config.h"
#include "core/dataset_spec.h"

namespace flowcast::testing {

// A fresh directory under the system temp dir, removed (recursively) on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string str() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

// The repository root (FLOWCAST_SOURCE_DIR, else the path compiled into the test).
std::filesystem::path source_dir();
// The flowcast binary (FLOWCAST_BINARY, else the path compiled into the test).
std::string flowcast_binary();
// ../shared/data/<rel> next to the repository, or nullopt when ../shared is absent.
std::optional<std::filesystem::path> shared_data(const std::string& rel);
// examples/taxi.yaml loaded with `overrides` (bus and store usually pointed into a TempDir).
Config taxi_config(const std::vector<std::string>& overrides = {});
// A small inline dataset used by bus/store unit tests: key `id` (string), `ts` (timestamp),
// `x` (float), `n` (int), `flag` (bool), `cat` (category), target `y` (float).
DatasetSpec tiny_dataset();

}  // namespace flowcast::testing
