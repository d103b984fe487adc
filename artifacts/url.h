// Artifact URLs: parsed with libcurl's URL API, never by hand. A URL's query string (a SAS
// token) is a secret: only `base` and `redacted` may appear in a log, an error or a stat.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "sandboxd/status.h"

namespace sandboxd {

struct ArtifactUrl {
  std::string full;      // what is requested (curl's normalized form, query included): a secret
  std::string scheme;    // "https" or "http"
  std::string host;      // lower case; IPv6 without brackets
  std::string port;      // empty: the scheme's default
  std::string base;      // "scheme://host[:port]/path": the policy subject and the cache key
  std::string redacted;  // `base`, plus "?<redacted>" when there was a query
  bool has_query = false;
  bool loopback = false;  // 127.0.0.0/8, ::1 or localhost
  // The query string and its parameter values (raw and decoded): scrubbed from every message.
  std::vector<std::string> secrets;
};

// BAD_REQUEST for anything but an absolute http(s) URL with a host and no user name or password
// (credentials travel in the query string, as with a SAS, or not at all). `what` names the URL
// in messages ("artifact 'x'").
StatusOr<ArtifactUrl> ParseArtifactUrl(std::string_view text, const std::string& what);

// Replaces every occurrence of each secret in `text` with "<redacted>".
std::string RedactSecrets(std::string text, const std::vector<std::string>& secrets);

}  // namespace sandboxd
