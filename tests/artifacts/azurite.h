// Azurite (the Azure Storage emulator, npm package `azurite`) for the artifact tests: started on a
// free loopback port with HTTPS and a CA made here with openssl; containers and blobs created
// through its REST API with an account SAS, and service SAS tokens for blobs, all signed with the
// emulator's well-known devstoreaccount1 key (HMAC-SHA256 with OpenSSL).
#pragma once

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "../sandboxd/leftover_guard.h"
#include "test_paths.h"

namespace sandboxd::testing {

inline constexpr const char* kAccount = "devstoreaccount1";
inline constexpr const char* kAccountKey =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
inline constexpr const char* kSasVersion = "2021-08-06";

inline std::string Base64(const unsigned char* data, std::size_t size) {
  std::string out(4 * ((size + 2) / 3) + 1, '\0');
  const int n =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(size));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

inline std::string Unbase64(const std::string& text) {
  std::string out(text.size(), '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()),
                          static_cast<int>(text.size()));
  std::size_t pad = 0;
  while (pad < text.size() && text[text.size() - 1 - pad] == '=') ++pad;
  out.resize(static_cast<std::size_t>(n) - pad);
  return out;
}

inline std::string Sign(const std::string& string_to_sign) {
  const std::string key = Unbase64(kAccountKey);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned size = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(string_to_sign.data()), string_to_sign.size(), mac,
       &size);
  return Base64(mac, size);
}

inline std::string Escape(const std::string& s) {
  char* raw = curl_easy_escape(nullptr, s.c_str(), static_cast<int>(s.size()));
  std::string out = raw;
  curl_free(raw);
  return out;
}

class Azurite {
 public:
  static std::string Find() {
    if (const char* env = std::getenv("SANDBOXD_AZURITE")) return env;
    for (const std::string& candidate :
         {std::string(::sandboxd::test_paths::kSourceDir) +
              "/build/azurite/node_modules/.bin/azurite-blob",
          std::string(::sandboxd::test_paths::kBinaryDir) +
              "/azurite/node_modules/.bin/azurite-blob",
          std::string("/usr/local/bin/azurite-blob"), std::string("/usr/bin/azurite-blob")}) {
      if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    }
    return "";
  }

