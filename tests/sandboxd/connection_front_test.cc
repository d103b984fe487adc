// Issue 23, items 3-5: the daemon's connection front, through a real daemon.
//  - A frame that has begun must arrive whole within client_frame_timeout_ms; a connection idle
//    between frames is left alone.
//  - Connections are capped per peer uid and in all: a flood of half-frames from one uid is
//    refused OVERLOADED past its cap while another uid is still served, and its log lines are
//    rate-limited.
//  - At the descriptor limit (a daemon under a low RLIMIT_NOFILE) the daemon refuses waiting
//    connections OVERLOADED with its reserve descriptor and backs off instead of spinning, and
//    serves again once the flood ends.
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "daemon_fixture.h"
#include "process_tree.h"
#include "sandboxd.pb.h"
#include "sandboxd/framing.h"

namespace sandboxd::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// One raw connection to the daemon and what it was told on it.
struct Connection {
  explicit Connection(UniqueFd socket) : fd(std::move(socket)) {}
  UniqueFd fd;
  FrameReader reader;
  std::vector<proto::DaemonMessage> heard;
  bool closed = false;  // by the daemon (EOF or reset)
};

UniqueFd ConnectTo(const std::string& path) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path.c_str());
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return {};
  return fd;
}

std::string ListImagesPayload() {
  proto::ClientMessage message;
  message.set_version(proto::PROTOCOL_VERSION_1);
  message.mutable_list_images();
  std::string payload;
  message.SerializeToString(&payload);
  return payload;
}

// The 4-byte prefix of a 100-byte frame and 20 of its bytes: a frame begun and never finished.
bool SendHalfFrame(int fd) {
  char bytes[24] = {100, 0, 0, 0};
  return ::send(fd, bytes, sizeof(bytes), MSG_NOSIGNAL) == static_cast<ssize_t>(sizeof(bytes));
}

// Reads whatever the daemon sends on `connections`, waiting with poll, until `done()` holds or
// `limit` passes; returns done().
template <typename Done>
bool ListenUntil(std::vector<Connection*> connections, Done done, Clock::duration limit) {
  const auto until = Clock::now() + limit;
  std::vector<pollfd> polled;
  std::vector<Connection*> open;
  while (!done()) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
    if (left.count() <= 0) return done();
    polled.clear();
    open.clear();
    for (Connection* c : connections) {
      if (c->closed) continue;
      polled.push_back({c->fd.get(), POLLIN, 0});
      open.push_back(c);
    }
    const int ready = ::poll(polled.data(), polled.size(), static_cast<int>(left.count()));
    if (ready < 0 && errno != EINTR) return done();
    for (std::size_t i = 0; ready > 0 && i < polled.size(); ++i) {
      if (polled[i].revents == 0) continue;
      Connection& c = *open[i];
      auto state = c.reader.ReadFrom(c.fd.get());  // readable: this read does not wait
      while (c.reader.HasFrame()) {
        proto::DaemonMessage message;
        if (message.ParseFromString(c.reader.Next().payload)) c.heard.push_back(message);
      }
      if (!state.ok() || *state == FrameReader::ReadState::kClosed) c.closed = true;
    }
  }
  return true;
}

bool ListenUntil(Connection& c, const std::function<bool()>& done, Clock::duration limit) {
  return ListenUntil(std::vector<Connection*>{&c}, done, limit);
}

std::vector<Connection*> Pointers(std::vector<Connection>& connections) {
  std::vector<Connection*> out;
  for (auto& c : connections) out.push_back(&c);
  return out;
}

bool IsOverloaded(const proto::DaemonMessage& m, const std::string& cause) {
  return m.has_error() && m.error().code() == proto::OVERLOADED && m.error().retry_after_ms() > 0 &&
         m.error().message().find(cause) != std::string::npos;
}

Request PlainRequest() {
  Request request;
  request.output_schema = "typeof(x:long)";
  request.script = "result = pd.DataFrame({'x': [7]})\n";
  return request;
}

// Runs PlainRequest as a well-behaved client does: an OVERLOADED answer is retried after its
// retry_after_ms, until `limit`. The last outcome.
ExecuteOutcome RunPolitely(const DaemonProcess& daemon, Clock::duration limit) {
  const auto until = Clock::now() + limit;
  for (;;) {
    ClientOptions options;
    options.reply_timeout = 120s;
    auto client = Client::Connect(daemon.socket_path(), options);
    if (!client.ok()) {
      Error error;
      error.code = client.status().code();
      error.message = client.status().message();
      return error;
    }
    auto outcome = client->Execute(PlainRequest());
    if (outcome.ok() || outcome.error().code != ErrorCode::kOverloaded || Clock::now() >= until)
      return outcome;
    std::this_thread::sleep_for(std::chrono::milliseconds(outcome.error().retry_after_ms));
  }
}

