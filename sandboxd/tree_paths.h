// Where this build tree keeps what the daemon falls back to when it is not installed: the zygote
// extension it was built with and the source tree's seccomp policy. The paths are the clone's
// own, so they live in one generated source file (tree_paths.cc, from tree_paths.cc.in) rather
// than in main.cc's compile definitions, where they would make main.cc miss the compile cache
// in every fresh clone (minutes in the sanitizer tree: issue 22).
#pragma once

namespace sandboxd {

extern const char kBuiltZygoteDir[];
extern const char kSourceSeccompPolicy[];

}  // namespace sandboxd
