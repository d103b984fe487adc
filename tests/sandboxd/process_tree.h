// Reading the process tree a test daemon started from /proc: its launcher, zygotes and
// sandbox inits.
#pragma once

#include <fcntl.h>
#include <sys/types.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

namespace sandboxd::testing {

// The whole file at `path`, or what could be read of it. With read(2), not a stream: a file of
// /proc whose process exits while it is read fails with ESRCH, which libstdc++'s stream
// iterators throw as an exception (a test failed so in CI); here it just ends the text.
inline std::string ReadWholeFile(const std::string& path) {
  std::string text;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return text;
  char buffer[65536];
  for (ssize_t n; (n = ::read(fd, buffer, sizeof buffer)) > 0;)
    text.append(buffer, static_cast<std::size_t>(n));
  ::close(fd);
  return text;
}

// The processes whose command line holds `needle` (the zygote's names its script).
inline std::vector<pid_t> ProcessesWithCmdline(const std::string& needle) {
  std::vector<pid_t> found;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    if (ReadWholeFile(entry.path() / "cmdline").find(needle) != std::string::npos)
      found.push_back(std::stoi(name));
  }
  return found;
}

inline pid_t ParentOf(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(in, line);
  const auto close = line.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream rest(line.substr(close + 2));
  std::string state;
  pid_t ppid = -1;
  rest >> state >> ppid;
  return ppid;
}

inline std::string Comm(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/comm");
  std::string comm;
  std::getline(in, comm);
  return comm;
}

// The children of `parent` whose command line starts with `argv0`.
inline std::vector<pid_t> ChildrenNamed(pid_t parent, const std::string& argv0) {
  std::vector<pid_t> found;
  for (pid_t pid : ProcessesWithCmdline(argv0)) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline");
    std::string first;
    std::getline(in, first, '\0');
    if (first == argv0 && ParentOf(pid) == parent) found.push_back(pid);
  }
  return found;
}

// The daemon's launcher: the child of its root helper (root_helper.h), the daemon's child; -1
// unless there is exactly one.
inline pid_t LauncherOf(pid_t daemon) {
  const auto helpers = ChildrenNamed(daemon, "sandboxd-helper");
  if (helpers.size() != 1) return -1;
  const auto launchers = ChildrenNamed(helpers[0], "sandboxd-launcher");
  return launchers.size() == 1 ? launchers[0] : -1;
}

}  // namespace sandboxd::testing
