// Reading the daemon's Prometheus endpoint in a test: a GET with libcurl, Debian's `promtool`
// as the judge of the exposition format, and one sample's value.
#pragma once

#include <curl/curl.h>
#include <stdio.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>

#include "wait_for.h"

namespace sandboxd::testing {

inline std::size_t AppendToString(char* data, std::size_t size, std::size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

// GET `url`: the body, and the status code in `code` (0 when no answer came).
inline std::string Get(const std::string& url, long& code) {
  std::string body;
  CURL* curl = curl_easy_init();
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, AppendToString);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
  code = 0;
  if (curl_easy_perform(curl) == CURLE_OK) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
  curl_easy_cleanup(curl);
  return body;
}

// `promtool check metrics` on `text`: its verdict and what it said.
inline bool PromtoolAccepts(const std::string& text, std::string& said) {
  const std::string path =
      std::filesystem::temp_directory_path().string() + "/metrics_" + std::to_string(::getpid());
  std::ofstream(path) << text;
  FILE* pipe = ::popen(("promtool check metrics < " + path + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return false;
  char buffer[4096];
  while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) said += buffer;
  const int status = ::pclose(pipe);
  std::filesystem::remove(path);
  return status == 0;
}

// The value of the sample `name` (with its labels, as exposed), or -1.
inline double Sample(const std::string& text, const std::string& name) {
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(name + " ", 0) == 0) return std::stod(line.substr(name.size() + 1));
  }
  return -1;
}

// The endpoint's URL from the daemon's log line that announces it (the port the kernel chose);
// empty if it did not come within 10 s.
inline std::string AnnouncedMetricsUrl(const std::string& log_path) {
  const std::regex announced(R"(metrics on (http://[0-9.]+:[0-9]+/metrics))");
  std::string url;
  WaitUntil(
      [&] {
        std::smatch match;
        const std::string log = ReadWholeFile(log_path);
        if (std::regex_search(log, match, announced)) url = match[1];
        return !url.empty();
      },
      std::chrono::seconds(10));
  return url;
}

}  // namespace sandboxd::testing
