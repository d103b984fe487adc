// spill_bench: one big input (default 128M rows of x:long, y:real = 2 GiB) through a running
// daemon with a small aggregate as the result, from a memfd and with spill_to_disk, each beside
// its anchors measured in the same run:
//   spill_bench --socket S [--rows N] [--memory-mb 4096] [--copy-dir /var/tmp] [--handoff]
// Per request: wall time, the sandbox's peak memory (the result's stats), and the node's Shmem
// and file page cache (/proc/meminfo, sampled every 5 ms: peak and time-average, minus the
// baseline before the request). Anchors: the memfd path for the spill path; writing the client's
// memfd, `cp` of the same bytes to disk and InputSpill alone for the staging cost.
//
// sandboxd::Client keeps its input memfd until the reply arrives, so in "client" rows that
// memfd's shmem is held by the client through every request. --handoff adds rows that speak the
// protocol directly and close the memfd right after sending it, as an engine handing its table
// over would: then what the daemon holds is all that remains.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <bit>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "input_spill.h"
#include "sandboxd.pb.h"
#include "sandboxd/client.h"
#include "sandboxd/framing.h"
#include "sandboxd/memfd.h"

namespace {

using Clock = std::chrono::steady_clock;
double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}
double GiB(double bytes) { return bytes / (1ULL << 30); }

// The SBXT buffer (proto/TABLE_FORMAT.md) of x = 0..n-1 (long) and y = x / 2 (real), written
// directly: TableBuilder's per-cell appends would take longer than the requests measured.
std::string BigInput(std::uint64_t rows) {
  static_assert(std::endian::native == std::endian::little, "SBXT is little-endian");
  constexpr std::uint64_t kHeader = 32, kDirectory = 2 * 64, kNames = 16;
  const std::uint64_t x_at = kHeader + kDirectory + kNames, y_at = x_at + 8 * rows;
  const std::uint64_t total = y_at + 8 * rows;
  std::string buffer(total, '\0');
  auto put = [&](std::uint64_t at, auto value) { std::memcpy(&buffer[at], &value, sizeof(value)); };
  std::memcpy(buffer.data(), "SBXTBL01", 8);
  put(8, rows);
  put(16, std::uint32_t{2});
  put(24, total);
  const struct {
    char name;
    std::uint8_t type;
    std::uint64_t values;
  } columns[2] = {{'x', 3, x_at}, {'y', 4, y_at}};
  for (int c = 0; c < 2; ++c) {
    const std::uint64_t entry = kHeader + 64 * c, name_at = kHeader + kDirectory + 8 * c;
    buffer[name_at] = columns[c].name;
    put(entry, name_at);
    put(entry + 8, std::uint32_t{1});
    put(entry + 12, columns[c].type);
    put(entry + 32, columns[c].values);
    put(entry + 40, 8 * rows);
  }
  auto* x = reinterpret_cast<std::int64_t*>(&buffer[x_at]);
  auto* y = reinterpret_cast<double*>(&buffer[y_at]);
  for (std::uint64_t i = 0; i < rows; ++i) {
    x[i] = static_cast<std::int64_t>(i);
    y[i] = static_cast<double>(i) / 2;
  }
  return buffer;
}

struct Meminfo {
  std::uint64_t shmem = 0, file_cache = 0;  // bytes; file cache = Cached - Shmem
};

Meminfo ReadMeminfo() {
  std::ifstream in("/proc/meminfo");
  std::string key, unit;
  std::uint64_t kib = 0, cached = 0;
  Meminfo m;
  while (in >> key >> kib) {
    std::getline(in, unit);
    if (key == "Shmem:") m.shmem = kib << 10;
    if (key == "Cached:") cached = kib << 10;
  }
  m.file_cache = cached > m.shmem ? cached - m.shmem : 0;
  return m;
}

// Waits (up to 20 s) until Shmem has not moved by more than 16 MiB for a second: the previous
// request's memfds go when its execution is torn down, a little after its answer.
void Settle() {
  std::uint64_t last = ReadMeminfo().shmem;
  for (int i = 0; i < 20; ++i) {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    const std::uint64_t now = ReadMeminfo().shmem;
    if ((now > last ? now - last : last - now) < (16ULL << 20)) return;
    last = now;
  }
}

// Samples /proc/meminfo on its own thread while a request runs.
class Sampler {
 public:
  Sampler() : base_(ReadMeminfo()), thread_([this] { Loop(); }) {}
  void Stop() {
    stop_ = true;
    thread_.join();
  }
  double shmem_peak() const { return Delta(peak_.shmem, base_.shmem); }
  double shmem_mean() const { return samples_ ? shmem_sum_ / samples_ : 0; }
  double cache_peak() const { return Delta(peak_.file_cache, base_.file_cache); }

