// The seccomp policy compiler: parses the text format documented at the top of
// policy/sandbox.seccomp and turns it into a classic BPF program with libseccomp.
#include "seccomp_policy.h"

#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sandboxd/unique_fd.h"

namespace sandboxd {
namespace {

constexpr std::uint32_t kX32SyscallBit = 0x40000000;

// Named values a condition may use. Kept small and explicit: a policy names what it compares.
struct NamedValue {
  std::string_view name;
  std::uint64_t value;
};

#define SANDBOXD_NAMED(x) \
  NamedValue { #x, static_cast < std::uint64_t>(x) }
constexpr NamedValue kConstants[] = {
    // socket(2) families.
    SANDBOXD_NAMED(AF_UNSPEC),
    SANDBOXD_NAMED(AF_UNIX),
    SANDBOXD_NAMED(AF_LOCAL),
    SANDBOXD_NAMED(AF_INET),
    SANDBOXD_NAMED(AF_INET6),
    SANDBOXD_NAMED(AF_NETLINK),
    SANDBOXD_NAMED(AF_PACKET),
    SANDBOXD_NAMED(AF_VSOCK),
    SANDBOXD_NAMED(AF_ALG),
    SANDBOXD_NAMED(AF_BLUETOOTH),
    // socket(2) types and IP protocols.
    SANDBOXD_NAMED(SOCK_STREAM),
    SANDBOXD_NAMED(SOCK_DGRAM),
    SANDBOXD_NAMED(SOCK_RAW),
    SANDBOXD_NAMED(SOCK_SEQPACKET),
    SANDBOXD_NAMED(IPPROTO_IP),
    SANDBOXD_NAMED(IPPROTO_TCP),
    SANDBOXD_NAMED(IPPROTO_UDP),
    SANDBOXD_NAMED(IPPROTO_DCCP),
    SANDBOXD_NAMED(IPPROTO_SCTP),
    // clone(2) flags.
    SANDBOXD_NAMED(CLONE_VM),
    SANDBOXD_NAMED(CLONE_FS),
    SANDBOXD_NAMED(CLONE_FILES),
    SANDBOXD_NAMED(CLONE_SIGHAND),
    SANDBOXD_NAMED(CLONE_THREAD),
    SANDBOXD_NAMED(CLONE_VFORK),
    SANDBOXD_NAMED(CLONE_PARENT),
    SANDBOXD_NAMED(CLONE_NEWNS),
    SANDBOXD_NAMED(CLONE_NEWCGROUP),
    SANDBOXD_NAMED(CLONE_NEWUTS),
    SANDBOXD_NAMED(CLONE_NEWIPC),
    SANDBOXD_NAMED(CLONE_NEWUSER),
    SANDBOXD_NAMED(CLONE_NEWPID),
    SANDBOXD_NAMED(CLONE_NEWNET),
    // mmap(2) protections and flags.
    SANDBOXD_NAMED(PROT_NONE),
    SANDBOXD_NAMED(PROT_READ),
    SANDBOXD_NAMED(PROT_WRITE),
    SANDBOXD_NAMED(PROT_EXEC),
    SANDBOXD_NAMED(MAP_SHARED),
    SANDBOXD_NAMED(MAP_PRIVATE),
    SANDBOXD_NAMED(MAP_FIXED),
    SANDBOXD_NAMED(MAP_ANONYMOUS),
    // ioctl(2) requests.
    SANDBOXD_NAMED(TIOCSTI),
    SANDBOXD_NAMED(TIOCLINUX),
    SANDBOXD_NAMED(TIOCSETD),
    SANDBOXD_NAMED(TCGETS),
    SANDBOXD_NAMED(TIOCGWINSZ),
    SANDBOXD_NAMED(TIOCGPGRP),
    SANDBOXD_NAMED(TIOCOUTQ),
    SANDBOXD_NAMED(FIONREAD),
    SANDBOXD_NAMED(FIONBIO),
    SANDBOXD_NAMED(FIOCLEX),
    SANDBOXD_NAMED(FIONCLEX),
    SANDBOXD_NAMED(SIOCGIFCONF),
    SANDBOXD_NAMED(SIOCGIFFLAGS),
    SANDBOXD_NAMED(SIOCGIFINDEX),
    SANDBOXD_NAMED(SIOCGIFNAME),
    SANDBOXD_NAMED(SIOCGIFHWADDR),
    SANDBOXD_NAMED(SIOCGIFMTU),
    // prctl(2) options.
    SANDBOXD_NAMED(PR_SET_SECCOMP),
    SANDBOXD_NAMED(PR_GET_SECCOMP),
    SANDBOXD_NAMED(PR_SET_NO_NEW_PRIVS),
    // personality(2) values.
    SANDBOXD_NAMED(PER_LINUX),
    SANDBOXD_NAMED(READ_IMPLIES_EXEC),
    SANDBOXD_NAMED(ADDR_NO_RANDOMIZE),
    NamedValue{"PER_QUERY", 0xffffffffu},
    // File types (mknod(2) modes).
    SANDBOXD_NAMED(S_IFMT),
    SANDBOXD_NAMED(S_IFIFO),
    SANDBOXD_NAMED(S_IFCHR),
    SANDBOXD_NAMED(S_IFBLK),
    SANDBOXD_NAMED(S_IFREG),
    SANDBOXD_NAMED(S_IFSOCK),
    // Masks.
    NamedValue{"LOW32", 0xffffffffu},
};

constexpr NamedValue kErrnos[] = {
    SANDBOXD_NAMED(EPERM),        SANDBOXD_NAMED(ENOENT),          SANDBOXD_NAMED(EIO),
    SANDBOXD_NAMED(ENXIO),        SANDBOXD_NAMED(E2BIG),           SANDBOXD_NAMED(ENOEXEC),
    SANDBOXD_NAMED(EBADF),        SANDBOXD_NAMED(EAGAIN),          SANDBOXD_NAMED(ENOMEM),
    SANDBOXD_NAMED(EACCES),       SANDBOXD_NAMED(EFAULT),          SANDBOXD_NAMED(EBUSY),
    SANDBOXD_NAMED(EEXIST),       SANDBOXD_NAMED(ENODEV),          SANDBOXD_NAMED(ENOTDIR),
    SANDBOXD_NAMED(EISDIR),       SANDBOXD_NAMED(EINVAL),          SANDBOXD_NAMED(EMFILE),
    SANDBOXD_NAMED(ENOTTY),       SANDBOXD_NAMED(ENOSPC),          SANDBOXD_NAMED(EROFS),
    SANDBOXD_NAMED(ENOSYS),       SANDBOXD_NAMED(ENOTSUP),         SANDBOXD_NAMED(EOPNOTSUPP),
    SANDBOXD_NAMED(EAFNOSUPPORT), SANDBOXD_NAMED(EPROTONOSUPPORT), SANDBOXD_NAMED(ENETUNREACH),
    SANDBOXD_NAMED(ECONNREFUSED),
};
#undef SANDBOXD_NAMED

std::optional<std::uint64_t> Lookup(const auto& table, std::string_view name) {
  for (const NamedValue& entry : table) {
    if (entry.name == name) return entry.value;
  }
  return std::nullopt;
}

// ---- Tokens ---------------------------------------------------------------------------------

struct Token {
  enum Kind { kWord, kPunct } kind;
  std::string text;
};

bool IsWordChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

// Splits one line (comment already removed) into words and punctuation. Returns an error text.
std::optional<std::string> Tokenize(std::string_view line, std::vector<Token>& out) {
  static constexpr std::string_view kTwoChar[] = {"&&", "==", "!=", "<=", ">="};
  static constexpr std::string_view kOneChar = "&|(),<>";
  std::size_t i = 0;
  while (i < line.size()) {
    const char c = line[i];
    if (c == ' ' || c == '\t' || c == '\r') {
      ++i;
      continue;
    }
    if (IsWordChar(c)) {
      std::size_t j = i;
      while (j < line.size() && IsWordChar(line[j])) ++j;
      out.push_back({Token::kWord, std::string(line.substr(i, j - i))});
      i = j;
      continue;
    }
    bool matched = false;
    for (std::string_view op : kTwoChar) {
      if (line.substr(i, 2) == op) {
        out.push_back({Token::kPunct, std::string(op)});
        i += 2;
        matched = true;
        break;
      }
    }
    if (matched) continue;
    if (kOneChar.find(c) != std::string_view::npos) {
      out.push_back({Token::kPunct, std::string(1, c)});
      ++i;
      continue;
    }
    return std::string("unexpected character '") + c + "'";
  }
  return std::nullopt;
}

// ---- Parsed statements ----------------------------------------------------------------------

struct Condition {
  unsigned arg = 0;
  scmp_compare op = SCMP_CMP_EQ;
  std::uint64_t mask = 0;  // only for SCMP_CMP_MASKED_EQ
  std::uint64_t datum = 0;
};

enum class RuleKind { kUnconditional, kConditional, kOtherwise };

// The kernel features a line may be gated on (`when NAME ...`, `unless NAME ...`).
struct FeatureGate {
  std::string_view name;
  bool KernelFeatures::*flag;
};
constexpr FeatureGate kFeatureGates[] = {
    {"memfd_noexec_seal", &KernelFeatures::memfd_noexec_seal},
};

struct Rule {
  int line = 0;
  bool applies = true;  // false: gated on a kernel feature that does not hold here
  std::uint32_t action = 0;
  std::string action_text;
  std::vector<std::pair<std::string, int>> syscalls;  // name, number
  RuleKind kind = RuleKind::kUnconditional;
  std::vector<Condition> conditions;
};

struct Policy {
  std::optional<std::uint32_t> default_action;
  int default_line = 0;
  std::optional<std::uint32_t> badarch_action;
  std::vector<Rule> rules;
};

class LineParser {
 public:
  LineParser(std::vector<Token> tokens, std::map<std::string, std::uint64_t, std::less<>>& defines,
             const KernelFeatures& features)
      : tokens_(std::move(tokens)), defines_(defines), features_(features) {}

  // Parses one non-empty line into `policy`. Returns an error text.
  std::optional<std::string> Parse(int line, Policy& policy) {
    // `when FEATURE RULE` / `unless FEATURE RULE`: the rule is parsed and checked either way, and
    // kept only where the kernel has (lacks) the feature.
    bool applies = true;
    if (Peek() == "when" || Peek() == "unless") {
      const bool when = Peek() == "when";
      ++pos_;
      const std::string name = Peek();
      const auto gate = std::find_if(std::begin(kFeatureGates), std::end(kFeatureGates),
                                     [&](const FeatureGate& g) { return g.name == name; });
      if (gate == std::end(kFeatureGates)) {
        std::string known;
        for (const FeatureGate& g : kFeatureGates)
          known += (known.empty() ? "" : ", ") + std::string(g.name);
        return "'" + std::string(when ? "when" : "unless") + "' wants a kernel feature (" + known +
               "), found " + Describe();
      }
      ++pos_;
      applies = (features_.*(gate->flag)) == when;
      if (AtEnd())
        return "'" + std::string(when ? "when" : "unless") + " " + name + "' needs a rule";
      if (Peek() == "default" || Peek() == "badarch" || Peek() == "define")
        return "'" + Peek() + "' cannot be gated on a kernel feature";
    }
    const std::string first = tokens_[pos_].text;
    if (first == "default" || first == "badarch") {
      ++pos_;
      std::uint32_t action = 0;
      std::string text;
      if (auto error = ParseAction(action, text)) return error;
      if (auto error = ExpectEnd()) return error;
      if (first == "default") {
        if (policy.default_action) return std::string("a second 'default' statement");
        policy.default_action = action;
        policy.default_line = line;
      } else {
        if (policy.badarch_action) return std::string("a second 'badarch' statement");
        policy.badarch_action = action;
      }
      return std::nullopt;
    }
    if (first == "define") {
      ++pos_;
      if (AtEnd() || tokens_[pos_].kind != Token::kWord || !IsIdentifier(tokens_[pos_].text))
        return std::string("'define' wants a name and a value");
      const std::string name = tokens_[pos_++].text;
      if (Lookup(kConstants, name) || defines_.count(name) != 0)
        return "'" + name + "' is already defined";
      std::uint64_t value = 0;
      if (auto error = ParseValue(value)) return error;
      if (auto error = ExpectEnd()) return error;
      defines_.emplace(name, value);
      return std::nullopt;
    }

    Rule rule;
    rule.line = line;
    rule.applies = applies;
    if (auto error = ParseAction(rule.action, rule.action_text)) return error;
    // Syscall names, separated by commas or blanks, up to 'if', 'otherwise' or the end.
    while (!AtEnd() && Peek() != "if" && Peek() != "otherwise") {
      const Token& token = tokens_[pos_];
      if (token.kind == Token::kPunct) {
        if (token.text == "," && !rule.syscalls.empty()) {
          ++pos_;
          continue;
        }
        return "expected a syscall name, found '" + token.text + "'";
      }
      const int number = seccomp_syscall_resolve_name_arch(SCMP_ARCH_X86_64, token.text.c_str());
      if (number == __NR_SCMP_ERROR) return "unknown syscall '" + token.text + "'";
      if (number < 0) return "'" + token.text + "' is not a syscall on x86_64";
      rule.syscalls.emplace_back(token.text, number);
      ++pos_;
    }
    if (rule.syscalls.empty()) return "'" + rule.action_text + "' names no syscall";
    if (AtEnd()) {
      rule.kind = RuleKind::kUnconditional;
    } else if (Peek() == "otherwise") {
      ++pos_;
      rule.kind = RuleKind::kOtherwise;
      if (auto error = ExpectEnd()) return error;
    } else {
      ++pos_;  // "if"
      rule.kind = RuleKind::kConditional;
      for (;;) {
        Condition condition;
        if (auto error = ParseCondition(condition)) return error;
        for (const Condition& other : rule.conditions) {
          if (other.arg == condition.arg)
            return "arg" + std::to_string(condition.arg) +
                   " is compared twice in one rule (libseccomp allows one comparison per "
                   "argument; write two rules)";
        }
        rule.conditions.push_back(condition);
        if (AtEnd()) break;
        if (Peek() != "&&") return "expected '&&' or the end of the line, found '" + Peek() + "'";
        ++pos_;
      }
    }
    policy.rules.push_back(std::move(rule));
    return std::nullopt;
  }

 private:
  bool AtEnd() const { return pos_ >= tokens_.size(); }
  std::string Peek() const { return AtEnd() ? std::string() : tokens_[pos_].text; }
  std::string Describe() const {
    return AtEnd() ? std::string("the end of the line") : "'" + tokens_[pos_].text + "'";
  }
  std::optional<std::string> ExpectEnd() const {
    if (AtEnd()) return std::nullopt;
    return "unexpected " + Describe();
  }
  std::optional<std::string> Expect(std::string_view punct) {
    if (AtEnd() || tokens_[pos_].text != punct)
      return "expected '" + std::string(punct) + "', found " + Describe();
    ++pos_;
    return std::nullopt;
  }
  static bool IsIdentifier(std::string_view word) {
    return !word.empty() && !(word[0] >= '0' && word[0] <= '9');
  }

  std::optional<std::string> ParseAction(std::uint32_t& action, std::string& text) {
    if (AtEnd() || tokens_[pos_].kind != Token::kWord)
      return "expected an action, found " + Describe();
    text = tokens_[pos_++].text;
    if (text == "allow") {
      action = SCMP_ACT_ALLOW;
    } else if (text == "notify") {
      action = SCMP_ACT_NOTIFY;
    } else if (text == "log") {
      action = SCMP_ACT_LOG;
    } else if (text == "trap") {
      action = SCMP_ACT_TRAP;
    } else if (text == "kill_process") {
      action = SCMP_ACT_KILL_PROCESS;
    } else if (text == "kill_thread") {
      action = SCMP_ACT_KILL_THREAD;
    } else if (text == "errno") {
      if (auto error = Expect("(")) return error;
      if (AtEnd() || tokens_[pos_].kind != Token::kWord)
        return "expected an errno name or number, found " + Describe();
      const std::string name = tokens_[pos_++].text;
      std::uint64_t value = 0;
      if (auto known = Lookup(kErrnos, name)) {
        value = *known;
      } else if (auto number = ParseNumber(name)) {
        value = *number;
      } else {
        return "unknown errno '" + name + "'";
      }
      if (value == 0 || value > 4095) return "errno " + name + " is out of range (1..4095)";
      if (auto error = Expect(")")) return error;
      action = SCMP_ACT_ERRNO(static_cast<std::uint16_t>(value));
      text = "errno(" + name + ")";
    } else {
      return "unknown action '" + text +
             "' (expected allow, notify, log, trap, kill_process, kill_thread or errno(E...))";
    }
    return std::nullopt;
  }

  static std::optional<std::uint64_t> ParseNumber(std::string_view word) {
    int base = 10;
    if (word.size() > 2 && word[0] == '0' && (word[1] == 'x' || word[1] == 'X')) {
      base = 16;
      word.remove_prefix(2);
    } else if (word.size() > 2 && word[0] == '0' && (word[1] == 'o' || word[1] == 'O')) {
      base = 8;
      word.remove_prefix(2);
    } else if (word.size() > 1 && word[0] == '0') {
      return std::nullopt;  // C-style octal is a trap: write 0o or 0x
    }
    std::uint64_t value = 0;
    const auto [end, ec] = std::from_chars(word.data(), word.data() + word.size(), value, base);
    if (ec != std::errc() || end != word.data() + word.size()) return std::nullopt;
    return value;
  }

  // value := term ('|' term)* ; term := number | constant
  std::optional<std::string> ParseValue(std::uint64_t& value) {
    value = 0;
    for (;;) {
      if (AtEnd() || tokens_[pos_].kind != Token::kWord)
        return "expected a number or a constant, found " + Describe();
      const std::string& word = tokens_[pos_++].text;
      if (auto number = ParseNumber(word)) {
        value |= *number;
      } else if (auto constant = Lookup(kConstants, word)) {
        value |= *constant;
      } else if (auto it = defines_.find(word); it != defines_.end()) {
        value |= it->second;
      } else if (IsIdentifier(word)) {
        return "unknown constant '" + word + "'";
      } else {
        return "bad number '" + word + "' (write decimal, 0x hex or 0o octal)";
      }
      if (Peek() != "|") return std::nullopt;
      ++pos_;
    }
  }

  // cond := argN OP value | argN '&' value '==' value
  std::optional<std::string> ParseCondition(Condition& condition) {
    const std::string word = Peek();
    if (word.size() != 4 || word.compare(0, 3, "arg") != 0 || word[3] < '0' || word[3] > '5')
      return "expected an argument arg0..arg5, found " + Describe();
    ++pos_;
    condition.arg = static_cast<unsigned>(word[3] - '0');
    const std::string op = Peek();
    if (op == "&") {
      ++pos_;
      if (auto error = ParseValue(condition.mask)) return error;
      if (Peek() != "==")
        return "a masked comparison is 'argN & MASK == VALUE'; found " + Describe() +
               " instead of '=='";
      ++pos_;
      if (auto error = ParseValue(condition.datum)) return error;
      if (condition.mask == 0) return std::string("a mask of 0 matches everything");
      if ((condition.datum & ~condition.mask) != 0)
        return std::string("the value has bits outside the mask, so the rule never matches");
      condition.op = SCMP_CMP_MASKED_EQ;
      return std::nullopt;
    }
    static const std::map<std::string, scmp_compare, std::less<>> kOps = {
        {"==", SCMP_CMP_EQ}, {"!=", SCMP_CMP_NE}, {"<", SCMP_CMP_LT},
        {"<=", SCMP_CMP_LE}, {">", SCMP_CMP_GT},  {">=", SCMP_CMP_GE}};
    const auto it = kOps.find(op);
    if (it == kOps.end())
      return "expected a comparison (==, !=, <, <=, >, >= or '& MASK ==') after " + word +
             ", found " + Describe();
    ++pos_;
    condition.op = it->second;
    return ParseValue(condition.datum);
  }

  std::vector<Token> tokens_;
  std::size_t pos_ = 0;
  std::map<std::string, std::uint64_t, std::less<>>& defines_;
  const KernelFeatures& features_;
};

Status PolicyError(const std::string& origin, int line, const std::string& message) {
  std::string where = origin;
  if (line > 0) where += ":" + std::to_string(line);
  return Status(ErrorCode::kInternal, "seccomp policy " + where + ": " + message);
}

struct FilterDeleter {
  void operator()(void* ctx) const { seccomp_release(ctx); }
};
using FilterPtr = std::unique_ptr<void, FilterDeleter>;

std::string ErrnoText(int rc) { return std::strerror(rc < 0 ? -rc : rc); }

}  // namespace

KernelFeatures KernelFeatures::Probe() {
  KernelFeatures features;
  // Kernels before 6.3 refuse the unknown flag with EINVAL.
  constexpr unsigned kMfdNoexecSeal = 0x8;
  const int fd = ::memfd_create("sandboxd-probe", MFD_CLOEXEC | kMfdNoexecSeal);
  if (fd >= 0) {
    features.memfd_noexec_seal = true;
    ::close(fd);
  }
  return features;
}

std::string KernelFeatures::Describe() const {
  std::string text;
  for (const FeatureGate& g : kFeatureGates) {
    if (this->*(g.flag)) text += (text.empty() ? "" : " ") + std::string(g.name);
  }
  return text.empty() ? "none" : text;
}

StatusOr<SeccompPolicy> SeccompPolicy::LoadFile(const std::string& path,
                                                const KernelFeatures& features) {
  std::error_code error;
  if (std::filesystem::is_directory(path, error))
    return PolicyError(path, 0, "is a directory, not a policy file");
  std::ifstream in(path, std::ios::binary);
  if (!in) return PolicyError(path, 0, std::string("cannot open: ") + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return PolicyError(path, 0, "cannot read");
  return Compile(text.str(), path, features);
}

StatusOr<SeccompPolicy> SeccompPolicy::Compile(std::string_view text, const std::string& origin,
                                               const KernelFeatures& features) {
  Policy policy;
  std::map<std::string, std::uint64_t, std::less<>> defines;
  int line_number = 0;
  while (!text.empty()) {
    ++line_number;
    const std::size_t newline = text.find('\n');
    std::string_view line = text.substr(0, newline);
    text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
    if (const std::size_t hash = line.find('#'); hash != std::string_view::npos)
      line = line.substr(0, hash);
    std::vector<Token> tokens;
    if (auto error = Tokenize(line, tokens)) return PolicyError(origin, line_number, *error);
    if (tokens.empty()) continue;
    LineParser parser(std::move(tokens), defines, features);
    if (auto error = parser.Parse(line_number, policy))
      return PolicyError(origin, line_number, *error);
  }
  // Rules gated on a feature this kernel lacks (or has, for `unless`) take no part from here on.
  std::erase_if(policy.rules, [](const Rule& rule) { return !rule.applies; });
  if (!policy.default_action)
    return PolicyError(origin, 0, "no 'default' statement (the action for unlisted syscalls)");
  if (!policy.badarch_action)
    return PolicyError(origin, 0, "no 'badarch' statement (the action for i386 and x32 calls)");

  // Per syscall: at most one unconditional rule, which then is its only rule; conditional rules
  // may be followed by one 'otherwise' rule (applied when none of them matches).
  struct Seen {
    int unconditional_line = 0;
    int conditional_line = 0;
    int otherwise_line = 0;
  };
  std::map<int, Seen> seen;
  for (const Rule& rule : policy.rules) {
    if (rule.action == *policy.default_action)
      return PolicyError(origin, rule.line,
                         "'" + rule.action_text + "' is the default action; drop the rule");
    for (const auto& [name, number] : rule.syscalls) {
      Seen& s = seen[number];
      const int earlier = s.unconditional_line ? s.unconditional_line
                          : s.conditional_line ? s.conditional_line
                                               : s.otherwise_line;
      switch (rule.kind) {
        case RuleKind::kUnconditional:
          if (earlier != 0)
            return PolicyError(origin, rule.line,
                               name + " already has a rule at line " + std::to_string(earlier));
          s.unconditional_line = rule.line;
          break;
        case RuleKind::kConditional:
          if (s.unconditional_line != 0)
            return PolicyError(origin, rule.line,
                               name + " already has an unconditional rule at line " +
                                   std::to_string(s.unconditional_line));
          for (const Condition& c : rule.conditions) {
            // The 'otherwise' fallback is compiled as "arg0 >= 0", which libseccomp orders after
            // every other comparison of a syscall, except other '>'/'>=' tests of arg0.
            if (c.arg == 0 && (c.op == SCMP_CMP_GT || c.op == SCMP_CMP_GE))
              return PolicyError(origin, rule.line,
                                 "'>' and '>=' on arg0 are not supported (they would reorder "
                                 "the 'otherwise' fallback); use '<', '<=' or a mask");
          }
          if (s.conditional_line == 0) s.conditional_line = rule.line;
          break;
        case RuleKind::kOtherwise:
          if (s.unconditional_line != 0)
            return PolicyError(origin, rule.line,
                               name + " already has an unconditional rule at line " +
                                   std::to_string(s.unconditional_line));
          if (s.otherwise_line != 0)
            return PolicyError(origin, rule.line,
                               name + " already has an 'otherwise' rule at line " +
                                   std::to_string(s.otherwise_line));
          s.otherwise_line = rule.line;
          break;
      }
    }
  }
  for (const Rule& rule : policy.rules) {
    if (rule.kind != RuleKind::kOtherwise) continue;
    for (const auto& [name, number] : rule.syscalls) {
      if (seen[number].conditional_line == 0)
        return PolicyError(origin, rule.line,
                           "'otherwise' for " + name +
                               ", which has no conditional ('if') rule; write the rule "
                               "without 'otherwise'");
    }
  }

  FilterPtr ctx(seccomp_init(*policy.default_action));
  if (!ctx)
    return PolicyError(origin, policy.default_line,
                       "libseccomp refused the default action (does this kernel support it?)");
  if (int rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_ACT_BADARCH, *policy.badarch_action);
      rc != 0)
    return PolicyError(origin, 0, "libseccomp refused the badarch action: " + ErrnoText(rc));
  // A binary search over syscall numbers instead of a linear scan: the allow-list is long.
  if (int rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_OPTIMIZE, 2); rc != 0)
    return PolicyError(origin, 0,
                       "libseccomp refused the binary-tree optimisation: " + ErrnoText(rc));

