#include "cache.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <spdlog/spdlog.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace sandboxd {
namespace fs = std::filesystem;

namespace {

std::string Hex(const unsigned char* data, std::size_t size) {
  static const char* const kDigits = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < size; ++i) {
    out += kDigits[data[i] >> 4];
    out += kDigits[data[i] & 15];
  }
  return out;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

bool WriteFileAtomically(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp-" + RandomHex();
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out) return false;
  }
  ::chmod(tmp.c_str(), 0600);  // the cache's own bookkeeping: the daemon's alone
  return ::rename(tmp.c_str(), path.c_str()) == 0;
}

bool IsKeyName(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == '-' || c == '.' ||
           (c >= 'A' && c <= 'Z') || (c >= 'g' && c <= 'z') || c == '_';
  });
}

}  // namespace

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned size = 0;
  EVP_Digest(data.data(), data.size(), digest, &size, EVP_sha256(), nullptr);
  return Hex(digest, size);
}

std::string RandomHex() {
  unsigned char bytes[16];
  std::size_t got = 0;
  while (got < sizeof(bytes)) {
    const ssize_t n = ::getrandom(bytes + got, sizeof(bytes) - got, 0);
    if (n > 0) got += static_cast<std::size_t>(n);
  }
  return Hex(bytes, sizeof(bytes));
}

// --- downloads --------------------------------------------------------------------------------

DownloadCache::DownloadCache(std::string dir, std::uint64_t capacity)
    : dir_(std::move(dir)), capacity_(capacity) {}

std::string DownloadCache::PathOf(const std::string& key, const char* ext) const {
  return dir_ + "/" + key + ext;
}

Status DownloadCache::Open() {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) return {ErrorCode::kInternal, "cannot create " + dir_ + ": " + ec.message()};
  // The daemon's alone: a sandbox reaches a cached file only through the hard link in its own
  // request's folder, and no host user reaches one at all (SECURITY.md).
  if (::chmod(dir_.c_str(), 0700) != 0)
    return {ErrorCode::kInternal, "cannot make " + dir_ + " private: " + std::strerror(errno)};
  std::lock_guard lock(mu_);
  std::vector<std::pair<fs::file_time_type, std::string>> found;
  for (const auto& item : fs::directory_iterator(dir_, ec)) {
    const std::string name = item.path().filename().string();
    if (name.find(".tmp-") != std::string::npos) {
      fs::remove(item.path(), ec);
      continue;
    }
    if (item.path().extension() != ".meta") continue;
    const std::string key = item.path().stem().string();
    const auto doc = nlohmann::json::parse(ReadFile(item.path().string()), nullptr, false);
    struct stat st {};
    const bool data_ok = ::stat(PathOf(key, ".data").c_str(), &st) == 0 && S_ISREG(st.st_mode);
    if (!doc.is_object() || !data_ok || !doc.contains("url") || !doc.contains("etag") ||
        !doc.contains("sha256")) {
      fs::remove(item.path(), ec);
      fs::remove(PathOf(key, ".data"), ec);
      continue;
    }
    Entry entry;
    entry.url_base = doc["url"].get<std::string>();
    entry.hit.etag = doc["etag"].get<std::string>();
    entry.hit.sha256 = doc["sha256"].get<std::string>();
    entry.hit.bytes = static_cast<std::uint64_t>(st.st_size);
    if (Sha256Hex(entry.url_base) != key) {
      fs::remove(item.path(), ec);
      fs::remove(PathOf(key, ".data"), ec);
      continue;
    }
    found.emplace_back(fs::last_write_time(item.path(), ec), key);
    bytes_ += entry.hit.bytes;
    entries_[key] = std::move(entry);
  }
  // Oldest first, so the LRU order survives a restart.
  std::sort(found.begin(), found.end());
  for (const auto& [time, key] : found) entries_[key].tick = ++tick_;
  // Data files without an entry are leftovers.
  for (const auto& item : fs::directory_iterator(dir_, ec)) {
    if (item.path().extension() == ".data" && !entries_.count(item.path().stem().string()))
      fs::remove(item.path(), ec);
  }
  EvictLocked();
  return Status::Ok();
}

