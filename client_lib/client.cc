#include "sandboxd/client.h"

#include <poll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <utility>

#include "sandboxd.pb.h"
#include "sandboxd/memfd.h"

namespace sandboxd {
namespace {

namespace pb = ::sandboxd::proto;

Status LocalError(std::string message) { return Status(ErrorCode::kInternal, std::move(message)); }

// Transport failures are UNAVAILABLE, not INTERNAL: the daemon did not fail the request, the way
// to it did, and a caller may retry (here or on another node). Whether the request had gone out
// decides what a retry risks, so the message says which.
Status NotSent(std::string message) {
  return Status(ErrorCode::kUnavailable,
                std::move(message) + "; the request was not sent, so it may be retried");
}
// Sent but unanswered: the daemon may have run the request (or may still be running it, until it
// notices the closed connection), so a retry may run it twice.
Status LostAfterSending(std::string message) {
  return Status(ErrorCode::kUnavailable,
                std::move(message) +
                    "; the request may be retried, but it was sent and may have run already "
                    "(retry only if running it twice is harmless)");
}

std::string ErrnoText() { return std::strerror(errno); }

StatusOr<UniqueFd> ConnectUnix(const std::string& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  // A leading '@' names a socket in the abstract namespace, as ss(8) prints them.
  const bool abstract = !path.empty() && path.front() == '@';
  // A path no socket can have is the caller's mistake, which a retry would only repeat.
  if (path.empty()) return Status(ErrorCode::kBadRequest, "no sandboxd socket path given");
  if (path.size() >= sizeof(address.sun_path)) {
    return Status(ErrorCode::kBadRequest, "sandboxd socket path '" + path + "' is longer than " +
                                              std::to_string(sizeof(address.sun_path) - 1) +
                                              " bytes");
  }
  std::memcpy(address.sun_path, path.data(), path.size());
  if (abstract) address.sun_path[0] = '\0';
  const auto length =
      static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + (abstract ? 0 : 1));

  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return LocalError("socket(AF_UNIX): " + ErrnoText());
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), length) != 0) {
    if (errno != EINTR) {
      return NotSent("cannot connect to sandboxd at " + path + ": " + ErrnoText() +
                     " (is sandboxd running, and may this user use its socket?)");
    }
    // An interrupted connect carries on in the background; wait for its verdict.
    pollfd p{fd.get(), POLLOUT, 0};
    while (::poll(&p, 1, -1) < 0 && errno == EINTR) {
    }
    int error = 0;
    socklen_t error_length = sizeof(error);
    if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &error, &error_length) != 0 || error != 0) {
      return NotSent("cannot connect to sandboxd at " + path + ": " +
                     std::strerror(error != 0 ? error : errno));
    }
  }
  return fd;
}

