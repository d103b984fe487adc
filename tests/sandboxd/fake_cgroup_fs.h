// A plain directory that behaves like cgroupfs where the cgroup managers can tell (cgroup_fs.h):
// control files are created on first write, writing a pid to a cgroup.procs moves it there from
// every other cgroup.procs below the root, a cgroup.procs lists only processes still running,
// and a cgroup directory is removed with the files in it.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "cgroup_fs.h"

namespace sandboxd::testing {

class FakeCgroupFs final : public CgroupFs {
 public:
  // Every path the managers are given lies below `root`.
  explicit FakeCgroupFs(std::string root) : root_(std::move(root)) {}

  bool IsCgroup(const std::string& path) const override { return Below(path); }
  bool IsCgroup2(const std::string& path) const override { return Below(path); }

  int WriteErrno(const std::string& path, std::string_view value) const override {
    const bool procs = path.ends_with("/cgroup.procs");
    if (procs) RemoveFromOtherProcs(path, value);
    const int fd =
        ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | (procs ? O_APPEND : O_TRUNC), 0644);
    if (fd < 0) return errno;
    const ssize_t n = ::write(fd, value.data(), value.size());
    const int err = n < 0 ? errno : 0;
    ::close(fd);
    if (err != 0) return err;
    return static_cast<std::size_t>(n) == value.size() ? 0 : EIO;
  }

  std::vector<pid_t> ReadProcs(const std::string& path) const override {
    const auto text = cgroup_files::ReadFile(path);
    std::vector<pid_t> running;
    if (!text) return running;
    for (pid_t pid : cgroup_files::ParsePids(*text))
      if (Running(pid)) running.push_back(pid);
    return running;
  }

  int RemoveDirErrno(const std::string& path) const override {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(path, ec))
      if (!entry.is_directory(ec)) std::filesystem::remove(entry.path(), ec);
    return ::rmdir(path.c_str()) == 0 ? 0 : errno;
  }

 private:
  bool Below(const std::string& path) const {
    return path == root_ || path.starts_with(root_ + "/");
  }

  // As the kernel shows it: a killed process leaves its cgroup when it exits (a zombie is gone).
  static bool Running(pid_t pid) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(stat, line)) return false;
    const auto close = line.rfind(')');
    return close != std::string::npos && close + 2 < line.size() && line[close + 2] != 'Z';
  }

  // A process is in one cgroup of a hierarchy at a time.
  void RemoveFromOtherProcs(const std::string& target, std::string_view value) const {
    const std::string moved = std::string(value.substr(0, value.find('\n')));
    std::error_code ec;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(root_, ec)) {
      if (entry.path().filename() != "cgroup.procs" || entry.path() == target) continue;
      std::ifstream in(entry.path());
      std::ostringstream kept;
      for (std::string line; std::getline(in, line);)
        if (line != moved) kept << line << "\n";
      in.close();
      std::ofstream(entry.path(), std::ios::trunc) << kept.str();
    }
  }

  std::string root_;
};

}  // namespace sandboxd::testing
