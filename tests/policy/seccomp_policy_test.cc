// The seccomp policy: errors of the text format, the shipped policy file, and what the compiled
// program does in the running kernel. Kernel checks run in forked children (the test process
// itself is never filtered); each child installs the program the way the sandbox does
// (no_new_privs, SECCOMP_FILTER_FLAG_NEW_LISTENER) and hands the listener to the parent, which
// plays the sandbox's init: a notification is recorded and the child killed.
#include "seccomp_policy.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "sandboxd/fd_passing.h"
#include "sandboxd/unique_fd.h"
#include "test_paths.h"

namespace sandboxd {
namespace {

constexpr char kHeader[] = "default notify\nbadarch kill_process\n";
// The two kernels the policy's `when`/`unless` lines tell apart: 6.3+ and Debian 12's 6.1.
constexpr KernelFeatures kKernel63{.memfd_noexec_seal = true};
constexpr KernelFeatures kKernel61{.memfd_noexec_seal = false};

std::string CompileError(const std::string& text) {
  auto policy = SeccompPolicy::Compile(text, "test.seccomp", kKernel63);
  if (policy.ok()) return "(compiled)";
  return policy.status().message();
}

// ---- The text format -------------------------------------------------------------------------

TEST(SeccompPolicyFormat, MinimalPolicyCompiles) {
  auto policy =
      SeccompPolicy::Compile(std::string(kHeader) + "allow read write  # io\n", "t", kKernel63);
  ASSERT_TRUE(policy.ok()) << policy.status().ToString();
  EXPECT_GT(policy->program().size(), 0u);
  EXPECT_EQ(policy->program().size() % sizeof(sock_filter), 0u);
}

TEST(SeccompPolicyFormat, ConditionsDefinesAndOtherwiseCompile) {
  auto policy = SeccompPolicy::Compile(std::string(kHeader) +
                                           "define FAMILIES AF_INET | AF_INET6\n"
                                           "allow socket if arg0 == AF_UNIX\n"
                                           "allow socket if arg0 & 0xff == 0x0a\n"
                                           "errno(EAFNOSUPPORT) socket otherwise\n"
                                           "errno(13) mmap if arg2 & PROT_EXEC == PROT_EXEC && "
                                           "arg3 < 0o100 && arg1 != FAMILIES\n"
                                           "allow mmap otherwise\n",
                                       "t", kKernel63);
  EXPECT_TRUE(policy.ok()) << policy.status().ToString();
}

struct FormatError {
  const char* body;      // after the default/badarch header (which takes lines 1 and 2)
  const char* expected;  // a substring of the error message
};

class SeccompPolicyFormatError : public ::testing::TestWithParam<FormatError> {};

TEST_P(SeccompPolicyFormatError, NamesFileLineAndProblem) {
  const std::string message = CompileError(std::string(kHeader) + GetParam().body);
  EXPECT_NE(message.find(GetParam().expected), std::string::npos) << message;
}

INSTANTIATE_TEST_SUITE_P(
    Errors, SeccompPolicyFormatError,
    ::testing::Values(
        // Unknown names.
        FormatError{"allow read\nallow write frobnicate\n",
                    "test.seccomp:4: unknown syscall 'frobnicate'"},
        FormatError{"\n# comment\nfrobnicate read\n",
                    "test.seccomp:5: unknown action 'frobnicate'"},
        FormatError{"errno(EWHATEVER) read\n", "test.seccomp:3: unknown errno 'EWHATEVER'"},
        FormatError{"errno(0) read\n", "test.seccomp:3: errno 0 is out of range"},
        FormatError{"errno EPERM read\n", "test.seccomp:3: expected '(', found 'EPERM'"},
        FormatError{"allow socketcall\n",
                    "test.seccomp:3: 'socketcall' is not a syscall on x86_64"},
        FormatError{"allow\n", "test.seccomp:3: 'allow' names no syscall"},
        // Argument syntax.
        FormatError{"allow ioctl if arg6 == 1\n",
                    "test.seccomp:3: expected an argument arg0..arg5, found 'arg6'"},
        FormatError{"allow ioctl if arg1 = 1\n", "test.seccomp:3: unexpected character '='"},
        FormatError{"allow ioctl if arg1 1\n", "test.seccomp:3: expected a comparison"},
        FormatError{"allow ioctl if arg1 & 0xff 3\n",
                    "test.seccomp:3: a masked comparison is 'argN & MASK == VALUE'"},
        FormatError{"allow ioctl if arg1 & 0xff != 3\n",
                    "test.seccomp:3: a masked comparison is 'argN & MASK == VALUE'"},
        FormatError{"allow ioctl if arg1 == NOT_A_CONSTANT\n",
                    "test.seccomp:3: unknown constant 'NOT_A_CONSTANT'"},
        FormatError{"allow ioctl if arg1 == 017\n", "test.seccomp:3: bad number '017'"},
        FormatError{"allow ioctl if arg1 == 0xzz\n", "test.seccomp:3: bad number '0xzz'"},
        FormatError{"allow ioctl if arg1 ==\n",
                    "test.seccomp:3: expected a number or a constant, found the end of the line"},
        FormatError{"allow ioctl if arg1 == 1 arg2 == 2\n",
                    "test.seccomp:3: expected '&&' or the end of the line, found 'arg2'"},
        FormatError{"allow ioctl if arg1 == 1 && arg1 == 2\n",
                    "test.seccomp:3: arg1 is compared twice in one rule"},
        FormatError{"allow ioctl if arg1 & 0 == 0\n", "test.seccomp:3: a mask of 0"},
        FormatError{"allow ioctl if arg1 & 0xf == 0x10\n", "test.seccomp:3: the value has bits"},
        FormatError{"allow ioctl if arg0 >= 3\n", "test.seccomp:3: '>' and '>=' on arg0"},
        FormatError{"allow read otherwise now\n", "test.seccomp:3: unexpected 'now'"},
        FormatError{"define X\n", "test.seccomp:3: expected a number or a constant"},
        FormatError{"define AF_INET 3\n", "test.seccomp:3: 'AF_INET' is already defined"},
        // Rules that contradict each other or change nothing.
        FormatError{"allow read\nerrno(EPERM) read\n",
                    "test.seccomp:4: read already has a rule at line 3"},
        FormatError{"allow ioctl\nerrno(EPERM) ioctl if arg1 == 1\n",
                    "test.seccomp:4: ioctl already has an unconditional rule at line 3"},
        FormatError{"errno(EPERM) ioctl if arg1 == 1\nallow ioctl\n",
                    "test.seccomp:4: ioctl already has a rule at line 3"},
        FormatError{"allow ioctl otherwise\n",
                    "test.seccomp:3: 'otherwise' for ioctl, which has no conditional"},
        FormatError{
            "allow ioctl if arg1 == 1\nerrno(EPERM) ioctl otherwise\nallow ioctl otherwise\n",
            "test.seccomp:5: ioctl already has an 'otherwise' rule at line 4"},
        FormatError{"notify read\n", "test.seccomp:3: 'notify' is the default action"},
        FormatError{"default allow\n", "test.seccomp:3: a second 'default' statement"}));

TEST(SeccompPolicyFormat, MissingDefaultAndBadarchAreErrors) {
  EXPECT_NE(CompileError("badarch kill_process\nallow read\n").find("no 'default' statement"),
            std::string::npos);
  EXPECT_NE(CompileError("default notify\nallow read\n").find("no 'badarch' statement"),
            std::string::npos);
}

TEST(SeccompPolicyFormat, LoadFileNamesAMissingFile) {
  auto policy = SeccompPolicy::LoadFile("/nonexistent/sandbox.seccomp", kKernel63);
  ASSERT_FALSE(policy.ok());
  EXPECT_NE(policy.status().message().find("/nonexistent/sandbox.seccomp"), std::string::npos);
  auto directory = SeccompPolicy::LoadFile("/", kKernel63);
  ASSERT_FALSE(directory.ok());
  EXPECT_NE(directory.status().message().find("is a directory"), std::string::npos);
}

TEST(SeccompPolicyFormat, LoadFileNamesTheFileInErrors) {
  const std::filesystem::path path = std::filesystem::temp_directory_path() /
                                     ("seccomp_policy_test." + std::to_string(::getpid()));
  {
    std::ofstream out(path);
    out << kHeader << "allow read\nallow nosuchcall\n";
  }
  auto policy = SeccompPolicy::LoadFile(path.string(), kKernel63);
  std::filesystem::remove(path);
  ASSERT_FALSE(policy.ok());
  EXPECT_NE(policy.status().message().find(path.string() + ":4: unknown syscall 'nosuchcall'"),
            std::string::npos)
      << policy.status().message();
}

TEST(SeccompPolicySyscallName, ResolvesNativeCompatAndUnknownCalls) {
  EXPECT_EQ(SeccompPolicy::SyscallName(SYS_ptrace, AUDIT_ARCH_X86_64), "ptrace");
  EXPECT_EQ(SeccompPolicy::SyscallName(SYS_kcmp, AUDIT_ARCH_X86_64), "kcmp");
  EXPECT_EQ(SeccompPolicy::SyscallName(20, AUDIT_ARCH_I386), "getpid (i386)");
  EXPECT_EQ(SeccompPolicy::SyscallName(SYS_getpid | 0x40000000, AUDIT_ARCH_X86_64), "getpid (x32)");
  EXPECT_EQ(SeccompPolicy::SyscallName(9999, AUDIT_ARCH_X86_64), "syscall 9999 (arch 0xc000003e)");
  EXPECT_EQ(SeccompPolicy::SyscallName(1, 0x1234), "syscall 1 (arch 0x00001234)");
}

// ---- The shipped policy in the kernel --------------------------------------------------------

// What happened to a filtered child.
struct Outcome {
  bool exited = false;
  int exit_code = -1;
  int signal = 0;
  bool timed_out = false;
  std::optional<seccomp_data> notification;  // the first call handed to the listener
  std::string output;                        // what the child wrote to its output pipe
};

std::string Describe(const Outcome& o) {
  std::string text;
  if (o.notification)
    text += "the listener got " +
            SeccompPolicy::SyscallName(o.notification->nr, o.notification->arch) + "; ";
  if (o.timed_out) text += "timed out; ";
  if (o.exited) text += "exit " + std::to_string(o.exit_code) + "; ";
  if (o.signal != 0) text += std::string("signal ") + strsignal(o.signal) + "; ";
  return text + "output:\n" + o.output;
}

bool SendFd(int socket, int fd) {
  char byte = 'L';
  const iovec iov{&byte, 1};
  return SendWithFds(socket, std::span<const iovec>(&iov, 1), std::span<const int>(&fd, 1),
                     MSG_NOSIGNAL) == 1;
}

int ReceiveFd(int socket) {
  char byte = 0;
  std::vector<UniqueFd> fds;
  if (ReceiveWithFds(socket, &byte, 1, fds) != 1 || fds.size() != 1) return -1;
  return fds.front().release();
}

// Forks a child in a session of its own that installs `program`, sends the listener to the parent
// and then runs `body(output_fd)`, exiting with its result. The parent reads the output, and on
// a notification records it and kills the child's process group, as the sandbox's init does.
Outcome RunFiltered(const std::string& program, const std::function<int(int)>& body,
                    std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  Outcome outcome;
  int channel[2];
  int output[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, channel) != 0 ||
      ::pipe2(output, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "socketpair/pipe: " << std::strerror(errno);
    return outcome;
  }
  const pid_t pid = ::fork();
  if (pid < 0) {
    ADD_FAILURE() << "fork: " << std::strerror(errno);
    return outcome;
  }
  if (pid == 0) {
    ::close(channel[0]);
    ::close(output[0]);
    ::setsid();  // no controlling terminal, and one process group to kill
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) ::_exit(120);
    sock_fprog prog{};
    prog.len = static_cast<unsigned short>(program.size() / sizeof(sock_filter));
    prog.filter = reinterpret_cast<sock_filter*>(const_cast<char*>(program.data()));
    const long listener =
        ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
    if (listener < 0) ::_exit(121);
    if (!SendFd(channel[1], static_cast<int>(listener))) ::_exit(122);
    ::close(static_cast<int>(listener));
    ::close(channel[1]);
    int code = 125;
    try {
      code = body(output[1]);
    } catch (...) {  // never unwind into the test runner's copy in this child
    }
    ::_exit(code);
  }
  ::close(channel[1]);
  ::close(output[1]);
  int listener = ReceiveFd(channel[0]);
  ::close(channel[0]);
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  ::fcntl(output[0], F_SETFL, O_NONBLOCK);