std::string GenerateRequestId() {
  static std::atomic<std::uint64_t> counter{0};
  unsigned char random[8] = {};
  if (::getrandom(random, sizeof(random), GRND_NONBLOCK) != sizeof(random)) {
    // Unique within the process is enough for correlating logs.
    const std::uint64_t fallback =
        (static_cast<std::uint64_t>(::getpid()) << 32) ^ counter.fetch_add(1);
    std::memcpy(random, &fallback, sizeof(random));
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id = "req-";
  for (unsigned char byte : random) {
    id += kHex[byte >> 4];
    id += kHex[byte & 0xF];
  }
  return id;
}

ErrorCode FromProtoCode(pb::ErrorCode code) {
  const int value = static_cast<int>(code);
  if (value >= static_cast<int>(ErrorCode::kBadRequest) &&
      value <= static_cast<int>(ErrorCode::kInternal)) {
    return static_cast<ErrorCode>(value);
  }
  return ErrorCode::kInternal;
}

LogRecord FromProto(const pb::LogRecord& in) {
  LogRecord out;
  switch (in.stream()) {
    case pb::LogRecord::STDOUT:
      out.stream = LogRecord::Stream::kStdout;
      break;
    case pb::LogRecord::STDERR:
      out.stream = LogRecord::Stream::kStderr;
      break;
    case pb::LogRecord::LOGGING:
      out.stream = LogRecord::Stream::kLogging;
      break;
    default:
      out.stream = LogRecord::Stream::kUnspecified;
  }
  out.time = in.time();
  out.level = in.level();
  out.logger = in.logger();
  out.message = in.message();
  out.file = in.file();
  out.line = in.line();
  return out;
}

std::vector<LogRecord> FromProto(const google::protobuf::RepeatedPtrField<pb::LogRecord>& in) {
  std::vector<LogRecord> out;
  out.reserve(static_cast<std::size_t>(in.size()));
  for (const pb::LogRecord& record : in) out.push_back(FromProto(record));
  return out;
}

Stats FromProto(const pb::Stats& in) {
  Stats out;
  out.queue_seconds = in.queue_seconds();
  out.setup_seconds = in.setup_seconds();
  out.run_seconds = in.run_seconds();
  out.wall_seconds = in.wall_seconds();
  out.cpu_user_seconds = in.cpu_user_seconds();
  out.cpu_system_seconds = in.cpu_system_seconds();
  out.peak_memory_bytes = in.peak_memory_bytes();
  out.bytes_in = in.bytes_in();
  out.bytes_out = in.bytes_out();
  return out;
}

Error FromProto(const pb::Error& in) {
  Error out;
  out.code = FromProtoCode(in.code());
  out.message = in.message();
  if (out.code == ErrorCode::kInternal && in.code() != pb::INTERNAL) {
    out.message = "(daemon sent error code " + std::to_string(static_cast<int>(in.code())) + ") " +
                  out.message;
  }
  out.retry_after_ms = in.retry_after_ms();
  out.logs = FromProto(in.logs());
  out.stats = FromProto(in.stats());
  return out;
}

Error LocalFailure(const Status& status) {
  Error error;
  error.code = status.code() == ErrorCode::kOk ? ErrorCode::kInternal : status.code();
  error.message = status.message();
  error.local = true;
  return error;
}

// Reads exactly `size` bytes from the start of `fd`.
Status ReadWhole(int fd, std::string& out, std::uint64_t size) {
  out.resize(size);
  std::uint64_t done = 0;
  while (done < size) {
    const ssize_t n = ::pread(fd, out.data() + done, size - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return LocalError("reading the result memfd: " + ErrnoText());
    if (n == 0) return LocalError("the result memfd is shorter than its stated size");
    done += static_cast<std::uint64_t>(n);
  }
  return Status::Ok();
}

// The table of a reply, copied out of the frame or memfd and validated: the bytes may have come
// from a sandbox, and the copy means no one can change them after the check.
StatusOr<Table> DecodeTable(const pb::TablePayload& payload, std::vector<UniqueFd>& fds,
                            const TableLimits& limits) {
  std::string buffer;
  switch (payload.data_case()) {
    case pb::TablePayload::kInlineData:
      if (payload.size() != 0 && payload.size() != payload.inline_data().size()) {
        return LocalError("the result table says " + std::to_string(payload.size()) +
                          " bytes but carries " + std::to_string(payload.inline_data().size()));
      }
      buffer = payload.inline_data();
      break;
    case pb::TablePayload::kMemfdIndex: {
      const std::uint32_t index = payload.memfd_index();
      if (index >= fds.size() || !fds[index]) {
        return LocalError("the result table names descriptor " + std::to_string(index) +
                          " but the reply carried " + std::to_string(fds.size()));
      }
      const int fd = fds[index].get();
      struct stat st {};
      if (::fstat(fd, &st) != 0) return LocalError("fstat on the result memfd: " + ErrnoText());
      if (!S_ISREG(st.st_mode)) return LocalError("the result descriptor is not a memfd");
      const auto actual = static_cast<std::uint64_t>(st.st_size);
      const std::uint64_t size = payload.size() != 0 ? payload.size() : actual;
      if (size != actual) {
        return LocalError("the result memfd holds " + std::to_string(actual) +
                          " bytes but the reply says " + std::to_string(size));
      }
      if (size > limits.max_bytes) {
        return Status(ErrorCode::kOutputLimit, "the result table of " + std::to_string(size) +
                                                   " bytes is over the limit of " +
                                                   std::to_string(limits.max_bytes));
      }
      // A mapping of a file that can still shrink faults with SIGBUS when touched past its new
      // end, so only a memfd sealed against that is mapped; anything else is read with pread.
      if (size != 0 && CheckSealed(fd).ok()) {
        auto mapped = MappedFile::Map(fd, limits.max_bytes);
        if (!mapped.ok())
          return LocalError("mapping the result memfd: " + mapped.status().message());
        if (mapped->bytes().size() != size) return LocalError("the result memfd changed size");
        buffer.assign(reinterpret_cast<const char*>(mapped->bytes().data()), size);
      } else if (Status st_read = ReadWhole(fd, buffer, size); !st_read.ok()) {
        return st_read;
      }
      break;
    }
    case pb::TablePayload::DATA_NOT_SET:
      if (payload.size() != 0) return LocalError("the result table has a size but no data");
      return Table();
  }
  auto table = Table::FromBuffer(std::move(buffer), limits);
  if (!table.ok()) {
    return LocalError("sandboxd returned a result table that fails validation: " +
                      table.status().message());
  }
  return table;
}

struct Reply {
  pb::DaemonMessage message;
  std::vector<UniqueFd> fds;
};

}  // namespace

std::string_view LogStreamName(LogRecord::Stream stream) {
  switch (stream) {
    case LogRecord::Stream::kStdout:
      return "stdout";
    case LogRecord::Stream::kStderr:
      return "stderr";
    case LogRecord::Stream::kLogging:
      return "logging";
    case LogRecord::Stream::kUnspecified:
      break;
  }
  return "unspecified";
}

std::string Error::ToString() const { return Status(code, message).ToString(); }

ExecuteOutcome::ExecuteOutcome(Result result) : value_(std::move(result)) {}
ExecuteOutcome::ExecuteOutcome(Error error) : value_(std::move(error)) {}

Status ExecuteOutcome::status() const {
  if (ok()) return Status::Ok();
  return Status(error().code, error().message);
}

struct Client::Impl {
  std::string socket_path;
  ClientOptions options;
  UniqueFd socket;
  FrameReader reader;

  Impl(std::string path, ClientOptions opts)
      : socket_path(std::move(path)), options(opts), reader(options.max_frame_bytes) {}

  // A request whose answer is either `expected` or an error from the daemon.
  StatusOr<pb::DaemonMessage> Call(const pb::ClientMessage& message,
                                   pb::DaemonMessage::BodyCase expected, const char* what);

  void Disconnect() {
    socket.reset();
    reader = FrameReader(options.max_frame_bytes);
  }

  Status EnsureConnected() {
    if (socket) {
      // An idle connection has nothing to read; readable or hung up means the daemon closed it
      // (or sent something unasked), so start afresh rather than send into a dead socket.
      pollfd p{socket.get(), POLLIN | POLLRDHUP, 0};
      if (::poll(&p, 1, 0) == 0) return Status::Ok();
      Disconnect();
    }
    if (socket_path.empty())
      return NotSent(
          "the connection to sandboxd is closed (a Client made from a socket cannot "
          "reopen it)");
    auto fd = ConnectUnix(socket_path);
    if (!fd.ok()) return fd.status();
    socket = std::move(fd.value());
    return Status::Ok();
  }

  // `fds` ride with the request and are closed as soon as it is sent: the daemon holds its own
  // copies then, so an input memfd's shared memory is freed as soon as the daemon drops it (with
  // spill_to_disk, once the input is staged on disk) instead of when the reply arrives.
  StatusOr<Reply> RoundTrip(const pb::ClientMessage& message, std::vector<UniqueFd> fds) {
    if (Status st = EnsureConnected(); !st.ok()) return st;
    std::string payload;
    if (!message.SerializeToString(&payload)) return LocalError("cannot serialize the request");
    if (payload.size() > kDefaultMaxFrameBytes) {
      return Status(ErrorCode::kBadRequest, "the request of " + std::to_string(payload.size()) +
                                                " bytes is over the frame limit of " +
                                                std::to_string(kDefaultMaxFrameBytes));
    }
    std::vector<int> raw;
    for (const UniqueFd& fd : fds) raw.push_back(fd.get());
    if (Status st = SendFrame(socket.get(), payload, raw); !st.ok()) {
      Disconnect();
      // A frame cut short is never run: the daemon drops a connection that ends mid-frame.
      return NotSent("sending the request to sandboxd failed: " + st.message());
    }
    fds.clear();

    const auto deadline = std::chrono::steady_clock::now() + options.reply_timeout;
    while (!reader.HasFrame()) {
      if (options.reply_timeout.count() > 0) {
        const auto left = std::chrono::ceil<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
          // A late reply would be taken for the next request's, so the connection goes.
          Disconnect();
          return LostAfterSending("no reply from sandboxd within " +
                                  std::to_string(options.reply_timeout.count()) +
                                  " ms (the client's reply_timeout), so the connection was closed");
        }
        pollfd p{socket.get(), POLLIN, 0};
        const int ready =
            ::poll(&p, 1, static_cast<int>(std::min<std::int64_t>(left.count(), 1 << 30)));
        if (ready < 0 && errno == EINTR) continue;
        if (ready < 0) {
          Disconnect();
          return LocalError("waiting for sandboxd: " + ErrnoText());
        }
        if (ready == 0) continue;  // the deadline is checked again above
      }
      auto state = reader.ReadFrom(socket.get());
      if (!state.ok()) {
        Disconnect();
        const std::string why =
            "reading the reply from sandboxd failed: " + state.status().message();
        // recvmsg failing (a reset) or the stream ending inside a frame is the connection
        // breaking, as when the daemon dies mid-reply; any other refusal is a reply that breaks
        // the protocol, which a retry would not mend.
        const bool broken = state.status().code() == ErrorCode::kInternal ||
                            state.status().message().find("closed") != std::string::npos;
        return broken ? LostAfterSending(why) : LocalError(why);
      }
      if (*state == FrameReader::ReadState::kClosed) {
        Disconnect();
        return LostAfterSending("sandboxd closed the connection before replying");
      }
    }
    Frame frame = reader.Next();
    Reply reply;
    if (!reply.message.ParseFromString(frame.payload)) {
      Disconnect();
      return LocalError("sandboxd sent a reply that is not a DaemonMessage");
    }
    if (reply.message.version() != pb::PROTOCOL_VERSION_1) {
      Disconnect();
      return LocalError("sandboxd replied with protocol version " +
                        std::to_string(static_cast<int>(reply.message.version())) +
                        "; this client speaks version 1");
    }
    reply.fds = std::move(frame.fds);
    return reply;
  }
};

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;
Client::~Client() = default;

