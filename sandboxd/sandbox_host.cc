#include "sandbox_host.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "sandbox/sandbox_spec.h"
#include "sandboxd/unique_fd.h"

namespace sandboxd {

Status WriteProcFile(const std::string& path, const std::string& text) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) return {ErrorCode::kInternal, "open " + path + ": " + std::strerror(errno)};
  if (::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size()))
    return {ErrorCode::kInternal, "write " + path + ": " + std::strerror(errno)};
  return Status::Ok();
}

Status MapSandboxIds(pid_t pid, const internal::LaunchRequest& request) {
  const std::string proc = "/proc/" + std::to_string(pid);
  Status status =
      WriteProcFile(proc + "/uid_map", "0 " + std::to_string(request.outside_root_uid()) + " 1\n" +
                                           std::to_string(kSandboxUid) + " " +
                                           std::to_string(request.outside_uid()) + " 1\n");
  if (status.ok()) status = WriteProcFile(proc + "/setgroups", "deny");
  if (status.ok())
    status = WriteProcFile(proc + "/gid_map", "0 " + std::to_string(request.outside_root_gid()) +
                                                  " 1\n" + std::to_string(kSandboxGid) + " " +
                                                  std::to_string(request.outside_gid()) + " 1\n");
  return status;
}

Status EnterCgroups(pid_t pid, const internal::LaunchRequest& request) {
  for (const auto& procs : request.cgroup_procs()) {
    if (Status s = WriteProcFile(procs, std::to_string(pid)); !s.ok()) return s;
  }
  return Status::Ok();
}

}  // namespace sandboxd
