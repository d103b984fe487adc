// Issue 8, item 3: clients that do not read their answers. Each one used to hold an io thread for
// 30 s in select() (8 of them froze a 4-thread daemon past its watchdog), and one that read late
// got part of a frame and then silence. Now answers wait in a bounded per-session queue and a
// session whose answers make no progress for client_write_timeout_ms is closed, alone.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <future>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "daemon_fixture.h"
#include "sandboxd.pb.h"
#include "sandboxd/framing.h"

namespace sandboxd::testing {
namespace {

using std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr int kStuckClients = 8;

// A raw client that asks for an answer carrying ~1 MB of stdout (under the node's default
// max_log_bytes of 1 MiB) and then does not read it.
UniqueFd SendLoudRequest(const DaemonProcess& daemon, const std::string& id) {
  UniqueFd raw = daemon.RawConnect();
  EXPECT_TRUE(raw.valid());
  proto::ClientMessage message;
  message.set_version(proto::PROTOCOL_VERSION_1);
  auto* execute = message.mutable_execute();
  execute->set_request_id(id);
  execute->set_output_schema("typeof(x:long)");
  execute->set_script("print('x' * 1000000)\nresult = pd.DataFrame({'x': [1]})\n");
  std::string payload;
  message.SerializeToString(&payload);
  EXPECT_TRUE(SendFrame(raw.get(), payload).ok());
  return raw;
}

std::size_t Unread(int fd) {
  int n = 0;
  return ::ioctl(fd, FIONREAD, &n) == 0 ? static_cast<std::size_t>(n) : 0;
}

// Whether the daemon has closed its end (reported whatever is still unread).
bool PeerClosed(int fd) {
  pollfd p{fd, POLLRDHUP, 0};
  return ::poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP)) != 0;
}

// Waits (bounded, so a broken daemon fails the test instead of hanging it) until `done`.
template <typename F>
bool WaitFor(F done, std::chrono::seconds limit = 120s) {
  for (auto end = steady_clock::now() + limit; steady_clock::now() < end;) {
    if (done()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return done();
}

// The daemon has started the answer of every stuck client and could not finish it: each
// socket holds some of its frame, and the rest waits in the daemon.
void WaitUntilAnswersAreStuck(const std::vector<UniqueFd>& clients) {
  for (const auto& c : clients)
    ASSERT_TRUE(WaitFor([&] { return Unread(c.get()) > 0; })) << "no answer started";
}

Request PlainRequest() {
  Request request;
  request.output_schema = "typeof(x:long)";
  request.script = "result = pd.DataFrame({'x': [7]})\n";
  return request;
}

std::unique_ptr<DaemonProcess> StartDaemon(std::uint64_t write_timeout_ms,
                                           const std::string& log_path = "") {
  DaemonOptions options;
  options.config_json = R"({"client_write_timeout_ms": )" + std::to_string(write_timeout_ms) +
                        R"(, "io_threads": 4})";
  options.log_path = log_path;
  return DaemonProcess::Start(std::move(options));
}

class SlowReaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!DefaultImageBuilt())
      GTEST_FAIL() << "image python3.11 is not built in " << ImagesDir()
                   << "; run runtime_images/build-image python3.11";
  }
};