StatusOr<Client> Client::Connect(std::string socket_path, ClientOptions options) {
  // An empty path would read as a FromSocket client's closed connection (UNAVAILABLE).
  if (socket_path.empty()) return Status(ErrorCode::kBadRequest, "no sandboxd socket path given");
  auto impl = std::make_unique<Impl>(std::move(socket_path), options);
  if (Status st = impl->EnsureConnected(); !st.ok()) return st;
  return Client(std::move(impl));
}

Client Client::FromSocket(UniqueFd socket, ClientOptions options) {
  auto impl = std::make_unique<Impl>(std::string(), options);
  impl->socket = std::move(socket);
  return Client(std::move(impl));
}

const std::string& Client::socket_path() const { return impl_->socket_path; }

ExecuteOutcome Client::Execute(const Request& request) {
  pb::ClientMessage message;
  message.set_version(pb::PROTOCOL_VERSION_1);
  pb::ExecuteRequest* execute = message.mutable_execute();
  const std::string request_id =
      request.request_id.empty() ? GenerateRequestId() : request.request_id;
  execute->set_request_id(request_id);
  execute->set_output_schema(request.output_schema);
  execute->set_script(request.script);
  execute->set_script_parameters_json(
      request.script_parameters_json.empty() ? "{}" : request.script_parameters_json);
  for (const auto& [name, url] : request.external_artifacts) {
    (*execute->mutable_external_artifacts())[name] = url;
  }
  execute->set_spill_to_disk(request.spill_to_disk);
  execute->set_image(request.image);
  execute->set_debug(request.debug);
  pb::Limits* limits = execute->mutable_limits();
  limits->set_memory_mb(request.memory_mb);
  limits->set_timeout_ms(request.timeout_ms);
  limits->set_max_result_bytes(request.max_result_bytes);
  limits->set_max_log_bytes(request.max_log_bytes);

  // A moved-from Table has no buffer; it stands for the empty table like a default one.
  const Table empty;
  const std::string& input =
      request.input.buffer().empty() ? empty.buffer() : request.input.buffer();
  pb::TablePayload* payload = execute->mutable_input();
  payload->set_size(input.size());
  std::vector<UniqueFd> fds;
  if (input.size() <= kMaxInlineTableBytes) {
    payload->set_inline_data(input);
  } else {
    auto sealed = CreateSealedMemfd(
        "sandboxd-input", std::as_bytes(std::span<const char>(input.data(), input.size())));
    if (!sealed.ok()) {
      return LocalFailure(
          LocalError("cannot put the input table in a memfd: " + sealed.status().message()));
    }
    fds.push_back(std::move(sealed.value()));
    payload->set_memfd_index(0);
  }

  auto reply = impl_->RoundTrip(message, std::move(fds));
  if (!reply.ok()) return LocalFailure(reply.status());
  const pb::DaemonMessage& answer = reply->message;
  if (!answer.request_id().empty() && answer.request_id() != request_id) {
    impl_->Disconnect();
    return LocalFailure(LocalError("sandboxd answered request '" + answer.request_id() +
                                   "' while this client waited for '" + request_id + "'"));
  }
  switch (answer.body_case()) {
    case pb::DaemonMessage::kResult: {
      const pb::ExecuteResult& in = answer.result();
      auto table = DecodeTable(in.table(), reply->fds, impl_->options.result_limits);
      if (!table.ok()) return LocalFailure(table.status());
      Result result;
      result.request_id = request_id;
      result.table = std::move(table.value());
      result.logs = FromProto(in.logs());
      result.logs_truncated = in.logs_truncated();
      result.stats = FromProto(in.stats());
      result.debug_script = in.debug_script();
      return result;
    }
    case pb::DaemonMessage::kError:
      return FromProto(answer.error());
    default:
      return LocalFailure(LocalError("sandboxd answered an execute request with something else (" +
                                     std::to_string(static_cast<int>(answer.body_case())) + ")"));
  }
}