 private:
  static double Delta(std::uint64_t a, std::uint64_t b) {
    return a > b ? static_cast<double>(a - b) : 0;
  }
  void Loop() {
    while (!stop_) {
      const Meminfo m = ReadMeminfo();
      peak_.shmem = std::max(peak_.shmem, m.shmem);
      peak_.file_cache = std::max(peak_.file_cache, m.file_cache);
      shmem_sum_ += Delta(m.shmem, base_.shmem);
      ++samples_;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  Meminfo base_, peak_;
  double shmem_sum_ = 0;
  std::uint64_t samples_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

struct Run {
  std::string error;  // empty: a result
  double wall = 0;
  double queue = 0, setup = 0, run = 0;
  std::uint64_t peak_memory = 0;
  double shmem_peak = 0, shmem_mean = 0, cache_peak = 0;
};

struct Settings {
  std::string socket;
  std::string schema = "typeof(n:long, sx:long, sy:real)";
  std::string script =
      "result = pd.DataFrame({'n': [len(df)], 'sx': [int(df['x'].sum())], "
      "'sy': [float(df['y'].sum())]})\n";
  std::uint64_t memory_mb = 4096;
};

Run ViaClient(const Settings& s, const std::string& buffer, bool spill) {
  Run r;
  auto client = sandboxd::Client::Connect(s.socket);
  if (!client.ok()) return {client.status().ToString()};
  sandboxd::Request request;
  request.output_schema = s.schema;
  request.script = s.script;
  request.spill_to_disk = spill;
  request.memory_mb = s.memory_mb;
  auto table = sandboxd::Table::FromBuffer(buffer);
  if (!table.ok()) return {table.status().ToString()};
  request.input = std::move(*table);
  Sampler sampler;
  const auto t0 = Clock::now();
  auto outcome = client->Execute(request);
  r.wall = Since(t0);
  sampler.Stop();
  if (!outcome.ok()) return {outcome.error().ToString()};
  const auto& st = outcome.result().stats;
  r.queue = st.queue_seconds;
  r.setup = st.setup_seconds;
  r.run = st.run_seconds;
  r.peak_memory = st.peak_memory_bytes;
  r.shmem_peak = sampler.shmem_peak();
  r.shmem_mean = sampler.shmem_mean();
  r.cache_peak = sampler.cache_peak();
  return r;
}

// The protocol by hand: the memfd is closed as soon as the frame carrying it is sent.
Run ViaHandoff(const Settings& s, const std::string& buffer, bool spill) {
  Run r;
  sandboxd::UniqueFd sock(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", s.socket.c_str());
  if (::connect(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0)
    return {"connect " + s.socket + ": " + std::strerror(errno)};
  sandboxd::proto::ClientMessage message;
  message.set_version(sandboxd::proto::PROTOCOL_VERSION_1);
  auto* execute = message.mutable_execute();
  execute->set_request_id(spill ? "bench-handoff-spill" : "bench-handoff-memfd");
  execute->set_output_schema(s.schema);
  execute->set_script(s.script);
  execute->set_script_parameters_json("{}");
  execute->set_spill_to_disk(spill);
  execute->mutable_limits()->set_memory_mb(s.memory_mb);
  execute->mutable_input()->set_memfd_index(0);
  execute->mutable_input()->set_size(buffer.size());
  std::string payload;
  message.SerializeToString(&payload);

  Sampler sampler;
  const auto t0 = Clock::now();
  {
    auto memfd = sandboxd::CreateSealedMemfd(
        "sandboxd-input", std::as_bytes(std::span(buffer.data(), buffer.size())));
    if (!memfd.ok()) return {memfd.status().ToString()};
    const int fds[] = {memfd->get()};
    if (auto st = sandboxd::SendFrame(sock.get(), payload, fds); !st.ok()) return {st.ToString()};
  }  // the memfd is in flight (SCM_RIGHTS holds it) and then the daemon's alone
  sandboxd::FrameReader reader;
  auto frame = reader.ReadOne(sock.get());
  r.wall = Since(t0);
  sampler.Stop();
  if (!frame.ok()) return {frame.status().ToString()};
  sandboxd::proto::DaemonMessage answer;
  if (!answer.ParseFromString(frame->payload)) return {"unparsable reply"};
  if (answer.has_error()) return {answer.error().message()};
  const auto& st = answer.result().stats();
  r.queue = st.queue_seconds();
  r.setup = st.setup_seconds();
  r.run = st.run_seconds();
  r.peak_memory = st.peak_memory_bytes();
  r.shmem_peak = sampler.shmem_peak();
  r.shmem_mean = sampler.shmem_mean();
  r.cache_peak = sampler.cache_peak();
  return r;
}

void Print(const char* name, const Run& r, const Run* anchor) {
  if (!r.error.empty()) {
    std::printf("%-16s FAILED: %s\n", name, r.error.c_str());
    return;
  }
  std::printf(
      "%-16s wall %6.2f s (queue %.2f setup %.2f run %.2f)  sandbox peak %5.2f GiB  "
      "shmem peak %+5.2f GiB, mean %+5.2f GiB  disk cache peak %+5.2f GiB",
      name, r.wall, r.queue, r.setup, r.run, GiB(static_cast<double>(r.peak_memory)),
      GiB(r.shmem_peak), GiB(r.shmem_mean), GiB(r.cache_peak));
  if (anchor != nullptr && anchor->error.empty())
    std::printf("  | vs memfd: wall %+.2f s, shmem mean %+.2f GiB", r.wall - anchor->wall,
                GiB(r.shmem_mean - anchor->shmem_mean));
  std::printf("\n");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"spill_to_disk benchmark against a running sandboxd"};
  Settings settings;
  settings.socket = "/run/sandboxd/sandboxd.sock";
  std::uint64_t rows = 128ULL << 20;
  std::string copy_dir = "/var/tmp";
  bool handoff = false;
  app.add_option("--socket", settings.socket);
  app.add_option("--rows", rows, "rows of x:long, y:real (16 bytes each)")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1} << 30));
  app.add_option("--memory-mb", settings.memory_mb,
                 "the sandbox's memory limit (the daemon's limits.memory_mb must be as high)");
  app.add_option("--copy-dir", copy_dir, "a folder on disk for the copy anchors");
  app.add_flag("--handoff", handoff, "also run requests whose sender closes its memfd at once");
  CLI11_PARSE(app, argc, argv);

  auto t0 = Clock::now();
  const std::string buffer = BigInput(rows);
  std::printf("input: %llu rows of x:long, y:real = %.2f GiB (built in %.1f s); daemon %s\n",
              static_cast<unsigned long long>(rows), GiB(static_cast<double>(buffer.size())),
              Since(t0), settings.socket.c_str());
  std::printf("script: %s", settings.script.c_str());

  // Anchors for the staging cost: the same bytes into a memfd (what the client does), then from
  // that memfd to a file on disk by `cp`, and by the daemon's own InputSpill.
  t0 = Clock::now();
  auto memfd = sandboxd::CreateSealedMemfd("spill-bench",
                                           std::as_bytes(std::span(buffer.data(), buffer.size())));
  const double memfd_write = Since(t0);
  if (!memfd.ok()) {
    std::fprintf(stderr, "%s\n", memfd.status().ToString().c_str());
    return 1;
  }
  const std::string copy_path = copy_dir + "/spill_bench.copy";
  const std::string cp = "cp /proc/" + std::to_string(::getpid()) + "/fd/" +
                         std::to_string(memfd->get()) + " " + copy_path;
  t0 = Clock::now();
  const int cp_status = std::system(cp.c_str());
  const double cp_seconds = Since(t0);
  ::unlink(copy_path.c_str());
  sandboxd::InputSpill spill(copy_dir + "/spill_bench.spill", buffer.size());
  t0 = Clock::now();
  auto staged = spill.Spill(std::move(*memfd), buffer.size());
  const double stage_seconds = Since(t0);
  staged = sandboxd::Status(sandboxd::ErrorCode::kInternal, "dropped");
  ::rmdir((copy_dir + "/spill_bench.spill").c_str());
  std::printf(
      "anchors: write a memfd %.2f s; cp memfd -> %s %.2f s%s; InputSpill alone %.2f s "
      "(%.2f GB/s)\n",
      memfd_write, copy_dir.c_str(), cp_seconds, cp_status == 0 ? "" : " (cp FAILED)",
      stage_seconds, static_cast<double>(buffer.size()) / 1e9 / stage_seconds);

  Settle();
  const Run memfd_run = ViaClient(settings, buffer, false);
  Print("memfd (client)", memfd_run, nullptr);
  Settle();
  const Run spill_run = ViaClient(settings, buffer, true);
  Print("spill (client)", spill_run, &memfd_run);
  bool ok = memfd_run.error.empty() && spill_run.error.empty();
  if (handoff) {
    Settle();
    const Run memfd_handoff = ViaHandoff(settings, buffer, false);
    Print("memfd (handoff)", memfd_handoff, nullptr);
    Settle();
    const Run spill_handoff = ViaHandoff(settings, buffer, true);
    Print("spill (handoff)", spill_handoff, &memfd_handoff);
    ok = ok && memfd_handoff.error.empty() && spill_handoff.error.empty();
  }
  return ok ? 0 : 1;
}
