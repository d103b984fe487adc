// Wheel compatibility: which wheels can run in an image (PEP 425 tags; PEP 600 manylinux).
// A wheel is refused with its file name and the reason ("built for Windows (win_amd64)").
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace sandboxd {

// What an image runs: CPython major.minor, glibc major.minor, the machine.
struct WheelTarget {
  int python_major = 3;
  int python_minor = 11;
  int glibc_major = 2;
  int glibc_minor = 36;
  std::string arch = "x86_64";
  // "cp311-glibc2.36-x86_64": part of the unpacked-bundle cache key.
  std::string Key() const;
  std::string Describe() const;  // "CPython 3.11 on Linux x86_64 with glibc 2.36"
};

struct WheelName {
  std::string distribution;
  std::string version;
  std::vector<std::string> tags;  // expanded "py-abi-platform" triples
};

// Parses "{distribution}-{version}(-{build})?-{python}-{abi}-{platform}.whl"; false if it is not
// one.
bool ParseWheelFilename(std::string_view filename, WheelName& out);

// Empty if one of `tags` ("cp311-cp311-manylinux_2_17_x86_64", compressed sets like
// "py2.py3-none-any" allowed) runs on `target`; else why not, e.g. "built for CPython 3.6 (cp36)".
std::string WheelIncompatibility(const std::vector<std::string>& tags, const WheelTarget& target);

}  // namespace sandboxd
