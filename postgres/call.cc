// The client library behind call.h. One call: the input table built cell by cell, the output
// schema resolved against it, then the request sent from a thread of its own, so that the
// backend's main thread waits on its latch and can cancel (close the connection: the daemon then
// ends the sandbox at once). Nothing here throws out: each entry point catches, and a failure
// becomes a status and a message.
#include "call.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <exception>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "sandboxd/client.h"
#include "sandboxd/schema.h"
#include "sandboxd/table.h"

struct SbxCall {
  std::vector<sandboxd::ColumnSpec> input_columns;
  std::optional<sandboxd::TableBuilder> builder;
  std::vector<sandboxd::ColumnSpec> output_columns;

  sandboxd::Request request;
  int socket_fd = -1;  // owned by `client`; kept to shut the connection down on cancel
  std::optional<sandboxd::Client> client;
  int wake_fd = -1;
  std::thread worker;
  std::atomic<bool> done{false};
  std::optional<sandboxd::ExecuteOutcome> outcome;

  int status = SBX_OK;
  std::string message;
  std::string script_stderr;
};

namespace {

int Fail(SbxCall* call, int code, std::string message) noexcept {
  try {
    call->status = code;
    call->message = std::move(message);
  } catch (...) {
    call->message.clear();
  }
  return code;
}

int FailStatus(SbxCall* call, const sandboxd::Status& status) noexcept {
  try {
    return Fail(call, static_cast<int>(status.code()), status.message());
  } catch (...) {
    return Fail(call, SBX_INTERNAL, "out of memory");
  }
}

// Catches what a step throws (allocation) and turns it into INTERNAL.
template <typename F>
int Guarded(SbxCall* call, F&& step) noexcept {
  try {
    return step();
  } catch (const std::exception& e) {
    return Fail(call, SBX_INTERNAL, e.what());
  } catch (...) {
    return Fail(call, SBX_INTERNAL, "unknown C++ exception");
  }
}

template <typename F>
void GuardedAppend(SbxCall* call, F&& append) noexcept {
  try {
    if (call->builder) append(*call->builder);
  } catch (...) {
    // An allocation that failed: the column comes up short, which Finish reports.
  }
}

const sandboxd::TableView* ResultView(const SbxCall* call) {
  if (!call->outcome || !call->outcome->ok()) return nullptr;
  return &call->outcome->result().table.view();
}

// A connected, blocking stream socket to `path`, or -1 with `error` set. The connect itself is
// non-blocking so that a daemon whose backlog is full fails the call instead of hanging it.
int ConnectTo(const std::string& path, std::string& error) {
  sockaddr_un address{};
  if (path.empty() || path.size() >= sizeof(address.sun_path)) {
    error = "sandboxd.socket \"" + path + "\" is not a usable socket path";
    return -1;
  }
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, path.data(), path.size());
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    error = std::string("cannot make a socket: ") + std::strerror(errno);
    return -1;
  }
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    error = "cannot connect to sandboxd at " + path + ": " + std::strerror(errno) +
            " (the request was not sent)";
    ::close(fd);
    return -1;
  }
  const int flags = ::fcntl(fd, F_GETFL);
  ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  return fd;
}

void RunRequest(SbxCall* call) noexcept {
  try {
    call->outcome.emplace(call->client->Execute(call->request));
  } catch (const std::exception& e) {
    sandboxd::Error error;
    error.code = sandboxd::ErrorCode::kInternal;
    error.message = e.what();
    error.local = true;
    try {
      call->outcome.emplace(std::move(error));
    } catch (...) {
    }
  } catch (...) {
  }
  call->done.store(true);
  const std::uint64_t one = 1;
  (void)!::write(call->wake_fd, &one, sizeof(one));
}

}  // namespace

