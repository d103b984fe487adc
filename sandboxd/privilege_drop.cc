#include "privilege_drop.h"

#include <grp.h>
#include <pwd.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <vector>

#include "sandboxd/quote.h"

namespace sandboxd {
namespace {

Status Internal(std::string message) { return {ErrorCode::kInternal, std::move(message)}; }

std::string Errno(const std::string& what) { return what + ": " + std::strerror(errno); }

// The value of the `key:` line of /proc/self/status, or "".
std::string StatusLine(const std::string& status, const std::string& key) {
  const std::string needle = "\n" + key + ":";
  const auto at = status.find(needle);
  if (at == std::string::npos) return {};
  const auto end = status.find('\n', at + 1);
  std::string value = status.substr(at + needle.size(), end - at - needle.size());
  const auto first = value.find_first_not_of(" \t");
  if (first == std::string::npos) return {};
  return value.substr(first, value.find_last_not_of(" \t") - first + 1);
}

std::string ReadSelfStatus() {
  std::ifstream in("/proc/self/status");
  return "\n" + std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// All four ids of a "Uid:" or "Gid:" line are `id`.
bool AllIds(const std::string& line, unsigned long id) {
  std::istringstream in(line);
  unsigned long value = 0;
  int n = 0;
  for (; in >> value; ++n) {
    if (value != id) return false;
  }
  return n == 4;
}

bool NoCapabilities(const std::string& hex) {
  return !hex.empty() && hex.find_first_not_of('0') == std::string::npos;
}

}  // namespace

StatusOr<DaemonUser> LookUpDaemonUser(const std::string& name) {
  if (name.empty()) return Internal("user: the name is empty");
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found = nullptr;
  const int err = ::getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found);
  if (err != 0 || found == nullptr)
    return Internal("user " + QuoteForMessage(name) + " does not exist" +
                    (err != 0 ? std::string(" (") + std::strerror(err) + ")" : std::string()) +
                    " (the package's postinst creates 'sandboxd')");
  if (pw.pw_uid == 0 || pw.pw_gid == 0)
    return Internal("user " + QuoteForMessage(name) +
                    " has uid or gid 0: the daemon would keep root's powers");
  return DaemonUser{name, pw.pw_uid, pw.pw_gid};
}

Status GiveToUser(const std::string& path, const DaemonUser& user) {
  namespace fs = std::filesystem;
  if (::lchown(path.c_str(), user.uid, user.gid) != 0)
    return Internal(Errno("give " + path + " to user " + user.name));
  std::error_code ec;
  if (!fs::is_directory(fs::symlink_status(path, ec))) return Status::Ok();
  for (auto it = fs::recursive_directory_iterator(path, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (::lchown(it->path().c_str(), user.uid, user.gid) != 0)
      return Internal(Errno("give " + it->path().string() + " to user " + user.name));
  }
  if (ec) return Internal("give " + path + " to user " + user.name + ": " + ec.message());
  return Status::Ok();
}

Status DropPrivileges(const DaemonUser& user) {
  if (user.uid == 0 || user.gid == 0) return Internal("refusing to drop to uid or gid 0");
  // Capabilities and no_new_privs belong to a thread: another thread would keep root's.
  if (const std::string threads = StatusLine(ReadSelfStatus(), "Threads"); threads != "1")
    return Internal("the daemon must drop root before its threads start (it has " + threads + ")");
  int death_signal = 0;
  if (::prctl(PR_GET_PDEATHSIG, &death_signal, 0, 0, 0) != 0)
    return Internal(Errno("read the parent-death signal"));
  const pid_t parent = ::getppid();

  if (::setgroups(1, &user.gid) != 0) return Internal(Errno("setgroups"));
  if (::setresgid(user.gid, user.gid, user.gid) != 0) return Internal(Errno("setresgid"));
  if (::setresuid(user.uid, user.uid, user.uid) != 0) return Internal(Errno("setresuid"));
  // setresuid away from 0 cleared the permitted and effective sets; the inheritable and ambient
  // ones it leaves, so all of them go explicitly.
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0)
    return Internal(Errno("clear the ambient capabilities"));
  cap_t none = ::cap_init();
  if (none == nullptr) return Internal(Errno("cap_init"));
  const int set = ::cap_set_proc(none);
  ::cap_free(none);
  if (set != 0) return Internal(Errno("clear the capabilities"));
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return Internal(Errno("PR_SET_NO_NEW_PRIVS"));
  // The credential change cleared the parent-death signal (a test's, or a supervisor's).
  if (death_signal != 0) {
    if (::prctl(PR_SET_PDEATHSIG, death_signal, 0, 0, 0) != 0)
      return Internal(Errno("set the parent-death signal again"));
    if (::getppid() != parent) return Internal("the daemon's parent exited while it dropped root");
  }
  return CheckDropped(user);
}

Status CheckDropped(const DaemonUser& user) {
  const std::string status = ReadSelfStatus();
  if (!AllIds(StatusLine(status, "Uid"), user.uid) || !AllIds(StatusLine(status, "Gid"), user.gid))
    return Internal("after the drop the daemon's ids are not all " + user.name + "'s: Uid " +
                    StatusLine(status, "Uid") + ", Gid " + StatusLine(status, "Gid"));
  if (StatusLine(status, "Groups") != std::to_string(user.gid))
    return Internal("after the drop the daemon keeps the groups " + StatusLine(status, "Groups"));
  for (const char* key : {"CapInh", "CapPrm", "CapEff", "CapAmb"}) {
    if (!NoCapabilities(StatusLine(status, key)))
      return Internal(std::string("after the drop the daemon keeps capabilities: ") + key + " " +
                      StatusLine(status, key));
  }
  if (StatusLine(status, "NoNewPrivs") != "1") return Internal("no_new_privs is not set");
  if (::setresuid(-1, 0, -1) == 0) return Internal("the daemon could take root back");
  return Status::Ok();
}

}  // namespace sandboxd
