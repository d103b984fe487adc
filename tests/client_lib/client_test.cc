// The client against a fake daemon on a socketpair or a listening Unix socket: what goes on the
// wire, inline and memfd tables both ways, error replies, and transport failures.
#include "sandboxd/client.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "sandboxd.pb.h"
#include "sandboxd/framing.h"
#include "sandboxd/memfd.h"
#include "table_test_util.h"

namespace sandboxd {
namespace {

namespace pb = ::sandboxd::proto;

// A lost answer fails a test with UNAVAILABLE instead of hanging it until CTest's TIMEOUT.
constexpr std::chrono::milliseconds kReplyTimeout = std::chrono::seconds(60);

ClientOptions TestOptions() {
  ClientOptions options;
  options.reply_timeout = kReplyTimeout;
  return options;
}

// What the fake daemon answers: a message and descriptors to pass with it.
struct Answer {
  pb::DaemonMessage message;
  std::vector<UniqueFd> fds;
  bool close_instead = false;  // hang up without replying
};
using Handler = std::function<Answer(const pb::ClientMessage&, std::vector<UniqueFd>&)>;

// Serves `count` requests on one connected socket, then closes it.
void Serve(UniqueFd socket, int count, const Handler& handler) {
  FrameReader reader;
  for (int i = 0; i < count; ++i) {
    auto frame = reader.ReadOne(socket.get());
    if (!frame.ok()) {
      ADD_FAILURE() << "fake daemon: " << frame.status().ToString();
      return;
    }
    pb::ClientMessage request;
    if (!request.ParseFromString(frame->payload)) {
      ADD_FAILURE() << "fake daemon: not a ClientMessage";
      return;
    }
    Answer answer = handler(request, frame->fds);
    if (answer.close_instead) return;
    std::string payload;
    answer.message.SerializeToString(&payload);
    std::vector<int> fds;
    for (const UniqueFd& fd : answer.fds) fds.push_back(fd.get());
    if (Status st = SendFrame(socket.get(), payload, fds); !st.ok()) {
      ADD_FAILURE() << "fake daemon: " << st.ToString();
      return;
    }
  }
}

// A Client on one end of a socketpair and a thread serving the other.
class FakeDaemon {
 public:
  explicit FakeDaemon(Handler handler, int count = 1, ClientOptions options = TestOptions()) {
    if (options.reply_timeout.count() == 0) options.reply_timeout = kReplyTimeout;
    int sv[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    client_ = std::make_unique<Client>(Client::FromSocket(UniqueFd(sv[0]), options));
    thread_ = std::thread(
        [fd = sv[1], count, handler = std::move(handler)] { Serve(UniqueFd(fd), count, handler); });
  }
  ~FakeDaemon() {
    client_.reset();  // closes the client end, so a waiting server sees EOF
    thread_.join();
  }
  Client& client() { return *client_; }

 private:
  std::unique_ptr<Client> client_;
  std::thread thread_;
};

pb::DaemonMessage Reply(const pb::ClientMessage& request) {
  pb::DaemonMessage reply;
  reply.set_version(pb::PROTOCOL_VERSION_1);
  if (request.has_execute()) reply.set_request_id(request.execute().request_id());
  return reply;
}

Answer ResultWithInlineTable(const pb::ClientMessage& request, const std::string& table) {
  Answer answer;
  answer.message = Reply(request);
  answer.message.mutable_result()->mutable_table()->set_inline_data(table);
  answer.message.mutable_result()->mutable_table()->set_size(table.size());
  return answer;
}

std::string ReadFd(int fd) {
  struct stat st {};
  EXPECT_EQ(::fstat(fd, &st), 0);
  std::string out(static_cast<std::size_t>(st.st_size), '\0');
  EXPECT_EQ(::pread(fd, out.data(), out.size(), 0), static_cast<ssize_t>(out.size()));
  return out;
}

Table BigTable(int rows) {
  TableBuilder builder({{"x", ColumnType::kLong}, {"s", ColumnType::kString}});
  for (int i = 0; i < rows; ++i) {
    builder.AppendLong(0, i);
    builder.AppendText(1, "row " + std::to_string(i));
  }
  return *builder.FinishTable();
}

TEST(ClientTest, ExecuteSendsTheRequestAndReturnsTheResult) {
  const std::string result_table = test::AllTypesTable();
  Request request;
  request.output_schema = "typeof(*, fx:real)";
  request.script = "result = df";
  request.script_parameters_json = R"({"gain": 100})";
  request.external_artifacts = {{"faker.zip", "https://example.invalid/faker.zip?sig=x"}};
  request.spill_to_disk = true;
  request.image = "python3.11";
  request.memory_mb = 512;
  request.timeout_ms = 30000;
  request.max_result_bytes = 1 << 20;
  request.debug = true;
  request.input = BigTable(3);
  const std::string input_bytes = request.input.buffer();

  FakeDaemon daemon([&](const pb::ClientMessage& m, std::vector<UniqueFd>& fds) {
    EXPECT_EQ(m.version(), pb::PROTOCOL_VERSION_1);
    EXPECT_TRUE(m.has_execute());
    const pb::ExecuteRequest& e = m.execute();
    EXPECT_EQ(e.request_id().rfind("req-", 0), 0U) << e.request_id();
    EXPECT_EQ(e.output_schema(), "typeof(*, fx:real)");
    EXPECT_EQ(e.script(), "result = df");
    EXPECT_EQ(e.script_parameters_json(), R"({"gain": 100})");
    EXPECT_EQ(e.external_artifacts().at("faker.zip"), "https://example.invalid/faker.zip?sig=x");
    EXPECT_TRUE(e.spill_to_disk());
    EXPECT_EQ(e.image(), "python3.11");
    EXPECT_EQ(e.limits().memory_mb(), 512U);
    EXPECT_EQ(e.limits().timeout_ms(), 30000U);
    EXPECT_EQ(e.limits().max_result_bytes(), 1U << 20);
    EXPECT_TRUE(e.debug());
    EXPECT_TRUE(fds.empty());
    EXPECT_EQ(e.input().data_case(), pb::TablePayload::kInlineData);
    EXPECT_EQ(e.input().inline_data(), input_bytes);
    EXPECT_EQ(e.input().size(), input_bytes.size());

    Answer answer = ResultWithInlineTable(m, result_table);
    pb::ExecuteResult* r = answer.message.mutable_result();
    pb::LogRecord* out = r->add_logs();
    out->set_stream(pb::LogRecord::STDOUT);
    out->set_message("hello\n");
    pb::LogRecord* log = r->add_logs();
    log->set_stream(pb::LogRecord::LOGGING);
    log->set_time(1700000000.5);
    log->set_level("INFO");
    log->set_logger("root");
    log->set_message("started");
    log->set_file("script.py");
    log->set_line(3);
    r->set_logs_truncated(true);
    r->mutable_stats()->set_run_seconds(1.25);
    r->mutable_stats()->set_peak_memory_bytes(123456);
    r->mutable_stats()->set_bytes_out(result_table.size());
    r->set_debug_script("import pandas as pd\n");
    return answer;
  });

  ExecuteOutcome outcome = daemon.client().Execute(request);
  ASSERT_TRUE(outcome.ok()) << outcome.error().ToString();
  const Result& result = outcome.result();
  EXPECT_EQ(result.request_id.rfind("req-", 0), 0U);
  EXPECT_EQ(result.table.buffer(), result_table);
  EXPECT_EQ(result.table.view().GetLong(2, 0), 9223372036854775707LL);
  ASSERT_EQ(result.logs.size(), 2U);
  EXPECT_EQ(result.logs[0].stream, LogRecord::Stream::kStdout);
  EXPECT_EQ(result.logs[0].message, "hello\n");
  EXPECT_EQ(result.logs[1].stream, LogRecord::Stream::kLogging);
  EXPECT_EQ(result.logs[1].level, "INFO");
  EXPECT_EQ(result.logs[1].logger, "root");
  EXPECT_EQ(result.logs[1].file, "script.py");
  EXPECT_EQ(result.logs[1].line, 3U);
  EXPECT_EQ(result.logs[1].time, 1700000000.5);
  EXPECT_TRUE(result.logs_truncated);
  EXPECT_EQ(result.stats.run_seconds, 1.25);
  EXPECT_EQ(result.stats.peak_memory_bytes, 123456U);
  EXPECT_EQ(result.debug_script, "import pandas as pd\n");
  EXPECT_TRUE(outcome.status().ok());
}

TEST(ClientTest, DefaultRequestSendsEmptyTableAndEmptyParams) {
  FakeDaemon daemon([](const pb::ClientMessage& m, std::vector<UniqueFd>&) {
    const pb::ExecuteRequest& e = m.execute();
    EXPECT_EQ(e.request_id(), "my-id");
    EXPECT_EQ(e.script_parameters_json(), "{}");
    auto table = Table::FromBuffer(e.input().inline_data());
    EXPECT_TRUE(table.ok());
    if (table.ok()) {
      EXPECT_EQ(table->column_count(), 0U);
      EXPECT_EQ(table->row_count(), 0U);
    }
    return ResultWithInlineTable(m, Table().buffer());
  });
  Request request;
  request.request_id = "my-id";
  request.output_schema = "typeof(x:long)";
  ExecuteOutcome outcome = daemon.client().Execute(request);
  ASSERT_TRUE(outcome.ok()) << outcome.error().ToString();
  EXPECT_EQ(outcome.result().request_id, "my-id");
  EXPECT_EQ(outcome.result().table.column_count(), 0U);
}

TEST(ClientTest, LargeTablesTravelInSealedMemfdsBothWays) {
  Request request;
  request.output_schema = "typeof(*)";
  request.input = BigTable(10000);
  ASSERT_GT(request.input.buffer().size(), kMaxInlineTableBytes);
  const std::string input_bytes = request.input.buffer();
  const std::string result_bytes = BigTable(20000).buffer();

  FakeDaemon daemon([&](const pb::ClientMessage& m, std::vector<UniqueFd>& fds) {
    const pb::TablePayload& input = m.execute().input();
    EXPECT_EQ(input.data_case(), pb::TablePayload::kMemfdIndex);
    EXPECT_EQ(input.memfd_index(), 0U);
    EXPECT_EQ(input.size(), input_bytes.size());
    EXPECT_EQ(fds.size(), 1U);
    if (fds.size() == 1) {
      const int seals = ::fcntl(fds[0].get(), F_GET_SEALS);
      EXPECT_EQ(seals, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL);
      EXPECT_EQ(ReadFd(fds[0].get()), input_bytes);
      EXPECT_EQ(::fcntl(fds[0].get(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    }
    Answer answer;
    answer.message = Reply(m);
    auto memfd = CreateSealedMemfd("result", test::AsBytes(result_bytes));
    EXPECT_TRUE(memfd.ok());
    answer.fds.push_back(std::move(memfd.value()));
    answer.message.mutable_result()->mutable_table()->set_memfd_index(0);
    answer.message.mutable_result()->mutable_table()->set_size(result_bytes.size());
    return answer;
  });
  ExecuteOutcome outcome = daemon.client().Execute(request);
  ASSERT_TRUE(outcome.ok()) << outcome.error().ToString();
  EXPECT_EQ(outcome.result().table.buffer(), result_bytes);
  EXPECT_EQ(outcome.result().table.row_count(), 20000U);
}

TEST(ClientTest, ReadsAnUnsealedResultMemfdWithoutMappingIt) {
  const std::string result_bytes = BigTable(100).buffer();
  FakeDaemon daemon([&](const pb::ClientMessage& m, std::vector<UniqueFd>&) {
    Answer answer;
    answer.message = Reply(m);
    auto memfd = CreateMemfd("result");
    EXPECT_TRUE(memfd.ok());
    EXPECT_EQ(::write(memfd->get(), result_bytes.data(), result_bytes.size()),
              static_cast<ssize_t>(result_bytes.size()));
    // A second, unused descriptor at index 0: the table is at index 1.
    answer.fds.push_back(UniqueFd(::open("/dev/null", O_RDONLY | O_CLOEXEC)));
    answer.fds.push_back(std::move(memfd.value()));
    answer.message.mutable_result()->mutable_table()->set_memfd_index(1);
    answer.message.mutable_result()->mutable_table()->set_size(result_bytes.size());
    return answer;
  });
  ExecuteOutcome outcome = daemon.client().Execute(Request{});
  ASSERT_TRUE(outcome.ok()) << outcome.error().ToString();
  EXPECT_EQ(outcome.result().table.buffer(), result_bytes);
}

TEST(ClientTest, DaemonErrorsCarryCodeRetryHintAndLogs) {
  FakeDaemon daemon([](const pb::ClientMessage& m, std::vector<UniqueFd>&) {
    Answer answer;
    answer.message = Reply(m);
    pb::Error* error = answer.message.mutable_error();
    error->set_code(pb::OVERLOADED);
    error->set_message("queue full");
    error->set_retry_after_ms(250);
    pb::LogRecord* log = error->add_logs();
    log->set_stream(pb::LogRecord::STDERR);
    log->set_message("Traceback ...");
    error->mutable_stats()->set_queue_seconds(0.5);
    return answer;
  });
  ExecuteOutcome outcome = daemon.client().Execute(Request{});
  ASSERT_FALSE(outcome.ok());
  const Error& error = outcome.error();
  EXPECT_EQ(error.code, ErrorCode::kOverloaded);
  EXPECT_EQ(error.message, "queue full");
  EXPECT_EQ(error.retry_after_ms, 250U);
  ASSERT_EQ(error.logs.size(), 1U);
  EXPECT_EQ(error.logs[0].stream, LogRecord::Stream::kStderr);
  EXPECT_EQ(error.stats.queue_seconds, 0.5);
  EXPECT_FALSE(error.local);
  EXPECT_EQ(error.ToString(), "OVERLOADED: queue full");
  EXPECT_EQ(outcome.status().code(), ErrorCode::kOverloaded);
}

TEST(ClientTest, EveryDaemonErrorCodeMapsToItsOwn) {
  for (int code = 1; code <= 12; ++code) {
    FakeDaemon daemon([code](const pb::ClientMessage& m, std::vector<UniqueFd>&) {
      Answer answer;
      answer.message = Reply(m);
      answer.message.mutable_error()->set_code(static_cast<pb::ErrorCode>(code));
      return answer;
    });
    ExecuteOutcome outcome = daemon.client().Execute(Request{});
    ASSERT_FALSE(outcome.ok());
    EXPECT_EQ(outcome.error().code, static_cast<ErrorCode>(code));
  }
  FakeDaemon unknown([](const pb::ClientMessage& m, std::vector<UniqueFd>&) {
    Answer answer;
    answer.message = Reply(m);
    answer.message.mutable_error()->set_code(static_cast<pb::ErrorCode>(77));
    answer.message.mutable_error()->set_message("odd");
    return answer;
  });
  ExecuteOutcome outcome = unknown.client().Execute(Request{});
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.error().code, ErrorCode::kInternal);
  EXPECT_NE(outcome.error().message.find("77"), std::string::npos);
  // UNAVAILABLE is the client's own verdict on the transport; from the wire it is unknown.
  FakeDaemon unavailable([](const pb::ClientMessage& m, std::vector<UniqueFd>&) {
    Answer answer;
    answer.message = Reply(m);
    answer.message.mutable_error()->set_code(pb::UNAVAILABLE);
    return answer;
  });
  outcome = unavailable.client().Execute(Request{});
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.error().code, ErrorCode::kInternal);
  EXPECT_FALSE(outcome.error().local);
  EXPECT_NE(outcome.error().message.find("13"), std::string::npos);
}

// Replies the client must refuse, each with a message saying why.
TEST(ClientTest, RefusesBadReplies) {
  struct Case {
    const char* name;
    std::function<Answer(const pb::ClientMessage&)> answer;
    const char* says;
  };
  const std::string good = test::AllTypesTable();
  std::string hostile = good;
  test::PutU64(hostile, 24, hostile.size() + 1);  // the size field disagrees with the buffer
  const std::vector<Case> cases = {
      {"invalid table",
       [&](const pb::ClientMessage& m) { return ResultWithInlineTable(m, hostile); },
       "fails validation"},
      {"not a table",
       [&](const pb::ClientMessage& m) { return ResultWithInlineTable(m, "garbage"); },
       "fails validation"},
      {"inline size mismatch",
       [&](const pb::ClientMessage& m) {
         Answer a = ResultWithInlineTable(m, good);
         a.message.mutable_result()->mutable_table()->set_size(good.size() + 8);
         return a;
       },
       "says"},
      {"memfd index out of range",
       [&](const pb::ClientMessage& m) {
         Answer a;
         a.message = Reply(m);
         a.message.mutable_result()->mutable_table()->set_memfd_index(0);
         return a;
       },
       "names descriptor 0"},
      {"memfd size mismatch",
       [&](const pb::ClientMessage& m) {
         Answer a;
         a.message = Reply(m);
         a.fds.push_back(std::move(CreateSealedMemfd("t", test::AsBytes(good)).value()));
         a.message.mutable_result()->mutable_table()->set_memfd_index(0);
         a.message.mutable_result()->mutable_table()->set_size(good.size() - 8);
         return a;
       },
       "bytes but the reply says"},
      {"not a memfd",
       [&](const pb::ClientMessage& m) {
         Answer a;
         a.message = Reply(m);
         int pipe_fds[2];
         EXPECT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
         a.fds.emplace_back(pipe_fds[0]);
         ::close(pipe_fds[1]);
         a.message.mutable_result()->mutable_table()->set_memfd_index(0);
         return a;
       },
       "not a memfd"},
      {"wrong version",
       [&](const pb::ClientMessage& m) {
         Answer a = ResultWithInlineTable(m, good);
         a.message.set_version(pb::PROTOCOL_VERSION_UNSPECIFIED);
         return a;
       },
       "protocol version 0"},
      {"someone else's request",
       [&](const pb::ClientMessage& m) {
         Answer a = ResultWithInlineTable(m, good);
         a.message.set_request_id("other");
         return a;
       },
       "answered request 'other'"},
      {"wrong body",
       [&](const pb::ClientMessage& m) {
         Answer a;
         a.message = Reply(m);
         a.message.mutable_images();
         return a;
       },
       "something else"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    FakeDaemon daemon(
        [&c](const pb::ClientMessage& m, std::vector<UniqueFd>&) { return c.answer(m); });
    ExecuteOutcome outcome = daemon.client().Execute(Request{});
    ASSERT_FALSE(outcome.ok());
    EXPECT_TRUE(outcome.error().local);
    EXPECT_EQ(outcome.error().code, ErrorCode::kInternal);
    EXPECT_NE(outcome.error().message.find(c.says), std::string::npos) << outcome.error().message;
  }
}

TEST(ClientTest, ResultLimitsApply) {
  const std::string good = test::AllTypesTable();
  ClientOptions options;
  options.result_limits.max_rows = 2;
  FakeDaemon daemon([&](const pb::ClientMessage& m,
                        std::vector<UniqueFd>&) { return ResultWithInlineTable(m, good); },
                    1, options);
  ExecuteOutcome outcome = daemon.client().Execute(Request{});
  ASSERT_FALSE(outcome.ok());
  EXPECT_NE(outcome.error().message.find("row count"), std::string::npos);
}

TEST(ClientTest, ReplyTimeout) {
  std::atomic<bool> release{false};
  ClientOptions options;
  options.reply_timeout = std::chrono::milliseconds(100);
  FakeDaemon daemon(
      [&](const pb::ClientMessage&, std::vector<UniqueFd>&) {
        while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(5));
        Answer a;
        a.close_instead = true;
        return a;
      },
      1, options);
  const auto start = std::chrono::steady_clock::now();
  ExecuteOutcome outcome = daemon.client().Execute(Request{});
  const auto waited = std::chrono::steady_clock::now() - start;
  release = true;
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.error().code, ErrorCode::kUnavailable);
  EXPECT_TRUE(outcome.error().local);
  EXPECT_NE(outcome.error().message.find("no reply from sandboxd within 100 ms"), std::string::npos)
      << outcome.error().message;
  EXPECT_NE(outcome.error().message.find("it was sent and may have run"), std::string::npos)
      << outcome.error().message;
  EXPECT_GE(waited, std::chrono::milliseconds(100));
  EXPECT_LT(waited, std::chrono::seconds(5));
  // The connection is gone, and a Client made from a socket cannot reopen it.
  ExecuteOutcome again = daemon.client().Execute(Request{});
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(again.error().message.find("closed"), std::string::npos) << again.error().message;
  EXPECT_NE(again.error().message.find("not sent, so it may be retried"), std::string::npos)
      << again.error().message;
}

TEST(ClientTest, ListImagesAndClearCache) {
  FakeDaemon daemon(
      [](const pb::ClientMessage& m, std::vector<UniqueFd>&) {
        EXPECT_EQ(m.version(), pb::PROTOCOL_VERSION_1);
        Answer a;
        a.message = Reply(m);
        if (m.has_list_images()) {
          pb::ImageList* list = a.message.mutable_images();
          list->set_default_image("python3.11");
          pb::ImageInfo* info = list->add_images();
          info->set_name("python3.11");
          info->set_manifest_sha256("abc123");
          info->set_package_count(42);
        } else if (m.has_clear_cache()) {
          EXPECT_EQ(m.clear_cache().urls_size(), 2);
          a.message.mutable_cache_cleared()->set_entries_removed(
              static_cast<std::uint64_t>(m.clear_cache().urls_size()));
        } else {
          a.message.mutable_error()->set_code(pb::BAD_REQUEST);
        }
        return a;
      },
      2);
  auto images = daemon.client().ListImages();
  ASSERT_TRUE(images.ok()) << images.status().ToString();
  EXPECT_EQ(images->default_image, "python3.11");
  ASSERT_EQ(images->images.size(), 1U);
  EXPECT_EQ(images->images[0].name, "python3.11");
  EXPECT_EQ(images->images[0].manifest_sha256, "abc123");
  EXPECT_EQ(images->images[0].package_count, 42U);
  auto removed = daemon.client().ClearCache({"https://a.invalid/x", "https://a.invalid/y"});
  ASSERT_TRUE(removed.ok()) << removed.status().ToString();
  EXPECT_EQ(*removed, 2U);
}

TEST(ClientTest, ListImagesAndClearCacheErrors) {
  FakeDaemon daemon(
      [](const pb::ClientMessage& m, std::vector<UniqueFd>&) {
        Answer a;
        a.message = Reply(m);
        a.message.mutable_error()->set_code(pb::INTERNAL);
        a.message.mutable_error()->set_message("cache dir unreadable");
        return a;
      },
      2);
  auto images = daemon.client().ListImages();
  ASSERT_FALSE(images.ok());
  EXPECT_EQ(images.status().ToString(), "INTERNAL: cache dir unreadable");
  EXPECT_FALSE(daemon.client().ClearCache().ok());
}

// A listening socket in a fresh directory, served by a thread.
class ListeningDaemon {
 public:
  // `per_connection` requests are served on each of `connections` connections, in turn.
  ListeningDaemon(int connections, int per_connection, Handler handler) {
    char dir[] = "/tmp/sandboxd-client-test-XXXXXX";
    EXPECT_NE(::mkdtemp(dir), nullptr);
    dir_ = dir;
    path_ = dir_ + "/sandboxd.sock";
    listener_ = UniqueFd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path_.c_str(), sizeof(address.sun_path) - 1);
    EXPECT_EQ(::bind(listener_.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
    EXPECT_EQ(::listen(listener_.get(), 8), 0);
    thread_ = std::thread([this, connections, per_connection, handler = std::move(handler)] {
      for (int i = 0; i < connections; ++i) {
        UniqueFd connection(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
        if (!connection) return;
        Serve(std::move(connection), per_connection, handler);  // closes it
        ++closed_;
      }
    });
  }
  ~ListeningDaemon() {
    thread_.join();
    ::unlink(path_.c_str());
    ::rmdir(dir_.c_str());
  }
  const std::string& path() const { return path_; }
  // Waits up to a minute until `count` connections have been served and closed.
  bool WaitClosed(int count) const {
    const auto until = std::chrono::steady_clock::now() + std::chrono::minutes(1);
    while (closed_ < count && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return closed_ >= count;
  }

 private:
  std::string dir_;
  std::string path_;
  UniqueFd listener_;
  std::atomic<int> closed_{0};
  std::thread thread_;
};

TEST(ClientConnectTest, MissingSocketIsAClearError) {
  auto client = Client::Connect("/nonexistent/sandboxd.sock");
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.status().code(), ErrorCode::kUnavailable);
  EXPECT_NE(client.status().message().find("/nonexistent/sandboxd.sock"), std::string::npos);
  EXPECT_NE(client.status().message().find("No such file"), std::string::npos)
      << client.status().message();
  EXPECT_NE(client.status().message().find("not sent, so it may be retried"), std::string::npos)
      << client.status().message();
  EXPECT_EQ(client.status().ToString().rfind("UNAVAILABLE: cannot connect", 0), 0U);
  // No socket can have these paths: the caller's mistake, which a retry would repeat.
  EXPECT_EQ(Client::Connect("").status().code(), ErrorCode::kBadRequest);
  EXPECT_EQ(Client::Connect(std::string(200, 'x')).status().code(), ErrorCode::kBadRequest);
}

TEST(ClientConnectTest, ReconnectsWhenTheDaemonClosedAnIdleConnection) {
  const std::string table = test::AllTypesTable();
  ListeningDaemon daemon(2, 1, [&](const pb::ClientMessage& m, std::vector<UniqueFd>&) {
    return ResultWithInlineTable(m, table);
  });
  auto client = Client::Connect(daemon.path(), TestOptions());
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  EXPECT_EQ(client->socket_path(), daemon.path());
  ExecuteOutcome first = client->Execute(Request{});
  ASSERT_TRUE(first.ok()) << first.error().ToString();
  // The daemon hangs up after each request: the client's idle connection is closed.
  ASSERT_TRUE(daemon.WaitClosed(1)) << "the fake daemon did not close the first connection";
  ExecuteOutcome second = client->Execute(Request{});
  ASSERT_TRUE(second.ok()) << second.error().ToString();
  EXPECT_EQ(second.result().table.buffer(), table);
}

TEST(ClientConnectTest, ExecutePerNodeRunsOnEachEndpoint) {
  auto handler_for = [](long marker) {
    return [marker](const pb::ClientMessage& m, std::vector<UniqueFd>&) {
      TableBuilder builder({{"node", ColumnType::kLong}});
      builder.AppendLong(0, marker);
      return ResultWithInlineTable(m, *builder.Finish());
    };
  };
  ListeningDaemon a(1, 1, handler_for(1));
  ListeningDaemon b(1, 1, handler_for(2));
  const std::vector<std::string> endpoints = {a.path(), b.path()};
  std::vector<Request> requests(2);
  std::vector<ExecuteOutcome> outcomes = ExecutePerNode(endpoints, requests, TestOptions());
  ASSERT_EQ(outcomes.size(), 2U);
  ASSERT_TRUE(outcomes[0].ok()) << outcomes[0].error().ToString();
  ASSERT_TRUE(outcomes[1].ok()) << outcomes[1].error().ToString();
  EXPECT_EQ(outcomes[0].result().table.view().GetLong(0, 0), 1);
  EXPECT_EQ(outcomes[1].result().table.view().GetLong(0, 0), 2);
  std::vector<Table> parts;
  for (ExecuteOutcome& outcome : outcomes) parts.push_back(std::move(outcome.result().table));
  auto joined = ConcatTables(parts);
  ASSERT_TRUE(joined.ok());
  EXPECT_EQ(joined->row_count(), 2U);

  const std::vector<std::string> one = {"/nonexistent.sock"};
  std::vector<ExecuteOutcome> mismatched = ExecutePerNode(one, requests);
  ASSERT_EQ(mismatched.size(), 2U);
  EXPECT_EQ(mismatched[0].error().code, ErrorCode::kBadRequest);
  std::vector<ExecuteOutcome> unreachable = ExecutePerNode(one, std::span(requests).first(1));
  ASSERT_EQ(unreachable.size(), 1U);
  EXPECT_TRUE(unreachable[0].error().local);
  EXPECT_EQ(unreachable[0].error().code, ErrorCode::kUnavailable);
}

}  // namespace
}  // namespace sandboxd