StatusOr<pb::DaemonMessage> Client::Impl::Call(const pb::ClientMessage& message,
                                               pb::DaemonMessage::BodyCase expected,
                                               const char* what) {
  auto reply = RoundTrip(message, {});
  if (!reply.ok()) return reply.status();
  pb::DaemonMessage& answer = reply->message;
  if (answer.body_case() == pb::DaemonMessage::kError) {
    const Error error = FromProto(answer.error());
    return Status(error.code, error.message);
  }
  if (answer.body_case() != expected)
    return LocalError(std::string("sandboxd answered a ") + what + " request with something else");
  return std::move(answer);
}

StatusOr<ImageList> Client::ListImages() {
  pb::ClientMessage message;
  message.set_version(pb::PROTOCOL_VERSION_1);
  message.mutable_list_images();
  auto answer = impl_->Call(message, pb::DaemonMessage::kImages, "list-images");
  if (!answer.ok()) return answer.status();
  ImageList list;
  list.default_image = answer->images().default_image();
  for (const pb::ImageInfo& info : answer->images().images()) {
    list.images.push_back({info.name(), info.manifest_sha256(), info.package_count()});
  }
  return list;
}

StatusOr<std::uint64_t> Client::ClearCache(const std::vector<std::string>& urls) {
  pb::ClientMessage message;
  message.set_version(pb::PROTOCOL_VERSION_1);
  pb::ClearCacheRequest* clear = message.mutable_clear_cache();
  for (const std::string& url : urls) clear->add_urls(url);
  auto answer = impl_->Call(message, pb::DaemonMessage::kCacheCleared, "clear-cache");
  if (!answer.ok()) return answer.status();
  return answer->cache_cleared().entries_removed();
}