std::optional<DownloadCache::Hit> DownloadCache::Stage(const std::string& url_base,
                                                       const std::string& dest) {
  const std::string key = Sha256Hex(url_base);
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end() || it->second.url_base != url_base) return std::nullopt;
  if (::link(PathOf(key, ".data").c_str(), dest.c_str()) != 0) {
    DropLocked(key);
    return std::nullopt;
  }
  it->second.tick = ++tick_;
  ::utimensat(AT_FDCWD, PathOf(key, ".meta").c_str(), nullptr, 0);
  return it->second.hit;
}

void DownloadCache::Insert(const std::string& url_base, const Hit& hit, const std::string& src) {
  if (hit.bytes > capacity_ || hit.etag.empty()) return;
  const std::string key = Sha256Hex(url_base);
  std::lock_guard lock(mu_);
  DropLocked(key);
  const std::string tmp = PathOf(key, ".data.tmp-") + RandomHex();
  if (::link(src.c_str(), tmp.c_str()) != 0 ||
      ::rename(tmp.c_str(), PathOf(key, ".data").c_str()) != 0) {
    ::unlink(tmp.c_str());
    return;
  }
  const nlohmann::json meta = {{"url", url_base}, {"etag", hit.etag}, {"sha256", hit.sha256}};
  if (!WriteFileAtomically(PathOf(key, ".meta"), meta.dump())) {
    ::unlink(PathOf(key, ".data").c_str());
    return;
  }
  Entry entry;
  entry.url_base = url_base;
  entry.hit = hit;
  entry.tick = ++tick_;
  bytes_ += hit.bytes;
  entries_[key] = std::move(entry);
  EvictLocked();
}

void DownloadCache::DropLocked(const std::string& key) {
  auto it = entries_.find(key);
  if (it != entries_.end()) {
    bytes_ -= it->second.hit.bytes;
    entries_.erase(it);
  }
  ::unlink(PathOf(key, ".meta").c_str());
  ::unlink(PathOf(key, ".data").c_str());
}

void DownloadCache::EvictLocked() {
  while (bytes_ > capacity_ && !entries_.empty()) {
    auto oldest = entries_.begin();
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
      if (it->second.tick < oldest->second.tick) oldest = it;
    }
    spdlog::debug("artifact cache: evicting {} ({} bytes)", oldest->second.url_base,
                  oldest->second.hit.bytes);
    DropLocked(std::string(oldest->first));
    ++evictions_;
  }
}

std::vector<std::string> DownloadCache::Remove(
    const std::function<bool(const std::string&)>& match) {
  std::lock_guard lock(mu_);
  std::vector<std::string> keys, hashes;
  for (const auto& [key, entry] : entries_) {
    if (match(entry.url_base)) {
      keys.push_back(key);
      hashes.push_back(entry.hit.sha256);
    }
  }
  for (const auto& key : keys) DropLocked(key);
  return hashes;
}

std::uint64_t DownloadCache::bytes() const {
  std::lock_guard lock(mu_);
  return bytes_;
}

std::size_t DownloadCache::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

std::uint64_t DownloadCache::evictions() const {
  std::lock_guard lock(mu_);
  return evictions_;
}

// --- unpacked bundles -----------------------------------------------------------------------

UnpackedCache::UnpackedCache(std::string dir, std::uint64_t capacity)
    : dir_(std::move(dir)), capacity_(capacity) {}

Status UnpackedCache::Open() {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) return {ErrorCode::kInternal, "cannot create " + dir_ + ": " + ec.message()};
  // The daemon's alone: a sandbox reaches a cached file only through the hard link in its own
  // request's folder, and no host user reaches one at all (SECURITY.md).
  if (::chmod(dir_.c_str(), 0700) != 0)
    return {ErrorCode::kInternal, "cannot make " + dir_ + " private: " + std::strerror(errno)};
  std::lock_guard lock(mu_);
  std::vector<std::pair<fs::file_time_type, std::string>> found;
  for (const auto& item : fs::directory_iterator(dir_, ec)) {
    const std::string key = item.path().filename().string();
    BundleManifest manifest;
    const bool ok =
        key[0] != '.' && IsKeyName(key) &&
        BundleManifest::FromJson(ReadFile((item.path() / "manifest.json").string()), manifest) &&
        fs::is_directory(item.path() / "tree", ec);
    if (!ok) {
      fs::remove_all(item.path(), ec);
      continue;
    }
    Entry entry;
    entry.manifest = manifest;
    entry.bytes = manifest.bytes;
    bytes_ += entry.bytes;
    found.emplace_back(fs::last_write_time(item.path() / "manifest.json", ec), key);
    entries_[key] = std::move(entry);
  }
  std::sort(found.begin(), found.end());
  for (const auto& [time, key] : found) entries_[key].tick = ++tick_;
  EvictLocked();
  return Status::Ok();
}

