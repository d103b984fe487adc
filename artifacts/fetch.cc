#include "fetch.h"

#include <curl/curl.h>
#include <fmt/format.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <mutex>

#include "callout_policy.h"

namespace sandboxd {
namespace {

constexpr std::uint64_t kMaxDiscardedBody = 1
                                            << 20;  // error and redirect bodies are read, not kept

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
struct MdDeleter {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};

struct Transfer {
  CURL* curl = nullptr;
  int out_fd = -1;
  std::uint64_t max_bytes = 0;
  std::uint64_t bytes = 0;
  std::uint64_t discarded = 0;
  bool too_large = false;
  int write_errno = 0;
  EVP_MD_CTX* sha = nullptr;
};

std::size_t OnWrite(char* data, std::size_t size, std::size_t count, void* opaque) {
  auto& t = *static_cast<Transfer*>(opaque);
  const std::size_t total = size * count;
  long code = 0;
  curl_easy_getinfo(t.curl, CURLINFO_RESPONSE_CODE, &code);
  if (code != 200) {
    t.discarded += total;
    return t.discarded > kMaxDiscardedBody ? 0 : total;
  }
  if (t.bytes + total > t.max_bytes) {
    t.too_large = true;
    return 0;
  }
  t.bytes += total;
  EVP_DigestUpdate(t.sha, data, total);
  std::size_t done = 0;
  while (done < total) {
    const ssize_t n = ::write(t.out_fd, data + done, total - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      t.write_errno = n < 0 ? errno : ENOSPC;
      return 0;
    }
    done += static_cast<std::size_t>(n);
  }
  return total;
}

int OnProgress(void* opaque, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  const auto* cancel = static_cast<const std::atomic<bool>*>(opaque);
  return cancel != nullptr && cancel->load() ? 1 : 0;
}

std::string Header(CURL* curl, const char* name) {
  curl_header* header = nullptr;
  if (curl_easy_header(curl, name, 0, CURLH_HEADER, -1, &header) != CURLHE_OK || header == nullptr)
    return "";
  return header->value != nullptr ? header->value : "";
}

// An error code header is shown to users only when it looks like one ("AuthorizationFailure").
std::string SafeToken(const std::string& value) {
  if (value.empty() || value.size() > 64) return "";
  for (unsigned char c : value) {
    if (!std::isalnum(c) && c != '-' && c != '_' && c != '.') return "";
  }
  return value;
}

// curl's messages are ASCII; anything else is replaced rather than trusted.
std::string Printable(std::string s) {
  for (char& c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
  }
  return s;
}

std::string Hex(const unsigned char* data, unsigned size) {
  static const char* const kDigits = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < size; ++i) {
    out += kDigits[data[i] >> 4];
    out += kDigits[data[i] & 15];
  }
  return out;
}

}  // namespace

