// One artifact download with libcurl: HTTPS with certificate verification (plain HTTP only to
// loopback and only when the node allows it), redirects followed by hand so that each target is
// checked against the callout policy first, size and time capped, and the body hashed while it
// streams. Nothing here logs or returns a URL's query string.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "sandboxd/status.h"
#include "url.h"

namespace sandboxd {

class CalloutPolicy;

struct FetchOptions {
  std::string ca_file;
  bool allow_http_loopback = false;
  std::uint64_t max_bytes = 0;  // the body may not exceed this
  std::string max_bytes_what;   // "the per-artifact limit of 512 MiB", for messages
  std::chrono::steady_clock::time_point deadline;
  std::uint32_t connect_timeout_s = 15;
  std::uint32_t max_redirects = 3;
  CalloutPolicy* policy = nullptr;            // redirect targets are checked against it
  const std::atomic<bool>* cancel = nullptr;  // set: the transfer stops (daemon shutdown)
};

struct FetchResult {
  bool not_modified = false;  // 304: the cached copy with `if_none_match` is current
  long http_status = 0;
  std::string etag;  // of the fetched body (empty: the server sent none)
  std::uint64_t bytes = 0;
  std::string sha256;  // hex, of the body
};

// Fetches `url` into `out_fd` (from its current position). With a non-empty `if_none_match`
// the request is conditional. Errors: ARTIFACT_DENIED for a redirect the policy refuses,
// ARTIFACT_FAILED naming the artifact, the redacted URL and the HTTP status (or the transport
// error). `secrets` collects the query strings of redirect targets too.
StatusOr<FetchResult> FetchArtifact(const ArtifactUrl& url, const std::string& artifact_name,
                                    const std::string& if_none_match, int out_fd,
                                    const FetchOptions& options, std::vector<std::string>& secrets);

}  // namespace sandboxd
