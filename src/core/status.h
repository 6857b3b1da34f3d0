// Status and Result<T>: how every fallible flowcast call reports failure.
//
// Contract: routine failures at I/O boundaries (a broker that is down, a locked file, a record that
// does not parse) are returned as values, never thrown. Exceptions are reserved for programming
// errors and for configuration problems caught in main(). A Status is cheap to copy when ok().
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace flowcast {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,  // bad input: a record, a parameter, a file's contents
  kNotFound,
  kAlreadyExists,
  kUnavailable,      // transient: retry later (broker down, database restarting)
  kBusy,             // a lock is held by someone else
  kCorruption,       // stored bytes fail their checksum or framing
  kIoError,
  kTimeout,
  kInternal,
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  static Status ok_status() { return Status(); }
  static Status invalid(std::string msg) { return {StatusCode::kInvalidArgument, std::move(msg)}; }
  static Status not_found(std::string msg) { return {StatusCode::kNotFound, std::move(msg)}; }
  static Status unavailable(std::string msg) { return {StatusCode::kUnavailable, std::move(msg)}; }
  static Status busy(std::string msg) { return {StatusCode::kBusy, std::move(msg)}; }
  static Status corruption(std::string msg) { return {StatusCode::kCorruption, std::move(msg)}; }
  static Status io_error(std::string msg) { return {StatusCode::kIoError, std::move(msg)}; }
  static Status timeout(std::string msg) { return {StatusCode::kTimeout, std::move(msg)}; }
  static Status internal(std::string msg) { return {StatusCode::kInternal, std::move(msg)}; }

  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "ok" or "<code name>: <message>".
  std::string to_string() const;
  // Returns a copy with "context: " prepended to the message.
  Status with_context(const std::string& context) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

const char* status_code_name(StatusCode code);
// True for failures worth retrying: unavailable, busy, timeout, i/o error.
bool is_transient(const Status& s);

// Result<T> holds either a T or a failed Status. REQUIRES: a Status stored in a Result is not ok.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Status status) : v_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    assert(!std::get<Status>(v_).ok());
  }
  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace flowcast

// Propagates a failed Status from an expression returning Status.
#define FC_RETURN_IF_ERROR(expr)             \
  do {                                       \
    ::flowcast::Status fc_status_ = (expr);  \
    if (!fc_status_.ok()) return fc_status_; \
  } while (0)

#define FC_CONCAT_INNER(a, b) a##b
#define FC_CONCAT(a, b) FC_CONCAT_INNER(a, b)
// Declares `lhs` from a Result-returning expression, or returns its Status.
#define FC_ASSIGN_OR_RETURN(lhs, expr)                            \
  auto FC_CONCAT(fc_result_, __LINE__) = (expr);                  \
  if (!FC_CONCAT(fc_result_, __LINE__).ok())                      \
    return FC_CONCAT(fc_result_, __LINE__).status();              \
  lhs = std::move(FC_CONCAT(fc_result_, __LINE__)).value()
