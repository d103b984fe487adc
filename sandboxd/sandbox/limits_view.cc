#include "sandbox/limits_view.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <sstream>
#include <vector>

namespace sandboxd {
namespace {

std::string Fail(const std::string& what) { return what + ": " + std::strerror(errno); }

// Whole contents of a small file read through an open descriptor, from offset 0.
std::string ReadAt(int fd) {
  std::string text;
  char buf[4096];
  off_t offset = 0;
  for (;;) {
    const ssize_t n = ::pread(fd, buf, sizeof(buf), offset);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buf, static_cast<std::size_t>(n));
    offset += n;
    if (text.size() > (1U << 20)) break;  // cgroup files are small; never more than this
  }
  return text;
}

std::string ReadPath(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  std::string text = ReadAt(fd);
  ::close(fd);
  return text;
}

std::uint64_t ParseNumber(std::string_view text, std::uint64_t otherwise) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc() && end == text.data() + text.size() ? value : otherwise;
}

bool WriteWhole(int fd, const std::string& text) {
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n =
        ::pwrite(fd, text.data() + done, text.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

std::vector<std::string_view> Lines(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    lines.push_back(text.substr(0, nl));
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
  }
  return lines;
}

// "cpu12 ..." -> 12; "cpu ..." (the total) and other lines -> -1.
int CpuLineIndex(std::string_view line) {
  if (!line.starts_with("cpu") || line.size() < 4 || line[3] < '0' || line[3] > '9') return -1;
  int index = 0;
  std::from_chars(line.data() + 3, line.data() + line.size(), index);
  return index;
}

// Writes `text` as a read-only file bound over `target`; returns the scratch file's fd (kept
// writable when `keep_writable`) or -1 with `error` set.
int PlaceFile(const std::string& scratch, const std::string& name, const std::string& text,
              const std::string& target, bool keep_writable, std::string& error) {
  const std::string path = scratch + "/" + name;
  const int fd = ::open(path.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0444);
  if (fd < 0) {
    error = Fail("create " + path);
    return -1;
  }
  if (!WriteWhole(fd, text)) {
    error = Fail("write " + path);
    ::close(fd);
    return -1;
  }
  if (::mount(path.c_str(), target.c_str(), nullptr, MS_BIND, nullptr) != 0 ||
      ::mount(nullptr, target.c_str(), nullptr,
              MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0) {
    error = Fail("bind " + name + " over " + target);
    ::close(fd);
    return -1;
  }
  if (keep_writable) return fd;
  ::close(fd);
  return 0;
}

}  // namespace

std::string FormatMeminfo(const MemoryFigures& m) {
  const std::uint64_t used = std::min(m.used, m.total);
  const std::uint64_t free = m.total - used;
  // Page cache is reclaimable but for shared memory (tmpfs, memfds): swap is off in a sandbox.
  const std::uint64_t reclaimable = m.cache > m.shmem ? m.cache - m.shmem : 0;
  const std::uint64_t available = std::min(m.total, free + reclaimable);
  const std::pair<const char*, std::uint64_t> lines[] = {
      {"MemTotal:", m.total},
      {"MemFree:", free},
      {"MemAvailable:", available},
      {"Buffers:", 0},
      {"Cached:", m.cache},
      {"SwapCached:", 0},
      {"Active:", m.active},
      {"Inactive:", m.inactive},
      {"SwapTotal:", 0},
      {"SwapFree:", 0},
      {"Dirty:", 0},
      {"Shmem:", m.shmem},
      {"SReclaimable:", 0},
  };
  std::string text;
  for (const auto& [name, bytes] : lines) {
    // Fixed widths (12 digits of kB reach 931 TiB), so every rewrite has the same length.
    char line[64];
    std::snprintf(line, sizeof(line), "%-16s%12llu kB\n", name,
                  static_cast<unsigned long long>(bytes / 1024));
    text += line;
  }
  return text;
}

std::map<std::string, std::uint64_t, std::less<>> ParseKeyValues(std::string_view text) {
  std::map<std::string, std::uint64_t, std::less<>> values;
  for (std::string_view line : Lines(text)) {
    const std::size_t space = line.find(' ');
    if (space == std::string_view::npos) continue;
    // "cache 4096" (memory.stat) or "MemTotal:       24683584 kB" (/proc/meminfo).
    std::string_view rest = line.substr(space);
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    std::uint64_t value = 0;
    std::from_chars(rest.data(), rest.data() + rest.size(), value);
    values[std::string(line.substr(0, space))] = value;
  }
  return values;
}

std::string CpuStatView(std::string_view host_stat, unsigned cpus) {
  std::string text;
  for (std::string_view line : Lines(host_stat)) {
    const int index = CpuLineIndex(line);
    if (index >= static_cast<int>(cpus)) continue;
    if (index >= 0) {
      const std::size_t space = line.find(' ');
      text += "cpu" + std::to_string(index);
      text += line.substr(space == std::string_view::npos ? line.size() : space);
    } else {
      text += line;
    }
    text += '\n';
  }
  return text;
}

std::string CpuinfoView(std::string_view host_cpuinfo, unsigned cpus) {
  std::string text;
  unsigned processor = 0;
  bool keep = false;
  for (std::string_view line : Lines(host_cpuinfo)) {
    const std::string_view key = line.substr(0, line.find(':'));
    if (key.starts_with("processor")) {
      keep = processor < cpus;
      if (keep) text += "processor\t: " + std::to_string(processor) + "\n";
      ++processor;
      continue;
    }
    if (!keep) continue;
    if (key.starts_with("siblings") || key.starts_with("cpu cores")) {
      text += std::string(key) + ": " + std::to_string(cpus) + "\n";
    } else {
      text += std::string(line) + "\n";
    }
  }
  return text;
}

LimitsView::~LimitsView() {
  for (int fd : {meminfo_fd_, limit_fd_, usage_fd_, stat_fd_}) {
    if (fd >= 0) ::close(fd);
  }
}

MemoryCgroupFds OpenMemoryCgroupFiles(const internal::LaunchRequest& request) {
  MemoryCgroupFds files;
  for (const std::string& procs : request.cgroup_procs()) {
    const std::string dir = procs.substr(0, procs.rfind('/'));
    // Files of a cgroup filesystem only: they are handed to the sandbox's init.
    struct statfs fs {};
    if (::statfs(dir.c_str(), &fs) != 0 ||
        (fs.f_type != CGROUP_SUPER_MAGIC && fs.f_type != CGROUP2_SUPER_MAGIC))
      continue;
    const bool v2 = ::access((dir + "/memory.max").c_str(), R_OK) == 0;
    const bool v1 = ::access((dir + "/memory.limit_in_bytes").c_str(), R_OK) == 0;
    if (!v1 && !v2) continue;
    files.v2 = v2;
    files.limit = ::open((dir + (v2 ? "/memory.max" : "/memory.limit_in_bytes")).c_str(),
                         O_RDONLY | O_CLOEXEC);
    files.usage = ::open((dir + (v2 ? "/memory.current" : "/memory.usage_in_bytes")).c_str(),
                         O_RDONLY | O_CLOEXEC);
    files.stat = ::open((dir + "/memory.stat").c_str(), O_RDONLY | O_CLOEXEC);
    break;
  }
  return files;
}

void LimitsView::AdoptCgroupFiles(const MemoryCgroupFds& files) {
  limit_fd_ = files.limit;
  usage_fd_ = files.usage;
  stat_fd_ = files.stat;
  v2_ = files.v2;
}

void LimitsView::Forget() { meminfo_fd_ = limit_fd_ = usage_fd_ = stat_fd_ = -1; }

std::string LimitsView::SetUp(const internal::LaunchRequest& request, const std::string& root) {
  request_limit_ = request.memory_bytes();
  host_total_ = ParseKeyValues(ReadPath(root + "/proc/meminfo"))["MemTotal:"] * 1024;
  // The memory cgroup's files, opened while the host's cgroupfs is still in this mount tree.
  if (limit_fd_ < 0) AdoptCgroupFiles(OpenMemoryCgroupFiles(request));

  const std::string scratch = root + "/tmp";
  if (::mount("tmpfs", scratch.c_str(), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
              "size=262144,nr_inodes=8,mode=0755") != 0)
    return Fail("mount the limits view's tmpfs");
  std::string error;
  meminfo_fd_ = PlaceFile(scratch, "meminfo", "", root + "/proc/meminfo", true, error);
  if (meminfo_fd_ < 0) return error;
  Refresh();
  if (const unsigned cpus = request.cpu_count(); cpus > 0) {
    if (PlaceFile(scratch, "stat", CpuStatView(ReadPath(root + "/proc/stat"), cpus),
                  root + "/proc/stat", false, error) < 0 ||
        PlaceFile(scratch, "cpuinfo", CpuinfoView(ReadPath(root + "/proc/cpuinfo"), cpus),
                  root + "/proc/cpuinfo", false, error) < 0)
      return error;
  }
  // Out of the tree again; the bound files hold the tmpfs.
  if (::umount2(scratch.c_str(), MNT_DETACH) != 0) return Fail("detach the limits view's tmpfs");
  return "";
}

void LimitsView::Refresh() {
  if (meminfo_fd_ < 0) return;
  MemoryFigures m;
  std::uint64_t limit = request_limit_;
  if (limit_fd_ >= 0) limit = ParseNumber(ReadAt(limit_fd_), host_total_);  // "max": no limit
  if (limit == 0 || (host_total_ > 0 && limit > host_total_)) limit = host_total_;
  m.total = limit;
  if (usage_fd_ >= 0) m.used = ParseNumber(ReadAt(usage_fd_), 0);
  if (stat_fd_ >= 0) {
    const auto stat = ParseKeyValues(ReadAt(stat_fd_));
    auto get = [&stat](const char* key) {
      const auto it = stat.find(key);
      return it == stat.end() ? std::uint64_t{0} : it->second;
    };
    if (v2_) {
      m.cache = get("file");
      m.shmem = get("shmem");
      m.active = get("active_anon") + get("active_file");
      m.inactive = get("inactive_anon") + get("inactive_file");
    } else {
      m.cache = get("total_cache");
      m.shmem = get("total_shmem");
      m.active = get("total_active_anon") + get("total_active_file");
      m.inactive = get("total_inactive_anon") + get("total_inactive_file");
    }
  }
  WriteWhole(meminfo_fd_, FormatMeminfo(m));
}

}  // namespace sandboxd
