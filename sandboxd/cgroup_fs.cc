#include "cgroup_fs.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <climits>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>
#include <thread>

#include "root_helper.h"
#include "sandboxd/unique_fd.h"

namespace sandboxd {
namespace cgroup_files {

std::string ErrnoText(int err) {
  const char* desc = strerrordesc_np(err);
  const char* name = strerrorname_np(err);
  return std::string(desc != nullptr ? desc : "unknown error") + " (" +
         (name != nullptr ? std::string(name) : "errno " + std::to_string(err)) + ")";
}

bool IsDir(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool Exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

bool IsSandboxId(const std::string& id) {
  if (id.empty() || id.size() > 200 || id == "." || id == "..") return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
}

std::optional<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::optional<std::uint64_t> ReadKey(const std::string& text, std::string_view key) {
  std::istringstream lines(text);
  std::string name;
  std::uint64_t value = 0;
  while (lines >> name) {
    if (!(lines >> value)) return std::nullopt;
    if (name == key) return value;
  }
  return std::nullopt;
}

std::optional<std::uint64_t> ReadNumber(const std::string& path) {
  const auto text = ReadFile(path);
  if (!text) return std::nullopt;
  std::uint64_t value = 0;
  const char* begin = text->data();
  const char* end = begin + text->size();
  if (std::from_chars(begin, end, value).ec != std::errc()) return std::nullopt;
  return value;
}

std::vector<pid_t> ParsePids(const std::string& text) {
  std::vector<pid_t> pids;
  std::istringstream in(text);
  long long pid = 0;
  while (in >> pid) {
    if (pid > 0 && pid <= INT32_MAX) pids.push_back(static_cast<pid_t>(pid));
  }
  return pids;
}

std::vector<std::string> ListSubdirs(const std::string& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.is_directory(ec) && !entry.is_symlink(ec))
      names.push_back(entry.path().filename().string());
  }
  return names;
}

}  // namespace cgroup_files

using cgroup_files::ErrnoText;

Status CgroupFs::Write(const std::string& path, std::string_view value) const {
  const int err = WriteErrno(path, value);
  if (err == 0) return Status::Ok();
  return {ErrorCode::kInternal,
          "cannot write \"" + std::string(value) + "\" to " + path + ": " + ErrnoText(err)};
}

Status CgroupFs::WriteIfPresent(const std::string& path, std::string_view value) const {
  const int err = WriteErrno(path, value);
  if (err == 0 || err == ENOENT) return Status::Ok();
  return {ErrorCode::kInternal,
          "cannot write \"" + std::string(value) + "\" to " + path + ": " + ErrnoText(err)};
}

int CgroupFs::MakeDir(const std::string& path) const {
  if (::mkdir(path.c_str(), 0755) == 0) return 0;
  const int err = errno;
  if (err == EEXIST && cgroup_files::IsDir(path)) return 0;
  return err;
}

bool CgroupFs::RemoveDir(const std::string& dir, int attempts) const {
  // A child cgroup keeps its parent busy for ever, so children go first.
  bool children_gone = true;
  for (const auto& child : cgroup_files::ListSubdirs(dir))
    children_gone = RemoveDir(dir + "/" + child, attempts) && children_gone;
  if (!children_gone) return false;
  std::chrono::milliseconds pause(1);
  for (int attempt = 0; attempt < attempts; ++attempt) {
    const int err = RemoveDirErrno(dir);
    if (err == 0 || err == ENOENT) return true;
    if (err != EBUSY) return false;
    if (attempt + 1 < attempts) {
      std::this_thread::sleep_for(pause);
      pause = std::min(pause * 2, std::chrono::milliseconds(50));
    }
  }
  return false;
}

void CgroupFs::KillListed(const std::vector<std::string>& procs_files) const {
  // (A pid could be reused between read and kill; with a 4M pid space and microseconds between
  // them it is not.)
  for (int round = 0; round < 200; ++round) {
    bool any = false;
    for (const auto& procs : procs_files) {
      for (pid_t pid : ReadProcs(procs)) {
        if (pid == ::getpid()) continue;  // a test, or a misconfigured root, may list us
        KillByPid(pid);  // as root, or through the root helper once the daemon dropped it
        any = true;
      }
    }
    if (!any) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

namespace {

class Kernel final : public CgroupFs {
 public:
  bool IsCgroup(const std::string& path) const override {
    struct statfs st {};
    if (::statfs(path.c_str(), &st) != 0) return false;
    return st.f_type == CGROUP2_SUPER_MAGIC || st.f_type == CGROUP_SUPER_MAGIC;
  }

  bool IsCgroup2(const std::string& path) const override {
    struct statfs st {};
    return ::statfs(path.c_str(), &st) == 0 && st.f_type == CGROUP2_SUPER_MAGIC;
  }

  int WriteErrno(const std::string& path, std::string_view value) const override {
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd) return errno;
    const ssize_t n = ::write(fd.get(), value.data(), value.size());
    if (n < 0) return errno;
    return static_cast<std::size_t>(n) == value.size() ? 0 : EIO;
  }

  std::vector<pid_t> ReadProcs(const std::string& path) const override {
    const auto text = cgroup_files::ReadFile(path);
    return text ? cgroup_files::ParsePids(*text) : std::vector<pid_t>{};
  }

  // On cgroupfs only rmdir is right: its files cannot be unlinked.
  int RemoveDirErrno(const std::string& path) const override {
    return ::rmdir(path.c_str()) == 0 ? 0 : errno;
  }
};

}  // namespace

std::shared_ptr<const CgroupFs> KernelCgroupFs() {
  static const auto kernel = std::make_shared<const Kernel>();
  return kernel;
}

}  // namespace sandboxd
