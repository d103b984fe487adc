// The sandbox's filesystem: the image read-only at /, a fresh /proc, a minimal /dev, size-limited
// tmpfs for /tmp, /dev/shm and the work folder, the runner and artifacts read-only; no /sys, no
// host paths. Runs in init, in the new mount namespace, before pivot_root.
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "sandbox/limits_view.h"
#include "sandbox/sandbox_spec.h"

namespace sandboxd {
namespace {

std::string Fail(const std::string& what) { return what + ": " + std::strerror(errno); }

std::string Mount(const std::string& source, const std::string& target, const char* fstype,
                  unsigned long flags, const std::string& data = "") {
  if (::mount(source.empty() ? nullptr : source.c_str(), target.c_str(), fstype, flags,
              data.empty() ? nullptr : data.c_str()) != 0) {
    return Fail("mount " + (source.empty() ? std::string(fstype ? fstype : "") : source) + " on " +
                target);
  }
  return "";
}

// A read-only bind: bind first, then remount, because MS_RDONLY is ignored on the first call.
std::string BindReadOnly(const std::string& source, const std::string& target,
                         unsigned long extra) {
  if (auto err = Mount(source, target, nullptr, MS_BIND | MS_REC); !err.empty()) return err;
  return Mount("", target, nullptr,
               MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | extra);
}

std::string Tmpfs(const std::string& target, std::uint64_t bytes, std::uint64_t inodes,
                  const std::string& mode, unsigned long flags, const std::string& owner = "") {
  std::string data =
      "size=" + std::to_string(bytes) + ",nr_inodes=" + std::to_string(inodes) + ",mode=" + mode;
  if (!owner.empty()) data += "," + owner;
  return Mount("tmpfs", target, "tmpfs", flags, data);
}

std::string Touch(const std::string& path) {
  const int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0444);
  if (fd < 0) return Fail("create " + path);
  ::close(fd);
  return "";
}

// Makes `root` the root of this mount namespace and `cwd` the working folder. pivot_root(".", ".")
// stacks the old root under the new one; detaching it leaves no way back.
std::string PivotInto(const std::string& root, const std::string& cwd) {
  if (::chdir(root.c_str()) != 0) return Fail("chdir to the new root");
  if (::syscall(SYS_pivot_root, ".", ".") != 0) return Fail("pivot_root");
  if (::umount2(".", MNT_DETACH) != 0) return Fail("detach the old root");
  if (::chdir(cwd.c_str()) != 0) return Fail("chdir " + cwd);
  return "";
}

// Attaches a detached mount tree (open_tree) at `target`, read-only.
std::string AttachReadOnly(int tree, const std::string& target, unsigned long extra) {
  if (tree < 0) {
    errno = EBADF;
    return Fail("no folder to mount on " + target);
  }
  if (::move_mount(tree, "", AT_FDCWD, target.c_str(), MOVE_MOUNT_F_EMPTY_PATH) != 0)
    return Fail("attach a folder on " + target);
  ::close(tree);
  return Mount("", target, nullptr,
               MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | extra);
}

// A read-only tmpfs at `dev` with the five harmless character devices, bound from the host's
// /dev, the fd symlinks, and an empty folder for shm.
std::string MakeDev(const std::string& dev) {
  if (auto err = Tmpfs(dev, 1 << 20, 64, "0755", MS_NOSUID | MS_NOEXEC); !err.empty()) return err;
  for (const char* node : {"null", "zero", "full", "random", "urandom"}) {
    const std::string target = dev + "/" + node;
    if (auto err = Touch(target); !err.empty()) return err;
    if (auto err = Mount(std::string("/dev/") + node, target, nullptr, MS_BIND); !err.empty())
      return err;
    // Read-only mounts still let a character device be written (writes bypass the mount).
    if (auto err =
            Mount("", target, nullptr, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NOEXEC | MS_RDONLY);
        !err.empty())
      return err;
  }
  for (const auto& [name, to] : {std::pair{"fd", "/proc/self/fd"},
                                 {"stdin", "/proc/self/fd/0"},
                                 {"stdout", "/proc/self/fd/1"},
                                 {"stderr", "/proc/self/fd/2"}}) {
    if (::symlink(to, (dev + "/" + name).c_str()) != 0)
      return Fail("symlink /dev/" + std::string(name));
  }
  if (::mkdir((dev + "/shm").c_str(), 0755) != 0) return Fail("mkdir /dev/shm");
  return Mount("", dev, nullptr, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC,
               "size=1048576,nr_inodes=64,mode=0755");
}

}  // namespace

std::string SetUpZygoteMountNamespace(const std::string& rootfs, const std::string& runtime_dir,
                                      const std::string& module_dir) {
  if (auto err = Mount("", "/", nullptr, MS_REC | MS_PRIVATE); !err.empty()) return err;
  if (auto err = BindReadOnly(rootfs, rootfs, 0); !err.empty()) return err;
  if (auto err = BindReadOnly(runtime_dir, rootfs + "/sandbox/runtime", 0); !err.empty())
    return err;
  if (auto err = BindReadOnly(module_dir, rootfs + "/sandbox/work", 0); !err.empty()) return err;
  // Every child's /dev, read-only: nothing in it can change (each child mounts its own shm).
  if (auto err = MakeDev(rootfs + "/dev"); !err.empty()) return err;
  // Imports that want a scratch folder (matplotlib's config and font cache) get one; each child
  // mounts its own /tmp over it.
  if (auto err =
          Tmpfs(rootfs + "/tmp", 64ULL << 20, 4096, "1777", MS_NOSUID | MS_NODEV | MS_NOEXEC);
      !err.empty())
    return err;
  return PivotInto(rootfs, "/");
}