  seccomp_notif_sizes sizes{};
  ::syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes);
  std::vector<char> notif_buffer(std::max<std::size_t>(sizes.seccomp_notif, sizeof(seccomp_notif)));

  const auto deadline = std::chrono::steady_clock::now() + timeout;
  bool child_done = false;
  bool output_open = true;
  auto drain = [&] {
    char buf[4096];
    ssize_t n;
    while ((n = ::read(output[0], buf, sizeof(buf))) > 0) outcome.output.append(buf, n);
    if (n == 0) output_open = false;
  };
  while (!child_done) {
    pollfd pfds[3] = {{pidfd, POLLIN, 0}, {listener, POLLIN, 0}, {output[0], POLLIN, 0}};
    if (!output_open) pfds[2].fd = -1;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      outcome.timed_out = true;
      ::kill(-pid, SIGKILL);
      break;
    }
    if (::poll(pfds, 3, static_cast<int>(left.count())) < 0 && errno != EINTR) break;
    if ((pfds[2].revents & (POLLIN | POLLHUP)) != 0) drain();
    if ((pfds[1].revents & POLLIN) != 0) {
      std::fill(notif_buffer.begin(), notif_buffer.end(), 0);
      if (::ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, notif_buffer.data()) == 0) {
        if (!outcome.notification)
          outcome.notification = reinterpret_cast<seccomp_notif*>(notif_buffer.data())->data;
        ::kill(-pid, SIGKILL);
      }
    } else if ((pfds[1].revents & (POLLHUP | POLLERR | POLLNVAL)) != 0) {
      ::close(listener);  // every filtered process is gone
      listener = -1;
    }
    if ((pfds[0].revents & POLLIN) != 0) child_done = true;
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  ::kill(-pid, SIGKILL);  // whatever the child left behind in its process group
  drain();
  if (WIFEXITED(status)) {
    outcome.exited = true;
    outcome.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    outcome.signal = WTERMSIG(status);
  }
  if (listener >= 0) ::close(listener);
  ::close(pidfd);
  ::close(output[0]);
  return outcome;
}

// Collects failed expectations inside a filtered child (gtest assertions do not cross fork).
class ChildChecks {
 public:
  explicit ChildChecks(int fd) : fd_(fd) {}

  void Errno(std::string_view what, long rc, int expected) {
    const int error = errno;
    if (rc == -1 && error == expected) return;
    Fail(std::string(what) + ": returned " + std::to_string(rc) +
         (rc == -1 ? std::string(" errno ") + strerrorname_np(error) : std::string()) +
         ", expected errno " + strerrorname_np(expected));
  }
  void Ok(std::string_view what, long rc) {
    const int error = errno;
    if (rc >= 0) return;
    Fail(std::string(what) + ": failed with " + strerrorname_np(error));
  }
  void True(std::string_view what, bool condition) {
    if (!condition) Fail(std::string(what));
  }
  // Ends the child: exit 0 if every check passed. "done" proves the checks ran to the end.
  int Finish() {
    Write(failures_ == 0 ? "done\n" : "failed\n");
    return failures_ == 0 ? 0 : 1;
  }

 private:
  void Fail(const std::string& text) {
    ++failures_;
    Write(text + "\n");
  }
  void Write(const std::string& text) {
    [[maybe_unused]] ssize_t n = ::write(fd_, text.data(), text.size());
  }
  int fd_;
  int failures_ = 0;
};