  for (const Rule& rule : policy.rules) {
    std::vector<scmp_arg_cmp> compare;
    if (rule.kind == RuleKind::kConditional) {
      for (const Condition& c : rule.conditions) {
        compare.push_back(scmp_arg_cmp{c.arg, c.op, c.op == SCMP_CMP_MASKED_EQ ? c.mask : c.datum,
                                       c.op == SCMP_CMP_MASKED_EQ ? c.datum : 0});
      }
    } else if (rule.kind == RuleKind::kOtherwise) {
      // Always true. libseccomp sorts comparisons of one syscall so that arg0 '>=' tests come
      // last and evaluates them in that order, falling through to the next on a mismatch, so
      // this runs only when no other rule of the syscall matched.
      compare.push_back(scmp_arg_cmp{0, SCMP_CMP_GE, 0, 0});
    }
    for (const auto& [name, number] : rule.syscalls) {
      const int rc = seccomp_rule_add_exact_array(ctx.get(), rule.action, number,
                                                  static_cast<unsigned>(compare.size()),
                                                  compare.empty() ? nullptr : compare.data());
      if (rc != 0)
        return PolicyError(origin, rule.line,
                           "libseccomp refused the rule for " + name + ": " + ErrnoText(rc));
    }
  }

  UniqueFd memfd(::memfd_create("sandboxd-seccomp-bpf", MFD_CLOEXEC));
  if (!memfd) return PolicyError(origin, 0, std::string("memfd_create: ") + std::strerror(errno));
  if (int rc = seccomp_export_bpf(ctx.get(), memfd.get()); rc != 0)
    return PolicyError(origin, 0, "seccomp_export_bpf: " + ErrnoText(rc));
  const off_t size = ::lseek(memfd.get(), 0, SEEK_END);
  if (size <= 0 || size % static_cast<off_t>(sizeof(sock_filter)) != 0 ||
      size / static_cast<off_t>(sizeof(sock_filter)) > BPF_MAXINSNS)
    return PolicyError(origin, 0,
                       "the exported BPF program has a bad size (" + std::to_string(size) +
                           " bytes; at most " + std::to_string(BPF_MAXINSNS) + " instructions)");
  SeccompPolicy result;
  result.program_.resize(static_cast<std::size_t>(size));
  std::size_t done = 0;
  while (done < result.program_.size()) {
    const ssize_t n = ::pread(memfd.get(), result.program_.data() + done,
                              result.program_.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return PolicyError(origin, 0, "reading the exported BPF program failed");
    done += static_cast<std::size_t>(n);
  }
  return result;
}

std::string SeccompPolicy::SyscallName(int number, std::uint32_t audit_arch) {
  std::uint32_t arch = 0;
  std::string_view suffix;
  switch (audit_arch) {
    case AUDIT_ARCH_X86_64:
      if ((static_cast<std::uint32_t>(number) & kX32SyscallBit) != 0) {
        arch = SCMP_ARCH_X32;
        suffix = " (x32)";
      } else {
        arch = SCMP_ARCH_X86_64;
      }
      break;
    case AUDIT_ARCH_I386:
      arch = SCMP_ARCH_X86;
      suffix = " (i386)";
      break;
    default:
      break;
  }
  if (arch != 0 && number >= 0) {
    if (char* name = seccomp_syscall_resolve_num_arch(arch, number)) {
      std::string result = std::string(name) + std::string(suffix);
      std::free(name);
      return result;
    }
  }
  char arch_hex[16];
  std::snprintf(arch_hex, sizeof(arch_hex), "0x%08x", audit_arch);
  return "syscall " + std::to_string(number) + " (arch " + arch_hex + ")";
}

}  // namespace sandboxd
