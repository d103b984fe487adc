// The network namespace starts empty; only loopback is brought up, so a UDF may talk to itself
// (multiprocessing, local servers) and reaches nothing else.
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "sandbox/sandbox_spec.h"

namespace sandboxd {

std::string SetUpNetworkNamespace() {
  const int sock = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0) return std::string("socket for lo: ") + std::strerror(errno);
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  std::string err;
  if (::ioctl(sock, SIOCGIFFLAGS, &ifr) != 0) {
    err = std::string("SIOCGIFFLAGS lo: ") + std::strerror(errno);
  } else {
    ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP | IFF_RUNNING);
    if (::ioctl(sock, SIOCSIFFLAGS, &ifr) != 0)
      err = std::string("SIOCSIFFLAGS lo: ") + std::strerror(errno);
  }
  ::close(sock);
  return err;
}

std::string SetUpUtsNamespace(const std::string& hostname) {
  if (::sethostname(hostname.data(), hostname.size()) != 0 || ::setdomainname("sandbox", 7) != 0)
    return std::string("sethostname: ") + std::strerror(errno);
  return "";
}

}  // namespace sandboxd
