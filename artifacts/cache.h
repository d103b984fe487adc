// The artifact caches on disk, each bounded in bytes with least-recently-used eviction:
//
// - DownloadCache: one entry per URL *without* its query string, holding the body and its ETag.
//   An entry is never served on its own: the caller revalidates it with a conditional request
//   (If-None-Match) sent with the request's own URL and token, and uses it only on a 304. A
//   request whose token is wrong or expired gets the server's 403, never the cached bytes.
// - UnpackedCache: bundles unpacked by sandboxd-unpack, by content hash and image target,
//   read-only (root's, 0644/0755). Entries in use are pinned and outlive eviction.
//
// Both hand out hard links, so evicting an entry never disturbs a request that uses it.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "bundle.h"
#include "sandboxd/status.h"

namespace sandboxd {

// What one cache did since the daemon started (ArtifactService::cache_stats, the metrics).
struct ArtifactCacheCounts {
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;
  std::uint64_t evictions = 0;
  std::uint64_t bytes = 0;  // what it holds now
};

class DownloadCache {
 public:
  DownloadCache(std::string dir, std::uint64_t capacity);
  // Creates the folder and reads the entries a previous run left.
  Status Open();

  struct Hit {
    std::string etag;
    std::uint64_t bytes = 0;
    std::string sha256;
  };
  // Hard-links the entry of `url_base` to `dest` (which must not exist) and marks it used.
  std::optional<Hit> Stage(const std::string& url_base, const std::string& dest);
  // Adds or replaces the entry of `url_base` with the file at `src` (hard-linked).
  void Insert(const std::string& url_base, const Hit& hit, const std::string& src);
  // Removes the entries whose URL (without query) `match` accepts; returns their sha256s.
  std::vector<std::string> Remove(const std::function<bool(const std::string&)>& match);
  std::uint64_t bytes() const;
  std::size_t size() const;
  // Entries removed to stay within the capacity, since the daemon started (metrics).
  std::uint64_t evictions() const;

 private:
  struct Entry {
    std::string url_base;
    Hit hit;
    std::uint64_t tick = 0;
  };
  std::string PathOf(const std::string& key, const char* ext) const;
  void EvictLocked();
  void DropLocked(const std::string& key);

  std::string dir_;
  std::uint64_t capacity_;
  mutable std::mutex mu_;
  std::map<std::string, Entry> entries_;  // key: sha256(url_base)
  std::uint64_t bytes_ = 0;
  std::uint64_t tick_ = 0;
  std::uint64_t evictions_ = 0;
};

class UnpackedCache {
 public:
  UnpackedCache(std::string dir, std::uint64_t capacity);
  Status Open();

  struct Tree {
    std::string path;  // the unpacked tree (read-only)
    BundleManifest manifest;
  };
  // Pins and returns the entry of `key`, if there is one. Release() unpins.
  std::optional<Tree> Acquire(const std::string& key);
  void Release(const std::string& key);
  // A fresh folder to unpack into, beside the entries (same filesystem).
  StatusOr<std::string> NewStaging();
  // Moves `staging` (holding tree/) in as `key` (or takes the entry another request made
  // meanwhile); the entry comes back pinned.
  StatusOr<Tree> Adopt(const std::string& key, const std::string& staging,
                       const BundleManifest& manifest);
  // Removes entries whose key starts with one of `prefixes` (all when empty and `all`).
  std::size_t Remove(const std::vector<std::string>& prefixes, bool all);
  std::uint64_t bytes();
  // Entries removed to stay within the capacity, since the daemon started (metrics).
  std::uint64_t evictions();

 private:
  struct Entry {
    BundleManifest manifest;
    std::uint64_t bytes = 0;
    std::uint64_t tick = 0;
    unsigned pins = 0;
    bool doomed = false;
  };
  void EvictLocked();
  void Discard(const std::string& key);

  std::string dir_;
  std::uint64_t capacity_;
  std::mutex mu_;
  std::map<std::string, Entry> entries_;
  std::uint64_t bytes_ = 0;
  std::uint64_t tick_ = 0;
  std::uint64_t evictions_ = 0;
};

// sha256 of a string, hex.
std::string Sha256Hex(std::string_view data);
// 16 random bytes, hex.
std::string RandomHex();

}  // namespace sandboxd
