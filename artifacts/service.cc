#include "service.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "fetch.h"
#include "sandboxd/unique_fd.h"
#include "unpack_client.h"

namespace sandboxd {
namespace fs = std::filesystem;

namespace {

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string Bytes(std::uint64_t n) {
  if (n >= (1ULL << 30) && n % (1ULL << 30) == 0) return fmt::format("{} GiB", n >> 30);
  if (n >= (1ULL << 20) && n % (1ULL << 20) == 0) return fmt::format("{} MiB", n >> 20);
  if (n >= (1ULL << 10) && n % (1ULL << 10) == 0) return fmt::format("{} KiB", n >> 10);
  return fmt::format("{} bytes", n);
}

bool ParseMajorMinor(const std::string& text, int& major, int& minor) {
  return std::sscanf(text.c_str(), "%d.%d", &major, &minor) == 2;
}

// Hard-links the tree at `src` into the new folder `dst` (copies across filesystems).
Status LinkTree(int src_fd, int dst_parent, const std::string& dst_name, unsigned depth) {
  if (depth > 64) return {ErrorCode::kInternal, "an unpacked bundle is nested too deep"};
  if (::mkdirat(dst_parent, dst_name.c_str(), 0755) != 0)
    return {ErrorCode::kInternal,
            "cannot create a site folder: " + std::string(std::strerror(errno))};
  UniqueFd dst(
      ::openat(dst_parent, dst_name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  UniqueFd listing(::fcntl(src_fd, F_DUPFD_CLOEXEC, 0));
  DIR* dir = listing ? ::fdopendir(listing.get()) : nullptr;
  if (!dst || dir == nullptr) return {ErrorCode::kInternal, "cannot open an unpacked bundle"};
  listing.release();
  ::fchmod(dst.get(), 0755);
  Status result = Status::Ok();
  while (dirent* d = ::readdir(dir)) {
    const std::string name = d->d_name;
    if (name == "." || name == "..") continue;
    struct stat st {};
    if (::fstatat(src_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      result = {ErrorCode::kInternal, "cannot inspect an unpacked bundle"};
      break;
    }
    if (S_ISDIR(st.st_mode)) {
      UniqueFd sub(::openat(src_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      result = sub ? LinkTree(sub.get(), dst.get(), name, depth + 1)
                   : Status(ErrorCode::kInternal, "cannot open an unpacked bundle");
      if (!result.ok()) break;
    } else if (S_ISREG(st.st_mode)) {
      if (::linkat(src_fd, name.c_str(), dst.get(), name.c_str(), 0) == 0) continue;
      if (errno != EXDEV) {
        result = {ErrorCode::kInternal,
                  "cannot link an unpacked file: " + std::string(std::strerror(errno))};
        break;
      }
      UniqueFd in(::openat(src_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
      UniqueFd out(::openat(dst.get(), name.c_str(),
                            O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                            st.st_mode & 0755));
      char buffer[65536];
      ssize_t n = 0;
      while (in && out && (n = ::read(in.get(), buffer, sizeof(buffer))) > 0) {
        if (::write(out.get(), buffer, static_cast<std::size_t>(n)) != n) n = -1;
        if (n < 0) break;
      }
      if (!in || !out || n < 0) {
        result = {ErrorCode::kInternal, "cannot copy an unpacked file"};
        break;
      }
    }
  }
  ::closedir(dir);
  return result;
}

}  // namespace

Status ValidateArtifactName(const std::string& name) {
  const std::string shown = name.size() > 100 ? name.substr(0, 100) + "..." : name;
  if (name.empty()) return {ErrorCode::kBadRequest, "an external artifact has an empty name"};
  if (name.size() > 255)
    return {ErrorCode::kBadRequest,
            "external artifact '" + shown + "': the name is longer than 255 bytes"};
  for (unsigned char c : name) {
    if (c < 0x20 || c >= 0x7f || std::strchr("/\\:*?\"<>|", c) != nullptr)
      return {ErrorCode::kBadRequest, "external artifact '" + shown +
                                          "': the name must be a plain file name (printable ASCII, "
                                          "none of / \\ : * ? \" < > |)"};
  }
  if (name == "." || name == ".." || name.front() == '.' || name.back() == '.' ||
      name.back() == ' ' || name.front() == ' ')
    return {ErrorCode::kBadRequest,
            "external artifact '" + shown +
                "': the name may not start with a dot or a space, nor end with one"};
  return Status::Ok();
}

StatusOr<std::vector<PlannedArtifact>> ParseArtifacts(
    const std::map<std::string, std::string>& artifacts, const ArtifactsConfig& config) {
  if (artifacts.size() > config.max_artifacts)
    return Status(ErrorCode::kBadRequest,
                  fmt::format("{} external artifacts; this node allows at most {} per request",
                              artifacts.size(), config.max_artifacts));
  std::vector<PlannedArtifact> planned;
  std::map<std::string, std::string> folded;
  for (const auto& [name, text] : artifacts) {
    if (Status s = ValidateArtifactName(name); !s.ok()) return s;
    // Scripts written for Kusto (on Windows) find artifacts whatever the case.
    auto [it, inserted] = folded.emplace(Lower(name), name);
    if (!inserted)
      return Status(ErrorCode::kBadRequest,
                    fmt::format("external artifacts '{}' and '{}' differ only in case; names are "
                                "matched case-insensitively",
                                it->second, name));
    auto url = ParseArtifactUrl(text, "external artifact '" + name + "'");
    if (!url.ok()) return url.status();
    planned.push_back({name, std::move(*url)});
  }
  return planned;
}

WheelTarget TargetForImage(const std::string& rootfs) {
  WheelTarget target;
  utsname u{};
  if (::uname(&u) == 0) target.arch = u.machine;
  std::error_code ec;
  // usr/bin/python3 -> python3.11
  const auto link = fs::read_symlink(fs::path(rootfs) / "usr/bin/python3", ec);
  const std::string name = link.filename().string();
  int major = 0, minor = 0;
  if (!ec && name.rfind("python", 0) == 0 && ParseMajorMinor(name.substr(6), major, minor)) {
    target.python_major = major;
    target.python_minor = minor;
  }
  // packages.lock beside the root filesystem: "libc6=2.36-9+deb12u14"
  std::ifstream lock(fs::path(rootfs).parent_path() / "packages.lock");
  std::string line;
  while (std::getline(lock, line)) {
    if (line.rfind("libc6=", 0) == 0 && ParseMajorMinor(line.substr(6), major, minor)) {
      target.glibc_major = major;
      target.glibc_minor = minor;
      break;
    }
  }
  return target;
}

RequestArtifacts::~RequestArtifacts() {
  std::error_code ec;
  fs::remove_all(root_, ec);
  if (ec) spdlog::warn("cannot remove {}: {}", root_, ec.message());
}

std::string CalloutPolicyPath(const ArtifactsConfig& config) {
  return config.policy_file.empty() ? std::string(SANDBOXD_DEFAULT_CALLOUT_POLICY)
                                    : config.policy_file;
}

ArtifactService::ArtifactService(ArtifactsConfig config, const std::string& state_dir,
                                 std::shared_ptr<CalloutPolicy> policy)
    : config_(std::move(config)),
      dir_(config_.dir.empty() ? state_dir + "/artifacts" : config_.dir),
      policy_(policy ? std::move(policy)
                     : std::make_shared<CalloutPolicy>(CalloutPolicyPath(config_))),
      downloads_(dir_ + "/downloads", config_.cache_bytes),
      unpacked_(dir_ + "/unpacked", config_.unpacked_cache_bytes),
      helper_(FindUnpackHelper(config_.unpack_helper)) {}

ArtifactService::~ArtifactService() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cancel_ = true;
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

Status ArtifactService::Start() {
  std::error_code ec;
  fs::create_directories(dir_ + "/requests", ec);
  if (ec) return {ErrorCode::kInternal, "cannot create " + dir_ + "/requests: " + ec.message()};
  // Not listable by anyone but the daemon: a sandbox launched without a zygote binds its own
  // request's folders by path as its slot's uid, so these can be traversed (0711), and a request
  // folder's name is 128 random bits (SECURITY.md).
  for (const auto& d : {dir_, dir_ + "/requests"}) {
    if (::chmod(d.c_str(), 0711) != 0)
      return {ErrorCode::kInternal, "cannot set the mode of " + d + ": " + std::strerror(errno)};
  }
  for (const auto& item : fs::directory_iterator(dir_ + "/requests", ec))
    fs::remove_all(item.path(), ec);
  if (Status s = downloads_.Open(); !s.ok()) return s;
  if (Status s = unpacked_.Open(); !s.ok()) return s;
  if (::access(helper_.c_str(), X_OK) != 0)
    spdlog::warn("artifacts: the unpack helper {} is missing; zip and wheel artifacts will fail",
                 helper_);
  const unsigned n = std::max(1U, config_.fetch_threads);
  for (unsigned i = 0; i < n; ++i) threads_.emplace_back([this] { Worker(); });
  spdlog::info("artifacts: {} ({} cached downloads, {}), policy {}, helper {}", dir_,
               downloads_.size(), Bytes(downloads_.bytes()), policy_->path(), helper_);
  return Status::Ok();
}

Status ArtifactService::CheckPolicy(const std::vector<PlannedArtifact>& artifacts) {
  for (const auto& a : artifacts) {
    const auto decision = policy_->Check(a.url.base);
    if (!decision.allowed)
      return {ErrorCode::kArtifactDenied,
              fmt::format("external artifact '{}': {} is not allowed: {}", a.name, a.url.redacted,
                          decision.reason)};
    if (a.url.scheme == "http" && !(config_.allow_http_loopback && a.url.loopback))
      return {ErrorCode::kArtifactDenied,
              fmt::format("external artifact '{}': {} is plain http://; only https:// is fetched",
                          a.name, a.url.redacted)};
  }
  return Status::Ok();
}

bool ArtifactService::Submit(std::vector<PlannedArtifact> artifacts, std::string rootfs,
                             std::chrono::steady_clock::time_point deadline, LogFields log,
                             Done done) {
  {
    std::lock_guard lock(mu_);
    if (stopping_ || queue_.size() >= max_queue_) return false;
    queue_.push_back([this, artifacts = std::move(artifacts), rootfs = std::move(rootfs), deadline,
                      log = std::move(log),
                      done = std::move(done)] { done(Prepare(artifacts, rootfs, deadline, log)); });
  }
  cv_.notify_one();
  return true;
}

void ArtifactService::Worker() {
  while (true) {
    std::function<void()> job;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    job();
  }
}

StatusOr<std::shared_ptr<RequestArtifacts>> ArtifactService::Prepare(
    const std::vector<PlannedArtifact>& artifacts, const std::string& rootfs,
    std::chrono::steady_clock::time_point deadline, const LogFields& log) {
  if (Status s = CheckPolicy(artifacts); !s.ok()) return s;
  auto lease = std::make_shared<RequestArtifacts>(dir_ + "/requests/" + RandomHex());
  const std::string staging = lease->root() + "/.staging";
  // The request's root is traversed only; Temp and site are what its sandbox lists and reads.
  for (const auto& [d, mode] : {std::pair{lease->root(), 0711}, std::pair{lease->temp_dir(), 0755},
                                std::pair{lease->site_dir(), 0755}}) {
    if (::mkdir(d.c_str(), 0700) != 0 || ::chmod(d.c_str(), static_cast<mode_t>(mode)) != 0)
      return Status(ErrorCode::kInternal, "cannot create " + d + ": " + std::strerror(errno));
  }
  if (::mkdir(staging.c_str(), 0700) != 0)
    return Status(ErrorCode::kInternal, "cannot create " + staging + ": " + std::strerror(errno));

  const WheelTarget target = TargetForImage(rootfs);
  nlohmann::json bundles = nlohmann::json::object();
  std::uint64_t total = 0;
  std::size_t index = 0;
  for (const auto& a : artifacts) {
    ++index;
    std::vector<std::string> secrets = a.url.secrets;
    auto fail = [&](const Status& s) {
      return Status(s.code(), RedactSecrets(s.message(), secrets));
    };
    const std::string staged = fmt::format("{}/{}.cached", staging, index);
    const std::string part = fmt::format("{}/{}.part", staging, index);
    const std::string dest = lease->temp_dir() + "/" + a.name;
    const auto hit = downloads_.Stage(a.url.base, staged);

    FetchOptions options;
    options.ca_file = config_.ca_file;
    options.allow_http_loopback = config_.allow_http_loopback;
    const std::uint64_t left =
        config_.max_request_bytes - std::min(total, config_.max_request_bytes);
    if (config_.max_artifact_bytes <= left) {
      options.max_bytes = config_.max_artifact_bytes;
      options.max_bytes_what =
          "this node's limit of " + Bytes(config_.max_artifact_bytes) + " per artifact";
    } else {
      options.max_bytes = left;
      options.max_bytes_what = "what is left of this node's limit of " +
                               Bytes(config_.max_request_bytes) + " per request";
    }
    options.deadline = std::min(deadline, std::chrono::steady_clock::now() +
                                              std::chrono::seconds(config_.download_timeout_s));
    options.connect_timeout_s = config_.connect_timeout_s;
    options.max_redirects = config_.max_redirects;
    options.policy = policy_.get();
    options.cancel = &cancel_;

    UniqueFd out(::open(part.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
    if (!out)
      return Status(ErrorCode::kInternal, "cannot create " + part + ": " + std::strerror(errno));
    const auto started = std::chrono::steady_clock::now();
    auto fetched = FetchArtifact(a.url, a.name, hit ? hit->etag : "", out.get(), options, secrets);
    out.reset();
    if (!fetched.ok()) {
      LogWith(log, spdlog::level::info, "artifact '{}' from {}: {}", a.name, a.url.redacted,
              fail(fetched.status()).message());
      return fail(fetched.status());
    }
    std::string sha256;
    std::uint64_t bytes = 0;
    ++(fetched->not_modified ? download_hits_ : download_misses_);
    if (fetched->not_modified) {
      if (!hit) return Status(ErrorCode::kInternal, "a 304 without a cached copy");
      if (::rename(staged.c_str(), dest.c_str()) != 0)
        return Status(ErrorCode::kInternal, "cannot place artifact '" + a.name + "'");
      ::unlink(part.c_str());
      sha256 = hit->sha256;
      bytes = hit->bytes;
    } else {
      ::unlink(staged.c_str());
      if (::rename(part.c_str(), dest.c_str()) != 0)
        return Status(ErrorCode::kInternal, "cannot place artifact '" + a.name + "'");
      sha256 = fetched->sha256;
      bytes = fetched->bytes;
      if (!fetched->etag.empty())
        downloads_.Insert(a.url.base, {fetched->etag, bytes, sha256}, dest);
    }
    total += bytes;
    if (total > config_.max_request_bytes)
      return Status(
          ErrorCode::kArtifactFailed,
          fmt::format("the artifacts of this request are larger than this node's limit of {}",
                      Bytes(config_.max_request_bytes)));
    LogWith(log, spdlog::level::info, "artifact '{}' from {}: {} bytes, {} in {:.3f} s", a.name,
            a.url.redacted, bytes,
            fetched->not_modified ? "cached (revalidated: HTTP 304)" : "downloaded (HTTP 200)",
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());

    if (IsBundleName(a.name)) {
      BundleManifest manifest;
      if (Status s = Unpack(a, dest, sha256, target, lease->site_dir(), manifest, log); !s.ok())
        return fail(s);
      bundles[a.name] = {{"kind", manifest.kind},
                         {"path", a.name},
                         {"wheels", manifest.wheels},
                         {"files", manifest.files}};
    }
  }
  std::error_code ec;
  fs::remove_all(staging, ec);
  {
    const std::string path = lease->site_dir() + "/bundles.json";
    std::ofstream manifest(path, std::ios::trunc);
    manifest << nlohmann::json({{"bundles", bundles}}).dump(2) << "\n";
    if (!manifest) return Status(ErrorCode::kInternal, "cannot write " + path);
    ::chmod(path.c_str(), 0644);
  }
  lease->bytes = total;
  return lease;
}

Status ArtifactService::Unpack(const PlannedArtifact& artifact, const std::string& file,
                               const std::string& sha256, const WheelTarget& target,
                               const std::string& site, BundleManifest& manifest,
                               const LogFields& log) {
  const std::string key = sha256 + "-" + target.Key();
  auto tree = unpacked_.Acquire(key);
  ++(tree ? bundle_hits_ : bundle_misses_);
  if (!tree) {
    auto staging = unpacked_.NewStaging();
    if (!staging.ok()) return staging.status();
    const auto started = std::chrono::steady_clock::now();
    auto made = RunUnpackHelper(helper_, config_, file, artifact.name, target, *staging + "/tree");
    if (!made.ok()) {
      std::error_code ec;
      fs::remove_all(*staging, ec);
      LogWith(log, spdlog::level::info, "artifact '{}': {}", artifact.name,
              made.status().message());
      return made.status();
    }
    auto adopted = unpacked_.Adopt(key, *staging, *made);
    if (!adopted.ok()) return adopted.status();
    tree = std::move(*adopted);
    LogWith(log, spdlog::level::info,
            "artifact '{}': unpacked ({} files, {} bytes, {}) in {:.3f} s", artifact.name,
            made->files, made->bytes, made->kind,
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  }
  manifest = tree->manifest;
  UniqueFd src(::open(tree->path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  UniqueFd dst(::open(site.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  Status linked = src && dst ? LinkTree(src.get(), dst.get(), artifact.name, 0)
                             : Status(ErrorCode::kInternal, "cannot open an unpacked bundle");
  unpacked_.Release(key);
  return linked;
}

ArtifactService::CacheStats ArtifactService::cache_stats() {
  CacheStats stats;
  stats.downloads = {download_hits_.load(), download_misses_.load(), downloads_.evictions(),
                     downloads_.bytes()};
  stats.bundles = {bundle_hits_.load(), bundle_misses_.load(), unpacked_.evictions(),
                   unpacked_.bytes()};
  return stats;
}

std::uint64_t ArtifactService::ClearCache(const std::vector<std::string>& urls) {
  std::set<std::string> bases;
  for (const auto& text : urls) {
    auto url = ParseArtifactUrl(text, "url");
    bases.insert(url.ok() ? url->base : text);
  }
  const auto hashes = downloads_.Remove(
      [&](const std::string& base) { return urls.empty() || bases.count(base) > 0; });
  unpacked_.Remove(hashes, urls.empty());
  spdlog::info("artifact cache: {} cached downloads removed ({})", hashes.size(),
               urls.empty() ? "all" : fmt::format("{} URLs given", urls.size()));
  return hashes.size();
}

}  // namespace sandboxd
