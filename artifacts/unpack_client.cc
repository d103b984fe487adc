#include "unpack_client.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "sandboxd/unique_fd.h"

namespace sandboxd {
namespace {

constexpr std::size_t kMaxReplyBytes = 64 << 10;

struct TreeCount {
  std::uint64_t files = 0;
  std::uint64_t bytes = 0;
};

// The helper is not trusted either: only files (one link each) and folders, within the limits,
// are taken, and each is copied into a fresh inode of root's (0644/0755) in `dst_fd`. A helper
// that was taken over and left a process holding descriptors into its tree writes into inodes
// that no request ever sees.
Status CopyTree(int src_fd, int dst_fd, const BundleLimits& limits, TreeCount& count,
                unsigned depth) {
  if (depth > limits.max_depth + 2) return {ErrorCode::kInternal, "the unpacked tree is too deep"};
  UniqueFd listing(::fcntl(src_fd, F_DUPFD_CLOEXEC, 0));
  DIR* dir = ::fdopendir(listing.get());
  if (dir == nullptr) return {ErrorCode::kInternal, "cannot list the unpacked tree"};
  listing.release();
  Status result = Status::Ok();
  const auto fail = [&](ErrorCode code, const char* what) { result = {code, what}; };
  while (dirent* d = ::readdir(dir)) {
    const std::string name = d->d_name;
    if (name == "." || name == "..") continue;
    struct stat st {};
    if (::fstatat(src_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      fail(ErrorCode::kInternal, "cannot inspect the unpacked tree");
      break;
    }
    if (S_ISDIR(st.st_mode)) {
      UniqueFd sub(::openat(src_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!sub || ::mkdirat(dst_fd, name.c_str(), 0755) != 0) {
        fail(ErrorCode::kInternal, "cannot copy a folder of the unpacked tree");
        break;
      }
      UniqueFd copy(
          ::openat(dst_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!copy || ::fchmod(copy.get(), 0755) != 0) {
        fail(ErrorCode::kInternal, "cannot copy a folder of the unpacked tree");
        break;
      }
      result = CopyTree(sub.get(), copy.get(), limits, count, depth + 1);
      if (!result.ok()) break;
    } else if (S_ISREG(st.st_mode) && st.st_nlink == 1) {
      ++count.files;
      count.bytes += static_cast<std::uint64_t>(st.st_size);
      if (count.files > limits.max_entries || count.bytes > limits.max_unpacked_bytes) {
        fail(ErrorCode::kArtifactFailed, "the unpacked tree exceeds the bundle limits");
        break;
      }
      const mode_t mode = (st.st_mode & S_IXUSR) != 0 ? 0755 : 0644;
      UniqueFd in(::openat(src_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
      UniqueFd out(::openat(dst_fd, name.c_str(),
                            O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode));
      if (!in || !out || ::fchmod(out.get(), mode) != 0) {
        fail(ErrorCode::kInternal, "cannot copy a file of the unpacked tree");
        break;
      }
      // Never more than the size it had when counted: a file that grows is not the one counted.
      std::uint64_t left = static_cast<std::uint64_t>(st.st_size);
      char buffer[65536];
      while (left > 0) {
        const ssize_t n = ::read(in.get(), buffer, std::min<std::uint64_t>(left, sizeof(buffer)));
        if (n <= 0 || ::write(out.get(), buffer, static_cast<std::size_t>(n)) != n) break;
        left -= static_cast<std::uint64_t>(n);
      }
      if (left != 0) {
        fail(ErrorCode::kInternal, "cannot copy a file of the unpacked tree");
        break;
      }
    } else {
      fail(ErrorCode::kInternal,
           "the unpack helper left something that is neither a file nor a folder");
      break;
    }
  }
  ::closedir(dir);
  return result;
}

// The helper's keeper ends on SIGTERM after killing and reaping its worker; a keeper that does not
// within the grace is killed (its worker then dies too, by its parent-death signal).
constexpr int kHelperTimedOut = 124;  // unpack_confinement.h kUnpackTimedOut
constexpr int kHelperGraceMs = 5000;

void EndHelper(int pidfd, pid_t pid) {
  if (pidfd < 0) {
    ::kill(pid, SIGKILL);
    return;
  }
  ::syscall(SYS_pidfd_send_signal, pidfd, SIGTERM, nullptr, 0);
  pollfd ended{pidfd, POLLIN, 0};
  int ready = 0;
  do {
    ready = ::poll(&ended, 1, kHelperGraceMs);
  } while (ready < 0 && errno == EINTR);
  if (ready <= 0) ::syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0);
}

}  // namespace

std::string FindUnpackHelper(const std::string& configured) {
  if (!configured.empty()) return configured;
  std::error_code ec;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    for (const auto& candidate :
         {self.parent_path() / "sandboxd-unpack",
          self.parent_path().parent_path() / "libexec" / "sandboxd" / "sandboxd-unpack"}) {
      if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
    }
  }
  return SANDBOXD_DEFAULT_UNPACK_HELPER;
}

StatusOr<BundleManifest> RunUnpackHelper(const std::string& helper, const ArtifactsConfig& config,
                                         const std::string& archive_path,
                                         const std::string& artifact_name,
                                         const WheelTarget& target, const std::string& tree_dir) {
  const bool root = ::geteuid() == 0;
  if (root && (config.unpack_uid == 0 || config.unpack_gid == 0))
    return Status(ErrorCode::kInternal, "artifacts.unpack_uid and unpack_gid must not be 0");
  if (::mkdir(tree_dir.c_str(), 0700) != 0)
    return Status(ErrorCode::kInternal, "cannot create " + tree_dir + ": " + std::strerror(errno));
  if (root && ::chown(tree_dir.c_str(), config.unpack_uid, config.unpack_gid) != 0)
    return Status(ErrorCode::kInternal, "cannot hand " + tree_dir + " to the unpack user");
  UniqueFd tree(::open(tree_dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  UniqueFd archive(::open(archive_path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!tree || !archive)
    return Status(ErrorCode::kInternal, "cannot open the bundle or its folder");
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return Status(ErrorCode::kInternal, "pipe2 failed");
  UniqueFd reply_read(pipe_fds[0]), reply_write(pipe_fds[1]);

  const BundleLimits& l = config.bundle;
  std::vector<std::string> args = {helper,
                                   "--uid",
                                   std::to_string(config.unpack_uid),
                                   "--gid",
                                   std::to_string(config.unpack_gid),
                                   "--name",
                                   artifact_name,
                                   "--python",
                                   fmt::format("{}.{}", target.python_major, target.python_minor),
                                   "--glibc",
                                   fmt::format("{}.{}", target.glibc_major, target.glibc_minor),
                                   "--arch",
                                   target.arch,
                                   "--max-entries",
                                   std::to_string(l.max_entries),
                                   "--max-bytes",
                                   std::to_string(l.max_unpacked_bytes),
                                   "--max-entry-bytes",
                                   std::to_string(l.max_entry_bytes),
                                   "--max-ratio",
                                   std::to_string(l.max_ratio),
                                   "--timeout-s",
                                   std::to_string(config.unpack_timeout_s)};
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  char* envp[] = {nullptr};

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, archive.get(), 0);
  posix_spawn_file_actions_adddup2(&actions, reply_write.get(), 1);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, tree.get(), 3);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
  pid_t pid = -1;
  const int spawned = ::posix_spawn(&pid, helper.c_str(), &actions, &attr, argv.data(), envp);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (spawned != 0)
    return Status(ErrorCode::kInternal,
                  "cannot start the unpack helper " + helper + ": " + std::strerror(spawned));
  reply_write.reset();
  // The pid stays the helper's until this thread reaps it; the pidfd says when it has ended.
  UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));

  std::string reply;
  bool timed_out = false;
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(config.unpack_timeout_s);
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          deadline - std::chrono::steady_clock::now())
                          .count();
    if (left <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{reply_read.get(), POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 1000)));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;
    char buffer[4096];
    const ssize_t n = ::read(reply_read.get(), buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    reply.append(buffer, static_cast<std::size_t>(n));
    if (reply.size() > kMaxReplyBytes) break;
  }
  if (timed_out || reply.size() > kMaxReplyBytes) EndHelper(pidfd.get(), pid);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  // The helper's keeper reaps its worker before it ends, and the worker is the init of its own
  // pid namespace with fork refused: nothing of the helper is left once the keeper is reaped.
  if (WIFEXITED(status) && WEXITSTATUS(status) == kHelperTimedOut && reply.empty())
    timed_out = true;
  const std::string who = "artifact '" + artifact_name + "'";
  if (timed_out)
    return Status(ErrorCode::kArtifactFailed,
                  fmt::format("{}: unpacking took longer than {} s", who, config.unpack_timeout_s));
  const auto doc = nlohmann::json::parse(reply, nullptr, false);
  if (!doc.is_object() || !doc.contains("ok") || !doc["ok"].is_boolean()) {
    std::string how = WIFSIGNALED(status)
                          ? fmt::format("was killed by signal {}", WTERMSIG(status))
                          : fmt::format("exited with status {}", WEXITSTATUS(status));
    if (WIFSIGNALED(status) && (WTERMSIG(status) == SIGXFSZ || WTERMSIG(status) == SIGXCPU))
      return Status(
          ErrorCode::kArtifactFailed,
          fmt::format("{} was refused: it exceeds the unpack limits (helper {})", who, how));
    return Status(ErrorCode::kInternal, fmt::format("the unpack helper {} {}", helper, how));
  }
  if (!doc["ok"].get<bool>()) {
    const std::string error = doc.value("error", std::string("unknown error"));
    return Status(ErrorCode::kArtifactFailed, who + " was refused: " + error);
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return Status(ErrorCode::kInternal, "the unpack helper said ok but failed");
  BundleManifest manifest;
  if (!doc.contains("manifest") || !BundleManifest::FromJson(doc["manifest"].dump(), manifest))
    return Status(ErrorCode::kInternal, "the unpack helper sent a malformed manifest");
  // The helper's folder steps aside; `tree_dir` becomes a fresh copy of root's.
  const std::string helper_dir = tree_dir + ".helper";
  if (::rename(tree_dir.c_str(), helper_dir.c_str()) != 0 || ::mkdir(tree_dir.c_str(), 0755) != 0)
    return Status(ErrorCode::kInternal, "cannot take over the unpacked tree");
  UniqueFd fresh(::open(tree_dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  TreeCount count;
  Status copied = fresh && ::fchmod(fresh.get(), 0755) == 0
                      ? CopyTree(tree.get(), fresh.get(), l, count, 0)
                      : Status(ErrorCode::kInternal, "cannot take over the unpacked tree");
  std::error_code ec;
  std::filesystem::remove_all(helper_dir, ec);
  if (!copied.ok()) return Status(copied.code(), who + ": " + copied.message());
  return manifest;
}

}  // namespace sandboxd