class ShippedPolicy : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // As the daemon compiles it: for the running kernel.
    auto policy = SeccompPolicy::LoadFile(::sandboxd::test_paths::kSeccompPolicySource,
                                          KernelFeatures::Probe());
    auto legacy = SeccompPolicy::LoadFile(::sandboxd::test_paths::kSeccompPolicySource, kKernel61);
    auto modern = SeccompPolicy::LoadFile(::sandboxd::test_paths::kSeccompPolicySource, kKernel63);
    for (const auto* p : {&policy, &legacy, &modern}) {
      if (!p->ok()) {
        load_error_ = new std::string(p->status().ToString());
        return;
      }
    }
    program_ = new std::string(policy->program());
    program_61_ = new std::string(legacy->program());
    program_63_ = new std::string(modern->program());
  }
  static void TearDownTestSuite() {
    for (std::string** p : {&program_, &program_61_, &program_63_, &load_error_}) {
      delete *p;
      *p = nullptr;
    }
  }
  void SetUp() override {
    ASSERT_NE(program_, nullptr) << (load_error_ ? *load_error_ : std::string());
  }

  static Outcome Run(const std::function<void(ChildChecks&)>& checks,
                     const std::string* program = nullptr) {
    return RunFiltered(program != nullptr ? *program : *program_, [&checks](int fd) {
      ChildChecks c(fd);
      checks(c);
      return c.Finish();
    });
  }
  static void ExpectClean(const Outcome& o) {
    EXPECT_FALSE(o.notification) << Describe(o);
    EXPECT_TRUE(o.exited && o.exit_code == 0) << Describe(o);
    EXPECT_NE(o.output.find("done\n"), std::string::npos) << Describe(o);
  }

  static int Resolve(const char* name) {
    return seccomp_syscall_resolve_name_arch(SCMP_ARCH_X86_64, name);
  }

  static std::string* program_;     // for the running kernel
  static std::string* program_61_;  // for a kernel without MFD_NOEXEC_SEAL
  static std::string* program_63_;  // for a kernel with it
  static std::string* load_error_;
};
std::string* ShippedPolicy::program_ = nullptr;
std::string* ShippedPolicy::program_61_ = nullptr;
std::string* ShippedPolicy::program_63_ = nullptr;
std::string* ShippedPolicy::load_error_ = nullptr;

// ---- The whole syscall table, through a BPF interpreter -----------------------------------------

// Runs a classic BPF program on `data` the way the kernel's seccomp does, for the instructions
// libseccomp emits. Returns the SECCOMP_RET_* value.
std::uint32_t RunBpf(const std::string& program, const seccomp_data& data) {
  const auto* insns = reinterpret_cast<const sock_filter*>(program.data());
  const std::size_t count = program.size() / sizeof(sock_filter);
  std::uint32_t a = 0;
  std::uint32_t x = 0;
  std::uint32_t mem[BPF_MEMWORDS] = {};
  for (std::size_t pc = 0; pc < count; ++pc) {
    const sock_filter& i = insns[pc];
    switch (i.code) {
      case BPF_LD | BPF_W | BPF_ABS:
        if (i.k % 4 != 0 || i.k + 4 > sizeof(seccomp_data)) {
          ADD_FAILURE() << "load outside seccomp_data at " << pc;
          return 0;
        }
        std::memcpy(&a, reinterpret_cast<const char*>(&data) + i.k, 4);
        break;
      case BPF_LD | BPF_IMM:
        a = i.k;
        break;
      case BPF_LD | BPF_MEM:
        a = mem[i.k % BPF_MEMWORDS];
        break;
      case BPF_LDX | BPF_IMM:
        x = i.k;
        break;
      case BPF_LDX | BPF_MEM:
        x = mem[i.k % BPF_MEMWORDS];
        break;
      case BPF_ST:
        mem[i.k % BPF_MEMWORDS] = a;
        break;
      case BPF_STX:
        mem[i.k % BPF_MEMWORDS] = x;
        break;
      case BPF_MISC | BPF_TAX:
        x = a;
        break;
      case BPF_MISC | BPF_TXA:
        a = x;
        break;
      case BPF_ALU | BPF_AND | BPF_K:
        a &= i.k;
        break;
      case BPF_ALU | BPF_OR | BPF_K:
        a |= i.k;
        break;
      case BPF_JMP | BPF_JA:
        pc += i.k;
        break;
      case BPF_JMP | BPF_JEQ | BPF_K:
        pc += a == i.k ? i.jt : i.jf;
        break;
      case BPF_JMP | BPF_JGT | BPF_K:
        pc += a > i.k ? i.jt : i.jf;
        break;
      case BPF_JMP | BPF_JGE | BPF_K:
        pc += a >= i.k ? i.jt : i.jf;
        break;
      case BPF_JMP | BPF_JSET | BPF_K:
        pc += (a & i.k) != 0 ? i.jt : i.jf;
        break;
      case BPF_RET | BPF_K:
        return i.k;
      case BPF_RET | BPF_A:
        return a;
      default:
        ADD_FAILURE() << "opcode 0x" << std::hex << i.code << " at " << std::dec << pc;
        return 0;
    }
  }
  ADD_FAILURE() << "the program ran off its end";
  return 0;
}

constexpr std::uint32_t kAllow = SECCOMP_RET_ALLOW;
constexpr std::uint32_t kNotify = SECCOMP_RET_USER_NOTIF;
constexpr std::uint32_t kKillProcess = SECCOMP_RET_KILL_PROCESS;
constexpr std::uint32_t Errno(int e) { return SECCOMP_RET_ERRNO | static_cast<std::uint32_t>(e); }

std::string ActionName(std::uint32_t action) {
  switch (action & SECCOMP_RET_ACTION_FULL) {
    case SECCOMP_RET_ALLOW:
      return "allow";
    case SECCOMP_RET_USER_NOTIF:
      return "notify";
    case SECCOMP_RET_KILL_PROCESS:
      return "kill_process";
    case SECCOMP_RET_ERRNO:
      return std::string("errno(") + strerrorname_np(static_cast<int>(action & 0xffff)) + ")";
    default:
      return "action 0x" + std::to_string(action);
  }
}

// `when FEATURE` / `unless FEATURE`: a rule for one kind of kernel; the others never see it, but
// it is checked for every kernel, so a typo cannot hide on the machine that lacks the feature.
TEST(SeccompPolicyFormat, KernelFeatureGates) {
  const std::string gated = std::string(kHeader) +
                            "when memfd_noexec_seal allow memfd_create if arg1 & 0x8 == 0x8\n"
                            "when memfd_noexec_seal errno(EPERM) memfd_create otherwise\n"
                            "unless memfd_noexec_seal allow memfd_create\n";
  for (const KernelFeatures& kernel : {kKernel61, kKernel63}) {
    auto policy = SeccompPolicy::Compile(gated, "t", kernel);
    ASSERT_TRUE(policy.ok()) << policy.status().ToString();
    seccomp_data data{};
    data.nr = SYS_memfd_create;
    data.arch = AUDIT_ARCH_X86_64;
    data.args[1] = MFD_CLOEXEC;
    EXPECT_EQ(ActionName(RunBpf(policy->program(), data)),
              kernel.memfd_noexec_seal ? "errno(EPERM)" : "allow");
  }
  // A rule that does not apply here is still parsed and checked.
  auto typo = SeccompPolicy::Compile(
      std::string(kHeader) + "unless memfd_noexec_seal allow nosuch\n", "t", kKernel63);
  ASSERT_FALSE(typo.ok());
  EXPECT_NE(typo.status().message().find("unknown syscall 'nosuch'"), std::string::npos);
  // Rules that do apply are checked together: two unconditional ones for one syscall clash.
  auto clash = SeccompPolicy::Compile(
      std::string(kHeader) + "allow read\nunless memfd_noexec_seal errno(EPERM) read\n", "t",
      kKernel61);
  ASSERT_FALSE(clash.ok());
  EXPECT_NE(clash.status().message().find("read already has a rule"), std::string::npos);
  EXPECT_NE(CompileError(std::string(kHeader) + "when no_such_feature allow read\n")
                .find("'when' wants a kernel feature (memfd_noexec_seal)"),
            std::string::npos);
  EXPECT_NE(CompileError("when memfd_noexec_seal default notify\nbadarch kill_process\n")
                .find("'default' cannot be gated"),
            std::string::npos);
  EXPECT_NE(CompileError(std::string(kHeader) + "unless memfd_noexec_seal\n").find("needs a rule"),
            std::string::npos);
  EXPECT_EQ(kKernel63.Describe(), "memfd_noexec_seal");
  EXPECT_EQ(kKernel61.Describe(), "none");
}