std::string SetUpMountNamespace(const internal::LaunchRequest& request, LimitsView& limits,
                                MountLayout layout, const HostTrees& trees) {
  // Nothing we mount may propagate back to the host (or to the zygote).
  if (auto err = Mount("", "/", nullptr, MS_REC | MS_PRIVATE); !err.empty()) return err;

  const bool pivot = layout == MountLayout::kPivotIntoImage;
  const std::string root = pivot ? request.rootfs() : "";
  if (pivot) {
    if (auto err = BindReadOnly(root, root, 0); !err.empty()) return err;
  }

  if (auto err = Mount("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC);
      !err.empty())
    return err;

  // /proc files that tell about the host's kernel rather than the sandbox (Docker masks the same):
  // files are covered with /dev/null, folders with an empty read-only tmpfs.
  for (const char* file :
       {"kcore", "keys", "key-users", "timer_list", "sched_debug", "latency_stats", "sysrq-trigger",
        "kallsyms", "kmsg", "vmallocinfo", "slabinfo"}) {
    const std::string target = root + "/proc/" + file;
    if (::access(target.c_str(), F_OK) != 0) continue;
    if (auto err = Mount("/dev/null", target, nullptr, MS_BIND); !err.empty()) return err;
  }
  for (const char* dir : {"acpi", "scsi", "asound", "bus", "irq", "fs", "sys/fs/binfmt_misc"}) {
    const std::string target = root + "/proc/" + dir;
    if (::access(target.c_str(), F_OK) != 0) continue;
    if (auto err = Tmpfs(target, 4096, 4, "0555", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY);
        !err.empty())
      return err;
  }

  // The sandbox's own limits in /proc/meminfo, /proc/stat, /proc/cpuinfo (before /tmp is mounted:
  // it borrows that mount point for a moment).
  if (auto err = limits.SetUp(request, root); !err.empty()) return err;

  // A minimal /dev (a zygote's tree has one already), and a private shm.
  if (pivot) {
    if (auto err = MakeDev(root + "/dev"); !err.empty()) return err;
  }
  if (auto err = Tmpfs(root + "/dev/shm", request.shm_bytes(), request.max_inodes(), "1777",
                       MS_NOSUID | MS_NODEV | MS_NOEXEC);
      !err.empty())
    return err;

  if (auto err = Tmpfs(root + "/tmp", request.tmp_bytes(), request.max_inodes(), "1777",
                       MS_NOSUID | MS_NODEV | MS_NOEXEC);
      !err.empty())
    return err;

  // The work folder belongs to the UDF's user; Temp holds the artifacts, read-only.
  const std::string work = root + "/sandbox/work";
  if (auto err =
          Tmpfs(work, request.work_bytes(), request.max_inodes(), "0755",
                MS_NOSUID | MS_NODEV | MS_NOEXEC,
                // Owner ids are read in the mounting process's user namespace: the sandbox's
                // own when init mounts it, the host's when a zygote's child (still host root)
                // does, where the UDF's uid is the slot's.
                pivot ? "uid=" + std::to_string(kSandboxUid) + ",gid=" + std::to_string(kSandboxGid)
                      : "uid=" + std::to_string(request.outside_uid()) +
                            ",gid=" + std::to_string(request.outside_gid()));
      !err.empty())
    return err;
  if (::mkdir((work + "/Temp").c_str(), 0755) != 0) return Fail("mkdir Temp");
  if (!request.artifacts_dir().empty()) {
    if (auto err = pivot ? BindReadOnly(request.artifacts_dir(), work + "/Temp", MS_NOEXEC)
                         : AttachReadOnly(trees.artifacts, work + "/Temp", MS_NOEXEC);
        !err.empty())
      return err;
  }
  if (pivot) {  // a zygote's tree has the runner already
    if (auto err = BindReadOnly(request.runtime_dir(), root + "/sandbox/runtime", 0); !err.empty())
      return err;
    // The runner's C loops (runtime_images/native), where the image has the mount point (images
    // built before it was added run the runner's Python loops instead). Only a speed-up: a folder
    // this sandbox's root cannot reach (a build tree below a private folder) is gone without.
    const std::string lib = root + "/sandbox/lib";
    if (!request.zygote_module_dir().empty() && ::access(lib.c_str(), F_OK) == 0)
      (void)BindReadOnly(request.zygote_module_dir(), lib, 0);
  }
  if (!request.site_dir().empty()) {
    // Installed bundles may hold compiled extensions, so this one read-only bind keeps exec.
    if (auto err = pivot ? BindReadOnly(request.site_dir(), root + "/sandbox/site", 0)
                         : AttachReadOnly(trees.site, root + "/sandbox/site", 0);
        !err.empty())
      return err;
  }

  if (!pivot) {
    if (::chdir("/sandbox/work") != 0) return Fail("chdir /sandbox/work");
    return "";
  }
  return PivotInto(root, "/sandbox/work");
}

}  // namespace sandboxd
