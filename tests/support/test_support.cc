#include "support/test_support.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

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

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

pid_t spawn_flowcast(const std::vector<std::string>& args, const std::string& stdout_path,
                     const std::string& stderr_path) {
  std::string bin = flowcast_binary();
  std::vector<std::string> copy = args;
  std::vector<char*> argv{bin.data()};
  for (auto& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    int out = open(stdout_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int err = stderr_path == stdout_path
                  ? out
                  : open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(out, 1);
    dup2(err, 2);
    execv(bin.c_str(), argv.data());
    _exit(127);
  }
  return pid;
}

int wait_exit(pid_t pid, int seconds, const std::string& what) {
  for (int i = 0; i < seconds * 10; ++i) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  ADD_FAILURE() << what << " did not finish within " << seconds << " s";
  return -1;
}

}  // namespace flowcast::testing
