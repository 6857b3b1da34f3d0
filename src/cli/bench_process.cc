#include "cli/bench_process.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

namespace flowcast::cli {
namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Restricts process `pid` (0: this one) to CPU `cpu`. Async-signal-safe: the child calls it
// between fork() and exec().
bool pin_to_cpu(pid_t pid, int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return sched_setaffinity(pid, sizeof set, &set) == 0;
}

}  // namespace

Result<ChildProcess> ChildProcess::start(const std::vector<std::string>& args,
                                         const std::string& log_path, int cpu) {
  // Everything the child needs is prepared before fork(): after it only async-signal-safe calls.
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) return Status::internal("cannot read /proc/self/exe: " + std::string(std::strerror(errno)));
  exe[n] = '\0';
  std::vector<std::string> copy = args;
  std::vector<char*> argv;
  argv.push_back(exe);
  for (auto& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::internal("cannot create " + log_path + ": " + std::strerror(errno));
  pid_t pid = fork();
  if (pid < 0) {
    close(fd);
    return Status::internal(std::string("fork failed: ") + std::strerror(errno));
  }
  if (pid == 0) {
    if (cpu >= 0 && !pin_to_cpu(0, cpu)) _exit(126);
    dup2(fd, 1);
    dup2(fd, 2);
    execv(exe, argv.data());
    _exit(127);
  }
  close(fd);
  // The child pins itself before exec, so every thread it starts is pinned; the parent does too,
  // so that what it reads of the child from now on (allowed_cpus()) already says so.
  if (cpu >= 0) pin_to_cpu(pid, cpu);
  return ChildProcess(pid);
}

Status leave_cpu_to_children(int cpu) {
  cpu_set_t online;
  CPU_ZERO(&online);
  if (sched_getaffinity(0, sizeof online, &online) != 0)
    return Status::internal(std::string("cannot read this process's CPUs: ") +
                            std::strerror(errno));
  if (cpu < 0 || cpu >= CPU_SETSIZE || !CPU_ISSET(cpu, &online))
    return Status::invalid(std::to_string(cpu) + " is not one of the CPUs this process may use");
  if (CPU_COUNT(&online) < 2)
    return Status::invalid(
        "pinning needs at least two CPUs: one for the stage, one for the harness");
  CPU_CLR(cpu, &online);
  if (sched_setaffinity(0, sizeof online, &online) != 0)
    return Status::internal(std::string("cannot set this process's CPUs: ") + std::strerror(errno));
  return Status();
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(other.pid_), exited_(other.exited_), exit_code_(other.exit_code_) {
  other.pid_ = -1;
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && !exited_) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

bool ChildProcess::running() {
  if (pid_ <= 0 || exited_) return false;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) == pid_) {
    exited_ = true;
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return false;
  }
  return true;
}

int ChildProcess::stop(int64_t timeout_ms) {
  if (!running()) return exit_code_;
  kill(pid_, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (running()) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid_, SIGKILL);
      int status = 0;
      waitpid(pid_, &status, 0);
      exited_ = true;
      exit_code_ = 128 + SIGKILL;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return exit_code_;
}

double ChildProcess::cpu_seconds() const {
  if (pid_ <= 0 || exited_) return -1;
  // /proc/PID/stat: "pid (comm) state ..." where comm may hold spaces; utime and stime are the
  // 14th and 15th fields, counted after the closing parenthesis.
  std::string s = read_file("/proc/" + std::to_string(pid_) + "/stat");
  size_t close = s.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream in(s.substr(close + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && in >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return double(utime + stime) / double(sysconf(_SC_CLK_TCK));
}

std::optional<std::string> ChildProcess::status_field(const char* name) const {
  if (pid_ <= 0 || exited_) return std::nullopt;
  std::istringstream in(read_file("/proc/" + std::to_string(pid_) + "/status"));
  const std::string prefix = std::string(name) + ":";
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) != 0) continue;
    const size_t start = line.find_first_not_of(" \t", prefix.size());
    return start == std::string::npos ? std::string() : line.substr(start);
  }
  return std::nullopt;
}

int64_t ChildProcess::peak_rss_bytes() const {
  const auto kb = status_field("VmHWM");  // "1234 kB"
  return kb ? std::stoll(*kb) * 1024 : -1;
}

std::string ChildProcess::allowed_cpus() const {
  return status_field("Cpus_allowed_list").value_or("");
}

std::string describe_machine() {
  std::string model = "unknown CPU";
  std::istringstream cpuinfo(read_file("/proc/cpuinfo"));
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("model name", 0) == 0) {
      auto colon = line.find(':');
      if (colon != std::string::npos) model = line.substr(colon + 2);
      break;
    }
  }
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  utsname u{};
  uname(&u);
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  char mem[32];
  std::snprintf(mem, sizeof mem, "%.1f GiB", double(pages) * double(page) / (1024.0 * 1024 * 1024));
  return model + ", " + std::to_string(cores) + " cores, " + mem + ", " + u.sysname + " " +
         u.release + " " + u.machine;
}

std::string load_average() {
  std::istringstream in(read_file("/proc/loadavg"));
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

}  // namespace flowcast::cli
