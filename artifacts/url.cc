#include "url.h"

#include <arpa/inet.h>
#include <curl/curl.h>

#include <algorithm>
#include <memory>

namespace sandboxd {
namespace {

constexpr std::size_t kMaxUrlBytes = 8192;
// Shorter parameter values ("r", "b", "2022-11-02") are not secrets and would mangle messages.
constexpr std::size_t kMinSecretChars = 8;

struct UrlDeleter {
  void operator()(CURLU* u) const { curl_url_cleanup(u); }
};
struct CurlStringDeleter {
  void operator()(char* s) const { curl_free(s); }
};
using CurlString = std::unique_ptr<char, CurlStringDeleter>;

bool Part(CURLU* url, CURLUPart part, std::string& out, unsigned flags = 0) {
  char* raw = nullptr;
  if (curl_url_get(url, part, &raw, flags) != CURLUE_OK || raw == nullptr) return false;
  CurlString owned(raw);
  out = raw;
  return true;
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

bool IsLoopback(const std::string& host) {
  if (host == "localhost" || host == "::1") return true;
  in_addr v4{};
  if (::inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  return false;
}

std::string Decode(const std::string& s) {
  int len = 0;
  char* raw = curl_easy_unescape(nullptr, s.c_str(), static_cast<int>(s.size()), &len);
  if (raw == nullptr) return s;
  std::string out(raw, static_cast<std::size_t>(len));
  curl_free(raw);
  return out;
}

}  // namespace

StatusOr<ArtifactUrl> ParseArtifactUrl(std::string_view text, const std::string& what) {
  if (text.empty()) return Status(ErrorCode::kBadRequest, what + ": the URL is empty");
  if (text.size() > kMaxUrlBytes)
    return Status(ErrorCode::kBadRequest, what + ": the URL is longer than 8192 bytes");
  for (unsigned char c : text) {
    if (c <= 0x20 || c >= 0x7f)
      return Status(ErrorCode::kBadRequest,
                    what +
                        ": the URL holds spaces, control or non-ASCII characters "
                        "(percent-encode them)");
  }
  std::unique_ptr<CURLU, UrlDeleter> url(curl_url());
  if (!url) return Status(ErrorCode::kInternal, "curl_url failed");
  const std::string owned(text);
  if (curl_url_set(url.get(), CURLUPART_URL, owned.c_str(), CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK)
    return Status(ErrorCode::kBadRequest, what + ": not a valid absolute URL");
  ArtifactUrl out;
  std::string ignored;
  if (!Part(url.get(), CURLUPART_SCHEME, out.scheme))
    return Status(ErrorCode::kBadRequest, what + ": the URL has no scheme");
  out.scheme = Lower(out.scheme);
  if (out.scheme != "https" && out.scheme != "http")
    return Status(ErrorCode::kBadRequest,
                  what + ": only https:// URLs are fetched (found " + out.scheme + "://)");
  if (Part(url.get(), CURLUPART_USER, ignored) || Part(url.get(), CURLUPART_PASSWORD, ignored))
    return Status(ErrorCode::kBadRequest,
                  what + ": the URL carries a user name or password; use a SAS token instead");
  if (!Part(url.get(), CURLUPART_HOST, out.host) || out.host.empty())
    return Status(ErrorCode::kBadRequest, what + ": the URL has no host");
  out.host = Lower(out.host);
  if (out.host.size() > 2 && out.host.front() == '[' && out.host.back() == ']')
    out.host = out.host.substr(1, out.host.size() - 2);
  Part(url.get(), CURLUPART_PORT, out.port);
  std::string path;
  if (!Part(url.get(), CURLUPART_PATH, path) || path.empty()) path = "/";
  std::string query;
  out.has_query = Part(url.get(), CURLUPART_QUERY, query) && !query.empty();
  std::string fragment;
  Part(url.get(), CURLUPART_FRAGMENT, fragment);

  const std::string host_part =
      out.host.find(':') != std::string::npos ? "[" + out.host + "]" : out.host;
  out.base = out.scheme + "://" + host_part + (out.port.empty() ? "" : ":" + out.port) + path;
  out.redacted = out.base + (out.has_query ? "?<redacted>" : "");
  out.loopback = IsLoopback(out.host);
  // The fragment never travels; drop it from what is requested.
  curl_url_set(url.get(), CURLUPART_FRAGMENT, nullptr, 0);
  if (!Part(url.get(), CURLUPART_URL, out.full))
    return Status(ErrorCode::kBadRequest, what + ": not a valid absolute URL");

  if (out.has_query) {
    out.secrets.push_back(query);
    out.secrets.push_back(Decode(query));
    std::size_t start = 0;
    while (start <= query.size()) {
      std::size_t amp = query.find('&', start);
      if (amp == std::string::npos) amp = query.size();
      const std::string param = query.substr(start, amp - start);
      const std::size_t eq = param.find('=');
      const std::string value = eq == std::string::npos ? param : param.substr(eq + 1);
      if (value.size() >= kMinSecretChars) {
        out.secrets.push_back(value);
        out.secrets.push_back(Decode(value));
      }
      start = amp + 1;
    }
  }
  if (!fragment.empty() && fragment.size() >= kMinSecretChars) out.secrets.push_back(fragment);
  // Longest first, so a whole query is replaced before its parts.
  std::sort(out.secrets.begin(), out.secrets.end(), [](const auto& a, const auto& b) {
    return a.size() != b.size() ? a.size() > b.size() : a < b;
  });
  out.secrets.erase(std::unique(out.secrets.begin(), out.secrets.end()), out.secrets.end());
  return out;
}

std::string RedactSecrets(std::string text, const std::vector<std::string>& secrets) {
  for (const auto& secret : secrets) {
    if (secret.empty()) continue;
    for (std::size_t at; (at = text.find(secret)) != std::string::npos;)
      text.replace(at, secret.size(), "<redacted>");
  }
  return text;
}

}  // namespace sandboxd