std::optional<UnpackedCache::Tree> UnpackedCache::Acquire(const std::string& key) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end() || it->second.doomed) return std::nullopt;
  ++it->second.pins;
  it->second.tick = ++tick_;
  ::utimensat(AT_FDCWD, (dir_ + "/" + key + "/manifest.json").c_str(), nullptr, 0);
  return Tree{dir_ + "/" + key + "/tree", it->second.manifest};
}

void UnpackedCache::Release(const std::string& key) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return;
  if (it->second.pins > 0) --it->second.pins;
  if (it->second.pins == 0 && it->second.doomed) {
    bytes_ -= it->second.bytes;
    entries_.erase(it);
    Discard(key);
  }
  EvictLocked();
}

StatusOr<std::string> UnpackedCache::NewStaging() {
  const std::string path = dir_ + "/.staging-" + RandomHex();
  if (::mkdir(path.c_str(), 0755) != 0)
    return Status(ErrorCode::kInternal, "cannot create " + path + ": " + std::strerror(errno));
  return path;
}

StatusOr<UnpackedCache::Tree> UnpackedCache::Adopt(const std::string& key,
                                                   const std::string& staging,
                                                   const BundleManifest& manifest) {
  std::error_code ec;
  if (!WriteFileAtomically(staging + "/manifest.json", manifest.ToJson())) {
    fs::remove_all(staging, ec);
    return Status(ErrorCode::kInternal, "cannot write the manifest of an unpacked bundle");
  }
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end() || it->second.doomed) {
    if (it != entries_.end()) {
      // Doomed but still pinned by someone: a fresh copy under the same key is not possible yet.
      fs::remove_all(staging, ec);
      return Status(ErrorCode::kInternal, "the unpacked bundle is being removed; retry");
    }
    const std::string final_path = dir_ + "/" + key;
    if (::rename(staging.c_str(), final_path.c_str()) != 0) {
      fs::remove_all(staging, ec);
      return Status(ErrorCode::kInternal,
                    "cannot store an unpacked bundle: " + std::string(std::strerror(errno)));
    }
    Entry entry;
    entry.manifest = manifest;
    entry.bytes = manifest.bytes;
    entry.tick = ++tick_;
    bytes_ += entry.bytes;
    it = entries_.emplace(key, std::move(entry)).first;
  } else {
    fs::remove_all(staging, ec);  // another request was first
  }
  ++it->second.pins;
  EvictLocked();
  return Tree{dir_ + "/" + key + "/tree", it->second.manifest};
}

std::size_t UnpackedCache::Remove(const std::vector<std::string>& prefixes, bool all) {
  std::lock_guard lock(mu_);
  std::vector<std::string> keys;
  for (const auto& [key, entry] : entries_) {
    if (entry.doomed) continue;
    bool match = all;
    for (const auto& p : prefixes) match = match || (!p.empty() && key.rfind(p, 0) == 0);
    if (match) keys.push_back(key);
  }
  for (const auto& key : keys) {
    auto it = entries_.find(key);
    if (it->second.pins > 0) {
      it->second.doomed = true;
      continue;
    }
    bytes_ -= it->second.bytes;
    entries_.erase(it);
    Discard(key);
  }
  return keys.size();
}

void UnpackedCache::EvictLocked() {
  while (bytes_ > capacity_) {
    auto oldest = entries_.end();
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
      if (it->second.pins > 0 || it->second.doomed) continue;
      if (oldest == entries_.end() || it->second.tick < oldest->second.tick) oldest = it;
    }
    if (oldest == entries_.end()) return;  // everything is in use
    const std::string key = oldest->first;
    bytes_ -= oldest->second.bytes;
    entries_.erase(oldest);
    Discard(key);
    ++evictions_;
  }
}

std::uint64_t UnpackedCache::bytes() {
  std::lock_guard lock(mu_);
  return bytes_;
}

std::uint64_t UnpackedCache::evictions() {
  std::lock_guard lock(mu_);
  return evictions_;
}

void UnpackedCache::Discard(const std::string& key) {
  std::error_code ec;
  const std::string trash = dir_ + "/.trash-" + RandomHex();
  if (::rename((dir_ + "/" + key).c_str(), trash.c_str()) == 0) fs::remove_all(trash, ec);
}

}  // namespace sandboxd
