// The engine's client for sandboxd: sends a request (input table, output schema, script,
// parameters, artifacts, limits) over the daemon's Unix socket and hands back a typed Result or an
// Error a user can act on. It links protobuf and the sandboxd core, nothing of the daemon.
//
//   auto client = sandboxd::Client::Connect("/run/sandboxd/sandboxd.sock");
//   sandboxd::Request request;
//   request.output_schema = "typeof(*, fx:real)";
//   request.script = "result = df\nresult['fx'] = df['x'] * 2";
//   request.input = ...;  // a Table, e.g. from TableBuilder::FinishTable()
//   sandboxd::ExecuteOutcome outcome = client->Execute(request);
//   if (outcome.ok()) use(outcome.result().table); else report(outcome.error().ToString());
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "sandboxd/framing.h"
#include "sandboxd/status.h"
#include "sandboxd/table.h"
#include "sandboxd/unique_fd.h"

namespace sandboxd {

inline constexpr std::string_view kDefaultSocketPath = "/run/sandboxd/sandboxd.sock";
// Input tables up to this size travel inside the request frame; larger ones in a sealed memfd.
inline constexpr std::size_t kMaxInlineTableBytes = 64 * 1024;

// What the script printed or logged (proto LogRecord).
struct LogRecord {
  enum class Stream { kUnspecified = 0, kStdout = 1, kStderr = 2, kLogging = 3 };
  Stream stream = Stream::kUnspecified;
  double time = 0;  // seconds since the Unix epoch
  std::string level;
  std::string logger;
  std::string message;
  std::string file;
  std::uint32_t line = 0;
};

// "stdout", "stderr", "logging" ("unspecified" otherwise).
std::string_view LogStreamName(LogRecord::Stream stream);

struct Stats {
  double queue_seconds = 0;
  double setup_seconds = 0;
  double run_seconds = 0;
  double wall_seconds = 0;
  double cpu_user_seconds = 0;
  double cpu_system_seconds = 0;
  std::uint64_t peak_memory_bytes = 0;
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
};

// One evaluation of a script, like Kusto's `T | evaluate python(...)`.
struct Request {
  std::string request_id;     // empty: the client makes one up
  std::string output_schema;  // "typeof(*, fx:real)"
  std::string script;
  std::string script_parameters_json = "{}";              // a JSON object; becomes `kargs`
  std::map<std::string, std::string> external_artifacts;  // name -> URL
  bool spill_to_disk = false;
  std::string image;                   // empty: the node's default image
  std::uint64_t memory_mb = 0;         // 0: the node's default
  std::uint64_t timeout_ms = 0;        // 0: the node's default
  std::uint64_t max_result_bytes = 0;  // 0: the node's default
  std::uint64_t max_log_bytes = 0;     // 0: the node's default
  bool debug = false;                  // like `set query_python_debug`: run nothing
  Table input;                         // default: no columns, no rows
};

struct Result {
  std::string request_id;
  Table table;
  std::vector<LogRecord> logs;
  bool logs_truncated = false;
  Stats stats;
  std::string debug_script;  // debug mode: a script that reproduces the call
};

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;
  std::uint64_t retry_after_ms = 0;  // OVERLOADED: when to try again
  std::vector<LogRecord> logs;       // what the script printed before it failed
  Stats stats;
  // True when the client itself failed (connecting, sending, receiving, or a reply it could not
  // accept) rather than the daemon answering with this error: UNAVAILABLE for a failed
  // connection (the message says whether the request was sent), INTERNAL for an unusable reply.
  bool local = false;

  // "CODE: message"
  std::string ToString() const;
};

// Either a Result or an Error.
class ExecuteOutcome {
 public:
  ExecuteOutcome(Result result);  // NOLINT(google-explicit-constructor)
  ExecuteOutcome(Error error);    // NOLINT(google-explicit-constructor)

  bool ok() const { return std::holds_alternative<Result>(value_); }
  Result& result() & { return std::get<Result>(value_); }
  const Result& result() const& { return std::get<Result>(value_); }
  Result&& result() && { return std::get<Result>(std::move(value_)); }
  Error& error() & { return std::get<Error>(value_); }
  const Error& error() const& { return std::get<Error>(value_); }
  Error&& error() && { return std::get<Error>(std::move(value_)); }
  // OK, or the error's code and message.
  Status status() const;
  std::variant<Result, Error>& value() { return value_; }
  const std::variant<Result, Error>& value() const { return value_; }

 private:
  std::variant<Result, Error> value_;
};

struct ImageInfo {
  std::string name;
  std::string manifest_sha256;
  std::uint32_t package_count = 0;
};

struct ImageList {
  std::vector<ImageInfo> images;
  std::string default_image;
};

