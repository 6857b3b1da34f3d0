// Helpers shared by the test suites: temporary directories, the taxi test dataset, shared data.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

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

// The whole content of a file ("" when it cannot be read).
std::string slurp(const std::string& path);

// Starts the flowcast binary with `args` as a child process; its stdout goes to `stdout_path`
// and its stderr to `stderr_path` (the same path: both into one file).
pid_t spawn_flowcast(const std::vector<std::string>& args, const std::string& stdout_path,
                     const std::string& stderr_path);
// Waits at most `seconds` for `pid` and returns its exit code (-1 when a signal ended it). A child
// still running then is killed and the test fails with a message naming `what`.
int wait_exit(pid_t pid, int seconds, const std::string& what = "flowcast");

}  // namespace flowcast::testing
