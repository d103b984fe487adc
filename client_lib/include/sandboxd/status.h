// Status and StatusOr: the error currency of sandboxd. Codes are the wire codes of
// proto/sandboxd.proto (ErrorCode), so a Status crosses the socket without translation;
// UNAVAILABLE is the one code only the client library sets (see kUnavailable).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace sandboxd {

enum class ErrorCode : int {
  kOk = 0,
  kBadRequest = 1,
  kSchemaMismatch = 2,
  kScriptError = 3,
  kTimeout = 4,
  kMemoryLimit = 5,
  kOutputLimit = 6,
  kPolicyViolation = 7,
  kArtifactDenied = 8,
  kArtifactFailed = 9,
  kImageNotFound = 10,
  kOverloaded = 11,
  kInternal = 12,
  // Client-side only: the daemon could not be reached, or the connection to it failed before a
  // reply came (connect, send, reset, EOF, the client's reply timeout). A caller may retry, on
  // this node or another; the message says whether the request had been sent, and so may have
  // run. Distinct from INTERNAL, which is the daemon's own verdict on a fault of its own.
  kUnavailable = 13,
};

// "BAD_REQUEST", ... ("OK" for kOk).
std::string_view ErrorCodeName(ErrorCode code);
std::optional<ErrorCode> ErrorCodeFromName(std::string_view name);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}
  static Status Ok() { return {}; }

  bool ok() const { return code_ == ErrorCode::kOk; }
  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "CODE: message"
  std::string ToString() const;

 private:
  ErrorCode code_ = ErrorCode::kOk;
  std::string message_;
};

template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(T value) : state_(std::move(value)) {}         // NOLINT(google-explicit-constructor)
  StatusOr(Status status) : state_(std::move(status)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return std::holds_alternative<T>(state_); }
  Status status() const { return ok() ? Status::Ok() : std::get<Status>(state_); }
  T& value() & { return std::get<T>(state_); }
  const T& value() const& { return std::get<T>(state_); }
  T&& value() && { return std::get<T>(std::move(state_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }

 private:
  std::variant<Status, T> state_;
};

}  // namespace sandboxd