TEST(SeccompPolicySemantics, OtherwiseAppliesWhenNoConditionalRuleMatches) {
  auto policy = SeccompPolicy::Compile(std::string(kHeader) +
                                           "errno(EPERM) read if arg0 == 3\n"
                                           "errno(EACCES) read if arg0 < 2 && arg1 == 7\n"
                                           "allow read if arg2 & 0xf0 == 0x10\n"
                                           "errno(ENOENT) read otherwise\n"
                                           "allow write if arg0 == 1\n"
                                           "errno(EBADF) close if arg0 <= 2\n"
                                           "allow close otherwise\n"
                                           "allow getpid\n",
                                       "t", kKernel63);
  ASSERT_TRUE(policy.ok()) << policy.status().ToString();
  auto eval = [&](int nr, std::uint64_t a0, std::uint64_t a1 = 0, std::uint64_t a2 = 0) {
    seccomp_data data{};
    data.nr = nr;
    data.arch = AUDIT_ARCH_X86_64;
    data.args[0] = a0;
    data.args[1] = a1;
    data.args[2] = a2;
    return ActionName(RunBpf(policy->program(), data));
  };
  EXPECT_EQ(eval(SYS_read, 3), "errno(EPERM)");
  EXPECT_EQ(eval(SYS_read, 1, 7), "errno(EACCES)");
  EXPECT_EQ(eval(SYS_read, 1, 8), "errno(ENOENT)");  // a rule matching halfway does not apply
  EXPECT_EQ(eval(SYS_read, 5, 7), "errno(ENOENT)");
  EXPECT_EQ(eval(SYS_read, 0, 0, 0x15), "allow");
  EXPECT_EQ(eval(SYS_read, 0, 0, 0x25), "errno(ENOENT)");
  EXPECT_EQ(eval(SYS_read, (1ULL << 32) | 3), "errno(ENOENT)");  // comparisons are 64-bit
  EXPECT_EQ(eval(SYS_write, 1), "allow");
  EXPECT_EQ(eval(SYS_write, 2), "notify");  // no 'otherwise': the default action
  EXPECT_EQ(eval(SYS_close, 0), "errno(EBADF)");
  EXPECT_EQ(eval(SYS_close, 2), "errno(EBADF)");
  EXPECT_EQ(eval(SYS_close, 3), "allow");
  EXPECT_EQ(eval(SYS_close, 1ULL << 32), "allow");
  EXPECT_EQ(eval(SYS_getpid, 0), "allow");
  EXPECT_EQ(eval(SYS_gettid, 0), "notify");
}

class ShippedPolicyTable : public ShippedPolicy {
 protected:
  static std::uint32_t Eval(int nr, std::array<std::uint64_t, 6> args = {},
                            std::uint32_t arch = AUDIT_ARCH_X86_64,
                            const std::string* program = program_63_) {
    seccomp_data data{};
    data.nr = nr;
    data.arch = arch;
    for (int i = 0; i < 6; ++i) data.args[i] = args[i];
    return RunBpf(*program, data);
  }
  static void ExpectAction(const char* name, std::uint32_t expected,
                           std::array<std::uint64_t, 6> args = {},
                           const std::string* program = program_63_) {
    const int nr = Resolve(name);
    ASSERT_GE(nr, 0) << name;
    EXPECT_EQ(ActionName(Eval(nr, args, AUDIT_ARCH_X86_64, program)), ActionName(expected)) << name;
  }
};

// 6.3+: a memfd only when sealed non-executable (MFD_NOEXEC_SEAL), which costs nothing (A17).
TEST_F(ShippedPolicyTable, MemfdOnlyWhenSealedNonExecutableWhereTheKernelHasTheSeal) {
  constexpr std::uint64_t kNoexecSeal = 0x8, kExec = 0x10;
  ExpectAction("memfd_create", SCMP_ACT_ALLOW, {0, MFD_CLOEXEC | kNoexecSeal});
  ExpectAction("memfd_create", SCMP_ACT_ERRNO(EPERM), {0, MFD_CLOEXEC});
  ExpectAction("memfd_create", SCMP_ACT_ERRNO(EPERM), {0, MFD_CLOEXEC | kExec});
  ExpectAction("memfd_create", SCMP_ACT_ERRNO(EPERM), {0, 0});
}

// 6.1 (Debian 12's kernel): the flag does not exist, so every memfd_create is allowed; a policy
// that required it would break every memfd user there (A17).
TEST_F(ShippedPolicyTable, EveryMemfdWhereTheKernelLacksTheSeal) {
  constexpr std::uint64_t kNoexecSeal = 0x8;
  for (std::uint64_t flags : {std::uint64_t{0}, std::uint64_t{MFD_CLOEXEC},
                              std::uint64_t{MFD_CLOEXEC | MFD_ALLOW_SEALING}, kNoexecSeal})
    ExpectAction("memfd_create", SCMP_ACT_ALLOW, {0, flags}, program_61_);
  // Everything else is the same program.
  ExpectAction("execveat", SCMP_ACT_ERRNO(EPERM), {}, program_61_);
  ExpectAction("mmap", SCMP_ACT_ALLOW,
               {0, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS,
                static_cast<std::uint64_t>(-1)},
               program_61_);
}

TEST_F(ShippedPolicyTable, TheAllowListOfTheBrief) {
  for (const char* name :
       {// processes, threads, signals, time
        "fork", "vfork", "execve", "exit", "exit_group", "wait4", "waitid", "kill", "tkill",
        "tgkill", "pidfd_open", "pidfd_send_signal", "getpid", "getppid", "gettid", "getuid",
        "geteuid", "getgid", "getegid", "getresuid", "getresgid", "getgroups", "setsid", "getpgid",
        "setpgid", "getpgrp", "getsid", "set_tid_address", "set_robust_list", "rseq", "arch_prctl",
        "futex", "futex_waitv", "sched_yield", "sched_getaffinity", "sched_setaffinity",
        "sched_getparam", "sched_getscheduler", "getcpu", "prlimit64", "getrlimit", "setrlimit",
        "getrusage", "uname", "sysinfo", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn",
        "rt_sigpending", "rt_sigtimedwait", "rt_sigsuspend", "rt_sigqueueinfo", "rt_tgsigqueueinfo",
        "sigaltstack", "restart_syscall", "nanosleep", "clock_nanosleep", "clock_gettime",
        "clock_getres", "gettimeofday", "getitimer", "setitimer", "alarm", "timer_create",
        "timer_settime", "timer_gettime", "timer_getoverrun", "timer_delete", "timerfd_create",
        "timerfd_settime", "timerfd_gettime", "signalfd4", "getrandom", "membarrier",
        // memory
        "brk", "munmap", "mprotect", "madvise", "mremap", "msync", "mincore", "get_mempolicy",
        "set_mempolicy", "mbind",
        // files
        "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "preadv2",
        "pwritev2", "open", "openat", "openat2", "close", "close_range", "lseek", "dup", "dup2",
        "dup3", "fcntl", "flock", "stat", "fstat", "lstat", "newfstatat", "statx", "statfs",
        "fstatfs", "access", "faccessat", "faccessat2", "readlink", "readlinkat", "getdents64",
        "getcwd", "chdir", "fchdir", "mkdir", "mkdirat", "rmdir", "unlink", "unlinkat", "rename",
        "renameat", "renameat2", "link", "linkat", "symlink", "symlinkat", "chmod", "fchmod",
        "fchmodat", "umask", "utimensat", "truncate", "ftruncate", "fallocate", "fadvise64",
        "fsync", "fdatasync", "sync_file_range", "sendfile", "copy_file_range", "splice", "tee",
        "vmsplice", "getxattr", "lgetxattr", "fgetxattr", "listxattr", "llistxattr", "flistxattr",
        "pipe", "pipe2", "inotify_init1", "inotify_add_watch", "inotify_rm_watch",
        // events, sockets, IPC
        "poll", "ppoll", "select", "pselect6", "epoll_create1", "epoll_ctl", "epoll_wait",
        "epoll_pwait", "epoll_pwait2", "eventfd2", "connect", "bind", "listen", "accept", "accept4",
        "sendto", "recvfrom", "sendmsg", "recvmsg", "shutdown", "getsockopt", "setsockopt",
        "getsockname", "getpeername", "shmget", "shmat", "shmctl", "shmdt", "semget", "semop",
        "semtimedop", "semctl", "msgget", "msgsnd", "msgrcv", "msgctl", "mq_open", "mq_unlink",
        "mq_timedsend", "mq_timedreceive", "mq_notify", "mq_getsetattr"}) {
    ExpectAction(name, kAllow);
  }
  // Conditional ones, with ordinary arguments.
  ExpectAction("clone", kAllow, {CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD});
  ExpectAction("ioctl", kAllow, {0, FIONREAD});
  ExpectAction("prctl", kAllow, {PR_SET_NAME});
  ExpectAction("personality", kAllow, {0xffffffff});
  ExpectAction("mmap", kAllow, {0, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE, 3});
  ExpectAction("mmap", kAllow, {0, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS});
  ExpectAction("socket", kAllow, {AF_UNIX, SOCK_STREAM});
  ExpectAction("socketpair", kAllow, {AF_UNIX, SOCK_STREAM});
}

