#include "bundle.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>

#include "sandboxd/unique_fd.h"

namespace sandboxd {
namespace {

// The entry count an archive declares in its end-of-central-directory record (the zip64 one
// when the classic record says 0xFFFF), or -1 when there is no such record. libzip reads the
// whole central directory, allocating per entry, before it can be asked: a bundle declaring
// millions of entries is refused on this count first. libzip then parses the archive as usual.
std::int64_t DeclaredEntryCount(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0 || st.st_size < 22) return -1;
  // The record is 22 bytes plus a comment of at most 65 535; read the tail that can hold it.
  const std::size_t tail = static_cast<std::size_t>(std::min<off_t>(st.st_size, 22 + 65535 + 20));
  std::string bytes(tail, '\0');
  if (::pread(fd, bytes.data(), tail, st.st_size - static_cast<off_t>(tail)) !=
      static_cast<ssize_t>(tail))
    return -1;
  const auto le = [&](std::size_t at, int width) {
    std::uint64_t v = 0;
    for (int k = width - 1; k >= 0; --k)
      v = (v << 8) | static_cast<unsigned char>(bytes[at + static_cast<std::size_t>(k)]);
    return v;
  };
  for (std::size_t at = tail - 22 + 1; at-- > 0;) {
    if (le(at, 4) != 0x06054b50) continue;
    const std::uint64_t total = le(at + 10, 2);
    if (total != 0xFFFF) return static_cast<std::int64_t>(total);
    // zip64: the locator sits right before the classic record and names the zip64 record.
    if (at < 20 || le(at - 20, 4) != 0x07064b50) return -1;
    const std::uint64_t offset = le(at - 20 + 8, 8);
    char record[40];
    if (offset > static_cast<std::uint64_t>(st.st_size) - sizeof(record) ||
        ::pread(fd, record, sizeof(record), static_cast<off_t>(offset)) != sizeof(record))
      return -1;
    std::uint64_t count = 0;
    for (int k = 7; k >= 0; --k) count = (count << 8) | static_cast<unsigned char>(record[32 + k]);
    return count > static_cast<std::uint64_t>(INT64_MAX) ? INT64_MAX
                                                         : static_cast<std::int64_t>(count);
  }
  return -1;
}

constexpr std::uint64_t kRatioFloorBytes = 1 << 20;  // small entries may compress any amount
constexpr std::size_t kMaxComponentBytes = 255;
constexpr std::size_t kMaxWheelMetadataBytes = 64 << 10;

Status Refuse(std::string message) { return {ErrorCode::kArtifactFailed, std::move(message)}; }

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool EndsWithIgnoreCase(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && Lower(s.substr(s.size() - suffix.size())) == suffix;
}

// Shown in messages: printable ASCII as is, anything else escaped, long names cut.
std::string Shown(std::string_view name) {
  std::string out;
  for (unsigned char c : name.substr(0, 200)) {
    if (c >= 0x20 && c < 0x7f && c != '\'')
      out += static_cast<char>(c);
    else
      out += fmt::format("\\x{:02x}", c);
  }
  if (name.size() > 200) out += "...";
  return out;
}

struct ZipDeleter {
  void operator()(zip_t* z) const { zip_discard(z); }
};
struct ZipFileDeleter {
  void operator()(zip_file_t* f) const { zip_fclose(f); }
};
using ZipPtr = std::unique_ptr<zip_t, ZipDeleter>;
using ZipFilePtr = std::unique_ptr<zip_file_t, ZipFileDeleter>;

// One entry after the checks of the first pass.
struct Entry {
  zip_uint64_t index = 0;
  std::string name;                     // as in the archive
  std::vector<std::string> components;  // of the name
  bool dir = false;
  bool executable = false;
  std::uint64_t declared_size = 0;
  std::uint64_t declared_comp_size = 0;
};

// H1, H4: the name alone.
Status CheckName(std::string_view name, const BundleLimits& limits, Entry& entry) {
  const std::string shown = Shown(name);
  if (name.empty()) return Refuse("an entry has an empty name");
  if (name.size() > limits.max_name_bytes)
    return Refuse(
        fmt::format("entry '{}' has a name longer than {} bytes", shown, limits.max_name_bytes));
  for (unsigned char c : name) {
    if (c < 0x20 || c == 0x7f)
      return Refuse(fmt::format("entry '{}' has a control character in its name", shown));
    if (c >= 0x80)
      return Refuse(fmt::format(
          "entry '{}' has a non-ASCII name (names must be printable ASCII, so that no two "
          "can be Unicode twins)",
          shown));
    if (c == '\\')
      return Refuse(
          fmt::format("entry '{}' has a backslash in its name (zip-slip: Windows "
                      "separators are not allowed)",
                      shown));
    if (c == ':')
      return Refuse(
          fmt::format("entry '{}' has a drive letter or ':' in its name (absolute path)", shown));
    if (std::strchr("*?\"<>|", c) != nullptr)
      return Refuse(fmt::format("entry '{}' has a character Windows reserves in its name", shown));
  }
  if (name.front() == '/')
    return Refuse(fmt::format("entry '{}' has an absolute name (zip-slip)", shown));
  entry.dir = name.back() == '/';
  const std::string_view path = entry.dir ? name.substr(0, name.size() - 1) : name;
  if (path.empty()) return Refuse(fmt::format("entry '{}' has a '/'-only name", shown));
  std::size_t start = 0;
  while (true) {
    const std::size_t slash = path.find('/', start);
    const std::string_view part = path.substr(
        start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (part.empty()) return Refuse(fmt::format("entry '{}' has an empty path component", shown));
    if (part == "." || part == "..")
      return Refuse(fmt::format("entry '{}' leaves or re-enters its folder with '{}' (zip-slip)",
                                shown, part));
    if (part.size() > kMaxComponentBytes)
      return Refuse(fmt::format("entry '{}' has a path component longer than {} bytes", shown,
                                kMaxComponentBytes));
    if (part.back() == ' ' || part.back() == '.')
      return Refuse(fmt::format("entry '{}' has a component ending in a dot or a space", shown));
    entry.components.emplace_back(part);
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  if (entry.components.size() > limits.max_depth)
    return Refuse(
        fmt::format("entry '{}' is nested deeper than {} folders", shown, limits.max_depth));
  return Status::Ok();
}

std::string TypeName(unsigned type) {
  switch (type) {
    case S_IFLNK:
      return "a symbolic link";
    case S_IFCHR:
      return "a character device";
    case S_IFBLK:
      return "a block device";
    case S_IFIFO:
      return "a FIFO";
    case S_IFSOCK:
      return "a socket";
    default:
      return fmt::format("file type {:o}", type);
  }
}

class Extractor {
 public:
  Extractor(int root_fd, const BundleLimits& limits, const WheelTarget& target)
      : root_fd_(root_fd), limits_(limits), target_(target) {}

  StatusOr<BundleManifest> Run(int archive_fd, std::string_view archive_name) {
    struct stat st {};
    if (::fstat(archive_fd, &st) != 0 || !S_ISREG(st.st_mode))
      return Status(Refuse("the bundle is not a regular file"));
    const std::uint64_t archive_bytes = static_cast<std::uint64_t>(st.st_size);
    if (EndsWithIgnoreCase(archive_name, ".whl")) {
      manifest_.kind = "wheels";
      if (Status s = ExtractWheel(archive_fd, std::string(archive_name), archive_bytes, "");
          !s.ok())
        return s;
    } else {
      ZipPtr zip;
      std::vector<Entry> entries;
      if (Status s = Open(archive_fd, "", zip, entries); !s.ok()) return s;
      bool all_wheels = false;
      for (const auto& e : entries) {
        if (e.dir) continue;
        if (!EndsWithIgnoreCase(e.name, ".whl")) {
          all_wheels = false;
          break;
        }
        all_wheels = true;
      }
      manifest_.kind = all_wheels ? "wheels" : "files";
      if (Status s = all_wheels ? ExtractWheelsOf(zip.get(), entries, archive_bytes)
                                : ExtractFiles(zip.get(), entries, archive_bytes, "", false);
          !s.ok())
        return s;
    }
    return manifest_;
  }

 private:
  // Opens an archive (on a dup of `fd`) and runs the first pass: every entry's name, type,
  // encryption and method, and the count, before one byte is written.
  Status Open(int fd, const std::string& label, ZipPtr& zip, std::vector<Entry>& entries) {
    const int owned = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (owned < 0) return Refuse(label + "cannot read the archive");
    ::lseek(owned, 0, SEEK_SET);
    if (const std::int64_t declared = DeclaredEntryCount(owned);
        declared > 0 && entries_ + static_cast<std::uint64_t>(declared) > limits_.max_entries) {
      ::close(owned);
      return Refuse(fmt::format("{}declares {} entries, more than {} (zip bomb: entry count)",
                                label, declared, limits_.max_entries));
    }
    int error = 0;
    zip.reset(zip_fdopen(owned, ZIP_RDONLY | ZIP_CHECKCONS, &error));
    if (!zip) {
      ::close(owned);
      zip_error_t ze;
      zip_error_init_with_code(&ze, error);
      std::string why = zip_error_strerror(&ze);
      zip_error_fini(&ze);
      if (error == ZIP_ER_EXISTS)
        return Refuse(label + "two entries have the same name (duplicate names)");
      return Refuse(label + "not a valid zip archive (" + why + ")");
    }
    const zip_int64_t count = zip_get_num_entries(zip.get(), 0);
    if (count < 0) return Refuse(label + "cannot list the archive");
    entries_ += static_cast<std::uint64_t>(count);
    if (entries_ > limits_.max_entries)
      return Refuse(fmt::format("{}more than {} entries (zip bomb: entry count)", label,
                                limits_.max_entries));
    std::set<std::string> exact, folded;
    for (zip_uint64_t i = 0; i < static_cast<zip_uint64_t>(count); ++i) {
      Entry e;
      e.index = i;
      const char* raw = zip_get_name(zip.get(), i, ZIP_FL_ENC_RAW);
      if (raw == nullptr) return Refuse(label + "an entry has no readable name");
      e.name = raw;
      if (Status s = CheckName(e.name, limits_, e); !s.ok()) return Refuse(label + s.message());
      const std::string shown = Shown(e.name);
      zip_uint8_t opsys = 0;
      zip_uint32_t attributes = 0;
      if (zip_file_get_external_attributes(zip.get(), i, 0, &opsys, &attributes) != 0)
        return Refuse(fmt::format("{}entry '{}' has unreadable attributes", label, shown));
      if (opsys == ZIP_OPSYS_UNIX) {
        const unsigned mode = attributes >> 16;
        const unsigned type = mode & S_IFMT;
        if (type != 0 && type != S_IFREG && type != S_IFDIR)
          return Refuse(fmt::format("{}entry '{}' is {}; only files and folders are allowed{}",
                                    label, shown, TypeName(type),
                                    type == S_IFLNK ? " (links)" : " (special files)"));
        if (type == S_IFDIR) e.dir = true;
        if (type == S_IFREG && e.dir)
          return Refuse(fmt::format("{}entry '{}' is a file with a folder's name", label, shown));
        e.executable = (mode & S_IXUSR) != 0;
      }
      zip_stat_t st;
      zip_stat_init(&st);
      if (zip_stat_index(zip.get(), i, ZIP_FL_ENC_RAW, &st) != 0)
        return Refuse(fmt::format("{}entry '{}' cannot be read", label, shown));
      if ((st.valid & ZIP_STAT_ENCRYPTION_METHOD) != 0 && st.encryption_method != ZIP_EM_NONE)
        return Refuse(fmt::format("{}entry '{}' is encrypted", label, shown));
      if ((st.valid & ZIP_STAT_COMP_METHOD) != 0 &&
          !zip_compression_method_supported(static_cast<zip_int32_t>(st.comp_method), 0))
        return Refuse(
            fmt::format("{}entry '{}' uses an unsupported compression method", label, shown));
      e.declared_size = (st.valid & ZIP_STAT_SIZE) != 0 ? st.size : 0;
      e.declared_comp_size = (st.valid & ZIP_STAT_COMP_SIZE) != 0 ? st.comp_size : 0;
      if (e.dir && e.declared_size != 0)
        return Refuse(fmt::format("{}folder entry '{}' holds data", label, shown));
      if (e.declared_size > limits_.max_entry_bytes)
        return Refuse(fmt::format(
            "{}entry '{}' declares {} bytes, over the limit of {} per entry (zip bomb: entry size)",
            label, shown, e.declared_size, limits_.max_entry_bytes));
      std::string key = e.name;
      if (e.dir) key.pop_back();
      if (!exact.insert(key).second)
        return Refuse(fmt::format("{}entry '{}' appears twice (duplicate names)", label, shown));
      if (!folded.insert(Lower(key)).second)
        return Refuse(fmt::format(
            "{}entry '{}' differs from another entry only in case (case twins)", label, shown));
      entries.push_back(std::move(e));
    }
    return Status::Ok();
  }

  // Records an output path; refuses a second file at it, or a file where a folder is.
  Status Claim(const std::vector<std::string>& components, bool dir, const std::string& label,
               const std::string& shown) {
    std::string path;
    for (std::size_t i = 0; i < components.size(); ++i) {
      path += (i == 0 ? "" : "/") + Lower(components[i]);
      const bool last = i + 1 == components.size();
      const bool want_dir = !last || dir;
      auto [it, inserted] = claimed_.emplace(path, want_dir);
      if (inserted) continue;
      if (it->second != want_dir || (!want_dir))
        return Refuse(
            fmt::format("{}entry '{}' collides with another entry of the bundle", label, shown));
    }
    return Status::Ok();
  }

  // Opens (creating as needed) the folder of `components[0..n)` beneath the root.
  StatusOr<UniqueFd> OpenFolder(const std::vector<std::string>& components, std::size_t n,
                                const std::string& shown) {
    UniqueFd dir(::fcntl(root_fd_, F_DUPFD_CLOEXEC, 0));
    for (std::size_t i = 0; i < n; ++i) {
      const char* part = components[i].c_str();
      if (::mkdirat(dir.get(), part, 0755) != 0 && errno != EEXIST)
        return Status(Refuse(
            fmt::format("cannot create the folder of '{}': {}", shown, std::strerror(errno))));
      UniqueFd next(::openat(dir.get(), part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!next)
        return Status(
            Refuse(fmt::format("entry '{}' would be written through a link or a file "
                               "(links are not followed): {}",
                               shown, std::strerror(errno))));
      ::fchmod(next.get(), 0755);
      dir = std::move(next);
    }
    return dir;
  }

  // Streams one entry, counting every byte, into `out` (or nowhere, when out < 0).
  Status Stream(zip_t* zip, const Entry& e, int out, std::uint64_t& archive_out,
                std::uint64_t archive_bytes, const std::string& label,
                std::string* keep = nullptr) {
    const std::string shown = Shown(e.name);
    ZipFilePtr file(zip_fopen_index(zip, e.index, 0));
    if (!file)
      return Refuse(
          fmt::format("{}entry '{}' cannot be opened: {}", label, shown, zip_strerror(zip)));
    std::array<char, 64 * 1024> buffer{};
    std::uint64_t got = 0;
    while (true) {
      const zip_int64_t n = zip_fread(file.get(), buffer.data(), buffer.size());
      if (n < 0)
        return Refuse(fmt::format("{}entry '{}' is corrupt ({})", label, shown,
                                  zip_file_strerror(file.get())));
      if (n == 0) break;
      const auto size = static_cast<std::uint64_t>(n);
      got += size;
      total_ += size;
      archive_out += size;
      if (got > limits_.max_entry_bytes)
        return Refuse(
            fmt::format("{}entry '{}' unpacks to more than {} bytes (zip bomb: entry size)", label,
                        shown, limits_.max_entry_bytes));
      if (total_ > limits_.max_unpacked_bytes)
        return Refuse(
            fmt::format("{}the bundle unpacks to more than {} bytes (zip bomb: total size)", label,
                        limits_.max_unpacked_bytes));
      if (got > kRatioFloorBytes &&
          got / std::max<std::uint64_t>(e.declared_comp_size, 1) > limits_.max_ratio)
        return Refuse(fmt::format("{}entry '{}' expands more than {} times (zip bomb: ratio)",
                                  label, shown, limits_.max_ratio));
      if (archive_out > kRatioFloorBytes &&
          archive_out / std::max<std::uint64_t>(archive_bytes, 1) > limits_.max_ratio)
        return Refuse(
            fmt::format("{}the archive expands more than {} times its size (zip bomb: "
                        "ratio, or overlapping entries)",
                        label, limits_.max_ratio));
      if (keep != nullptr) {
        if (keep->size() + size > kMaxWheelMetadataBytes)
          return Refuse(fmt::format("{}entry '{}' is too large for wheel metadata", label, shown));
        keep->append(buffer.data(), size);
      }
      std::size_t done = 0;
      while (out >= 0 && done < size) {
        const ssize_t w = ::write(out, buffer.data() + done, size - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0)
          return Refuse(fmt::format("{}entry '{}' cannot be written: {}", label, shown,
                                    std::strerror(w < 0 ? errno : ENOSPC)));
        done += static_cast<std::size_t>(w);
      }
    }
    if (got != e.declared_size)
      return Refuse(
          fmt::format("{}entry '{}' holds {} bytes but its header says {} (sizes that "
                      "lie)",
                      label, shown, got, e.declared_size));
    return Status::Ok();
  }

  // Writes one entry at `components` beneath the root.
  Status Place(zip_t* zip, const Entry& e, const std::vector<std::string>& components,
               std::uint64_t& archive_out, std::uint64_t archive_bytes, const std::string& label) {
    const std::string shown = Shown(e.name);
    if (Status s = Claim(components, e.dir, label, shown); !s.ok()) return s;
    if (e.dir) {
      auto dir = OpenFolder(components, components.size(), shown);
      return dir.ok() ? Status::Ok() : Refuse(label + dir.status().message());
    }
    auto dir = OpenFolder(components, components.size() - 1, shown);
    if (!dir.ok()) return Refuse(label + dir.status().message());
    const mode_t mode = e.executable ? 0755 : 0644;
    UniqueFd out(::openat(dir->get(), components.back().c_str(),
                          O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode));
    if (!out)
      return Refuse(fmt::format("{}entry '{}' cannot be created ({}): {}", label, shown,
                                errno == EEXIST ? "it exists already" : "links are not followed",
                                std::strerror(errno)));
    ::fchmod(out.get(), mode);
    if (Status s = Stream(zip, e, out.get(), archive_out, archive_bytes, label); !s.ok()) return s;
    ++manifest_.files;
    manifest_.bytes += e.declared_size;
    return Status::Ok();
  }

  Status ExtractFiles(zip_t* zip, const std::vector<Entry>& entries, std::uint64_t archive_bytes,
                      const std::string& label, bool wheel) {
    std::uint64_t archive_out = 0;
    for (const auto& e : entries) {
      std::vector<std::string> to = e.components;
      if (wheel && to.size() >= 1 && EndsWithIgnoreCase(to[0], ".data")) {
        // <name>.data/purelib/x and platlib/x install at the root; scripts, headers, data do not.
        if (to.size() < 3 || (to[1] != "purelib" && to[1] != "platlib")) continue;
        to.erase(to.begin(), to.begin() + 2);
      }
      if (Status s = Place(zip, e, to, archive_out, archive_bytes, label); !s.ok()) return s;
    }
    return Status::Ok();
  }

  // A flat zip of wheels: each wheel is streamed (and counted) into an unnamed file, then unpacked.
  Status ExtractWheelsOf(zip_t* zip, const std::vector<Entry>& entries,
                         std::uint64_t archive_bytes) {
    std::uint64_t archive_out = 0;
    for (const auto& e : entries) {
      if (e.dir) continue;
      UniqueFd tmp(::openat(root_fd_, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
      if (!tmp) return Refuse(std::string("cannot make room for a wheel: ") + std::strerror(errno));
      if (Status s = Stream(zip, e, tmp.get(), archive_out, archive_bytes, ""); !s.ok()) return s;
      if (Status s = ExtractWheel(tmp.get(), e.components.back(), e.declared_size, ""); !s.ok())
        return s;
    }
    return Status::Ok();
  }

  Status ExtractWheel(int fd, const std::string& filename, std::uint64_t bytes,
                      const std::string&) {
    const std::string label = "wheel '" + Shown(filename) + "': ";
    ZipPtr zip;
    std::vector<Entry> entries;
    if (Status s = Open(fd, label, zip, entries); !s.ok()) return s;
    // The tags: those of the file name, when it is a wheel's name, and the WHEEL file's.
    std::vector<std::string> tags;
    WheelName parsed;
    const bool named = ParseWheelFilename(filename, parsed);
    if (named) tags = parsed.tags;
    const Entry* wheel_file = nullptr;
    for (const auto& e : entries) {
      if (!e.dir && e.components.size() == 2 && EndsWithIgnoreCase(e.components[0], ".dist-info") &&
          e.components[1] == "WHEEL")
        wheel_file = &e;
    }
    if (wheel_file == nullptr)
      return Refuse(label + "not a wheel: it has no *.dist-info/WHEEL file");
    std::string metadata;
    std::uint64_t ignored = 0;
    if (Status s = Stream(zip.get(), *wheel_file, -1, ignored, bytes, label, &metadata); !s.ok())
      return s;
    std::vector<std::string> declared;
    std::size_t start = 0;
    while (start < metadata.size()) {
      std::size_t end = metadata.find('\n', start);
      if (end == std::string::npos) end = metadata.size();
      std::string line = metadata.substr(start, end - start);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.rfind("Tag:", 0) == 0) {
        std::string tag = line.substr(4);
        tag.erase(0, tag.find_first_not_of(' '));
        tag.erase(tag.find_last_not_of(' ') + 1);
        declared.push_back(tag);
      }
      start = end + 1;
    }
    for (const auto* list : {&tags, &declared}) {
      if (list->empty()) continue;
      if (std::string why = WheelIncompatibility(*list, target_); !why.empty())
        return Refuse(fmt::format("{}cannot run in this image: {}", label, why));
    }
    if (!named && declared.empty()) return Refuse(label + "declares no compatibility tags");
    manifest_.wheels.push_back(filename);
    return ExtractFiles(zip.get(), entries, bytes, label, /*wheel=*/true);
  }

  int root_fd_;
  const BundleLimits& limits_;
  const WheelTarget& target_;
  std::uint64_t entries_ = 0;
  std::uint64_t total_ = 0;
  std::map<std::string, bool> claimed_;  // lower-cased output path -> is a folder
  BundleManifest manifest_;
};

}  // namespace

std::string BundleManifest::ToJson() const {
  nlohmann::json doc = {{"kind", kind}, {"wheels", wheels}, {"files", files}, {"bytes", bytes}};
  return doc.dump();
}

bool BundleManifest::FromJson(std::string_view text, BundleManifest& out) {
  const auto doc = nlohmann::json::parse(text, nullptr, false);
  if (!doc.is_object()) return false;
  try {
    out.kind = doc.at("kind").get<std::string>();
    out.wheels = doc.at("wheels").get<std::vector<std::string>>();
    out.files = doc.at("files").get<std::uint64_t>();
    out.bytes = doc.at("bytes").get<std::uint64_t>();
  } catch (const nlohmann::json::exception&) {
    return false;
  }
  return out.kind == "wheels" || out.kind == "files";
}

bool IsBundleName(std::string_view name) {
  return EndsWithIgnoreCase(name, ".zip") || EndsWithIgnoreCase(name, ".whl");
}

StatusOr<BundleManifest> ExtractBundle(int archive_fd, std::string_view archive_name, int out_dirfd,
                                       const BundleLimits& limits, const WheelTarget& target) {
  Extractor extractor(out_dirfd, limits, target);
  return extractor.Run(archive_fd, archive_name);
}

}  // namespace sandboxd
