#include "launcher_client.h"

#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "launcher/launch_bounds.h"
#include "sandboxd/framing.h"

namespace sandboxd {
namespace {

std::string Errno(const std::string& what) { return what + ": " + std::strerror(errno); }

}  // namespace

StatusOr<std::unique_ptr<LauncherClient>> LauncherClient::Start(
    const internal::LaunchBounds& bounds, RootHelper* helper,
    std::chrono::milliseconds call_timeout) {
  if (Status s = CheckLaunchBounds(bounds); !s.ok()) return s;
  if (helper == nullptr) return Status(ErrorCode::kInternal, "the launcher needs the root helper");
  auto client = std::unique_ptr<LauncherClient>(new LauncherClient(bounds, helper, call_timeout));
  std::lock_guard lock(client->mu_);
  if (Status s = client->Spawn(); !s.ok()) return s;
  return client;
}

Status LauncherClient::Spawn() {
  auto started = helper_->StartLauncher();
  if (!started.ok()) return started.status();
  socket_ = std::move(started->socket);
  pid_ = started->pid;
  pidfd_ = std::move(started->pidfd);
  // A send to a launcher that stopped reading fails after the call timeout instead of blocking.
  const auto ms = call_timeout_.count();
  timeval send_timeout{static_cast<time_t>(ms / 1000), static_cast<suseconds_t>(ms % 1000 * 1000)};
  if (::setsockopt(socket_.get(), SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof send_timeout) != 0)
    return Status(ErrorCode::kInternal, Errno("set the launcher socket's send timeout"));
  // The first frame, and the only one the launcher takes without checking it.
  std::string payload;
  bounds_.SerializeToString(&payload);
  if (Status s = SendFrame(socket_.get(), payload); !s.ok())
    return Status(ErrorCode::kInternal, "the launcher did not take its bounds: " + s.message());
  return Status::Ok();
}

void LauncherClient::Stop() {
  socket_.reset();  // a healthy launcher exits on EOF
  if (!pidfd_) return;
  const auto exited = [&](int timeout_ms) {
    pollfd pfd{pidfd_.get(), POLLIN, 0};
    for (;;) {
      const int n = ::poll(&pfd, 1, timeout_ms);
      if (n < 0 && errno == EINTR) continue;
      return n != 0;  // an error too: there is nothing left to wait for
    }
  };
  // A wedged (or stopped) one does not: it gets a few seconds, then SIGKILL.
  if (!exited(5000)) {
    KillByPidfd(pidfd_.get());
    exited(-1);
  }
  pidfd_.reset();
  pid_ = -1;
}

void LauncherClient::Replace(const std::string& why) {
  spdlog::error("the launcher (pid {}) {}: restarting it; its sandboxes and zygotes end with it",
                pid_, why);
  // SIGKILL at once: a launcher that missed its bound gets no more time.
  if (pidfd_) KillByPidfd(pidfd_.get());
  Stop();
  ++restarts_;
  if (Status s = Spawn(); !s.ok()) {
    // The next call tries again.
    spdlog::error("the launcher could not be restarted: {}", s.message());
    socket_.reset();
  }
}

unsigned LauncherClient::restarts() const {
  std::lock_guard lock(mu_);
  return restarts_;
}

LauncherClient::~LauncherClient() {
  std::lock_guard lock(mu_);
  Stop();
}

StatusOr<LauncherClient::Reply> LauncherClient::Call(const internal::LaunchRequest& request,
                                                     std::span<const int> fds) {
  std::lock_guard lock(mu_);
  if (!socket_) {
    Replace("was lost at its last restart");
    if (!socket_) return Status(ErrorCode::kInternal, "no launcher is running");
  }
  std::string payload;
  request.SerializeToString(&payload);
  if (Status s = SendFrame(socket_.get(), payload, fds); !s.ok()) {
    Replace("did not take a request (" + s.message() + ")");
    return Status(ErrorCode::kInternal, "launcher unreachable: " + s.message());
  }
  const auto deadline = std::chrono::steady_clock::now() + call_timeout_;
  FrameReader reader(1 << 20, 1);
  while (!reader.HasFrame()) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd pfd{socket_.get(), POLLIN, 0};
    const int ready = left.count() > 0 ? ::poll(&pfd, 1, static_cast<int>(left.count())) : 0;
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) {
      Replace("did not answer within " + std::to_string(call_timeout_.count()) + " ms");
      return Status(ErrorCode::kInternal,
                    "the launcher did not answer in time and was restarted; retry the request");
    }
    auto state = ready > 0 ? reader.ReadFrom(socket_.get())
                           : StatusOr<FrameReader::ReadState>(
                                 Status(ErrorCode::kInternal, Errno("poll the launcher")));
    if (!state.ok() || *state == FrameReader::ReadState::kClosed) {
      const std::string what = state.ok() ? "closed its socket" : state.status().message();
      Replace("is gone (" + what + ")");
      return Status(ErrorCode::kInternal, "the launcher ended and was restarted: " + what);
    }
  }
  Frame frame = reader.Next();
  Reply reply;
  if (!reply.reply.ParseFromString(frame.payload) ||
      reply.reply.sandbox_id() != request.sandbox_id()) {
    Replace("answered with a malformed reply");
    return Status(ErrorCode::kInternal, "launcher answered with a malformed reply");
  }
  reply.fds = std::move(frame.fds);
  return reply;
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
  request.set_restart_zygotes(true);
  auto reply = Call(request, {});
  if (!reply.ok() || !reply->reply.ok())
    return {ErrorCode::kInternal, "the launcher did not restart its zygotes"};
  return Status::Ok();
}

}  // namespace sandboxd
