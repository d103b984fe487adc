// External artifacts for the daemon: the callout policy, the downloads (on their own threads,
// never on the daemon's event loop), the caches, and the bundles unpacked by sandboxd-unpack.
// For each request it builds a folder the sandbox gets read-only:
//
//   <dir>/requests/<random>/Temp/<name>          every artifact, under the name the request gave
//   <dir>/requests/<random>/site/<name>/         each zip / wheel bundle, unpacked
//   <dir>/requests/<random>/site/bundles.json    {"bundles": {name: {"kind", "path", "wheels"}}}
//
// Temp is mounted at /sandbox/work/Temp (noexec) and site at /sandbox/site.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "artifacts_config.h"
#include "cache.h"
#include "callout_policy.h"
#include "log.h"
#include "sandboxd/status.h"
#include "url.h"
#include "wheel.h"

namespace sandboxd {

// BAD_REQUEST unless `name` can be a file name in ./Temp on Linux and on Windows.
Status ValidateArtifactName(const std::string& name);

// Names, count and URL syntax of a request's external_artifacts (no policy, no network).
struct PlannedArtifact {
  std::string name;
  ArtifactUrl url;
};
StatusOr<std::vector<PlannedArtifact>> ParseArtifacts(
    const std::map<std::string, std::string>& artifacts, const ArtifactsConfig& config);

// The image a request runs in, as far as wheels care: from its root filesystem.
WheelTarget TargetForImage(const std::string& rootfs);

// One request's artifact folder; removed when the last reference goes.
class RequestArtifacts {
 public:
  explicit RequestArtifacts(std::string root) : root_(std::move(root)) {}
  ~RequestArtifacts();
  RequestArtifacts(const RequestArtifacts&) = delete;
  RequestArtifacts& operator=(const RequestArtifacts&) = delete;
  const std::string& root() const { return root_; }
  std::string temp_dir() const { return root_ + "/Temp"; }
  std::string site_dir() const { return root_ + "/site"; }
  std::uint64_t bytes = 0;

 private:
  std::string root_;
};

// The callout policy file `config` names: artifacts.policy_file, else the installed default.
std::string CalloutPolicyPath(const ArtifactsConfig& config);

class ArtifactService {
 public:
  using Done = std::function<void(StatusOr<std::shared_ptr<RequestArtifacts>>)>;

  // `policy`: the callout policy it checks URLs against, shared with whoever reports it (the
  // daemon's `policy show`); null: one of its own, read from config.policy_file.
  ArtifactService(ArtifactsConfig config, const std::string& state_dir,
                  std::shared_ptr<CalloutPolicy> policy = nullptr);
  ~ArtifactService();
  ArtifactService(const ArtifactService&) = delete;
  ArtifactService& operator=(const ArtifactService&) = delete;

  // Creates the folders, reads the caches, removes what a previous run left, starts threads.
  Status Start();

  // ARTIFACT_DENIED (naming the artifact, never its token) unless the policy allows every URL.
  Status CheckPolicy(const std::vector<PlannedArtifact>& artifacts);

  // Fetches and unpacks on a worker thread; `done` runs there. False when too many requests are
  // already waiting (the caller answers OVERLOADED). `log`: the request's fields, which every
  // line about its artifacts carries (URLs in those lines are always redacted).
  bool Submit(std::vector<PlannedArtifact> artifacts, std::string rootfs,
              std::chrono::steady_clock::time_point deadline, LogFields log, Done done);

  // The work of Submit, on the calling thread (tests).
  StatusOr<std::shared_ptr<RequestArtifacts>> Prepare(
      const std::vector<PlannedArtifact>& artifacts, const std::string& rootfs,
      std::chrono::steady_clock::time_point deadline, const LogFields& log = {});

  // Like Kusto's `.clear cluster cache external-artifacts`: forgets the cached downloads of
  // `urls` (matched without their query strings; all when empty) and their unpacked bundles.
  // Returns how many downloads were forgotten.
  std::uint64_t ClearCache(const std::vector<std::string>& urls);

  // What the caches did since the daemon started, for the metrics endpoint. A download is a hit
  // when the server answered 304 to its cached ETag, a miss when it sent the body; a bundle is a
  // hit when its unpacked tree was cached.
  struct CacheStats {
    ArtifactCacheCounts downloads;
    ArtifactCacheCounts bundles;
  };
  CacheStats cache_stats();

  CalloutPolicy& policy() { return *policy_; }
  const ArtifactsConfig& config() const { return config_; }

 private:
  void Worker();
  Status Unpack(const PlannedArtifact& artifact, const std::string& file, const std::string& sha256,
                const WheelTarget& target, const std::string& site, BundleManifest& manifest,
                const LogFields& log);

  ArtifactsConfig config_;
  std::string dir_;
  std::shared_ptr<CalloutPolicy> policy_;
  DownloadCache downloads_;
  UnpackedCache unpacked_;
  std::atomic<std::uint64_t> download_hits_ = 0;
  std::atomic<std::uint64_t> download_misses_ = 0;
  std::atomic<std::uint64_t> bundle_hits_ = 0;
  std::atomic<std::uint64_t> bundle_misses_ = 0;
  std::string helper_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  std::size_t max_queue_ = 64;
  bool stopping_ = false;
  std::atomic<bool> cancel_{false};
  std::vector<std::thread> threads_;
};

}  // namespace sandboxd