StatusOr<FetchResult> FetchArtifact(const ArtifactUrl& first, const std::string& artifact_name,
                                    const std::string& if_none_match, int out_fd,
                                    const FetchOptions& options,
                                    std::vector<std::string>& secrets) {
  GlobalInit();
  const std::string who = "artifact '" + artifact_name + "'";
  ArtifactUrl url = first;
  std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
  std::unique_ptr<EVP_MD_CTX, MdDeleter> sha(EVP_MD_CTX_new());
  if (!curl || !sha) return Status(ErrorCode::kInternal, "libcurl or OpenSSL could not start");

  for (std::uint32_t hop = 0;; ++hop) {
    const bool plain = url.scheme == "http";
    if (plain && !(options.allow_http_loopback && url.loopback))
      return Status(ErrorCode::kArtifactDenied,
                    who + ": " + url.redacted +
                        " is plain http://; only https:// is fetched (http to loopback only when "
                        "the node's artifacts.allow_http_loopback is set)");
    const auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(
        options.deadline - std::chrono::steady_clock::now());
    if (remaining.count() <= 0)
      return Status(ErrorCode::kArtifactFailed, who + ": the download time limit passed");

    EVP_DigestInit_ex(sha.get(), EVP_sha256(), nullptr);
    Transfer t;
    t.curl = curl.get();
    t.out_fd = out_fd;
    t.max_bytes = options.max_bytes;
    t.sha = sha.get();
    char error[CURL_ERROR_SIZE] = {};

    CURL* c = curl.get();
    curl_easy_reset(c);
    std::unique_ptr<curl_slist, SlistDeleter> headers;
    std::unique_ptr<curl_slist, SlistDeleter> resolve;
    curl_easy_setopt(c, CURLOPT_URL, url.full.c_str());
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, plain ? "http" : "https");
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(c, CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2));
    if (!options.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, options.ca_file.c_str());
    curl_easy_setopt(c, CURLOPT_NOPROXY, "localhost,127.0.0.1,::1");
    curl_easy_setopt(c, CURLOPT_USERAGENT, "sandboxd-artifacts/0.1");
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, static_cast<long>(options.connect_timeout_s));
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(remaining.count()));
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(options.max_bytes));
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &OnWrite);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
    if (options.cancel != nullptr) {
      curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
      curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, &OnProgress);
      curl_easy_setopt(c, CURLOPT_XFERINFODATA, const_cast<std::atomic<bool>*>(options.cancel));
    }
    if (!if_none_match.empty()) {
      headers.reset(curl_slist_append(nullptr, ("If-None-Match: " + if_none_match).c_str()));
      curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
    }
    if (plain && url.host == "localhost") {
      // "localhost" must not be whatever a resolver says it is.
      const std::string port = url.port.empty() ? "80" : url.port;
      resolve.reset(curl_slist_append(nullptr, ("localhost:" + port + ":127.0.0.1").c_str()));
      curl_easy_setopt(c, CURLOPT_RESOLVE, resolve.get());
    }

    const CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (rc != CURLE_OK) {
      if (t.too_large || rc == CURLE_FILESIZE_EXCEEDED)
        return Status(ErrorCode::kArtifactFailed,
                      who + " is larger than " + options.max_bytes_what);
      if (t.write_errno != 0)
        return Status(ErrorCode::kInternal, who + ": cannot store the download: " +
                                                std::string(std::strerror(t.write_errno)));
      if (rc == CURLE_OPERATION_TIMEDOUT)
        return Status(ErrorCode::kArtifactFailed,
                      who + ": the download from " + url.redacted + " timed out");
      std::string detail = error[0] != '\0' ? std::string(error) : curl_easy_strerror(rc);
      detail = RedactSecrets(Printable(detail), secrets);
      return Status(ErrorCode::kArtifactFailed,
                    who + ": cannot fetch " + url.redacted + ": " + detail);
    }
    if (status == 301 || status == 302 || status == 303 || status == 307 || status == 308) {
      char* location = nullptr;
      curl_easy_getinfo(c, CURLINFO_REDIRECT_URL, &location);
      if (location == nullptr)
        return Status(ErrorCode::kArtifactFailed, who + ": " + url.redacted + " answered HTTP " +
                                                      std::to_string(status) +
                                                      " without a Location");
      auto next = ParseArtifactUrl(location, who + " (redirected from " + url.redacted + ")");
      if (!next.ok())
        return Status(ErrorCode::kArtifactFailed, RedactSecrets(next.status().message(), secrets));
      secrets.insert(secrets.end(), next->secrets.begin(), next->secrets.end());
      if (hop >= options.max_redirects)
        return Status(ErrorCode::kArtifactFailed,
                      who + ": more than " + std::to_string(options.max_redirects) +
                          " redirects (last to " + next->redacted + ")");
      if (options.policy == nullptr)
        return Status(ErrorCode::kArtifactDenied, who + ": redirects are not followed");
      const auto decision = options.policy->Check(next->base);
      if (!decision.allowed)
        return Status(ErrorCode::kArtifactDenied,
                      who + ": " + url.redacted + " redirects to " + next->redacted +
                          ", which the callout policy does not allow: " + decision.reason);
      url = std::move(*next);
      continue;
    }
    if (status == 304) {
      if (if_none_match.empty())
        return Status(ErrorCode::kArtifactFailed,
                      who + ": " + url.redacted + " answered HTTP 304 to an unconditional request");
      FetchResult result;
      result.not_modified = true;
      result.http_status = status;
      result.etag = if_none_match;
      return result;
    }
    if (status != 200) {
      const std::string code = SafeToken(Header(c, "x-ms-error-code"));
      return Status(ErrorCode::kArtifactFailed,
                    fmt::format("{}: {} answered HTTP {}{}", who, url.redacted, status,
                                code.empty() ? "" : " (" + code + ")"));
    }
    FetchResult result;
    result.http_status = status;
    result.etag = Header(c, "ETag");
    if (result.etag.size() > 256) result.etag.clear();  // not worth caching under
    result.bytes = t.bytes;
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned size = 0;
    EVP_DigestFinal_ex(sha.get(), digest, &size);
    result.sha256 = Hex(digest, size);
    return result;
  }
}

}  // namespace sandboxd
