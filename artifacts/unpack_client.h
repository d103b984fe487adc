// The daemon's side of sandboxd-unpack: spawns the helper (posix_spawn: the daemon is
// multithreaded and never forks), waits for it within a deadline, then checks what it wrote
// before anything else trusts it.
#pragma once

#include <string>

#include "artifacts_config.h"
#include "bundle.h"
#include "sandboxd/status.h"
#include "wheel.h"

namespace sandboxd {

// Where the helper is: `configured` if set; else beside the running binary (a build tree), then
// ../libexec/sandboxd/ beside it, then the compiled-in install path.
std::string FindUnpackHelper(const std::string& configured);

// Unpacks `archive_path` into the folder `tree_dir` (which must not exist; its parent must). On
// success the tree belongs to root with modes 0644/0755 and holds only files and folders.
StatusOr<BundleManifest> RunUnpackHelper(const std::string& helper, const ArtifactsConfig& config,
                                         const std::string& archive_path,
                                         const std::string& artifact_name,
                                         const WheelTarget& target, const std::string& tree_dir);

}  // namespace sandboxd
