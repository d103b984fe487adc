// Where a test finds this tree's binaries and the source tree's files. Defined in a source file
// CMake generates per build tree (tests/paths/CMakeLists.txt), not as compile definitions, so
// that every other object of a test is the same in each clone and served by ccache.
#pragma once

namespace sandboxd::test_paths {

extern const char* const kSandboxdBinary;       // the built daemon
extern const char* const kSandboxctlBinary;     // the built command-line client
extern const char* const kUnpackHelper;         // the built sandboxd-unpack
extern const char* const kSourceDir;            // the source tree's root
extern const char* const kBinaryDir;            // the build tree's root
extern const char* const kRuntimeSource;        // runtime_images/python: the runner, sandbox_utils
extern const char* const kSeccompPolicySource;  // policy/sandbox.seccomp
extern const char* const kSecurityProbesDir;    // tests/security: the probes and probelib.py
extern const char* const kMakeBundles;          // tests/artifacts/make_bundles.py
extern const char* const kSpillTestDiskDir;     // a folder of the build tree for spill files

}  // namespace sandboxd::test_paths
