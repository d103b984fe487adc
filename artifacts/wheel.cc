#include "wheel.h"

#include <fmt/format.h>

#include <charconv>

namespace sandboxd {
namespace {

std::vector<std::string> Split(std::string_view s, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (true) {
    const std::size_t at = s.find(sep, start);
    out.emplace_back(
        s.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start));
    if (at == std::string_view::npos) return out;
    start = at + 1;
  }
}

bool ParseInt(std::string_view s, int& out) {
  if (s.empty() || s.size() > 4) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

// "cp311" / "py3" / "py311": interpreter and version digits. "py3" means any 3.x.
struct PythonTag {
  std::string impl;  // "cp", "py", "pp", ...
  int major = -1;
  int minor = -1;  // -1: any minor
};

bool ParsePythonTag(std::string_view tag, PythonTag& out) {
  std::size_t i = 0;
  while (i < tag.size() && std::isalpha(static_cast<unsigned char>(tag[i]))) ++i;
  out.impl = std::string(tag.substr(0, i));
  const std::string_view digits = tag.substr(i);
  if (digits.empty() || !ParseInt(digits.substr(0, 1), out.major)) return false;
  if (digits.size() > 1 && !ParseInt(digits.substr(1), out.minor)) return false;
  return true;
}

// Why this python tag cannot run, or "".
std::string PythonProblem(const std::string& python, const std::string& abi, const WheelTarget& t) {
  PythonTag tag;
  if (!ParsePythonTag(python, tag))
    return fmt::format("its Python tag '{}' is not one we know", python);
  const std::string want = fmt::format("{}.{}", t.python_major, t.python_minor);
  if (tag.impl != "py" && tag.impl != "cp")
    return fmt::format("it is built for another Python implementation ({})", python);
  if (tag.major != t.python_major || (tag.minor >= 0 && tag.minor > t.python_minor))
    return fmt::format("it is built for Python {}{} ({}); this image runs Python {}", tag.major,
                       tag.minor >= 0 ? "." + std::to_string(tag.minor) : "", python, want);
  if (abi == "none") return "";
  if (abi == "abi3") {
    if (tag.impl != "cp") return fmt::format("abi3 with a non-CPython tag ({})", python);
    return "";
  }
  // A version-specific ABI ("cp311"): exactly this CPython.
  const std::string exact = fmt::format("cp{}{}", t.python_major, t.python_minor);
  if (tag.impl == "cp" && tag.minor == t.python_minor && (abi == exact || abi == exact + "d"))
    return abi == exact ? "" : fmt::format("it is built for a debug CPython ({})", abi);
  return fmt::format("it is built for CPython {}.{} ({}-{}); this image runs Python {}", tag.major,
                     tag.minor >= 0 ? tag.minor : 0, python, abi, want);
}

std::string PlatformProblem(const std::string& platform, const WheelTarget& t) {
  if (platform == "any") return "";
  auto ends_with = [&](std::string_view suffix) {
    return platform.size() >= suffix.size() &&
           platform.compare(platform.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  if (platform.rfind("win", 0) == 0)
    return fmt::format("it is built for Windows ({}); this image runs Linux {}", platform, t.arch);
  if (platform.rfind("macosx", 0) == 0)
    return fmt::format("it is built for macOS ({}); this image runs Linux {}", platform, t.arch);
  if (platform.rfind("musllinux", 0) == 0)
    return fmt::format("it is built for musl libc ({}); this image uses glibc", platform);
  const std::string arch_suffix = "_" + t.arch;
  if (platform.rfind("linux", 0) == 0 || platform.rfind("manylinux", 0) == 0) {
    if (!ends_with(arch_suffix))
      return fmt::format("it is built for another machine ({}); this image runs {}", platform,
                         t.arch);
  } else {
    return fmt::format("it is built for another platform ({}); this image runs Linux {}", platform,
                       t.arch);
  }
  const std::string stem = platform.substr(0, platform.size() - arch_suffix.size());
  int major = 0, minor = 0;
  if (stem == "linux") return "";
  if (stem == "manylinux1")
    major = 2, minor = 5;
  else if (stem == "manylinux2010")
    major = 2, minor = 12;
  else if (stem == "manylinux2014")
    major = 2, minor = 17;
  else {
    const auto parts = Split(stem, '_');  // manylinux_2_28
    if (parts.size() != 3 || parts[0] != "manylinux" || !ParseInt(parts[1], major) ||
        !ParseInt(parts[2], minor))
      return fmt::format("its platform tag '{}' is not one we know", platform);
  }
  if (major > t.glibc_major || (major == t.glibc_major && minor > t.glibc_minor))
    return fmt::format("it needs glibc {}.{} ({}); this image has glibc {}.{}", major, minor,
                       platform, t.glibc_major, t.glibc_minor);
  return "";
}

}  // namespace

std::string WheelTarget::Key() const {
  return fmt::format("cp{}{}-glibc{}.{}-{}", python_major, python_minor, glibc_major, glibc_minor,
                     arch);
}

std::string WheelTarget::Describe() const {
  return fmt::format("CPython {}.{} on Linux {} with glibc {}.{}", python_major, python_minor, arch,
                     glibc_major, glibc_minor);
}

bool ParseWheelFilename(std::string_view filename, WheelName& out) {
  constexpr std::string_view kSuffix = ".whl";
  if (filename.size() <= kSuffix.size()) return false;
  std::string lower(filename.substr(filename.size() - kSuffix.size()));
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower != kSuffix) return false;
  const auto parts = Split(filename.substr(0, filename.size() - kSuffix.size()), '-');
  if (parts.size() != 5 && parts.size() != 6) return false;
  for (const auto& p : parts) {
    if (p.empty()) return false;
  }
  out.distribution = parts[0];
  out.version = parts[1];
  const std::size_t n = parts.size();
  out.tags.clear();
  for (const auto& py : Split(parts[n - 3], '.'))
    for (const auto& abi : Split(parts[n - 2], '.'))
      for (const auto& plat : Split(parts[n - 1], '.'))
        out.tags.push_back(py + "-" + abi + "-" + plat);
  return true;
}

std::string WheelIncompatibility(const std::vector<std::string>& tags, const WheelTarget& target) {
  if (tags.empty()) return "it declares no compatibility tags";
  std::string first_problem;
  for (const auto& tag : tags) {
    const auto parts = Split(tag, '-');
    std::string problem;
    if (parts.size() != 3) {
      problem = fmt::format("its tag '{}' is malformed", tag);
    } else {
      problem = PlatformProblem(parts[2], target);
      if (problem.empty()) problem = PythonProblem(parts[0], parts[1], target);
    }
    if (problem.empty()) return "";
    if (first_problem.empty()) first_problem = problem;
  }
  return first_problem;
}

}  // namespace sandboxd
