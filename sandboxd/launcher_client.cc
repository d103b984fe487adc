#include "launcher_client.h"

#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "launcher/launch_bounds.h"
#include "sandboxd/framing.h"

namespace sandboxd {
namespace {

std::string Errno(const std::string& what) { return what + ": " + std::strerror(errno); }

// The sandbox_id of a restart_zygotes request: "restart-zygotes-<n>", unique among the calls
// under way, so that its reply finds it like a launch's does.
constexpr std::string_view kRestartIdPrefix = "restart-zygotes-";

}  // namespace

StatusOr<std::unique_ptr<LauncherClient>> LauncherClient::Start(
    const internal::LaunchBounds& bounds, RootHelper* helper,
    std::chrono::milliseconds call_timeout) {
  if (Status s = CheckLaunchBounds(bounds); !s.ok()) return s;
  if (helper == nullptr) return Status(ErrorCode::kInternal, "the launcher needs the root helper");
  auto client = std::unique_ptr<LauncherClient>(new LauncherClient(bounds, helper, call_timeout));
  std::lock_guard replacing(client->replace_mu_);
  auto instance = client->Spawn();
  if (!instance.ok()) return instance.status();
  std::lock_guard lock(client->mu_);
  client->current_ = std::move(*instance);
  return client;
}

StatusOr<std::shared_ptr<LauncherClient::Instance>> LauncherClient::Spawn() {
  auto started = helper_->StartLauncher();
  if (!started.ok()) return started.status();
  auto instance = std::make_shared<Instance>();
  instance->generation = ++generations_;
  instance->socket = std::move(started->socket);
  instance->pid = started->pid;
  instance->pidfd = std::move(started->pidfd);
  // A send to a launcher that stopped reading fails after the call timeout instead of blocking.
  const auto ms = call_timeout_.count();
  timeval send_timeout{static_cast<time_t>(ms / 1000), static_cast<suseconds_t>(ms % 1000 * 1000)};
  Status failed;
  if (::setsockopt(instance->socket.get(), SOL_SOCKET, SO_SNDTIMEO, &send_timeout,
                   sizeof send_timeout) != 0) {
    failed = Status(ErrorCode::kInternal, Errno("set the launcher socket's send timeout"));
  } else {
    // The first frame, and the only one the launcher takes without checking it.
    std::string payload;
    bounds_.SerializeToString(&payload);
    if (Status s = SendFrame(instance->socket.get(), payload); !s.ok())
      failed = Status(ErrorCode::kInternal, "the launcher did not take its bounds: " + s.message());
  }
  if (!failed.ok()) {
    StopInstance(*instance, /*kill=*/true, "it did not start");
    return failed;
  }
  return instance;  // its reader starts with its first call (StartReader)
}

void LauncherClient::StartReader(Instance& instance) {
  if (instance.reader.joinable() || instance.ended) return;
  instance.reader = std::thread([this, raw = &instance] { ReadReplies(raw); });
}

void LauncherClient::ReadReplies(Instance* instance) {
  const int fd = instance->socket.get();
  // One pidfd per reply at most; a reply is a few hundred bytes.
  FrameReader reader(1 << 20, 1);
  std::string what;  // why reading stopped
  bool malformed = false;
  while (what.empty()) {
    // Until a reply, EOF, or StopInstance's shutdown(2): no timeout here, the callers keep
    // their own deadlines.
    pollfd pfd{fd, POLLIN, 0};
    if (::poll(&pfd, 1, -1) < 0) {
      if (errno == EINTR) continue;
      what = Errno("poll the launcher");
      break;
    }
    auto state = reader.ReadFrom(fd);
    if (!state.ok()) {
      what = state.status().message();
      break;
    }
    while (reader.HasFrame()) {
      Frame frame = reader.Next();
      Reply reply;
      if (!reply.reply.ParseFromString(frame.payload)) {
        malformed = true;
        break;
      }
      reply.fds = std::move(frame.fds);
      std::unique_lock lock(mu_);
      auto it = instance->pending.find(reply.reply.sandbox_id());
      if (it == instance->pending.end()) {
        lock.unlock();
        Drop(std::move(reply), "no call waits for it (it gave up)");
        continue;
      }
      Pending& pending = *it->second;
      instance->pending.erase(it);
      pending.reply = std::move(reply);
      pending.done = true;
      pending.woken.notify_one();
    }
    if (malformed) {
      what = "answered with a malformed reply";
    } else if (*state == FrameReader::ReadState::kClosed) {
      what = "closed its socket";
    }
  }
  // Nothing more comes from this launcher: every call still waiting on it fails now, and the
  // first of them to wake replaces it (this thread cannot: a replacement joins it).
  std::lock_guard lock(mu_);
  instance->ended = true;
  instance->end_reason = what;
  for (auto& [id, pending] : instance->pending) {
    pending->done = true;
    if (!instance->stop_reason.empty()) {
      pending->error = Status(ErrorCode::kInternal,
                              "the launcher ended and was restarted: " + instance->stop_reason);
    } else if (malformed) {
      pending->error = Status(ErrorCode::kInternal, "launcher answered with a malformed reply");
      pending->replace_why = what;
    } else {
      pending->error =
          Status(ErrorCode::kInternal, "the launcher ended and was restarted: " + what);
      pending->replace_why = "is gone (" + what + ")";
    }
    pending->woken.notify_one();
  }
  instance->pending.clear();
}

void LauncherClient::Drop(Reply reply, const std::string& why) {
  spdlog::warn("the launcher's reply for sandbox '{}' is dropped: {}", reply.reply.sandbox_id(),
               why);
  // A sandbox nobody will serve must not live on; its cgroup goes with its Execution.
  if (reply.reply.ok() && reply.fds.size() == 1) KillByPidfd(reply.fds[0].get());
}

void LauncherClient::StopInstance(Instance& instance, bool kill, const std::string& why) {
  std::thread reader;
  {
    std::lock_guard lock(mu_);
    instance.stop_reason = why;
    reader = std::move(instance.reader);
    // Never read from: no call waits on it, and none starts its reader now.
    if (!reader.joinable()) {
      instance.ended = true;
      instance.end_reason = why;
    }
  }
  // SIGKILL at once: a launcher that missed its bound gets no more time.
  if (kill && instance.pidfd) KillByPidfd(instance.pidfd.get());
  // EOF both ways: a healthy launcher exits on it, and the reader's poll returns. The descriptor
  // itself stays open until the last caller holding this instance lets go of it.
  if (instance.socket) ::shutdown(instance.socket.get(), SHUT_RDWR);
  if (instance.pidfd) {
    const auto exited = [&](int timeout_ms) {
      pollfd pfd{instance.pidfd.get(), POLLIN, 0};
      for (;;) {
        const int n = ::poll(&pfd, 1, timeout_ms);
        if (n < 0 && errno == EINTR) continue;
        return n != 0;  // an error too: there is nothing left to wait for
      }
    };
    // A wedged (or stopped) one does not exit: it gets a few seconds, then SIGKILL.
    if (!exited(5000)) {
      KillByPidfd(instance.pidfd.get());
      exited(-1);
    }
  }
  if (reader.joinable()) reader.join();
}

void LauncherClient::ReplaceIfCurrent(const std::shared_ptr<Instance>& stale,
                                      const std::string& why) {
  std::lock_guard replacing(replace_mu_);
  {
    std::lock_guard lock(mu_);
    if (current_ != stale) return;  // another caller replaced this generation already
  }
  if (stale) {
    spdlog::error(
        "the launcher (pid {}, generation {}) {}: restarting it; its sandboxes and zygotes end "
        "with it",
        stale->pid, stale->generation, why);
    StopInstance(*stale, /*kill=*/true, "it " + why);
  }
  auto fresh = Spawn();
  if (!fresh.ok()) {
    // The next call tries again.
    spdlog::error("the launcher could not be restarted: {}", fresh.status().message());
  }
  std::lock_guard lock(mu_);
  ++restarts_;
  current_ = fresh.ok() ? std::move(*fresh) : nullptr;
}

unsigned LauncherClient::restarts() const {
  std::lock_guard lock(mu_);
  return restarts_;
}

LauncherClient::~LauncherClient() {
  std::lock_guard replacing(replace_mu_);
  std::shared_ptr<Instance> last;
  {
    std::lock_guard lock(mu_);
    last = std::move(current_);
  }
  if (last) StopInstance(*last, /*kill=*/false, "the daemon is stopping");
}

StatusOr<LauncherClient::Reply> LauncherClient::Call(const internal::LaunchRequest& request,
                                                     std::span<const int> fds) {
  // The bound covers the whole call: a send held up by a launcher that stopped reading too.
  const auto deadline = std::chrono::steady_clock::now() + call_timeout_;
  const std::string& id = request.sandbox_id();
  std::shared_ptr<Instance> instance;
  Pending pending;
  {
    std::unique_lock lock(mu_);
    instance = current_;
    if (!instance || instance->ended) {
      const std::string why =
          instance ? "is gone (" + instance->end_reason + ")" : "was lost at its last restart";
      lock.unlock();
      ReplaceIfCurrent(instance, why);
      lock.lock();
      instance = current_;
      if (!instance) return Status(ErrorCode::kInternal, "no launcher is running");
    }
    if (instance->ended) {
      // The fresh one ended at once.
      const std::string what = instance->end_reason;
      lock.unlock();
      ReplaceIfCurrent(instance, "is gone (" + what + ")");
      return Status(ErrorCode::kInternal, "the launcher ended and was restarted: " + what);
    }
    StartReader(*instance);
    if (!instance->pending.emplace(id, &pending).second)
      return Status(ErrorCode::kInternal, "a launcher call for '" + id + "' is already under way");
  }
  std::string payload;
  request.SerializeToString(&payload);
  Status sent;
  {
    std::lock_guard sending(instance->send_mu);
    sent = SendFrame(instance->socket.get(), payload, fds);
  }
  std::unique_lock lock(mu_);
  if (!sent.ok()) {
    // Unless the reader has already failed this call (and taken it out of the map).
    if (!pending.done) instance->pending.erase(id);
    lock.unlock();
    ReplaceIfCurrent(instance, "did not take a request (" + sent.message() + ")");
    return Status(ErrorCode::kInternal, "launcher unreachable: " + sent.message());
  }
  if (!pending.woken.wait_until(lock, deadline, [&] { return pending.done; })) {
    // A reply that comes after this finds no caller and is dropped.
    instance->pending.erase(id);
    lock.unlock();
    ReplaceIfCurrent(instance,
                     "did not answer within " + std::to_string(call_timeout_.count()) + " ms");
    return Status(ErrorCode::kInternal,
                  "the launcher did not answer in time and was restarted; retry the request");
  }
  lock.unlock();
  if (pending.reply) return std::move(*pending.reply);
  if (!pending.replace_why.empty()) ReplaceIfCurrent(instance, pending.replace_why);
  return pending.error;
}

StatusOr<LaunchedSandbox> LauncherClient::Launch(const internal::LaunchRequest& request,
                                                 const SandboxFds& fds, bool* zygote_failed) {
  if (zygote_failed != nullptr) *zygote_failed = false;
  auto reply = Call(request, std::span<const int>(fds.fd, kSandboxFdCount));
  if (!reply.ok()) return reply.status();
  if (!reply->reply.ok()) {
    if (zygote_failed != nullptr) *zygote_failed = reply->reply.zygote_failed();
    return Status(ErrorCode::kInternal, "launching the sandbox failed: " + reply->reply.error());
  }
  if (reply->fds.size() != 1) return Status(ErrorCode::kInternal, "launcher sent no pidfd");
  LaunchedSandbox launched;
  launched.pid = reply->reply.pid();
  launched.pidfd = std::move(reply->fds[0]);
  launched.zygote_restarted = reply->reply.zygote_restarted();
  return launched;
}

Status LauncherClient::RestartZygotes() {
  internal::LaunchRequest request;
  request.set_sandbox_id(std::string(kRestartIdPrefix) + std::to_string(++next_restart_id_));
  request.set_restart_zygotes(true);
  auto reply = Call(request, {});
  if (!reply.ok() || !reply->reply.ok())
    return {ErrorCode::kInternal, "the launcher did not restart its zygotes"};
  return Status::Ok();
}

}  // namespace sandboxd