extern "C" {

const char* sbx_code_name(int code) {
  // The names are string literals: NUL-terminated.
  if (code < 0 || code > static_cast<int>(sandboxd::ErrorCode::kUnavailable)) return "INTERNAL";
  return sandboxd::ErrorCodeName(static_cast<sandboxd::ErrorCode>(code)).data();
}

SbxCall* sbx_call_new(void) {
  try {
    return new SbxCall;
  } catch (...) {
    return nullptr;
  }
}

void sbx_call_free(SbxCall* call) {
  if (call == nullptr) return;
  sbx_call_cancel(call);
  if (call->wake_fd >= 0) ::close(call->wake_fd);
  delete call;
}

int sbx_call_add_input_column(SbxCall* call, const char* name, int type) {
  return Guarded(call, [&]() -> int {
    call->input_columns.push_back({name, static_cast<sandboxd::ColumnType>(type)});
    return SBX_OK;
  });
}

int sbx_call_begin_rows(SbxCall* call) {
  return Guarded(call, [&]() -> int {
    call->builder.emplace(call->input_columns);
    return SBX_OK;
  });
}

void sbx_call_append_null(SbxCall* call, int column) {
  GuardedAppend(call, [&](auto& b) { b.AppendNull(column); });
}
void sbx_call_append_bool(SbxCall* call, int column, int value) {
  GuardedAppend(call, [&](auto& b) { b.AppendBool(column, value != 0); });
}
void sbx_call_append_int(SbxCall* call, int column, int32_t value) {
  GuardedAppend(call, [&](auto& b) { b.AppendInt(column, value); });
}
void sbx_call_append_long(SbxCall* call, int column, int64_t value) {
  GuardedAppend(call, [&](auto& b) { b.AppendLong(column, value); });
}
void sbx_call_append_real(SbxCall* call, int column, double value) {
  GuardedAppend(call, [&](auto& b) { b.AppendReal(column, value); });
}
void sbx_call_append_ticks(SbxCall* call, int column, int64_t ticks) {
  GuardedAppend(call, [&](auto& b) { b.AppendTicks(column, ticks); });
}
void sbx_call_append_text(SbxCall* call, int column, const char* text, size_t length) {
  GuardedAppend(call, [&](auto& b) { b.AppendText(column, std::string_view(text, length)); });
}

int sbx_call_resolve_schema(SbxCall* call, const char* output_schema) {
  return Guarded(call, [&]() -> int {
    auto schema = sandboxd::ParseTypeof(output_schema);
    if (!schema.ok()) return FailStatus(call, schema.status());
    auto columns = sandboxd::ResolveSchema(*schema, call->input_columns);
    if (!columns.ok()) return FailStatus(call, columns.status());
    call->output_columns = std::move(*columns);
    call->request.output_schema = output_schema;
    return SBX_OK;
  });
}

int sbx_call_output_count(const SbxCall* call) {
  return static_cast<int>(call->output_columns.size());
}
const char* sbx_call_output_name(const SbxCall* call, int column) {
  return call->output_columns[column].name.c_str();
}
int sbx_call_output_type(const SbxCall* call, int column) {
  return static_cast<int>(call->output_columns[column].type);
}
const char* sbx_type_name(int type) {
  // The names are string literals in types.cc, so data() is NUL-terminated.
  return sandboxd::ColumnTypeName(static_cast<sandboxd::ColumnType>(type)).data();
}

int sbx_call_start(SbxCall* call, const char* socket_path, const char* script,
                   const char* params_json, const char* artifacts_json, const char* image,
                   struct SbxLimits limits, int* wake_fd) {
  return Guarded(call, [&]() -> int {
    if (!call->builder) call->builder.emplace(call->input_columns);
    auto input = call->builder->FinishTable();
    call->builder.reset();
    if (!input.ok()) return FailStatus(call, input.status());
    call->request.input = std::move(*input);
    call->request.script = script;
    call->request.script_parameters_json = params_json;
    if (image != nullptr) call->request.image = image;
    call->request.memory_mb = limits.memory_mb;
    call->request.timeout_ms = limits.timeout_ms;
    const auto artifacts = nlohmann::json::parse(artifacts_json, nullptr, false);
    if (!artifacts.is_object())
      return Fail(call, SBX_BAD_REQUEST, "artifacts must be a JSON object of name: URL");
    for (const auto& [name, url] : artifacts.items()) {
      if (!url.is_string())
        return Fail(call, SBX_BAD_REQUEST, "artifact \"" + name + "\" must name a URL string");
      call->request.external_artifacts[name] = url.get<std::string>();
    }

    std::string error;
    call->socket_fd = ConnectTo(socket_path, error);
    if (call->socket_fd < 0) return Fail(call, SBX_UNAVAILABLE, error);
    call->client.emplace(sandboxd::Client::FromSocket(sandboxd::UniqueFd(call->socket_fd)));
    call->wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (call->wake_fd < 0)
      return Fail(call, SBX_INTERNAL, std::string("eventfd: ") + std::strerror(errno));

    // The thread takes no signal: the backend's handlers (query cancel, SIGTERM, latches) must
    // run on the backend's own thread.
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &previous);
    try {
      call->worker = std::thread(RunRequest, call);
    } catch (...) {
      pthread_sigmask(SIG_SETMASK, &previous, nullptr);
      throw;
    }
    pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    *wake_fd = call->wake_fd;
    return SBX_OK;
  });
}

