// The bundle checker and unpacker (what sandboxd-unpack runs on a downloaded zip or wheel), with
// small limits, into a fresh folder each run.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "bundle.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const int archive = ::memfd_create("bundle", MFD_CLOEXEC);
  if (archive < 0) return 0;
  if (::write(archive, data, size) != static_cast<ssize_t>(size)) {
    ::close(archive);
    return 0;
  }
  char tmpl[] = "/tmp/bundle-fuzz-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) {
    ::close(archive);
    return 0;
  }
  const int out = ::open(tmpl, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  sandboxd::BundleLimits limits;
  limits.max_entries = 64;
  limits.max_unpacked_bytes = 1 << 20;
  limits.max_entry_bytes = 256 << 10;
  limits.max_depth = 8;
  for (const char* name : {"bundle.zip", "pkg-1.0-py3-none-any.whl"}) {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(tmpl, ec))
      std::filesystem::remove_all(entry.path(), ec);
    (void)sandboxd::ExtractBundle(archive, name, out, limits, sandboxd::WheelTarget{});
  }
  ::close(out);
  ::close(archive);
  std::error_code ec;
  std::filesystem::remove_all(tmpl, ec);
  return 0;
}