// The node's limits as the daemon enforces them (`sandboxctl status`, `policy show`). Each
// per-request limit is both the node's default and the most a request may ask for: a request may
// lower it, never raise it.
struct NodeLimits {
  std::uint32_t max_sandboxes = 0;   // sandboxes running at once, warm ones included
  std::uint32_t max_queue = 0;       // requests waiting for a sandbox before OVERLOADED
  std::uint32_t warm_sandboxes = 0;  // of the default image, kept ready
  std::uint64_t memory_bytes = 0;    // per request
  std::uint64_t timeout_ms = 0;      // per request
  std::uint32_t cpu_percent = 0;     // per sandbox, throttled; not per request (0: no cap)
  std::uint64_t max_result_bytes = 0;
  std::uint64_t max_log_bytes = 0;
  std::uint64_t max_pids = 0;  // per sandbox (0: no cap)
  std::uint64_t tmp_bytes = 0;
  std::uint64_t work_bytes = 0;
  std::uint32_t max_frame_bytes = 0;
  std::uint32_t max_connections = 0;
  std::uint32_t max_connections_per_uid = 0;
};

// An accepted request the daemon has not answered yet.
struct RequestInFlight {
  std::string request_id;
  std::string image;
  // accepted, spilling, fetching, queued, launching, running or validating.
  std::string phase;
  std::uint64_t age_ms = 0;
  std::uint64_t peak_memory_bytes = 0;  // its sandbox's cgroup so far; 0: none yet or unknown
};

// One runtime image's sandboxes.
struct ImagePool {
  std::string image;
  std::uint32_t ready = 0;    // warm sandboxes waiting for a request
  std::uint32_t running = 0;  // sandboxes serving a request
  // "off" (--no-zygotes), "not started", "in use" or "backing off" (its start failed).
  std::string zygote;
  std::uint64_t zygote_retry_in_ms = 0;  // backing off: when it is tried again
  std::string zygote_failure;            // backing off: why
};

struct DaemonStatus {
  std::string version;
  std::uint64_t uptime_ms = 0;
  bool draining = false;  // stopping: takes no new requests
  std::string default_image;
  std::vector<ImageInfo> images;
  std::vector<ImagePool> pools;  // one per image
  std::uint32_t sandboxes_in_use = 0;
  std::uint32_t queued = 0;
  NodeLimits limits;
  std::vector<RequestInFlight> requests;  // oldest first
  std::uint32_t launcher_restarts = 0;
};

struct SeccompPolicyInForce {
  bool enabled = false;          // false: the daemon runs with --no-seccomp
  std::uint32_t generation = 0;  // 1 at start, one more per SIGHUP that compiled a new policy
  std::string path;
  std::string kernel_features;    // the `when` features it was compiled for ("none")
  std::string memfd_noexec_seal;  // the setting: auto or off
  std::uint32_t instructions = 0;
  std::string program_sha256;
  std::uint64_t loaded_ms_ago = 0;
};

struct CalloutRuleInForce {
  std::string callout_type;
  std::string uri_regex;
  bool can_call = false;
};

struct PolicyReport {
  NodeLimits limits;
  SeccompPolicyInForce seccomp;
  std::string callout_path;
  std::vector<CalloutRuleInForce> callout_rules;  // in order: the first match decides
  std::string callout_error;  // why the file's last change was not taken; empty: none
};

struct ClientOptions {
  // How long to wait for a reply once the request is sent; 0 waits as long as the daemon takes
  // (the daemon enforces the script's own time limit).
  std::chrono::milliseconds reply_timeout{0};
  // Largest reply frame accepted; result tables over it should come in a memfd.
  std::uint32_t max_frame_bytes = kDefaultMaxFrameBytes;
  // What a result table may hold; it is validated against these before it is returned.
  TableLimits result_limits;
};

// A connection to one daemon. Calls are sequential: use one Client per thread. A connection the
// daemon has closed while idle is reopened on the next call (when the Client knows its path).
class Client {
 public:
  // Connects now, so a wrong path (BAD_REQUEST) or a stopped daemon (UNAVAILABLE) shows up here.
  static StatusOr<Client> Connect(std::string socket_path, ClientOptions options = {});
  // Uses an already connected stream socket (tests, socket activation); never reconnects.
  static Client FromSocket(UniqueFd socket, ClientOptions options = {});

  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  ~Client();

  // Runs one request. Transport failures (no daemon, a send that fails, a reset, EOF or the
  // reply_timeout before a reply) become an Error with UNAVAILABLE and `local` set, which a
  // caller may retry; an unusable reply is INTERNAL with `local` set.
  ExecuteOutcome Execute(const Request& request);
  // The runtime images the daemon has built.
  StatusOr<ImageList> ListImages();
  // Drops cached artifacts (all of them when `urls` is empty); returns how many entries went.
  StatusOr<std::uint64_t> ClearCache(const std::vector<std::string>& urls = {});
  // What the daemon runs now: version, images, pools, limits and the unanswered requests.
  StatusOr<DaemonStatus> GetStatus();
  // The limits, seccomp policy and callout rules the daemon enforces now.
  StatusOr<PolicyReport> GetPolicy();

  // Empty for a Client made by FromSocket.
  const std::string& socket_path() const;

 private:
  struct Impl;
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// `hint.distribution = per_node`: requests[i] runs on the daemon at socket_paths[i], all at once.
// Outcomes come back in the order of `requests`; ConcatTables() joins the result tables. When the
// two spans differ in length, every outcome is a BAD_REQUEST Error.
std::vector<ExecuteOutcome> ExecutePerNode(std::span<const std::string> socket_paths,
                                           std::span<const Request> requests,
                                           const ClientOptions& options = {});

}  // namespace sandboxd
