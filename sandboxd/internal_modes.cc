#include "internal_modes.h"

#include <sys/types.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "launcher/launcher_main.h"
#include "root_helper.h"

namespace sandboxd {

std::optional<int> RunInternalMode(int argc, char** argv) {
  // Launcher mode: exec'd by the root helper, before any thread exists.
  if (argc == 3 && std::string(argv[1]) == kLauncherModeFlag) {
    char* end = nullptr;
    const long parent_pid = std::strtol(argv[2], &end, 10);
    if (end == argv[2] || *end != '\0' || parent_pid <= 0) return 2;
    RememberLauncherArgv(argc, argv);
    return RunLauncher(3, static_cast<pid_t>(parent_pid));
  }
  // Root-helper mode: exec'd by the daemon at start (root_helper.h).
  if (argc == 7 && std::string(argv[1]) == kRootHelperModeFlag) {
    const auto number = [](const char* text) -> long long {
      char* end = nullptr;
      const long long value = std::strtoll(text, &end, 10);
      return end == text || *end != '\0' || value <= 0 || value > UINT32_MAX ? -1 : value;
    };
    const long long daemon_pid = number(argv[2]), first = number(argv[3]), count = number(argv[4]);
    if (daemon_pid <= 0 || first <= 0 || count <= 0) return 2;
    RootHelper::Bounds helper_bounds{static_cast<std::uint32_t>(first),
                                     static_cast<std::uint32_t>(count), argv[5], argv[6]};
    return RunRootHelper(3, static_cast<pid_t>(daemon_pid), helper_bounds);
  }
  return std::nullopt;
}

}  // namespace sandboxd
