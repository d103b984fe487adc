// Checking and unpacking zip / wheel bundles with libzip (SECURITY_PROBES.md group H). Runs in
// the unprivileged sandboxd-unpack helper, never in the daemon:
//
// - names: printable ASCII only; no absolute paths, drive letters, backslashes, "." or ".."
//   components, empty components, Windows-reserved characters or trailing dots and spaces; at
//   most max_name_bytes long and max_depth deep; no duplicates, no case twins (H1, H4);
// - types: regular files and folders only; symlinks, devices, FIFOs and sockets are refused;
//   modes become 0644 (0755 when the owner could execute) and 0755 for folders (H2, H5);
// - sizes: entries, bytes per entry, bytes in all, and the unpacked/archive ratio are counted
//   while streaming; a header that disagrees with what the entry holds is refused (H3);
// - files are created with openat/mkdirat beneath the output folder's descriptor, each folder
//   opened with O_NOFOLLOW and each file created with O_EXCL|O_NOFOLLOW (H2).
//
// Bundle kinds: an archive whose files are all .whl (a flat zip of wheels), or a bare .whl, is
// installed as wheels (each wheel's tags checked against the image, its .data/purelib and
// .data/platlib merged in, scripts/headers/data skipped); anything else is unpacked as is (a zip
// of package folders, or a model's files).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "artifacts_config.h"
#include "sandboxd/status.h"
#include "wheel.h"

namespace sandboxd {

struct BundleManifest {
  std::string kind;                 // "wheels" or "files"
  std::vector<std::string> wheels;  // the wheels' file names, for kind "wheels"
  std::uint64_t files = 0;
  std::uint64_t bytes = 0;
  std::string ToJson() const;
  static bool FromJson(std::string_view text, BundleManifest& out);
};

// True for names the daemon unpacks: "*.zip" and "*.whl", in any case.
bool IsBundleName(std::string_view artifact_name);

// Unpacks the archive on `archive_fd` (read from offset 0) into the empty folder `out_dirfd`.
// `archive_name` decides a bare wheel (".whl"). Errors are ARTIFACT_FAILED with a message that
// names the entry and the rule, e.g. "entry '../x' leaves the bundle's folder (zip-slip)".
StatusOr<BundleManifest> ExtractBundle(int archive_fd, std::string_view archive_name, int out_dirfd,
                                       const BundleLimits& limits, const WheelTarget& target);

}  // namespace sandboxd
