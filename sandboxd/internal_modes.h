// The sandboxd binary is also its own root helper and launcher: the daemon execs /proc/self/exe
// with kRootHelperModeFlag (root_helper.h), and the helper execs it with kLauncherModeFlag
// (launcher/launcher_main.h). Any program that starts a RootHelper, the daemon or a test of
// LauncherClient, begins its main() with RunInternalMode.
#pragma once

#include <optional>

namespace sandboxd {

// Runs the internal mode `argv` names and returns its exit code; nullopt when argv names none.
std::optional<int> RunInternalMode(int argc, char** argv);

}  // namespace sandboxd