// The daemon's CPU time (all its threads, user and system), in clock ticks.
long CpuTicks(pid_t pid) {
  const std::string stat = ReadWholeFile("/proc/" + std::to_string(pid) + "/stat");
  const auto paren = stat.rfind(')');
  if (paren == std::string::npos) return -1;
  std::istringstream fields(stat.substr(paren + 2));
  std::string field;
  long utime = 0, stime = 0;
  // Fields 3 (state) to 13 come first; utime and stime are fields 14 and 15.
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14) utime = std::stol(field);
    if (i == 15) stime = std::stol(field);
  }
  return utime + stime;
}

int CountLines(const std::string& text, const std::string& needle) {
  int n = 0;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) n += line.find(needle) != std::string::npos;
  return n;
}

TEST(ConnectionFront, AHalfSentFrameIsClosedAfterTheFrameTimeoutAndAnIdleConnectionIsNot) {
  DaemonOptions options;
  options.config_json = R"({"client_frame_timeout_ms": 1000})";
  options.extra_args = {"--warm-sandboxes", "0"};
  auto daemon = DaemonProcess::Start(options);
  ASSERT_NE(daemon, nullptr) << "sandboxd did not start";

  // A connection that sent a whole frame, got its answer, and now waits between frames.
  Connection idle(daemon->RawConnect());
  ASSERT_TRUE(SendFrame(idle.fd.get(), ListImagesPayload()).ok());
  ASSERT_TRUE(ListenUntil(
      idle, [&] { return !idle.heard.empty(); }, 60s));
  ASSERT_TRUE(idle.heard[0].has_images());

  Connection half(daemon->RawConnect());
  ASSERT_TRUE(SendHalfFrame(half.fd.get()));
  const auto sent = Clock::now();
  ASSERT_TRUE(ListenUntil(
      half, [&] { return half.closed; }, 120s))
      << "a connection that sent half a frame is still open";
  // Not before the bound (the clock starts when the daemon reads the first byte, after `sent`).
  EXPECT_GE(Clock::now() - sent, 1000ms);
  ASSERT_EQ(half.heard.size(), 1U);
  EXPECT_EQ(half.heard[0].error().code(), proto::BAD_REQUEST);
  EXPECT_NE(half.heard[0].error().message().find("client_frame_timeout_ms"), std::string::npos)
      << half.heard[0].error().message();

  // The idle connection has waited longer than a frame timeout (since before `half` began) and
  // is still served.
  EXPECT_FALSE(idle.closed);
  ASSERT_TRUE(SendFrame(idle.fd.get(), ListImagesPayload()).ok());
  ASSERT_TRUE(ListenUntil(
      idle, [&] { return idle.heard.size() == 2 || idle.closed; }, 60s));
  ASSERT_EQ(idle.heard.size(), 2U) << "the idle connection was closed";
  EXPECT_TRUE(idle.heard[1].has_images());
}

// What the flooding child saw, written to its report pipe.
struct FloodReport {
  int refused_per_uid = 0;  // answered OVERLOADED (max_connections_per_uid), then closed
  int closed = 0;
  int other = 0;  // anything else heard
};

constexpr uid_t kFloodUid = 65534;  // nobody

// In a child running as kFloodUid: opens `count` connections, each sending half a frame, listens
// until `expect_closed` of them are closed (or a minute passes), reports, and holds the rest
// open until `hold_fd` reaches EOF.
[[noreturn]] void Flood(const std::string& socket, int count, int expect_closed, int report_fd,
                        int hold_fd) {
  if (::setgroups(0, nullptr) != 0 || ::setgid(kFloodUid) != 0 || ::setuid(kFloodUid) != 0)
    ::_exit(3);
  std::vector<Connection> flood;
  flood.reserve(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) {
    flood.emplace_back(ConnectTo(socket));
    if (!flood.back().fd.valid()) ::_exit(4);
    // A connection past the cap may be refused and closed before this (EPIPE): what it was told
    // is read below all the same.
    (void)SendHalfFrame(flood.back().fd.get());
  }
  FloodReport report;
  ListenUntil(
      Pointers(flood),
      [&] {
        int closed = 0;
        for (const auto& c : flood) closed += c.closed;
        return closed >= expect_closed;
      },
      60s);
  for (const auto& c : flood) {
    report.closed += c.closed;
    for (const auto& m : c.heard) {
      if (IsOverloaded(m, "max_connections_per_uid"))
        ++report.refused_per_uid;
      else
        ++report.other;
    }
  }
  if (::write(report_fd, &report, sizeof(report)) != sizeof(report)) ::_exit(5);
  char byte;
  while (::read(hold_fd, &byte, 1) > 0) {
  }
  ::_exit(0);
}

