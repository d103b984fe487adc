#include "callout_policy.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <cstdint>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string_view>

namespace sandboxd {
namespace {

// std::regex builds a state per repetition, and overflows a signed long reading a count or a
// backreference number with more digits than fit (UBSan: regex_compiler.tcc, found by
// tests/fuzz/callout_policy_fuzz): counts above this bound, and backreferences of more than
// three digits, are refused before the regex is compiled. No URL rule needs more.
constexpr std::uint64_t kMaxRegexRepetition = 1000;

// Every `{n}`, `{n,}` and `{n,m}` of `regex` (outside escapes and classes) has n, m <= the bound,
// no quantifier is quantified again, and no escape is followed by more than three digits.
bool SafeForStdRegex(std::string_view regex) {
  bool in_class = false;
  // After a quantifier (*, +, ? or {...}) only one lazy "?" may follow: a quantifier of a
  // quantifier ("a++", "a???", "a*{9}") is not ECMAScript, yet std::regex takes it and then
  // backtracks for ever (found by the fuzzer).
  enum { kAtom, kQuantified, kLazy } state = kAtom;
  const auto quantifier = [](char c) { return c == '*' || c == '+' || c == '?' || c == '{'; };
  for (std::size_t i = 0; i < regex.size(); ++i) {
    const char c = regex[i];
    if (!in_class && quantifier(c)) {
      if (state == kLazy || (state == kQuantified && c != '?')) return false;
      state = state == kQuantified ? kLazy : kQuantified;
    } else {
      state = kAtom;
    }
    if (c == '{' && !in_class) {
      // std::regex reads the numbers after a brace before it knows whether the brace closes
      // ("a{99999999999999999999" overflowed in it: found by the fuzzer), so every number there
      // is bounded, closed or not.
      std::size_t end = i + 1;
      std::uint64_t value = 0;
      for (; end < regex.size() && (regex[end] == ',' || (regex[end] >= '0' && regex[end] <= '9'));
           ++end) {
        value = regex[end] == ',' ? 0 : value * 10 + static_cast<std::uint64_t>(regex[end] - '0');
        if (value > kMaxRegexRepetition) return false;
      }
      if (end < regex.size() && regex[end] == '}') {
        i = end;  // the quantifier ends at its closing brace
        continue;
      }
      state = kAtom;  // a literal brace
    }
    if (c == '\\') {
      // A backreference's number is read the same way: more than three digits is no rule's.
      std::size_t digits = 0;
      while (i + 1 + digits < regex.size() && regex[i + 1 + digits] >= '0' &&
             regex[i + 1 + digits] <= '9')
        ++digits;
      if (digits > 3) return false;
      ++i;  // the escaped character is a literal (or the first digit of a backreference)
    } else if (in_class) {
      in_class = c != ']';
    } else if (c == '[') {
      in_class = true;
    }
  }
  return true;
}

}  // namespace

namespace {

constexpr std::size_t kMaxPolicyBytes = 1 << 20;
constexpr std::size_t kMaxRules = 1000;
constexpr std::size_t kMaxRegexChars = 4096;

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  }
  return true;
}

}  // namespace

StatusOr<CalloutRules> CalloutRules::Parse(std::string_view json_text, const std::string& origin) {
  if (json_text.size() > kMaxPolicyBytes)
    return Status(ErrorCode::kInternal, origin + ": the callout policy is larger than 1 MiB");
  const auto doc = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Status(ErrorCode::kInternal, origin + ": not valid JSON");
  const nlohmann::json* list = &doc;
  if (doc.is_object()) {
    auto it = doc.find("rules");
    if (it == doc.end())
      return Status(ErrorCode::kInternal,
                    origin + ": expected a JSON array of rules or {\"rules\": [...]}");
    list = &*it;
  }
  if (!list->is_array())
    return Status(ErrorCode::kInternal, origin + ": expected a JSON array of rules");
  if (list->size() > kMaxRules)
    return Status(ErrorCode::kInternal, origin + ": more than 1000 rules");
  CalloutRules rules;
  rules.origin_ = origin;
  std::size_t index = 0;
  for (const auto& item : *list) {
    ++index;
    const std::string where = origin + ": rule " + std::to_string(index);
    if (!item.is_object()) return Status(ErrorCode::kInternal, where + " is not an object");
    for (const auto& [key, value] : item.items()) {
      if (key != "CalloutType" && key != "CalloutUriRegex" && key != "CanCall")
        return Status(ErrorCode::kInternal, where + ": unknown key '" + key + "'");
    }
    CalloutRule rule;
    auto type = item.find("CalloutType");
    auto regex = item.find("CalloutUriRegex");
    auto can = item.find("CanCall");
    if (type == item.end() || !type->is_string())
      return Status(ErrorCode::kInternal, where + ": 'CalloutType' must be a string");
    if (regex == item.end() || !regex->is_string())
      return Status(ErrorCode::kInternal, where + ": 'CalloutUriRegex' must be a string");
    if (can == item.end() || !can->is_boolean())
      return Status(ErrorCode::kInternal, where + ": 'CanCall' must be true or false");
    rule.type = type->get<std::string>();
    rule.uri_regex = regex->get<std::string>();
    rule.can_call = can->get<bool>();
    if (rule.uri_regex.size() > kMaxRegexChars)
      return Status(ErrorCode::kInternal,
                    where + ": 'CalloutUriRegex' is longer than 4096 characters");
    if (!SafeForStdRegex(rule.uri_regex))
      return Status(ErrorCode::kInternal, where +
                                              ": 'CalloutUriRegex' repeats something more than " +
                                              std::to_string(kMaxRegexRepetition) +
                                              " times ({n} or {n,m}), quantifies a quantifier "
                                              "(a++) or names a backreference of more "
                                              "than three digits");
    try {
      rule.compiled = std::regex(rule.uri_regex,
                                 std::regex::ECMAScript | std::regex::icase | std::regex::optimize);
    } catch (const std::regex_error& e) {
      return Status(ErrorCode::kInternal, where + ": bad 'CalloutUriRegex': " + e.what());
    }
    rules.rules_.push_back(std::move(rule));
  }
  return rules;
}