TEST_F(ShippedPolicyTable, UnlistedAndUnknownCallsNotify) {
  for (const char* name :
       {"kcmp", "modify_ldt", "uselib", "_sysctl", "ustat", "sysfs", "remap_file_pages",
        "set_thread_area", "get_thread_area", "nfsservctl", "create_module", "query_module",
        "get_kernel_syms", "epoll_ctl_old", "tuxcall", "security", "vserver"})
    ExpectAction(name, kNotify);
  for (int nr : {457, 462, 500, 1000, 0x3fffffff}) EXPECT_EQ(ActionName(Eval(nr)), "notify") << nr;
}

TEST_F(ShippedPolicyTable, ForeignAbisAreKilled) {
  for (int nr : {0, SYS_getpid, SYS_ptrace, 512, 600}) {
    EXPECT_EQ(ActionName(Eval(nr | 0x40000000)), "kill_process") << "x32 " << nr;
    EXPECT_EQ(ActionName(Eval(nr, {}, AUDIT_ARCH_I386)), "kill_process") << "i386 " << nr;
  }
  EXPECT_EQ(ActionName(Eval(SYS_getpid, {}, 0)), "kill_process");
  EXPECT_EQ(ActionName(Eval(SYS_getpid, {}, AUDIT_ARCH_AARCH64)), "kill_process");
}

TEST_F(ShippedPolicyTable, ConditionalRulesOverTheirWholeRange) {
  constexpr std::uint64_t kNamespaces = CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS |
                                        CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET;
  const int clone = Resolve("clone");
  for (int bit = 0; bit < 64; ++bit) {
    const std::uint64_t flags = (1ULL << bit) | SIGCHLD;
    EXPECT_EQ(ActionName(Eval(clone, {flags})),
              ActionName((flags & kNamespaces) != 0 ? Errno(EPERM) : kAllow))
        << "clone bit " << bit;
  }
  const int ioctl = Resolve("ioctl");
  const std::set<std::uint64_t> kIoctls = {
      TCGETS,   TIOCGWINSZ,  TIOCGPGRP,    FIONREAD,     TIOCOUTQ,    FIONBIO,       FIOCLEX,
      FIONCLEX, SIOCGIFCONF, SIOCGIFFLAGS, SIOCGIFINDEX, SIOCGIFNAME, SIOCGIFHWADDR, SIOCGIFMTU};
  std::vector<std::uint64_t> commands(kIoctls.begin(), kIoctls.end());
  for (std::uint64_t cmd :
       {0x5412ULL /* TIOCSTI */, 0x541cULL /* TIOCLINUX */, 0x5402ULL /* TCSETS */,
        0x80086601ULL /* FS_IOC_GETFLAGS */, 0x40049409ULL /* FICLONE */, 0x5423ULL /* TIOCSETD */,
        0x8914ULL /* SIOCSIFFLAGS */, 0xc0045412ULL, 0ULL, 0xffffffffULL})
    commands.push_back(cmd);
  for (std::uint64_t high : {0ULL, 1ULL, 0x80000000ULL, 0xffffffffULL}) {
    for (std::uint64_t cmd : commands) {
      const std::uint32_t expected = cmd == TIOCSTI || cmd == TIOCLINUX ? Errno(EPERM)
                                     : kIoctls.contains(cmd)            ? kAllow
                                                                        : Errno(ENOTTY);
      EXPECT_EQ(ActionName(Eval(ioctl, {0, (high << 32) | cmd})), ActionName(expected))
          << "ioctl cmd 0x" << std::hex << ((high << 32) | cmd);
    }
  }
  const int socket = Resolve("socket");
  const int socketpair = Resolve("socketpair");
  for (std::uint64_t family = 0; family < 64; ++family) {
    const bool allowed = family == AF_UNIX || family == AF_INET || family == AF_INET6;
    EXPECT_EQ(ActionName(Eval(socket, {family, SOCK_STREAM})),
              ActionName(allowed ? kAllow : Errno(EAFNOSUPPORT)))
        << "socket family " << family;
    EXPECT_EQ(ActionName(Eval(socket, {family | (1ULL << 32), SOCK_STREAM})),
              ActionName(Errno(EAFNOSUPPORT)))
        << "socket family " << family << " with upper bits";
    const std::uint32_t pair = family == AF_UNIX                         ? kAllow
                               : family == AF_INET || family == AF_INET6 ? Errno(EOPNOTSUPP)
                                                                         : Errno(EAFNOSUPPORT);
    EXPECT_EQ(ActionName(Eval(socketpair, {family, SOCK_STREAM})), ActionName(pair))
        << "socketpair family " << family;
  }
  // IP: TCP and UDP only, whatever the flags beside the type; every other type and protocol is
  // refused before the kernel could load a module for it (A21).
  for (std::uint64_t family : {AF_INET, AF_INET6}) {
    for (std::uint64_t type = 0; type < 16; ++type) {
      for (std::uint64_t flags : {std::uint64_t{0}, std::uint64_t{SOCK_NONBLOCK | SOCK_CLOEXEC}}) {
        for (std::uint64_t protocol = 0; protocol < 300; ++protocol) {
          const bool tcp = type == SOCK_STREAM && (protocol == 0 || protocol == IPPROTO_TCP);
          const bool udp = type == SOCK_DGRAM && (protocol == 0 || protocol == IPPROTO_UDP);
          const std::uint32_t expected = tcp || udp ? kAllow
                                         : protocol == IPPROTO_DCCP || protocol == IPPROTO_SCTP
                                             ? Errno(EPROTONOSUPPORT)
                                             : Errno(EAFNOSUPPORT);
          EXPECT_EQ(ActionName(Eval(socket, {family, type | flags, protocol})),
                    ActionName(expected))
              << "socket(" << family << ", " << type << " | 0x" << std::hex << flags << std::dec
              << ", " << protocol << ")";
        }
      }
    }
  }
  // AF_UNIX takes any type and protocol (the kernel refuses what it does not know).
  EXPECT_EQ(ActionName(Eval(socket, {AF_UNIX, SOCK_SEQPACKET, 7})), ActionName(kAllow));
  const int personality = Resolve("personality");
  for (std::uint64_t persona :
       {0x0ULL, 0xffffffffULL, 0xffffffffffffffffULL, 0x100000000ULL, 0x8ULL, 0x400000ULL,
        0x40000ULL, 0x4000000ULL, 0xfffffffeULL, 0x1ULL}) {
    const bool allowed = (persona & 0xffffffff) == 0 || (persona & 0xffffffff) == 0xffffffff;
    EXPECT_EQ(ActionName(Eval(personality, {persona})), ActionName(allowed ? kAllow : Errno(EPERM)))
        << "personality 0x" << std::hex << persona;
  }
  const int prctl = Resolve("prctl");
  for (std::uint64_t option = 0; option < 80; ++option) {
    EXPECT_EQ(ActionName(Eval(prctl, {option})),
              ActionName(option == PR_SET_SECCOMP ? Errno(EPERM) : kAllow))
        << "prctl " << option;
  }
  const int mmap = Resolve("mmap");
  for (std::uint64_t prot = 0; prot < 8; ++prot) {
    for (std::uint64_t flags :
         {MAP_PRIVATE, MAP_SHARED, MAP_PRIVATE | MAP_ANONYMOUS, MAP_SHARED | MAP_ANONYMOUS,
          MAP_PRIVATE | MAP_FIXED, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE}) {
      // Anonymous executable memory too (A17: libffi closures, JITs).
      EXPECT_EQ(ActionName(Eval(mmap, {0, 4096, prot, flags, 3, 0})), ActionName(kAllow))
          << "mmap prot " << prot << " flags 0x" << std::hex << flags;
    }
  }
  for (const char* name : {"mknod", "mknodat"}) {
    const int nr = Resolve(name);
    const int mode_arg = std::string(name) == "mknod" ? 1 : 2;
    for (std::uint64_t type :
         std::array<std::uint64_t, 6>{S_IFIFO, S_IFCHR, S_IFBLK, S_IFREG, S_IFSOCK, 0}) {
      std::array<std::uint64_t, 6> args{};
      args[mode_arg] = type | 0600;
      EXPECT_EQ(ActionName(Eval(nr, args)), ActionName(type == S_IFIFO ? kAllow : Errno(EPERM)))
          << name << " type 0" << std::oct << type;
    }
  }
}

