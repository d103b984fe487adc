#include "launcher/sandbox_host.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/statfs.h>
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
  const std::string text = std::to_string(pid);
  for (const auto& procs : request.cgroup_procs()) {
    // A pid goes into a cgroup filesystem's file and nowhere else, whatever the path says.
    UniqueFd fd(::open(procs.c_str(), O_WRONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) return {ErrorCode::kInternal, "open " + procs + ": " + std::strerror(errno)};
    if (!OnCgroupFilesystem(fd.get()))
      return {ErrorCode::kInternal, procs + " is not on a cgroup filesystem"};
    if (::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size()))
      return {ErrorCode::kInternal, "write " + procs + ": " + std::strerror(errno)};
  }
  return Status::Ok();
}

bool OnCgroupFilesystem(int fd) {
  struct statfs fs {};
  return ::fstatfs(fd, &fs) == 0 &&
         (fs.f_type == CGROUP_SUPER_MAGIC || fs.f_type == CGROUP2_SUPER_MAGIC);
}

}  // namespace sandboxd