CalloutDecision CalloutRules::Check(std::string_view url_without_query,
                                    std::string_view callout_type) const {
  CalloutDecision decision;
  int index = 0;
  for (const auto& rule : rules_) {
    ++index;
    if (!EqualsIgnoreCase(rule.type, callout_type)) continue;
    bool matched = false;
    try {
      matched =
          std::regex_search(url_without_query.begin(), url_without_query.end(), rule.compiled);
    } catch (const std::regex_error&) {
      matched = false;  // too complex to evaluate: fail closed for an allow, open for a deny
      if (!rule.can_call) matched = true;
    }
    if (!matched) continue;
    decision.allowed = rule.can_call;
    decision.rule_index = index;
    decision.reason = (rule.can_call ? "allowed by rule " : "denied by rule ") +
                      std::to_string(index) + " of the callout policy " + origin_;
    return decision;
  }
  decision.reason = "no rule of the callout policy " + origin_ + " allows it (default deny)";
  return decision;
}

CalloutPolicy::CalloutPolicy(std::string path) : path_(std::move(path)) {
  auto empty = CalloutRules::Parse("[]", path_);
  rules_ = std::make_shared<const CalloutRules>(std::move(*empty));
  if (Status s = Reload(); !s.ok()) spdlog::warn("callout policy: {}", s.message());
}

Status CalloutPolicy::Reload() {
  struct stat st {};
  std::lock_guard lock(mu_);
  last_check_ = std::chrono::steady_clock::now();
  if (::stat(path_.c_str(), &st) != 0) {
    // No file: nothing may be called.
    auto empty = CalloutRules::Parse("[]", path_);
    rules_ = std::make_shared<const CalloutRules>(std::move(*empty));
    loaded_mtime_ns_ = -1;
    loaded_size_ = -1;
    error_ = "cannot read " + path_ + "; every artifact URL is denied";
    return {ErrorCode::kInternal, error_};
  }
  const std::int64_t mtime =
      static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  loaded_mtime_ns_ = mtime;
  loaded_size_ = st.st_size;
  std::ifstream in(path_, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  auto parsed = CalloutRules::Parse(text.str(), path_);
  if (!parsed.ok()) {
    error_ = parsed.status().message();
    return parsed.status();  // the rules in force stay
  }
  spdlog::info("callout policy {} loaded: {} rules", path_, parsed->size());
  rules_ = std::make_shared<const CalloutRules>(std::move(*parsed));
  error_.clear();
  return Status::Ok();
}

CalloutPolicy::InForce CalloutPolicy::Current() {
  MaybeReload();
  std::lock_guard lock(mu_);
  return {rules_, error_};
}

void CalloutPolicy::MaybeReload() {
  {
    std::lock_guard lock(mu_);
    const auto now = std::chrono::steady_clock::now();
    if (now - last_check_ < std::chrono::seconds(1)) return;
    last_check_ = now;
    struct stat st {};
    const bool exists = ::stat(path_.c_str(), &st) == 0;
    const std::int64_t mtime =
        exists ? static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec
               : -1;
    if (mtime == loaded_mtime_ns_ && (exists ? st.st_size : -1) == loaded_size_) return;
  }
  if (Status s = Reload(); !s.ok()) spdlog::warn("callout policy: {}", s.message());
}

CalloutDecision CalloutPolicy::Check(std::string_view url_without_query,
                                     std::string_view callout_type) {
  MaybeReload();
  std::shared_ptr<const CalloutRules> rules;
  {
    std::lock_guard lock(mu_);
    rules = rules_;
  }
  return rules->Check(url_without_query, callout_type);
}

}  // namespace sandboxd