namespace {

NodeLimits FromProto(const pb::LimitsInForce& limits) {
  NodeLimits out;
  out.max_sandboxes = limits.max_sandboxes();
  out.max_queue = limits.max_queue();
  out.warm_sandboxes = limits.warm_sandboxes();
  out.memory_bytes = limits.memory_bytes();
  out.timeout_ms = limits.timeout_ms();
  out.cpu_percent = limits.cpu_percent();
  out.max_result_bytes = limits.max_result_bytes();
  out.max_log_bytes = limits.max_log_bytes();
  out.max_pids = limits.max_pids();
  out.tmp_bytes = limits.tmp_bytes();
  out.work_bytes = limits.work_bytes();
  out.max_frame_bytes = limits.max_frame_bytes();
  out.max_connections = limits.max_connections();
  out.max_connections_per_uid = limits.max_connections_per_uid();
  return out;
}

std::string PhaseName(pb::RequestPhase phase) {
  switch (phase) {
    case pb::PHASE_ACCEPTED:
      return "accepted";
    case pb::PHASE_SPILLING:
      return "spilling";
    case pb::PHASE_FETCHING:
      return "fetching";
    case pb::PHASE_QUEUED:
      return "queued";
    case pb::PHASE_LAUNCHING:
      return "launching";
    case pb::PHASE_RUNNING:
      return "running";
    case pb::PHASE_VALIDATING:
      return "validating";
    default:
      return "unknown (" + std::to_string(static_cast<int>(phase)) + ")";
  }
}

std::string ZygoteName(pb::ZygoteState state) {
  switch (state) {
    case pb::ZYGOTES_OFF:
      return "off";
    case pb::ZYGOTE_NOT_STARTED:
      return "not started";
    case pb::ZYGOTE_IN_USE:
      return "in use";
    case pb::ZYGOTE_BACKING_OFF:
      return "backing off";
    default:
      return "unknown (" + std::to_string(static_cast<int>(state)) + ")";
  }
}

}  // namespace