TEST_F(ShippedPolicy, CompilesToAProgramTheKernelAccepts) {
  EXPECT_EQ(program_->size() % sizeof(sock_filter), 0u);
  EXPECT_LE(program_->size() / sizeof(sock_filter), static_cast<std::size_t>(BPF_MAXINSNS));
  ExpectClean(Run([](ChildChecks& c) {
    c.True("getpid", ::getpid() > 0 && ::syscall(SYS_getpid) == ::getpid());
    c.Ok("no_new_privs is set", ::prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1 ? 0 : -1);
  }));
}

TEST_F(ShippedPolicy, HardDeniesFailWithEperm) {
  // Every argument is -1: should a rule be missing, the call fails harmlessly in the kernel
  // (bad pointer, bad fd, bad magic, bad length) instead of changing the host.
  const char* const kDenied[] = {
      "ptrace",
      "process_vm_readv",
      "process_vm_writev",
      "pidfd_getfd",
      "bpf",
      "perf_event_open",
      "add_key",
      "keyctl",
      "request_key",
      "userfaultfd",
      "unshare",
      "setns",
      "mount",
      "umount2",
      "pivot_root",
      "chroot",
      "fsopen",
      "fsconfig",
      "fsmount",
      "fspick",
      "move_mount",
      "open_tree",
      "mount_setattr",
      "open_by_handle_at",
      "name_to_handle_at",
      "init_module",
      "finit_module",
      "delete_module",
      "kexec_load",
      "kexec_file_load",
      "reboot",
      "swapon",
      "swapoff",
      "acct",
      "settimeofday",
      "clock_settime",
      "clock_adjtime",
      "adjtimex",
      "syslog",
      "quotactl",
      "lookup_dcookie",
      "vhangup",
      "iopl",
      "ioperm",
      "seccomp",
      "execveat",
      "sethostname",
      "setdomainname",
      "setxattr",
      "fsetxattr",
      "removexattr",
      "mlock",
  };
  std::vector<std::pair<std::string, int>> calls;
  for (const char* name : kDenied) {
    calls.emplace_back(name, Resolve(name));
    ASSERT_GE(calls.back().second, 0) << name;
  }
  ExpectClean(Run([&calls](ChildChecks& c) {
    for (const auto& [name, nr] : calls)
      c.Errno(name, ::syscall(nr, -1, -1, -1, -1, -1, -1), EPERM);
    c.Errno("ptrace(PTRACE_TRACEME)", ::syscall(SYS_ptrace, PTRACE_TRACEME, 0, 0, 0), EPERM);
    c.Errno("unshare(CLONE_NEWUSER)", ::unshare(CLONE_NEWUSER), EPERM);
    c.Errno("unshare(CLONE_NEWNS)", ::unshare(CLONE_NEWNS), EPERM);
  }));
}

TEST_F(ShippedPolicy, ProbedCallsFailWithEnosys) {
  const char* const kProbed[] = {
      "clone3",   "io_uring_setup", "io_uring_enter",          "io_uring_register",
      "io_setup", "pkey_alloc",     "landlock_create_ruleset", "memfd_secret"};
  std::vector<std::pair<std::string, int>> calls;
  for (const char* name : kProbed) calls.emplace_back(name, Resolve(name));
  ExpectClean(Run([&calls](ChildChecks& c) {
    for (const auto& [name, nr] : calls)
      c.Errno(name, ::syscall(nr, -1, -1, -1, -1, -1, -1), ENOSYS);
    // A well-formed clone3, as glibc issues it: refused, so glibc falls back to clone.
    std::uint64_t clone_args[11] = {};
    clone_args[4] = SIGCHLD;  // exit_signal
    const long rc = ::syscall(SYS_clone3, clone_args, sizeof(clone_args));
    if (rc == 0) ::_exit(0);
    c.Errno("clone3(exit_signal=SIGCHLD)", rc, ENOSYS);
    char params[120] = {};  // struct io_uring_params
    c.Errno("io_uring_setup(1, params)", ::syscall(SYS_io_uring_setup, 1, params), ENOSYS);
  }));
}

TEST_F(ShippedPolicy, CloneRefusesNamespacesButForksAndThreadsWork) {
  ExpectClean(Run([](ChildChecks& c) {
    for (unsigned long flag : {CLONE_NEWUSER, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWUTS,
                               CLONE_NEWIPC, CLONE_NEWCGROUP}) {
      const long rc = ::syscall(SYS_clone, flag | SIGCHLD, 0, 0, 0, 0);
      if (rc == 0) ::_exit(0);
      c.Errno("clone(namespace flag " + std::to_string(flag) + ")", rc, EPERM);
    }
    const pid_t child = ::fork();
    if (child == 0) ::_exit(7);
    int status = 0;
    c.True("fork: child exits 7", child > 0 && ::waitpid(child, &status, 0) == child &&
                                      WIFEXITED(status) && WEXITSTATUS(status) == 7);
    const pid_t vchild = ::vfork();
    if (vchild == 0) ::_exit(8);
    c.True("vfork: child exits 8", vchild > 0 && ::waitpid(vchild, &status, 0) == vchild &&
                                       WIFEXITED(status) && WEXITSTATUS(status) == 8);
    int value = 0;
    std::thread thread([&value] { value = 42; });  // clone3 -> ENOSYS -> clone
    thread.join();
    c.True("a thread ran", value == 42);
  }));
}

TEST_F(ShippedPolicy, SocketFamiliesAreAllowListed) {
  ExpectClean(Run([](ChildChecks& c) {
    c.Errno("socket(AF_PACKET)", ::socket(AF_PACKET, SOCK_RAW, 0), EAFNOSUPPORT);
    c.Errno("socket(AF_NETLINK)", ::socket(AF_NETLINK, SOCK_RAW, 0), EAFNOSUPPORT);
    c.Errno("socket(AF_VSOCK)", ::socket(AF_VSOCK, SOCK_STREAM, 0), EAFNOSUPPORT);
    c.Errno("socket(AF_ALG)", ::socket(AF_ALG, SOCK_SEQPACKET, 0), EAFNOSUPPORT);
    c.Errno("socket(AF_INET | 1 << 32)",
            ::syscall(SYS_socket, AF_INET | (1UL << 32), SOCK_STREAM, 0), EAFNOSUPPORT);
    int pair[2];
    c.Errno("socketpair(AF_PACKET)", ::socketpair(AF_PACKET, SOCK_RAW, 0, pair), EAFNOSUPPORT);
    c.Ok("socket(AF_INET)", ::socket(AF_INET, SOCK_STREAM, 0));
    c.Ok("socket(AF_INET, SOCK_DGRAM)", ::socket(AF_INET, SOCK_DGRAM, 0));
    c.Ok("socket(AF_UNIX)", ::socket(AF_UNIX, SOCK_STREAM, 0));
    c.Ok("socketpair(AF_UNIX)", ::socketpair(AF_UNIX, SOCK_STREAM, 0, pair));
  }));
}

// A20: flushing every filesystem of the host is refused; a file's own flush works.
TEST_F(ShippedPolicy, SyncAndSyncfsAreRefusedFsyncWorks) {
  ExpectClean(Run([](ChildChecks& c) {
    c.Errno("sync", ::syscall(SYS_sync), EPERM);
    const int fd = ::open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    c.Errno("syncfs", ::syscall(SYS_syncfs, fd), EPERM);
    char path[] = "/tmp/seccomp-fsync-XXXXXX";
    const int file = ::mkstemp(path);
    c.Ok("write", ::write(file, "x", 1));
    c.Ok("fsync", ::fsync(file));
    c.Ok("fdatasync", ::fdatasync(file));
    ::unlink(path);
  }));
}