  // Starts Azurite in `dir` (which gets ca.pem, the server key and Azurite's workspace).
  bool Start(const std::string& dir, std::string& error) {
    dir_ = dir;
    const std::string azurite = Find();
    if (azurite.empty()) {
      error =
          "azurite-blob not found: run scripts/setup.sh (npm install azurite into build/azurite)";
      return false;
    }
    const std::string q = "cd '" + dir + "' && ";
    const std::string make_ca =
        q +
        "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 "
        "-subj '/CN=sandboxd test CA' -addext 'basicConstraints=critical,CA:TRUE' "
        "-addext 'keyUsage=critical,keyCertSign,cRLSign' >/dev/null 2>&1 && "
        "openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr "
        "-subj '/CN=127.0.0.1' >/dev/null 2>&1 && "
        "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\nbasicConstraints=CA:FALSE\\n"
        "extendedKeyUsage=serverAuth\\n' > server.ext && "
        "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
        "-out server.pem -days 2 -extfile server.ext >/dev/null 2>&1";
    if (std::system(make_ca.c_str()) != 0) {
      error = "openssl could not make the test CA";
      return false;
    }
    port_ = FreePort();
    std::filesystem::create_directories(dir + "/azurite");
    const std::vector<std::string> args = {azurite,
                                           "--blobHost",
                                           "127.0.0.1",
                                           "--blobPort",
                                           std::to_string(port_),
                                           "--cert",
                                           dir + "/server.pem",
                                           "--key",
                                           dir + "/server.key",
                                           "--location",
                                           dir + "/azurite",
                                           "--disableTelemetry",
                                           "--skipApiVersionCheck",
                                           "--silent"};
    const pid_t test_pid = ::getpid();
    pid_ = ::fork();
    if (pid_ == 0) {
      DieWithParent(test_pid);  // node must not outlive a test that aborts or is killed
      ::setpgid(0, 0);
      const std::string log = dir + "/azurite.log";
      std::freopen(log.c_str(), "w", stdout);
      std::freopen(log.c_str(), "a", stderr);
      std::vector<char*> argv;
      for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    for (int i = 0; i < 300; ++i) {
      if (Request("GET", base() + "?comp=list&" + AccountSas(), "", {}) == 200) return true;
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        error = "azurite exited; see " + dir + "/azurite.log";
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    error = "azurite did not answer within 30 s";
    return false;
  }

  ~Azurite() {
    if (pid_ > 0) {
      ::kill(-pid_, SIGTERM);
      ::kill(pid_, SIGTERM);
      int status = 0;
      for (int i = 0; i < 50 && ::waitpid(pid_, &status, WNOHANG) == 0; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      ::kill(-pid_, SIGKILL);
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
    }
  }

  std::string base() const { return "https://127.0.0.1:" + std::to_string(port_) + "/" + kAccount; }
  std::string ca_file() const { return dir_ + "/ca.pem"; }
  int port() const { return port_; }

  // An account SAS for creating containers and blobs.
  std::string AccountSas() const {
    const std::string expiry = "2099-01-01T00:00:00Z";
    const std::string sts = std::string(kAccount) + "\nrwdlacup\nb\nsco\n\n" + expiry +
                            "\n\nhttps\n" + kSasVersion + "\n\n";
    return "sv=" + std::string(kSasVersion) + "&ss=b&srt=sco&sp=rwdlacup&se=" + Escape(expiry) +
           "&spr=https&sig=" + Escape(Sign(sts));
  }

  // A service SAS for reading one blob; `tamper` breaks the signature.
  std::string BlobSas(const std::string& container, const std::string& blob,
                      const std::string& expiry = "2099-01-01T00:00:00Z",
                      bool tamper = false) const {
    const std::string start = "2020-01-01T00:00:00Z";
    const std::string resource = "/blob/" + std::string(kAccount) + "/" + container + "/" + blob;
    const std::string sts = "r\n" + start + "\n" + expiry + "\n" + resource + "\n\n\nhttps\n" +
                            kSasVersion + "\nb\n\n\n\n\n\n\n";
    std::string sig = Sign(sts);
    if (tamper) sig[0] = sig[0] == 'A' ? 'B' : 'A';
    return "sv=" + std::string(kSasVersion) + "&st=" + Escape(start) + "&se=" + Escape(expiry) +
           "&sr=b&sp=r&spr=https&sig=" + Escape(sig);
  }
  std::string BlobUrl(const std::string& container, const std::string& blob,
                      const std::string& expiry = "2099-01-01T00:00:00Z",
                      bool tamper = false) const {
    return base() + "/" + container + "/" + blob + "?" + BlobSas(container, blob, expiry, tamper);
  }

  bool CreateContainer(const std::string& name) {
    const long status =
        Request("PUT", base() + "/" + name + "?restype=container&" + AccountSas(), "", {});
    return status == 201 || status == 409;
  }
  bool PutBlob(const std::string& container, const std::string& blob, const std::string& data) {
    return Request("PUT", base() + "/" + container + "/" + blob + "?" + AccountSas(), data,
                   {"x-ms-blob-type: BlockBlob"}) == 201;
  }

  long Request(const std::string& method, const std::string& url, const std::string& body,
               const std::vector<std::string>& headers) const {
    CURL* curl = curl_easy_init();
    curl_slist* list = nullptr;
    for (const auto& h : headers) list = curl_slist_append(list, h.c_str());
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
    curl_easy_setopt(curl, CURLOPT_CAINFO, ca_file().c_str());
    curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(
        curl, CURLOPT_WRITEFUNCTION,
        +[](char*, std::size_t s, std::size_t n, void*) { return s * n; });
    if (method == "PUT") {
      curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
      curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    }
    long status = 0;
    if (curl_easy_perform(curl) == CURLE_OK)
      curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(list);
    curl_easy_cleanup(curl);
    return status;
  }

 private:
  static int FreePort() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    socklen_t len = sizeof(addr);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    ::close(fd);
    return ntohs(addr.sin_port);
  }

  std::string dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace sandboxd::testing