TEST(ConnectionFront, AFloodOfHalfFramesPastTheCapsLeavesOtherClientsServed) {
  if (!DefaultImageBuilt()) GTEST_FAIL() << "image python3.11 is not built in " << ImagesDir();
  // The flooding uid must reach the socket: a folder it may traverse.
  char tmpl[] = "/tmp/sandboxd-test-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  ASSERT_EQ(::chmod(dir.c_str(), 0711), 0);
  constexpr int kPerUid = 16;
  constexpr int kTotal = 24;
  constexpr int kFlood = 100;
  DaemonOptions options;
  options.dir = dir;
  options.log_path = dir + "/daemon.log";
  options.config_json = R"({"client_frame_timeout_ms": 600000, "max_connections": )" +
                        std::to_string(kTotal) + R"(, "max_connections_per_uid": )" +
                        std::to_string(kPerUid) + R"(, "allowed_uids": [)" +
                        std::to_string(kFloodUid) + "]}";
  options.extra_args = {"--warm-sandboxes", "0", "--max-sandboxes", "2"};
  const auto started = Clock::now();
  auto daemon = DaemonProcess::Start(options);
  ASSERT_NE(daemon, nullptr) << "sandboxd did not start";

  int report_pipe[2], hold_pipe[2];
  ASSERT_EQ(::pipe2(report_pipe, O_CLOEXEC), 0);
  ASSERT_EQ(::pipe2(hold_pipe, O_CLOEXEC), 0);
  const pid_t test_pid = ::getpid();
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    DieWithParent(test_pid);
    ::close(report_pipe[0]);
    ::close(hold_pipe[1]);
    Flood(daemon->socket_path(), kFlood, kFlood - kPerUid, report_pipe[1], hold_pipe[0]);
  }
  ::close(report_pipe[1]);
  ::close(hold_pipe[0]);
  UniqueFd report_fd(report_pipe[0]), hold(hold_pipe[1]);

  FloodReport report;
  pollfd p{report_fd.get(), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 180'000), 1) << "the flooding child did not report";
  ASSERT_EQ(::read(report_fd.get(), &report, sizeof(report)), static_cast<ssize_t>(sizeof(report)))
      << "the flooding child failed: " << [&] {
           int status = 0;
           ::waitpid(child, &status, 0);
           return status;
         }();
  // Past its cap every connection of the flooding uid was told OVERLOADED with retry_after_ms,
  // and closed; the first kPerUid are held (their frames have 10 minutes to arrive).
  EXPECT_EQ(report.refused_per_uid, kFlood - kPerUid);
  EXPECT_EQ(report.closed, kFlood - kPerUid);
  EXPECT_EQ(report.other, 0);

  // Another uid (root) is served meanwhile.
  ClientOptions client_options;
  client_options.reply_timeout = 120s;
  auto client = Client::Connect(daemon->socket_path(), client_options);
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  auto outcome = client->Execute(PlainRequest());
  ASSERT_TRUE(outcome.ok()) << outcome.error().ToString();
  EXPECT_EQ(outcome.result().table.view().GetLong(0, 0), 7);

  // The total cap: with the flood's kPerUid and this client's connection, kTotal - kPerUid - 1
  // more fill the node; the one after them is refused.
  std::vector<Connection> fillers;
  for (int i = 0; i < kTotal - kPerUid - 1; ++i) {
    fillers.emplace_back(daemon->RawConnect());
    ASSERT_TRUE(SendFrame(fillers.back().fd.get(), ListImagesPayload()).ok());
  }
  ASSERT_TRUE(ListenUntil(
      Pointers(fillers),
      [&] {
        for (const auto& f : fillers)
          if (f.heard.empty() && !f.closed) return false;
        return true;
      },
      60s));
  for (const auto& f : fillers) {
    ASSERT_EQ(f.heard.size(), 1U);
    EXPECT_TRUE(f.heard[0].has_images()) << f.heard[0].DebugString();
  }
  Connection one_too_many(daemon->RawConnect());
  ASSERT_TRUE(ListenUntil(
      one_too_many, [&] { return one_too_many.closed; }, 60s));
  ASSERT_EQ(one_too_many.heard.size(), 1U);
  EXPECT_TRUE(IsOverloaded(one_too_many.heard[0], "(max_connections)"))
      << one_too_many.heard[0].DebugString();

  // The flood's log lines were rate-limited: a burst of 20, then one a second.
  const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  const std::string log = ReadWholeFile(options.log_path);
  const int flood_lines = CountLines(log, "(uid 65534)");
  EXPECT_GE(flood_lines, 1) << log;
  EXPECT_LE(flood_lines, 20 + static_cast<int>(seconds) + 1) << log;

  hold.reset();  // the child lets its connections go and exits
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  daemon.reset();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

TEST(ConnectionFront, AtTheDescriptorLimitTheDaemonRefusesPolitelyDoesNotSpinAndRecovers) {
  if (!DefaultImageBuilt()) GTEST_FAIL() << "image python3.11 is not built in " << ImagesDir();
  // ~14 descriptors at rest: some 110 connections reach the limit (a sandbox's setup needs the
  // descriptors below 128 free). The flood is far larger, so connections keep waiting in the
  // backlog while the daemon is at its limit.
  constexpr rlim_t kDaemonFiles = 128;
  constexpr int kFlood = 1500;
  DaemonOptions options;
  options.max_open_files = kDaemonFiles;
  char log_tmpl[] = "/tmp/sandboxd-emfile-log-XXXXXX";
  const int log_fd = ::mkstemp(log_tmpl);
  ASSERT_GE(log_fd, 0);
  ::close(log_fd);
  options.log_path = log_tmpl;
  options.log_level = "info";
  options.extra_args = {"--warm-sandboxes", "0", "--max-sandboxes", "2"};
  auto daemon = DaemonProcess::Start(options);
  ASSERT_NE(daemon, nullptr) << "sandboxd did not start";

  // Connections that send nothing: idle, so no timeout ends them; only the test does.
  std::vector<Connection> flood;
  flood.reserve(kFlood);
  for (int i = 0; i < kFlood; ++i) {
    Connection connection(daemon->RawConnect());
    // A full backlog refuses more (a slow daemon, under ASan say): connections wait already.
    if (!connection.fd.valid()) break;
    flood.push_back(std::move(connection));
  }
  ASSERT_GE(flood.size(), 2 * kDaemonFiles) << "too few connections to reach the limit";
  auto refused_at_limit = [&] {
    int n = 0;
    for (const auto& c : flood)
      for (const auto& m : c.heard) n += IsOverloaded(m, "descriptor limit");
    return n;
  };
  // The daemon reached its limit: waiting connections are told OVERLOADED, not left hanging.
  ASSERT_TRUE(ListenUntil(
      Pointers(flood), [&] { return refused_at_limit() > 0; }, 120s))
      << ReadWholeFile(options.log_path);

  // A window at the limit, with connections still waiting: the daemon's CPU time over it, as a
  // share of the window. Spinning on accept it was 0.44 (this test against the old loop, on a
  // loaded 2-core machine; ~1.2 CPUs in the issue); backing off, 0.003.
  const long ticks_before = CpuTicks(daemon->pid());
  const auto window_start = Clock::now();
  ListenUntil(
      Pointers(flood), [] { return false; }, 3s);
  const long ticks_after = CpuTicks(daemon->pid());
  const double window = std::chrono::duration<double>(Clock::now() - window_start).count();
  const double cpu_share = static_cast<double>(ticks_after - ticks_before) /
                           static_cast<double>(::sysconf(_SC_CLK_TCK)) / window;
  std::printf("daemon CPU at its descriptor limit: %.3f of a CPU over %.1f s\n", cpu_share, window);
  EXPECT_LT(cpu_share, 0.1) << "the daemon used " << cpu_share << " of a CPU at its limit";
  int still_open = 0;
  for (const auto& c : flood) still_open += !c.closed;
  EXPECT_GT(still_open, 0);
  EXPECT_GT(refused_at_limit(), 0);
  ASSERT_TRUE(daemon->alive());

  // The flood ends; a well-behaved client (retrying after retry_after_ms) is served again.
  flood.clear();
  auto outcome = RunPolitely(*daemon, 120s);
  ASSERT_TRUE(outcome.ok()) << outcome.error().ToString() << "\n"
                            << ReadWholeFile(options.log_path);
  EXPECT_EQ(outcome.result().table.view().GetLong(0, 0), 7);
  daemon.reset();
  ::unlink(log_tmpl);
}

}  // namespace
}  // namespace sandboxd::testing
