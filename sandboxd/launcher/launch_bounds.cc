#include "launcher/launch_bounds.h"

#include <climits>
#include <cstdlib>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "sandbox/sandbox_spec.h"
#include "sandboxd/quote.h"

namespace sandboxd {
namespace {

// Bounds on what no legitimate request comes near, so a hostile one costs the launcher little.
constexpr std::size_t kMaxPathBytes = 4096;
constexpr std::size_t kMaxHostnameBytes = 64;
constexpr int kMaxArgs = 64;
constexpr int kMaxEnv = 256;
constexpr std::size_t kMaxArgBytes = 64 * 1024;
constexpr int kMaxCgroupFiles = 8;
constexpr std::size_t kMaxSeccompInstructions = 4096;  // BPF_MAXINSNS
constexpr std::size_t kSockFilterBytes = 8;
constexpr std::uint32_t kMaxCpuCount = 8192;  // the kernel's NR_CPUS at most

Status Refuse(std::string_view field, const std::string& why) {
  return {ErrorCode::kInternal,
          "the launcher refuses the request: " + std::string(field) + " " + why};
}

bool Normalized(std::string_view path) {
  if (path.empty() || path.size() > kMaxPathBytes || path.front() != '/') return false;
  if (path == "/") return true;
  if (path.back() == '/' || path.find('\0') != std::string_view::npos) return false;
  for (std::size_t start = 1; start < path.size();) {
    std::size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    const std::string_view part = path.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") return false;
    start = end + 1;
  }
  return true;
}

bool Beneath(std::string_view path, std::string_view root) {
  return path.size() > root.size() && path.substr(0, root.size()) == root &&
         (root.back() == '/' || path[root.size()] == '/');
}

std::string Resolved(const std::string& path) {
  char buf[PATH_MAX];
  return ::realpath(path.c_str(), buf) != nullptr ? std::string(buf) : std::string();
}

// `path` lies under `root`, as written and as resolved.
Status CheckUnder(std::string_view field, const std::string& path, const std::string& root) {
  if (!Normalized(path))
    return Refuse(field, QuoteForMessage(path) + " is not an absolute, normalized path");
  if (!Beneath(path, root))
    return Refuse(field, QuoteForMessage(path) + " is not under " + QuoteForMessage(root));
  const std::string resolved = Resolved(path);
  const std::string resolved_root = Resolved(root);
  if (resolved.empty() || resolved_root.empty() || !Beneath(resolved, resolved_root))
    return Refuse(field,
                  QuoteForMessage(path) + " does not resolve under " + QuoteForMessage(root));
  return Status::Ok();
}

Status CheckExactly(std::string_view field, const std::string& path, const std::string& want) {
  if (path != want)
    return Refuse(field, QuoteForMessage(path) + " is not " + QuoteForMessage(want));
  return Status::Ok();
}

Status CheckIds(const internal::LaunchBounds& bounds, const internal::LaunchRequest& request) {
  const auto in_range = [&](std::uint32_t id) {
    return id != 0 && id >= bounds.uid_first() && id - bounds.uid_first() < bounds.uid_count();
  };
  const std::pair<std::string_view, std::uint32_t> ids[] = {
      {"outside_uid", request.outside_uid()},
      {"outside_gid", request.outside_gid()},
      {"outside_root_uid", request.outside_root_uid()},
      {"outside_root_gid", request.outside_root_gid()}};
  for (const auto& [field, id] : ids) {
    if (!in_range(id))
      return Refuse(
          field, std::to_string(id) + " is not one of the slots' host ids [" +
                     std::to_string(bounds.uid_first()) + ", " +
                     std::to_string(std::uint64_t{bounds.uid_first()} + bounds.uid_count()) + ")");
  }
  if (request.outside_uid() == request.outside_root_uid())
    return Refuse("outside_uid", "is the sandbox root's uid too");
  return Status::Ok();
}

Status CheckFolders(const internal::LaunchBounds& bounds, const internal::LaunchRequest& request) {
  // <images_dir>/<image>/rootfs, exactly.
  const std::string& rootfs = request.rootfs();
  const std::string images = bounds.images_dir() + "/";
  if (!Beneath(rootfs, bounds.images_dir()) || rootfs.size() <= images.size() + 7 ||
      rootfs.compare(rootfs.size() - 7, 7, "/rootfs") != 0 ||
      rootfs.find('/', images.size()) != rootfs.size() - 7)
    return Refuse("rootfs", QuoteForMessage(rootfs) + " is not " +
                                QuoteForMessage(bounds.images_dir() + "/IMAGE/rootfs"));
  // Lexically only: the image store is the operator's (an image's rootfs may be a symlink to
  // another's); the folders the daemon itself writes are resolved too, below.
  if (!Normalized(rootfs))
    return Refuse("rootfs", QuoteForMessage(rootfs) + " is not an absolute, normalized path");
  if (Status s = CheckExactly("runtime_dir", request.runtime_dir(), bounds.runtime_dir()); !s.ok())
    return s;
  // The project's extensions: a zygote loads them from there; a launched sandbox mounts the
  // folder for the runner's C loops, or goes without it.
  if (request.from_zygote() || !request.zygote_module_dir().empty()) {
    if (Status s = CheckExactly("zygote_module_dir", request.zygote_module_dir(),
                                bounds.zygote_module_dir());
        !s.ok())
      return s;
  }
  const std::string requests = bounds.artifacts_dir() + "/requests";
  for (const auto& [field, dir] :
       {std::pair<std::string_view, const std::string*>{"artifacts_dir", &request.artifacts_dir()},
        {"site_dir", &request.site_dir()}}) {
    if (dir->empty()) continue;
    if (Status s = CheckUnder(field, *dir, requests); !s.ok()) return s;
  }
  return Status::Ok();
}

// <one of bounds.cgroup_dirs>/<sandbox>/cgroup.procs, each hierarchy's at most once.
Status CheckCgroupFiles(const internal::LaunchBounds& bounds,
                        const internal::LaunchRequest& request) {
  if (request.cgroup_procs_size() > bounds.cgroup_dirs_size())
    return Refuse("cgroup_procs", "names " + std::to_string(request.cgroup_procs_size()) +
                                      " files for " + std::to_string(bounds.cgroup_dirs_size()) +
                                      " cgroup hierarchies");
  std::vector<bool> used(static_cast<std::size_t>(bounds.cgroup_dirs_size()), false);
  for (const std::string& procs : request.cgroup_procs()) {
    constexpr std::string_view kName = "/cgroup.procs";
    if (!Normalized(procs) || procs.size() <= kName.size() ||
        procs.compare(procs.size() - kName.size(), kName.size(), kName) != 0)
      return Refuse("cgroup_procs", QuoteForMessage(procs) +
                                        " is not a normalized path to a "
                                        "cgroup.procs file");
    // Its folder: one component below one of the daemon's cgroup folders.
    const std::string dir = procs.substr(0, procs.size() - kName.size());
    const auto slash = dir.rfind('/');
    int match = -1;
    for (int i = 0; i < bounds.cgroup_dirs_size(); ++i) {
      if (slash == bounds.cgroup_dirs(i).size() && Beneath(dir, bounds.cgroup_dirs(i))) match = i;
    }
    if (match < 0 || used[static_cast<std::size_t>(match)])
      return Refuse("cgroup_procs", QuoteForMessage(procs) +
                                        " is not in a sandbox cgroup of the daemon's own" +
                                        (match >= 0 ? " (its hierarchy is named twice)" : ""));
    used[static_cast<std::size_t>(match)] = true;
  }
  return Status::Ok();
}

Status CheckProcess(const internal::LaunchBounds& bounds, const internal::LaunchRequest& request) {
  const std::string& host = request.hostname();
  if (host.empty() || host.size() > kMaxHostnameBytes ||
      host.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") !=
          std::string::npos)
    return Refuse("hostname", QuoteForMessage(host) + " is not 1..64 letters, digits, '.' or '-'");
  if (!request.from_zygote() && request.argv().empty())
    return Refuse("argv", "is empty for a sandbox that execs its runner");
  if (request.argv_size() > kMaxArgs || request.env_size() > kMaxEnv)
    return Refuse("argv/env", "hold more than " + std::to_string(kMaxArgs) + "/" +
                                  std::to_string(kMaxEnv) + " strings");
  std::size_t bytes = 0;
  for (const auto& s : request.argv()) bytes += s.size();
  for (const auto& s : request.env()) bytes += s.size();
  if (bytes > kMaxArgBytes) return Refuse("argv/env", "hold more than 64 KiB");
  for (const auto& var : request.env()) {
    if (var.find('=') == std::string::npos || var.find('\0') != std::string::npos)
      return Refuse("env", QuoteForMessage(var) + " is not NAME=VALUE");
  }
  const std::string& program = request.seccomp_program();
  if (program.empty() && !bounds.allow_no_seccomp())
    return Refuse("seccomp_program", "is empty (the daemon was not started with --no-seccomp)");
  if (program.size() % kSockFilterBytes != 0 ||
      program.size() / kSockFilterBytes > kMaxSeccompInstructions)
    return Refuse("seccomp_program", "is not 1..4096 BPF instructions");
  const std::pair<std::string_view, std::uint64_t> sizes[] = {
      {"tmp_bytes", request.tmp_bytes()},           {"work_bytes", request.work_bytes()},
      {"shm_bytes", request.shm_bytes()},           {"max_inodes", request.max_inodes()},
      {"max_open_files", request.max_open_files()}, {"max_file_bytes", request.max_file_bytes()}};
  for (const auto& [field, value] : sizes) {
    if (value == 0) return Refuse(field, "is 0 (every limit must be set)");
  }
  // Never above the node's limits (0: the node has none).
  const std::tuple<std::string_view, std::uint64_t, std::uint64_t> bounded[] = {
      {"tmp_bytes", request.tmp_bytes(), bounds.max_tmp_bytes()},
      {"work_bytes", request.work_bytes(), bounds.max_work_bytes()},
      {"max_file_bytes", request.max_file_bytes(), bounds.max_work_bytes()},
      {"shm_bytes", request.shm_bytes(), bounds.max_shm_bytes()},
      {"max_inodes", request.max_inodes(), bounds.max_inodes()},
      {"max_open_files", request.max_open_files(), bounds.max_open_files()},
      {"memory_bytes", request.memory_bytes(), bounds.max_memory_bytes()}};
  for (const auto& [field, value, bound] : bounded) {
    if (bound != 0 && value > bound)
      return Refuse(
          field, std::to_string(value) + " is above the node's limit of " + std::to_string(bound));
  }
  if (request.cpu_count() > kMaxCpuCount)
    return Refuse("cpu_count", std::to_string(request.cpu_count()) + " is above " +
                                   std::to_string(kMaxCpuCount));
  return Status::Ok();
}

}  // namespace

Status CheckLaunchBounds(const internal::LaunchBounds& bounds) {
  if (bounds.uid_first() == 0 || bounds.uid_count() == 0 ||
      std::uint64_t{bounds.uid_first()} + bounds.uid_count() > std::uint64_t{UINT32_MAX})
    return {ErrorCode::kInternal, "the slots' host ids must be a range that does not hold 0"};
  std::vector<const std::string*> dirs = {&bounds.images_dir(), &bounds.runtime_dir(),
                                          &bounds.zygote_module_dir(), &bounds.artifacts_dir()};
  if (bounds.cgroup_dirs_size() > kMaxCgroupFiles)
    return {ErrorCode::kInternal, "the launcher's cgroup folders are too many"};
  for (const std::string& dir : bounds.cgroup_dirs()) dirs.push_back(&dir);
  for (const std::string* dir : dirs) {
    if (!Normalized(*dir) || *dir == "/")
      return {ErrorCode::kInternal,
              "the launcher's folders must be absolute, normalized and not '/': " +
                  QuoteForMessage(*dir)};
  }
  return Status::Ok();
}

Status CheckLaunchRequest(const internal::LaunchBounds& bounds,
                          const internal::LaunchRequest& request) {
  if (Status s = CheckIds(bounds, request); !s.ok()) return s;
  if (Status s = CheckFolders(bounds, request); !s.ok()) return s;
  if (Status s = CheckCgroupFiles(bounds, request); !s.ok()) return s;
  return CheckProcess(bounds, request);
}

}  // namespace sandboxd
