// sandboxd-unpack: checks and unpacks one zip or wheel bundle for the daemon, as an unprivileged
// user. The daemon spawns it (posix_spawn) with:
//
//   fd 0  the archive, read-only
//   fd 1  a pipe: one JSON line back, {"ok": true, "manifest": {...}} or {"ok": false, "error":
//   "..."} fd 2  /dev/null fd 3  the empty output folder (owned by --uid), where the tree is
//   written
//
//   sandboxd-unpack --uid U --gid G --name NAME --python 3.11 --glibc 2.36 --arch x86_64
//                   [--max-entries N] [--max-bytes N] [--max-entry-bytes N] [--max-ratio N]
//                   [--timeout-s N]
//
// Before it reads a byte of the archive it drops to U:G (never 0; when started as root), sets
// no_new_privs, closes every other descriptor and caps its files, CPU time and core dumps.
#include <fcntl.h>
#include <grp.h>
#include <linux/close_range.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "bundle.h"

namespace {

void Reply(const nlohmann::json& doc) {
  const std::string text = doc.dump() + "\n";
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(1, text.data() + done, text.size() - done);
    if (n <= 0) return;
    done += static_cast<std::size_t>(n);
  }
}

[[noreturn]] void Fail(const std::string& message) {
  Reply({{"ok", false}, {"error", message}});
  ::_exit(1);
}

std::uint64_t Number(const std::map<std::string, std::string>& args, const std::string& key,
                     std::uint64_t fallback) {
  auto it = args.find(key);
  if (it == args.end()) return fallback;
  std::uint64_t value = 0;
  auto [p, ec] = std::from_chars(it->second.data(), it->second.data() + it->second.size(), value);
  if (ec != std::errc() || p != it->second.data() + it->second.size()) Fail("bad value for " + key);
  return value;
}

void SetLimit(int resource, rlim_t value) {
  rlimit limit{value, value};
  if (::setrlimit(resource, &limit) != 0) Fail("cannot set a resource limit");
}

bool ParseVersion(const std::string& text, int& major, int& minor) {
  const auto dot = text.find('.');
  if (dot == std::string::npos) return false;
  auto a = std::from_chars(text.data(), text.data() + dot, major);
  auto b = std::from_chars(text.data() + dot + 1, text.data() + text.size(), minor);
  return a.ec == std::errc() && b.ec == std::errc() && b.ptr == text.data() + text.size();
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> args;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strncmp(argv[i], "--", 2) != 0) Fail(std::string("unexpected argument ") + argv[i]);
    args[argv[i] + 2] = argv[i + 1];
  }
  if (argc % 2 != 1) Fail("arguments come in --key value pairs");

  // 1. Privileges, first of all.
  const auto uid = static_cast<uid_t>(Number(args, "uid", 0));
  const auto gid = static_cast<gid_t>(Number(args, "gid", 0));
  if (::geteuid() == 0 || ::getuid() == 0) {
    if (uid == 0 || gid == 0) Fail("refusing to unpack as root: --uid and --gid must not be 0");
    if (::setgroups(0, nullptr) != 0 || ::setresgid(gid, gid, gid) != 0 ||
        ::setresuid(uid, uid, uid) != 0)
      Fail(std::string("cannot drop privileges: ") + std::strerror(errno));
    if (::setuid(0) == 0 || ::getuid() != uid || ::geteuid() != uid || ::getegid() != gid)
      Fail("privileges were not dropped");
  }
  ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  if (::syscall(SYS_close_range, 4U, ~0U, 0U) != 0) {
    for (int fd = 4; fd < 1024; ++fd) ::close(fd);
  }
  ::umask(022);

  sandboxd::BundleLimits limits;
  limits.max_entries = Number(args, "max-entries", limits.max_entries);
  limits.max_unpacked_bytes = Number(args, "max-bytes", limits.max_unpacked_bytes);
  limits.max_entry_bytes = Number(args, "max-entry-bytes", limits.max_entry_bytes);
  limits.max_ratio = Number(args, "max-ratio", limits.max_ratio);
  SetLimit(RLIMIT_CORE, 0);
  SetLimit(RLIMIT_NOFILE, 64);
  SetLimit(RLIMIT_FSIZE, limits.max_entry_bytes + (1 << 20));
  SetLimit(RLIMIT_CPU, Number(args, "timeout-s", 120));
  // Entries stream through a small buffer and the entry count is bounded before libzip reads
  // the central directory: a helper that needs more than this is being attacked.
  SetLimit(RLIMIT_AS, rlim_t{1} << 30);

  sandboxd::WheelTarget target;
  if (!ParseVersion(args.count("python") ? args["python"] : "3.11", target.python_major,
                    target.python_minor))
    Fail("bad --python");
  if (!ParseVersion(args.count("glibc") ? args["glibc"] : "2.36", target.glibc_major,
                    target.glibc_minor))
    Fail("bad --glibc");
  if (args.count("arch")) target.arch = args["arch"];

  struct stat out {};
  if (::fstat(3, &out) != 0 || !S_ISDIR(out.st_mode)) Fail("fd 3 is not the output folder");
  auto manifest = sandboxd::ExtractBundle(0, args.count("name") ? args["name"] : "bundle.zip", 3,
                                          limits, target);
  if (!manifest.ok()) Fail(manifest.status().message());
  Reply({{"ok", true}, {"manifest", nlohmann::json::parse(manifest->ToJson())}});
  return 0;
}