// A21: IP sockets are TCP and UDP; DCCP and SCTP never reach the kernel's module loader.
TEST_F(ShippedPolicy, IpSocketsAreTcpAndUdpOnly) {
  ExpectClean(Run([](ChildChecks& c) {
    c.Ok("socket(AF_INET, SOCK_STREAM, IPPROTO_TCP)",
         ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP));
    c.Ok("socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK, IPPROTO_UDP)",
         ::socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK, IPPROTO_UDP));
    c.Errno("socket(AF_INET, SOCK_DCCP, IPPROTO_DCCP)", ::socket(AF_INET, 6, IPPROTO_DCCP),
            EPROTONOSUPPORT);
    c.Errno("socket(AF_INET, SOCK_STREAM, IPPROTO_SCTP)",
            ::socket(AF_INET, SOCK_STREAM, IPPROTO_SCTP), EPROTONOSUPPORT);
    c.Errno("socket(AF_INET6, SOCK_SEQPACKET, IPPROTO_SCTP)",
            ::socket(AF_INET6, SOCK_SEQPACKET, IPPROTO_SCTP), EPROTONOSUPPORT);
    c.Errno("socket(AF_INET, SOCK_DGRAM, IPPROTO_UDPLITE)",
            ::socket(AF_INET, SOCK_DGRAM, IPPROTO_UDPLITE), EAFNOSUPPORT);
    c.Errno("socket(AF_INET, SOCK_RAW, IPPROTO_ICMP)", ::socket(AF_INET, SOCK_RAW, IPPROTO_ICMP),
            EAFNOSUPPORT);
    int pair[2];
    c.Errno("socketpair(AF_INET)", ::socketpair(AF_INET, SOCK_STREAM, IPPROTO_SCTP, pair),
            EOPNOTSUPP);
  }));
}

// A22: ioctl is an allow-list; what a file does not support is ENOTTY, as the kernel says.
TEST_F(ShippedPolicy, IoctlIsAnAllowList) {
  ExpectClean(Run([](ChildChecks& c) {
    char path[] = "/tmp/seccomp-ioctl-XXXXXX";
    const int file = ::mkstemp(path);
    int flags = 0;
    c.Errno("ioctl(FS_IOC_GETFLAGS)", ::ioctl(file, 0x80086601UL, &flags), ENOTTY);
    c.Errno("ioctl(FICLONE)", ::ioctl(file, 0x40049409UL, file), ENOTTY);
    c.Ok("ioctl(FIOCLEX)", ::ioctl(file, FIOCLEX));
    c.Ok("ioctl(FIONCLEX)", ::ioctl(file, FIONCLEX));
    c.Errno("ioctl(TCGETS) on a file", ::ioctl(file, TCGETS, &flags), ENOTTY);
    const int sock = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int on = 1;
    c.Ok("ioctl(FIONBIO)", ::ioctl(sock, FIONBIO, &on));
    ::unlink(path);
  }));
}

TEST_F(ShippedPolicy, TerminalInjectionIoctlsAreRefused) {
  ExpectClean(Run([](ChildChecks& c) {
    char byte = 'x';
    c.Errno("ioctl(TIOCSTI)", ::syscall(SYS_ioctl, 0, TIOCSTI, &byte), EPERM);
    c.Errno("ioctl(TIOCSTI | 1 << 32)",
            ::syscall(SYS_ioctl, 0, static_cast<unsigned long>(TIOCSTI) | (1UL << 32), &byte),
            EPERM);
    c.Errno("ioctl(TIOCLINUX)", ::syscall(SYS_ioctl, 0, TIOCLINUX, &byte), EPERM);
    c.Errno("ioctl(TIOCLINUX | 0xffffffff << 32)",
            ::syscall(SYS_ioctl, 0, static_cast<unsigned long>(TIOCLINUX) | (0xffffffffUL << 32),
                      &byte),
            EPERM);
    int fds[2];
    c.Ok("pipe", ::pipe(fds));
    c.Ok("write", ::write(fds[1], "abc", 3));
    int available = 0;
    c.Ok("ioctl(FIONREAD)", ::ioctl(fds[0], FIONREAD, &available));
    c.True("FIONREAD counts 3 bytes", available == 3);
  }));
}

// A17: libffi closures and JITs need anonymous executable memory; code written there runs.
TEST_F(ShippedPolicy, AnonymousExecutableMemoryIsAllowed) {
  ExpectClean(Run([](ChildChecks& c) {
    void* rwx = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    c.Ok("mmap(RWX, anonymous)", rwx == MAP_FAILED ? -1 : 0);
    if (rwx != MAP_FAILED) {
      // mov eax, 42; ret
      constexpr unsigned char kCode[] = {0xb8, 0x2a, 0x00, 0x00, 0x00, 0xc3};
      std::memcpy(rwx, kCode, sizeof(kCode));
      int (*fn)() = nullptr;
      std::memcpy(&fn, &rwx, sizeof(fn));
      c.True("generated code runs", fn() == 42);
    }
    c.Ok("mmap(RX, anonymous shared)", ::mmap(nullptr, 4096, PROT_READ | PROT_EXEC,
                                              MAP_SHARED | MAP_ANONYMOUS, -1, 0) == MAP_FAILED
                                           ? -1
                                           : 0);
  }));
}

// The program for the running kernel and the one for 6.1, each in the kernel: a plain memfd is
// refused where the seal exists and allowed where it is compiled as absent.
TEST_F(ShippedPolicy, MemfdCreateFollowsTheKernelFeatures) {
  const bool sealable = KernelFeatures::Probe().memfd_noexec_seal;
  ExpectClean(Run([sealable](ChildChecks& c) {
    const int plain = ::memfd_create("probe", MFD_CLOEXEC);
    if (sealable) {
      c.Errno("memfd_create(plain), 6.3+ program", plain, EPERM);
      c.Ok("memfd_create(MFD_NOEXEC_SEAL), 6.3+ program",
           ::memfd_create("probe", MFD_CLOEXEC | 0x8));
    } else {
      c.Ok("memfd_create(plain), kernel without the seal", plain);
    }
  }));
  ExpectClean(Run(
      [](ChildChecks& c) {
        c.Ok("memfd_create(plain), 6.1 program", ::memfd_create("probe", MFD_CLOEXEC));
      },
      program_61_));
}

TEST_F(ShippedPolicy, PersonalityPrctlSeccompAndExecveat) {
  const std::string program = *program_;
  ExpectClean(Run([&program](ChildChecks& c) {
    c.Ok("personality(query)", ::personality(0xffffffff));
    c.Ok("personality(query, upper bits set)",
         ::syscall(SYS_personality, 0xffffffffUL | (1UL << 32)));
    c.Ok("personality(PER_LINUX)", ::personality(PER_LINUX));
    c.Errno("personality(READ_IMPLIES_EXEC)", ::personality(READ_IMPLIES_EXEC), EPERM);
    c.Errno("personality(ADDR_NO_RANDOMIZE)", ::personality(ADDR_NO_RANDOMIZE), EPERM);
    c.Errno("prctl(PR_SET_SECCOMP)", ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT, 0, 0, 0), EPERM);
    c.Ok("prctl(PR_SET_NAME)", ::prctl(PR_SET_NAME, "checks", 0, 0, 0));
    sock_fprog prog{};
    prog.len = static_cast<unsigned short>(program.size() / sizeof(sock_filter));
    prog.filter = reinterpret_cast<sock_filter*>(const_cast<char*>(program.data()));
    c.Errno(
        "seccomp(SET_MODE_FILTER, NEW_LISTENER)",
        ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog),
        EPERM);
    char* const argv[] = {const_cast<char*>("true"), nullptr};
    char* const envp[] = {nullptr};
    c.Errno("execveat(/bin/true)", ::syscall(SYS_execveat, AT_FDCWD, "/bin/true", argv, envp, 0),
            EPERM);
  }));
}

