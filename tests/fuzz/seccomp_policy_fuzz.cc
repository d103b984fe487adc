// The seccomp policy's text format, compiled with libseccomp for both kernels the daemon knows
// (with and without MFD_NOEXEC_SEAL).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "seccomp_policy.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (bool seal : {false, true}) {
    sandboxd::KernelFeatures features;
    features.memfd_noexec_seal = seal;
    (void)sandboxd::SeccompPolicy::Compile(text, "fuzz.seccomp", features);
  }
  return 0;
}