StatusOr<DaemonStatus> Client::GetStatus() {
  pb::ClientMessage message;
  message.set_version(pb::PROTOCOL_VERSION_1);
  message.mutable_status();
  auto answer = impl_->Call(message, pb::DaemonMessage::kStatus, "status");
  if (!answer.ok()) return answer.status();
  const pb::DaemonStatus& in = answer->status();
  DaemonStatus status;
  status.version = in.version();
  status.uptime_ms = in.uptime_ms();
  status.draining = in.draining();
  status.default_image = in.default_image();
  for (const pb::ImageInfo& info : in.images())
    status.images.push_back({info.name(), info.manifest_sha256(), info.package_count()});
  for (const pb::ImagePool& pool : in.pools()) {
    status.pools.push_back({pool.image(), pool.ready(), pool.running(), ZygoteName(pool.zygote()),
                            pool.zygote_retry_in_ms(), pool.zygote_failure()});
  }
  status.sandboxes_in_use = in.sandboxes_in_use();
  status.queued = in.queued();
  status.limits = FromProto(in.limits());
  for (const pb::RequestStatus& request : in.requests()) {
    status.requests.push_back({request.request_id(), request.image(), PhaseName(request.phase()),
                               request.age_ms(), request.peak_memory_bytes()});
  }
  status.launcher_restarts = in.launcher_restarts();
  return status;
}

StatusOr<PolicyReport> Client::GetPolicy() {
  pb::ClientMessage message;
  message.set_version(pb::PROTOCOL_VERSION_1);
  message.mutable_policy();
  auto answer = impl_->Call(message, pb::DaemonMessage::kPolicy, "policy");
  if (!answer.ok()) return answer.status();
  const pb::PolicyReport& in = answer->policy();
  PolicyReport report;
  report.limits = FromProto(in.limits());
  const pb::SeccompInForce& seccomp = in.seccomp();
  report.seccomp = {seccomp.enabled(),         seccomp.generation(),        seccomp.path(),
                    seccomp.kernel_features(), seccomp.memfd_noexec_seal(), seccomp.instructions(),
                    seccomp.program_sha256(),  seccomp.loaded_ms_ago()};
  report.callout_path = in.callout().path();
  report.callout_error = in.callout().error();
  for (const pb::CalloutRuleInForce& rule : in.callout().rules())
    report.callout_rules.push_back({rule.callout_type(), rule.uri_regex(), rule.can_call()});
  return report;
}

std::vector<ExecuteOutcome> ExecutePerNode(std::span<const std::string> socket_paths,
                                           std::span<const Request> requests,
                                           const ClientOptions& options) {
  std::vector<ExecuteOutcome> outcomes;
  outcomes.reserve(requests.size());
  if (socket_paths.size() != requests.size()) {
    for (std::size_t i = 0; i < requests.size(); ++i) {
      Error error;
      error.code = ErrorCode::kBadRequest;
      error.message = std::to_string(requests.size()) + " requests for " +
                      std::to_string(socket_paths.size()) + " endpoints; give one per endpoint";
      error.local = true;
      outcomes.emplace_back(std::move(error));
    }
    return outcomes;
  }
  for (std::size_t i = 0; i < requests.size(); ++i) outcomes.emplace_back(Error{});
  std::vector<std::thread> threads;
  threads.reserve(requests.size());
  for (std::size_t i = 0; i < requests.size(); ++i) {
    threads.emplace_back([&, i] {
      auto client = Client::Connect(socket_paths[i], options);
      if (!client.ok()) {
        outcomes[i] = LocalFailure(client.status());
        return;
      }
      outcomes[i] = client->Execute(requests[i]);
    });
  }
  for (std::thread& thread : threads) thread.join();
  return outcomes;
}

}  // namespace sandboxd
