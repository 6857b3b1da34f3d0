#include "core/status.h"

namespace flowcast {

const char* status_code_name(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return "ok";
    case StatusCode::kInvalidArgument: return "invalid argument";
    case StatusCode::kNotFound: return "not found";
    case StatusCode::kAlreadyExists: return "already exists";
    case StatusCode::kUnavailable: return "unavailable";
    case StatusCode::kBusy: return "busy";
    case StatusCode::kCorruption: return "corruption";
    case StatusCode::kIoError: return "i/o error";
    case StatusCode::kTimeout: return "timeout";
    case StatusCode::kInternal: return "internal error";
  }
  return "unknown";
}

std::string Status::to_string() const {
  if (ok()) return "ok";
  return std::string(status_code_name(code_)) + ": " + message_;
}

Status Status::with_context(const std::string& context) const {
  if (ok()) return *this;
  return Status(code_, context + ": " + message_);
}

}  // namespace flowcast


namespace flowcast {
bool is_transient(const Status& s) {
  switch (s.code()) {
    case StatusCode::kUnavailable:
    case StatusCode::kBusy:
    case StatusCode::kTimeout:
    case StatusCode::kIoError: return true;
    default: return false;
  }
}
}  // namespace flowcast
