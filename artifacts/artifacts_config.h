// The node's settings for external artifacts: the "artifacts" object of sandboxd.conf. See
// artifacts/README.md for what each one does.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

namespace sandboxd {

// Caps on one zip or wheel bundle, enforced while it is streamed out (header sizes are not
// trusted).
struct BundleLimits {
  std::uint64_t max_entries = 20'000;  // entries in one archive (wheels inside count too)
  std::uint64_t max_unpacked_bytes = 1ULL << 30;  // all entries together, nested wheels included
  std::uint64_t max_entry_bytes = 512ULL << 20;   // one entry
  std::uint64_t max_ratio = 200;                  // unpacked bytes / archive bytes (bombs)
  std::uint32_t max_name_bytes = 1024;            // one entry's path
  std::uint32_t max_depth = 32;                   // folders deep
};

struct ArtifactsConfig {
  std::string policy_file;           // the callout policy; empty: the installed default
  std::string ca_file;               // PEM bundle of trusted CAs; empty: the system's
  bool allow_http_loopback = false;  // plain http:// to 127.0.0.0/8, ::1, localhost (tests only)
  std::string dir;                   // cache and per-request folders; empty: <state_dir>/artifacts
  std::uint32_t max_artifacts = 32;  // per request
  std::uint64_t max_artifact_bytes = 512ULL << 20;  // one download
  std::uint64_t max_request_bytes = 1ULL << 30;     // all downloads of one request
  std::uint32_t download_timeout_s = 300;           // one download, redirects included
  std::uint32_t connect_timeout_s = 15;
  std::uint32_t max_redirects = 3;                  // each target re-checked against the policy
  std::uint64_t cache_bytes = 4ULL << 30;           // downloaded files kept (LRU)
  std::uint64_t unpacked_cache_bytes = 4ULL << 30;  // unpacked bundles kept (LRU)
  std::uint32_t fetch_threads = 4;                  // downloads running at once
  std::string unpack_helper;  // sandboxd-unpack; empty: beside the daemon, then libexec
  uid_t unpack_uid = 65534;   // the helper drops to these at once (never 0)
  gid_t unpack_gid = 65534;
  std::uint32_t unpack_timeout_s = 120;
  BundleLimits bundle;
};

}  // namespace sandboxd