TEST_F(SlowReaderTest, EightClientsThatNeverReadLeaveAPlainRequestUnaffected) {
  // A write timeout far beyond the test, so the 8 stay stuck throughout.
  auto daemon = StartDaemon(600'000);
  ASSERT_NE(daemon, nullptr);
  std::vector<UniqueFd> stuck;
  for (int i = 0; i < kStuckClients; ++i)
    stuck.push_back(SendLoudRequest(*daemon, "loud-" + std::to_string(i)));
  WaitUntilAnswersAreStuck(stuck);

  // A 9th client. Before the fix this waited for the io threads' 30 s selects (52 s measured):
  // longer than the unit's WatchdogSec=30, which is the bound here (not a speed test: a plain
  // request takes well under a second).
  auto plain = std::async(std::launch::async, [&] {
    Client client = daemon->Connect();
    return client.Execute(PlainRequest());
  });
  ASSERT_EQ(plain.wait_for(25s), std::future_status::ready)
      << "a plain request waited behind clients that do not read";
  auto outcome = plain.get();
  ASSERT_TRUE(outcome.ok()) << outcome.error().ToString();
  EXPECT_EQ(outcome.result().table.view().GetLong(0, 0), 7);

  // The stuck sessions were not simply dropped: they are open, their answers still queued.
  for (const auto& c : stuck) EXPECT_FALSE(PeerClosed(c.get()));

  // A client that starts reading late (within the timeout) gets its whole answer.
  timeval tv{30, 0};
  ASSERT_EQ(::setsockopt(stuck[0].get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
  FrameReader reader;
  auto frame = reader.ReadOne(stuck[0].get());
  ASSERT_TRUE(frame.ok()) << frame.status().ToString();
  proto::DaemonMessage reply;
  ASSERT_TRUE(reply.ParseFromString(frame->payload));
  EXPECT_EQ(reply.request_id(), "loud-0");
  ASSERT_TRUE(reply.has_result()) << reply.ShortDebugString().substr(0, 300);
  EXPECT_GT(frame->payload.size(), 900'000U);
  EXPECT_TRUE(daemon->alive());
}

TEST_F(SlowReaderTest, StuckSessionsAreClosedAfterTheWriteTimeoutAndOnlyThey) {
  char tmpl[] = "/tmp/sandboxd-slow-reader-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  const std::string log = dir + "/daemon.log";
  auto daemon = StartDaemon(1000, log);
  ASSERT_NE(daemon, nullptr);
  // A neighbour that reads its answers and stays connected throughout.
  Client neighbour = daemon->Connect();
  ASSERT_TRUE(neighbour.Execute(PlainRequest()).ok());

  std::vector<UniqueFd> stuck;
  for (int i = 0; i < kStuckClients; ++i)
    stuck.push_back(SendLoudRequest(*daemon, "loud-" + std::to_string(i)));
  WaitUntilAnswersAreStuck(stuck);
  ASSERT_TRUE(WaitFor([&] {
    return std::all_of(stuck.begin(), stuck.end(),
                       [](const UniqueFd& c) { return PeerClosed(c.get()); });
  })) << "a stuck session stayed open";

  // Reading late: part of the frame, then EOF; never a half frame and then silence.
  for (const auto& c : stuck) {
    timeval tv{30, 0};
    ASSERT_EQ(::setsockopt(c.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
    std::vector<char> buffer(1 << 16);
    ssize_t n;
    while ((n = ::recv(c.get(), buffer.data(), buffer.size(), 0)) > 0) {
    }
    EXPECT_EQ(n, 0) << "no EOF after the partial frame: " << std::strerror(errno);
  }

  // The daemon and the neighbour's connection are unaffected.
  EXPECT_TRUE(daemon->alive());
  auto outcome = neighbour.Execute(PlainRequest());
  ASSERT_TRUE(outcome.ok()) << outcome.error().ToString();
  EXPECT_EQ(outcome.result().table.view().GetLong(0, 0), 7);

  // Each closing is logged as a warning naming the peer's pid.
  std::stringstream text;
  text << std::ifstream(log).rdbuf();
  EXPECT_NE(text.str().find("closing the connection of pid " + std::to_string(::getpid())),
            std::string::npos)
      << text.str();
  daemon.reset();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

TEST_F(SlowReaderTest, ASlowReaderThatKeepsReadingGetsItsWholeAnswer) {
  auto daemon = StartDaemon(2500);
  ASSERT_NE(daemon, nullptr);
  UniqueFd c = SendLoudRequest(*daemon, "slow");
  // 24 KB every 100 ms: the ~1 MB answer takes about 4 s, longer than the write timeout, but
  // the reads keep letting the daemon write more (every ~1 s: a Unix socket is writable again
  // once a quarter of its buffer is free), so the session is never idle for the timeout.
  std::string bytes;
  std::vector<char> buffer(24 << 10);
  auto end = steady_clock::now() + 120s;
  while (steady_clock::now() < end) {
    const ssize_t n = ::recv(c.get(), buffer.data(), buffer.size(), MSG_DONTWAIT);
    if (n == 0) break;
    if (n > 0) bytes.append(buffer.data(), static_cast<std::size_t>(n));
    if (bytes.size() >= 4) {
      std::uint32_t length = 0;
      for (int i = 0; i < 4; ++i)
        length |= static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])) << (8 * i);
      if (bytes.size() >= 4 + std::size_t{length}) break;
    }
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_GE(bytes.size(), 4U);
  std::uint32_t length = 0;
  for (int i = 0; i < 4; ++i)
    length |= static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])) << (8 * i);
  ASSERT_EQ(bytes.size(), 4 + std::size_t{length}) << "the daemon hung up on a reader";
  proto::DaemonMessage reply;
  ASSERT_TRUE(reply.ParseFromString(bytes.substr(4)));
  ASSERT_TRUE(reply.has_result());
  EXPECT_GT(length, 900'000U);
  EXPECT_FALSE(PeerClosed(c.get()));
}

}  // namespace
}  // namespace sandboxd::testing
