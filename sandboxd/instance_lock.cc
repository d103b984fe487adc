#include "instance_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <vector>

namespace sandboxd {
namespace {

namespace fs = std::filesystem;

Status Internal(const std::string& message) { return {ErrorCode::kInternal, message}; }

std::string ReadAll(int fd) {
  std::string text;
  char buf[4096];
  for (off_t offset = 0;;) {
    const ssize_t n = ::pread(fd, buf, sizeof(buf), offset);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || text.size() > (64U << 10)) break;
    text.append(buf, static_cast<std::size_t>(n));
    offset += n;
  }
  return text;
}

bool Overlap(std::uint32_t a, std::uint32_t a_count, std::uint32_t b, std::uint32_t b_count) {
  const std::uint64_t a_end = std::uint64_t{a} + a_count, b_end = std::uint64_t{b} + b_count;
  return a < b_end && b < a_end;
}

}  // namespace

StatusOr<InstanceLock> InstanceLock::Acquire(const std::string& lock_dir,
                                             const InstanceClaim& claim) {
  std::error_code ec;
  fs::create_directories(lock_dir, ec);
  if (ec) return Internal("cannot create the lock folder " + lock_dir + ": " + ec.message());
  // One daemon at a time looks at the claims and adds its own, so two starting together cannot
  // both find the way clear.
  UniqueFd registry(
      ::open((lock_dir + "/.registry").c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644));
  if (!registry || ::flock(registry.get(), LOCK_EX) != 0)
    return Internal("cannot lock " + lock_dir + "/.registry: " + std::strerror(errno));

  std::vector<fs::path> claims;
  for (const auto& entry : fs::directory_iterator(lock_dir, ec)) {
    if (entry.path().extension() == ".claim") claims.push_back(entry.path());
  }
  for (const fs::path& path : claims) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd) continue;
    if (::flock(fd.get(), LOCK_SH | LOCK_NB) == 0) {
      ::unlink(path.c_str());  // nobody holds it: its daemon is gone
      continue;
    }
    // Held, so its daemon lives; claims are written under the registry lock, so it is whole.
    const auto other =
        nlohmann::json::parse(ReadAll(fd.get()), nullptr, /*allow_exceptions=*/false);
    if (!other.is_object())
      return Internal("a live process holds " + path.string() +
                      ", which is not a sandboxd claim: remove it or use another lock_dir");
    const std::string holder = "another sandboxd (pid " + std::to_string(other.value("pid", 0)) +
                               ", socket " + other.value("socket", std::string("?")) + ")";
    if (!claim.socket.empty() && other.value("socket", std::string()) == claim.socket)
      return Internal(holder + " listens on " + claim.socket +
                      " already: give this daemon another socket (--socket) or stop that one");
    if (!claim.cgroup.empty() && other.value("cgroup", std::string()) == claim.cgroup)
      return Internal(holder + " runs its sandboxes in cgroup " + claim.cgroup +
                      ": give this daemon another cgroup_v1_group (--cgroup-v1-group) or stop "
                      "that one (its claim: " +
                      path.string() + ")");
    const auto first = other.value("uid_first", std::uint32_t{0});
    const auto count = other.value("uid_count", std::uint32_t{0});
    if (Overlap(first, count, claim.uid_first, claim.uid_count))
      return Internal(holder + " runs its sandboxes as host uids " + std::to_string(first) + ".." +
                      std::to_string(std::uint64_t{first} + count - 1) +
                      ", which overlap this "
                      "daemon's " +
                      std::to_string(claim.uid_first) + ".." +
                      std::to_string(std::uint64_t{claim.uid_first} + claim.uid_count - 1) +
                      ": give it another sandbox_uid_base (--uid-base)");
  }

  const std::string path = lock_dir + "/" + std::to_string(::getpid()) + ".claim";
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644));
  if (!fd || ::flock(fd.get(), LOCK_EX | LOCK_NB) != 0)
    return Internal("cannot create and lock " + path + ": " + std::strerror(errno));
  const std::string text = nlohmann::json{{"pid", ::getpid()},
                                          {"socket", claim.socket},
                                          {"cgroup", claim.cgroup},
                                          {"uid_first", claim.uid_first},
                                          {"uid_count", claim.uid_count}}
                               .dump() +
                           "\n";
  if (::pwrite(fd.get(), text.data(), text.size(), 0) != static_cast<ssize_t>(text.size()))
    return Internal("cannot write " + path + ": " + std::strerror(errno));
  return InstanceLock(path, std::move(fd));
}

InstanceLock::~InstanceLock() {
  // The kernel drops the lock with the descriptor anyway; the file goes too when we end cleanly.
  if (fd_) ::unlink(path_.c_str());
}

}  // namespace sandboxd
