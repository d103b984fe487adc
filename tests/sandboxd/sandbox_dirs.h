// Where tests find the built images and the runner their sandboxes mount, for tests that start a
// daemon (daemon_fixture.h) and for those that clone sandboxes themselves through a launcher of
// their own (launcher_client_test.cc, execution_test.cc). Nothing here includes the client
// library, whose types share names with the daemon's.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>

#include "test_paths.h"

namespace sandboxd::testing {

inline std::string ImagesDir() {
  const char* env = std::getenv("SANDBOXD_TEST_IMAGES_DIR");
  return env != nullptr ? env : "/var/lib/sandboxd/images";
}

inline bool DefaultImageBuilt() {
  return std::filesystem::exists(ImagesDir() + "/python3.11/packages.lock");
}

// Whether every folder from / down to `path` may be searched by any uid.
inline bool SearchableByOthers(const std::filesystem::path& path) {
  std::filesystem::path at;
  for (const auto& part : std::filesystem::absolute(path)) {
    at /= part;
    struct stat st {};
    if (::stat(at.c_str(), &st) != 0 || (st.st_mode & S_IXOTH) == 0) return false;
  }
  return true;
}

// The runner's folder as test daemons mount it. A sandbox started without a zygote (--no-zygotes,
// or an image whose zygote cannot start) binds it as the slot's unprivileged root, so each folder
// above it must be searchable by others (README, Status); a clone in a private folder (`mktemp
// -d` makes 0700) is not, and its daemons get a copy in a searchable folder, made once per test
// process and removed at its exit.
inline const std::string& RuntimeDirForSandboxes() {
  struct Copy {
    std::string root, runtime;
    ~Copy() {
      std::error_code ec;
      if (!root.empty()) std::filesystem::remove_all(root, ec);
    }
  };
  static Copy copy = [] {
    Copy made;
    made.runtime = ::sandboxd::test_paths::kRuntimeSource;
    if (SearchableByOthers(made.runtime)) return made;
    char tmpl[] = "/tmp/sandboxd-runtime-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) return made;
    made.root = tmpl;
    ::chmod(tmpl, 0755);
    std::error_code ec;
    std::filesystem::copy(::sandboxd::test_paths::kRuntimeSource, made.root + "/python",
                          std::filesystem::copy_options::recursive, ec);
    if (!ec) made.runtime = made.root + "/python";
    return made;
  }();
  return copy.runtime;
}

}  // namespace sandboxd::testing
