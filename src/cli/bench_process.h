// Helpers of `flowcast bench` that talk to the operating system: a stage run as a child process
// (the same binary), its CPU time and peak resident set read from /proc, and a one-line
// description of the machine and its load.
//
// Linux only (/proc). Thread-safety: a ChildProcess is used by one thread.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"

namespace flowcast::cli {

// A child process running this binary (/proc/self/exe) with `args`; its stdout and stderr go to
// `log_path`. The destructor kills (SIGKILL) and reaps a child that is still running.
class ChildProcess {
 public:
  // With cpu >= 0 the child (and every thread it starts) runs on that CPU only.
  static Result<ChildProcess> start(const std::vector<std::string>& args,
                                    const std::string& log_path, int cpu = -1);
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&&) = delete;
  ChildProcess(const ChildProcess&) = delete;
  ~ChildProcess();

  pid_t pid() const { return pid_; }
  // False once the child has exited (it is reaped then; exit_code() says how it ended).
  bool running();
  // Sends SIGTERM and waits up to `timeout_ms` for the exit, then SIGKILL. Returns the exit code
  // (128 + signal number when killed by a signal).
  int stop(int64_t timeout_ms);
  int exit_code() const { return exit_code_; }
  // CPU time (user + system) the child has used so far, in seconds; -1 once it has exited.
  double cpu_seconds() const;
  // Peak resident set size (VmHWM) in bytes; -1 once it has exited.
  int64_t peak_rss_bytes() const;
  // The CPUs it may run on (Cpus_allowed_list, e.g. "1" or "0-1"); "" once it has exited.
  std::string allowed_cpus() const;

 private:
  explicit ChildProcess(pid_t pid) : pid_(pid) {}
  // The value of `name` in /proc/PID/status, leading blanks removed; nothing once it has exited.
  std::optional<std::string> status_field(const char* name) const;
  pid_t pid_ = -1;
  bool exited_ = false;
  int exit_code_ = -1;
};

// Confines the calling process to every online CPU but `cpu`, so that it leaves that one to a
// child started with ChildProcess::start(..., cpu). Fails when `cpu` is not an online CPU or is
// the only one.
Status leave_cpu_to_children(int cpu);

// "AMD EPYC 7B12, 2 cores, Linux 6.1.0-18-amd64 x86_64".
std::string describe_machine();
// The 1-, 5- and 15-minute load averages from /proc/loadavg, e.g. "1.23 0.98 0.77".
std::string load_average();

}  // namespace flowcast::cli