int sbx_call_done(SbxCall* call) { return call->done.load() ? 1 : 0; }

void sbx_call_cancel(SbxCall* call) {
  if (!call->worker.joinable()) return;
  if (!call->done.load() && call->socket_fd >= 0) ::shutdown(call->socket_fd, SHUT_RDWR);
  call->worker.join();
}

int sbx_call_status(const SbxCall* call) {
  if (call->status != SBX_OK) return call->status;
  if (!call->outcome) return SBX_INTERNAL;
  if (call->outcome->ok()) return SBX_OK;
  return static_cast<int>(call->outcome->error().code);
}

const char* sbx_call_message(const SbxCall* call) {
  if (call->status != SBX_OK) return call->message.c_str();
  if (!call->outcome) return "the call ended without an answer";
  if (call->outcome->ok()) return "";
  return call->outcome->error().message.c_str();
}

const char* sbx_call_stderr(const SbxCall* call) {
  auto* self = const_cast<SbxCall*>(call);
  try {
    self->script_stderr.clear();
    if (call->outcome && !call->outcome->ok()) {
      for (const auto& record : call->outcome->error().logs) {
        if (record.stream != sandboxd::LogRecord::Stream::kStderr) continue;
        self->script_stderr += record.message;
        if (!record.message.empty() && record.message.back() != '\n') self->script_stderr += '\n';
      }
    }
  } catch (...) {
    self->script_stderr.clear();
  }
  return call->script_stderr.c_str();
}

uint64_t sbx_call_retry_after_ms(const SbxCall* call) {
  return call->outcome && !call->outcome->ok() ? call->outcome->error().retry_after_ms : 0;
}

uint64_t sbx_call_result_rows(const SbxCall* call) {
  const auto* view = ResultView(call);
  return view != nullptr ? view->row_count() : 0;
}
int sbx_call_result_isnull(const SbxCall* call, int column, uint64_t row) {
  return ResultView(call)->IsNull(column, row) ? 1 : 0;
}
int sbx_call_result_bool(const SbxCall* call, int column, uint64_t row) {
  return ResultView(call)->GetBool(column, row) ? 1 : 0;
}
int32_t sbx_call_result_int(const SbxCall* call, int column, uint64_t row) {
  return ResultView(call)->GetInt(column, row);
}
int64_t sbx_call_result_long(const SbxCall* call, int column, uint64_t row) {
  return ResultView(call)->GetLong(column, row);
}
double sbx_call_result_real(const SbxCall* call, int column, uint64_t row) {
  return ResultView(call)->GetReal(column, row);
}
int64_t sbx_call_result_ticks(const SbxCall* call, int column, uint64_t row) {
  return ResultView(call)->GetTicks(column, row);
}
const char* sbx_call_result_text(const SbxCall* call, int column, uint64_t row, size_t* length) {
  const std::string_view text = ResultView(call)->GetText(column, row);
  *length = text.size();
  return text.data();
}

}  // extern "C"
