// The callout policy: which artifact URLs the daemon may fetch. Rules in the shape of Kusto's
// cluster callout policy, read from a JSON file (policy/callout.json, installed as
// /etc/sandboxd/callout.json):
//
//   [ {"CalloutType": "sandbox_artifacts",
//      "CalloutUriRegex": "^https://artifacts\\.example\\.net/python/", "CanCall": true} ]
//
// (or {"rules": [...]}). Only rules of CalloutType "sandbox_artifacts" apply here. A rule's
// regex (ECMAScript, case-insensitive) is searched in the URL *without* its query string and
// fragment ("https://host[:port]/path"), so a SAS token can neither satisfy nor defeat a rule.
// The first matching rule decides; no matching rule denies. The file is re-read when it changes
// (checked at most once a second) or on Reload(); a file that fails to parse keeps the rules in
// force and is reported.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "sandboxd/status.h"

namespace sandboxd {

struct CalloutRule {
  std::string type;
  std::string uri_regex;
  bool can_call = false;
  std::regex compiled;
};

struct CalloutDecision {
  bool allowed = false;
  int rule_index = -1;  // -1: no rule matched (default deny)
  std::string reason;   // for messages: "rule 2 of /etc/sandboxd/callout.json" or "no rule ..."
};

class CalloutRules {
 public:
  static StatusOr<CalloutRules> Parse(std::string_view json_text, const std::string& origin);
  // `url_without_query` is "scheme://host[:port]/path".
  CalloutDecision Check(std::string_view url_without_query, std::string_view callout_type) const;
  std::size_t size() const { return rules_.size(); }
  const std::vector<CalloutRule>& rules() const { return rules_; }

 private:
  std::string origin_;
  std::vector<CalloutRule> rules_;
};

// A policy file, reloaded when it changes. Thread-safe. A missing file denies everything.
class CalloutPolicy {
 public:
  static constexpr std::string_view kSandboxArtifacts = "sandbox_artifacts";

  explicit CalloutPolicy(std::string path);
  // Re-reads the file now; on error the previous rules stay in force.
  Status Reload();
  CalloutDecision Check(std::string_view url_without_query,
                        std::string_view callout_type = kSandboxArtifacts);
  const std::string& path() const { return path_; }

  // The rules in force now (after the reload a Check would make), and why the file's last change
  // was not taken, if it was not (those rules stay in force): `sandboxctl policy show`.
  struct InForce {
    std::shared_ptr<const CalloutRules> rules;
    std::string error;
  };
  InForce Current();

 private:
  void MaybeReload();
  std::string path_;
  std::mutex mu_;
  std::shared_ptr<const CalloutRules> rules_;
  std::string error_;  // of the last Reload; empty when it took the file
  std::chrono::steady_clock::time_point last_check_{};
  std::int64_t loaded_mtime_ns_ = -1;
  std::int64_t loaded_size_ = -1;
};

}  // namespace sandboxd