TEST_F(ShippedPolicy, MknodMakesFifosOnly) {
  const std::filesystem::path dir = std::filesystem::temp_directory_path() /
                                    ("seccomp_policy_test." + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string fifo = (dir / "fifo").string();
  const std::string device = (dir / "device").string();
  ExpectClean(Run([&](ChildChecks& c) {
    c.Ok("mkfifo", ::mkfifo(fifo.c_str(), 0600));
    c.Errno("mknodat(S_IFCHR)", ::mknodat(AT_FDCWD, device.c_str(), S_IFCHR | 0600, makedev(1, 3)),
            EPERM);
    c.Errno("mknod(S_IFBLK)", ::syscall(SYS_mknod, device.c_str(), S_IFBLK | 0600, makedev(7, 0)),
            EPERM);
  }));
  std::filesystem::remove_all(dir);
}

TEST_F(ShippedPolicy, UnlistedSyscallGoesToTheListener) {
  const Outcome o = RunFiltered(*program_, [](int) {
    ::syscall(SYS_kcmp, ::getpid(), ::getpid(), 0 /* KCMP_FILE */, 0, 0);
    return 0;  // not reached: the parent kills the child while the call waits for an answer
  });
  ASSERT_TRUE(o.notification) << Describe(o);
  EXPECT_EQ(o.notification->nr, SYS_kcmp);
  EXPECT_EQ(o.notification->arch, static_cast<std::uint32_t>(AUDIT_ARCH_X86_64));
  EXPECT_EQ(SeccompPolicy::SyscallName(o.notification->nr, o.notification->arch), "kcmp");
  EXPECT_EQ(o.signal, SIGKILL) << Describe(o);
}

// getpid through the i386 table (number 20 there).
long I386Getpid() {
  long result = 20;
  __asm__ volatile("int $0x80" : "+a"(result) : : "memory", "r8", "r9", "r10", "r11");
  return result;
}

TEST_F(ShippedPolicy, I386SyscallsKillTheProcess) {
  // Positive control: without a filter, `int $0x80` reaches the i386 table (needs
  // CONFIG_IA32_EMULATION and no ia32_emulation=0).
  const pid_t control = ::fork();
  if (control == 0) ::_exit(I386Getpid() == ::getpid() ? 0 : 1);
  int status = 0;
  ::waitpid(control, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    GTEST_SKIP() << "int $0x80 does not reach the i386 syscall table on this kernel";

  const Outcome o = RunFiltered(*program_, [](int fd) {
    const long pid = I386Getpid();
    const std::string text = "int $0x80 getpid returned " + std::to_string(pid) + "\n";
    [[maybe_unused]] ssize_t n = ::write(fd, text.data(), text.size());
    return 0;
  });
  EXPECT_FALSE(o.notification) << Describe(o);
  EXPECT_EQ(o.signal, SIGSYS) << Describe(o);
}

TEST_F(ShippedPolicy, X32SyscallsKillTheProcess) {
  // Whether or not the kernel has CONFIG_X86_X32_ABI, the filter sees nr | 0x40000000 first.
  const Outcome o = RunFiltered(*program_, [](int fd) {
    const long pid = ::syscall(SYS_getpid | 0x40000000);
    const std::string text = "x32 getpid returned " + std::to_string(pid) + "\n";
    [[maybe_unused]] ssize_t n = ::write(fd, text.data(), text.size());
    return 0;
  });
  EXPECT_FALSE(o.notification) << Describe(o);
  EXPECT_EQ(o.signal, SIGSYS) << Describe(o);
}

// ---- Python workloads under the filter -------------------------------------------------------

constexpr char kPython[] = "/usr/bin/python3";

bool PythonCanImport(const std::string& modules) {
  const std::string command = std::string(kPython) + " -c 'import " + modules + "' >/dev/null 2>&1";
  return std::system(command.c_str()) == 0;
}

// Runs `/usr/bin/python3 -c script` under the policy with a clean environment.
Outcome RunPython(const std::string& program, const std::string& script) {
  return RunFiltered(
      program,
      [&script](int fd) {
        const int null = ::open("/dev/null", O_RDONLY);
        ::dup2(null, 0);
        ::dup2(fd, 1);
        ::dup2(fd, 2);
        const char* argv[] = {kPython, "-c", script.c_str(), nullptr};
        const char* envp[] = {"PATH=/usr/bin:/bin", "LANG=C.UTF-8", "HOME=/tmp", nullptr};
        ::execve(kPython, const_cast<char* const*>(argv), const_cast<char* const*>(envp));
        return 127;
      },
      std::chrono::seconds(180));
}

void ExpectPythonClean(const Outcome& o, const std::string& expected_output) {
  ASSERT_FALSE(o.notification) << "the policy does not allow "
                               << SeccompPolicy::SyscallName(o.notification->nr,
                                                             o.notification->arch)
                               << "\n"
                               << Describe(o);
  EXPECT_TRUE(o.exited && o.exit_code == 0) << Describe(o);
  EXPECT_NE(o.output.find(expected_output), std::string::npos) << Describe(o);
}

TEST_F(ShippedPolicy, PythonNumpyPandasMultiprocessing) {
  if (::access(kPython, X_OK) != 0 || !PythonCanImport("numpy, pandas"))
    GTEST_SKIP() << kPython << " with numpy and pandas is not installed";
  ExpectPythonClean(RunPython(*program_,
                              "import numpy, pandas; import multiprocessing as m; "
                              "print(m.Pool(2).map(abs, [-1,-2]))"),
                    "[1, 2]");
}

TEST_F(ShippedPolicy, PythonStandardLibraryWorkload) {
  if (::access(kPython, X_OK) != 0) GTEST_SKIP() << kPython << " is not installed";
  const char* script = R"(
import asyncio, concurrent.futures, ctypes, os, signal, socket, subprocess, sys, tempfile, threading
import time, uuid, json, logging, decimal, hashlib, shutil
# ctypes, including a callback (libffi trampolines must not need anonymous W+X memory)
libc = ctypes.CDLL(None)
assert libc.getpid() == os.getpid()
callback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int)(lambda v: v + 1)
assert callback(41) == 42
# threads, processes, subprocess
with concurrent.futures.ThreadPoolExecutor(4) as ex: assert sum(ex.map(abs, [-1, -2, -3])) == 6
with concurrent.futures.ProcessPoolExecutor(2) as ex: assert list(ex.map(abs, [-4])) == [4]
assert subprocess.run(['/bin/echo', 'hi'], capture_output=True, check=True).stdout == b'hi\n'
# files, fifos, shared memory, sockets, signals, timers, asyncio
with tempfile.TemporaryDirectory() as d:
    p = os.path.join(d, 'f')
    with open(p, 'w') as f: f.write('x' * 10000)
    shutil.copy2(p, p + '.copy'); os.rename(p + '.copy', p + '.moved'); os.mkfifo(os.path.join(d, 'fifo'))
    os.symlink(p, p + '.link'); os.chmod(p, 0o600); os.utime(p); os.stat(p); os.listdir(d)
from multiprocessing import shared_memory, Lock, Queue
shm = shared_memory.SharedMemory(create=True, size=1024); shm.buf[0] = 1; shm.close(); shm.unlink()
q = Queue(); q.put(1); assert q.get() == 1
import multiprocessing
for method in ('spawn', 'forkserver'):
    with multiprocessing.get_context(method).Pool(1) as pool: assert pool.map(abs, [-5]) == [5]
a, b = socket.socketpair(); a.send(b'x'); assert b.recv(1) == b'x'
srv = socket.socket(); srv.bind(('127.0.0.1', 0)); srv.listen()
signal.signal(signal.SIGALRM, lambda *a: None); signal.setitimer(signal.ITIMER_REAL, 0.01); time.sleep(0.05)
asyncio.run(asyncio.sleep(0.01))
os.urandom(16); uuid.uuid4(); hashlib.sha256(b'x').hexdigest(); os.cpu_count(); os.sched_getaffinity(0)
print('stdlib ok')
)";
  ExpectPythonClean(RunPython(*program_, script), "stdlib ok");
}

TEST_F(ShippedPolicy, PythonScientificStack) {
  if (::access(kPython, X_OK) != 0 ||
      !PythonCanImport("numpy, pandas, scipy, sklearn, statsmodels"))
    GTEST_SKIP() << "numpy, pandas, scipy, scikit-learn and statsmodels are not all installed";
  const char* script = R"(
import numpy as np, pandas as pd, scipy, sklearn, statsmodels.api as sm
from scipy import optimize, stats
from sklearn.linear_model import LinearRegression
from sklearn.ensemble import RandomForestClassifier
a = np.random.default_rng(1).random((400, 400)); assert (a @ a).shape == (400, 400)
np.linalg.svd(a[:50, :50])
df = pd.DataFrame({'x': np.arange(200), 'y': np.random.default_rng(2).random(200)})
df['g'] = df.x % 3; df.groupby('g').y.mean(); df.to_json(); pd.read_csv(__import__('io').StringIO(df.to_csv()))
LinearRegression().fit(df[['x']], df.y)
RandomForestClassifier(n_estimators=5, n_jobs=2).fit(df[['x', 'y']], df.g)
sm.OLS(df.y, sm.add_constant(df.x)).fit().summary()
optimize.minimize(lambda v: (v[0] - 1) ** 2, [0.0]); stats.norm.cdf(0.5)
from joblib import Parallel, delayed
assert Parallel(n_jobs=2)(delayed(abs)(-i) for i in range(4)) == [0, 1, 2, 3]
from sklearn.model_selection import cross_val_score
cross_val_score(LinearRegression(), df[['x']], df.y, cv=3, n_jobs=2)
print('science ok')
)";
  ExpectPythonClean(RunPython(*program_, script), "science ok");
}

}  // namespace
}  // namespace sandboxd
