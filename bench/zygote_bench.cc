// zygote_bench: issues 9 and 24's figures, each beside its anchor measured in the same run and
// its goal.
//
//   build/bench/zygote_bench [--requests 300] [--images-dir /var/lib/sandboxd/images]
//
// Starts daemons of its own (the built sandboxd, the source tree's runner, a private socket,
// cgroup group and uid range; run as root), and measures from a client linking sandboxdClient,
// with a 10-row table and a fresh sandbox per request:
//   - latency (sequential requests, warm pool of 16): p50 and p99;
//   - throughput at concurrency 2, 8 and 32;
//   - the PSS of 16 ready sandboxes, zygote included;
//   - the first request to an image whose zygote is not up yet (no pool);
//   - 16 small requests at once while two sandboxes burn CPU.
// Anchors: `bwrap --unshare-all --ro-bind IMAGE / /bin/true` (latency, and spawns/s two at a
// time), the fork limit (a Python with pandas imported forking a child that does a tiny
// DataFrame operation and exits, two such Pythons at once, as forks per second: no fresh forked
// sandbox can be cheaper), and `python3 -c 'import numpy, pandas'` in the image (chroot).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_daemon.h"
#include "sandboxd/client.h"

namespace {

using sandboxd::bench::Clock;
using sandboxd::bench::Daemon;
using sandboxd::bench::Ms;
using sandboxd::bench::RunTimed;

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto i = static_cast<std::size_t>(p / 100.0 * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

std::unique_ptr<Daemon> StartDaemon(const std::string& images_dir, const std::string& name,
                                    unsigned warm, unsigned slot) {
  sandboxd::bench::DaemonOptions options;
  options.images_dir = images_dir;
  options.name = "zygote-" + name;
  options.slot = slot;
  options.warm_sandboxes = warm;
  return Daemon::Start(options);
}

sandboxd::Request SmallRequest(const std::string& input) {
  sandboxd::Request request;
  request.output_schema = "typeof(*, fx:real)";
  request.script = "result = df\nresult['fx'] = 100 * np.sin(df['x'] / len(df) * 2 * np.pi * 4)\n";
  request.input = std::move(sandboxd::Table::FromBuffer(input).value());
  return request;
}

struct LoadResult {
  std::vector<double> latencies_ms;
  double seconds = 0;
  int failures = 0;
};

LoadResult Load(const std::string& socket, const std::string& input, int requests,
                int concurrency) {
  LoadResult result;
  std::atomic<int> next{0};
  std::mutex mu;
  const auto t0 = Clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < concurrency; ++t) {
    threads.emplace_back([&] {
      auto client = sandboxd::Client::Connect(socket);
      if (!client.ok()) return;
      while (next.fetch_add(1) < requests) {
        const auto r0 = Clock::now();
        auto outcome = client->Execute(SmallRequest(input));
        const double ms = Ms(Clock::now() - r0);
        std::lock_guard lock(mu);
        if (outcome.ok()) {
          result.latencies_ms.push_back(ms);
        } else {
          ++result.failures;
          std::fprintf(stderr, "  failed: %s\n", outcome.error().ToString().c_str());
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  result.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return result;
}

// Every process below `root` (its descendants), by walking /proc.
std::vector<pid_t> Descendants(pid_t root) {
  std::vector<std::pair<pid_t, pid_t>> parent_of;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) continue;
    std::ifstream stat(entry.path() / "stat");
    std::string line;
    std::getline(stat, line);
    const auto close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 2));
    std::string state;
    pid_t ppid = 0;
    rest >> state >> ppid;
    parent_of.emplace_back(static_cast<pid_t>(std::stol(name)), ppid);
  }
  std::set<pid_t> found = {root};
  for (bool grew = true; grew;) {
    grew = false;
    for (const auto& [pid, ppid] : parent_of) {
      if (found.count(ppid) != 0 && found.insert(pid).second) grew = true;
    }
  }
  found.erase(root);
  return {found.begin(), found.end()};
}

pid_t ParentOf(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  const auto close = line.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream rest(line.substr(close + 2));
  std::string state;
  pid_t ppid = -1;
  rest >> state >> ppid;
  return ppid;
}

std::uint64_t PssKb(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/smaps_rollup");
  std::string key;
  std::uint64_t kb = 0;
  while (in >> key) {
    if (key == "Pss:") {
      in >> kb;
      return kb;
    }
  }
  return 0;
}

std::string Comm(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/comm");
  std::string comm;
  std::getline(in, comm);
  return comm;
}

const char* Verdict(bool ok) { return ok ? "met" : "NOT met"; }

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"issue 9's zygote and request-path figures, beside their anchors"};
  std::string images_dir = "/var/lib/sandboxd/images";
  std::string image = "python3.11";
  int requests = 300;
  app.add_option("--images-dir", images_dir);
  app.add_option("--image", image);
  app.add_option("--requests", requests, "requests per latency and throughput figure")
      ->check(CLI::Range(20, 100000));
  CLI11_PARSE(app, argc, argv);
  const std::string rootfs = images_dir + "/" + image + "/rootfs";
  if (::geteuid() != 0 || !std::filesystem::exists(rootfs)) {
    std::fprintf(stderr, "zygote_bench: run as root, with %s built\n", rootfs.c_str());
    return 2;
  }

  sandboxd::TableBuilder builder({{"x", sandboxd::ColumnType::kLong}});
  for (std::int64_t i = 1; i <= 10; ++i) builder.AppendLong(0, i);
  const std::string input = builder.Finish().value();

  // --- anchors ---------------------------------------------------------------------------------
  const std::vector<std::string> bwrap = {"bwrap", "--unshare-all", "--ro-bind", rootfs,
                                          "/",     "/bin/true"};
  std::vector<double> bwrap_ms;
  for (int i = 0; i < 50; ++i) {
    const double ms = RunTimed(bwrap);
    if (ms < 0) {
      std::fprintf(stderr, "zygote_bench: bwrap failed (apt-get install bubblewrap)\n");
      return 2;
    }
    bwrap_ms.push_back(ms);
  }
  const double bwrap_p50 = Percentile(bwrap_ms, 50);
  std::atomic<int> spawned{0};
  {
    const auto until = Clock::now() + std::chrono::seconds(3);
    std::vector<std::thread> two;
    for (int t = 0; t < 2; ++t)
      two.emplace_back([&] {
        while (Clock::now() < until)
          if (RunTimed(bwrap) >= 0) ++spawned;
      });
    for (auto& t : two) t.join();
  }
  const double bwrap_rate = spawned / 3.0;
  const std::string fork_code =
      "import os, time, pandas as pd\n"
      "df = pd.DataFrame({'x': range(10)})\n"
      "t = []\n"
      "for _ in range(50):\n"
      "    t0 = time.perf_counter()\n"
      "    pid = os.fork()\n"
      "    if pid == 0:\n"
      "        df['x'].sum()\n"
      "        os._exit(0)\n"
      "    os.waitpid(pid, 0)\n"
      "    t.append((time.perf_counter() - t0) * 1000)\n"
      "t.sort()\n"
      "print(t[len(t) // 2])\n";
  double fork_ms = 0;
  {
    const std::string out = "/tmp/zygote-bench-fork-" + std::to_string(::getpid());
    const std::string cmd =
        "chroot " + rootfs + " /usr/bin/python3 -c \"" + fork_code + "\" > " + out;
    if (std::system(cmd.c_str()) == 0) std::ifstream(out) >> fork_ms;
    std::filesystem::remove(out);
  }
  // The fork limit: two Pythons with pandas, each forking children that do a tiny DataFrame
  // operation for 3 s.
  const std::string fork_rate_code =
      "import os, time, pandas as pd\n"
      "df = pd.DataFrame({'x': range(10)})\n"
      "n = 0\n"
      "t0 = time.perf_counter()\n"
      "while time.perf_counter() - t0 < 3:\n"
      "    pid = os.fork()\n"
      "    if pid == 0:\n"
      "        df['x'].sum()\n"
      "        os._exit(0)\n"
      "    os.waitpid(pid, 0)\n"
      "    n += 1\n"
      "print(n / (time.perf_counter() - t0))\n";
  double fork_limit = 0;
  {
    double rates[2] = {0, 0};
    std::vector<std::thread> two;
    for (int t = 0; t < 2; ++t)
      two.emplace_back([&, t] {
        const std::string out =
            "/tmp/zygote-bench-forks-" + std::to_string(::getpid()) + "-" + std::to_string(t);
        const std::string cmd =
            "chroot " + rootfs + " /usr/bin/python3 -c \"" + fork_rate_code + "\" > " + out;
        if (std::system(cmd.c_str()) == 0) std::ifstream(out) >> rates[t];
        std::filesystem::remove(out);
      });
    for (auto& t : two) t.join();
    fork_limit = rates[0] + rates[1];
  }
  std::vector<double> import_ms;
  for (int i = 0; i < 5; ++i)
    import_ms.push_back(
        RunTimed({"chroot", rootfs, "/usr/bin/python3", "-c", "import numpy, pandas"}));
  const double cold_import = Percentile(import_ms, 50);

  std::printf("anchors (same run):\n");
  std::printf(
      "  bwrap --unshare-all --ro-bind IMAGE / /bin/true: p50 %.1f ms, %.0f spawns/s two at a "
      "time\n",
      bwrap_p50, bwrap_rate);
  std::printf("  fork() of a Python with pandas + a tiny DataFrame op: %.1f ms\n", fork_ms);
  std::printf("  the fork limit (the same, two Pythons at once): %.0f forks/s\n", fork_limit);
  std::printf("  python3 -c 'import numpy, pandas' in the image: %.0f ms\n\n", cold_import);

  // --- the first request to an image whose zygote is not up ---------------------------------
  double first_ms = 0;
  {
    auto daemon = StartDaemon(images_dir, "cold", 0, 0);
    if (!daemon) return std::fprintf(stderr, "zygote_bench: sandboxd did not start\n"), 1;
    auto client = sandboxd::Client::Connect(daemon->socket());
    const auto t0 = Clock::now();
    auto outcome = client->Execute(SmallRequest(input));
    first_ms = Ms(Clock::now() - t0);
    if (!outcome.ok())
      std::fprintf(stderr, "  first request: %s\n", outcome.error().ToString().c_str());
  }

  // --- warm pool of 16 ----------------------------------------------------------------------
  auto daemon = StartDaemon(images_dir, "warm", 16, 1);
  if (!daemon) return std::fprintf(stderr, "zygote_bench: sandboxd did not start\n"), 1;
  (void)Load(daemon->socket(), input, 20, 1);  // the zygote is up, the pool full
  std::this_thread::sleep_for(std::chrono::seconds(2));
  std::uint64_t pss_kb = 0;
  int ready = 0;
  for (pid_t pid : Descendants(daemon->pid())) {
    const std::string comm = Comm(pid);
    if (comm == "sandboxd-launch") continue;
    if (comm == "sandbox-init" && Comm(ParentOf(pid)) == "sandboxd-launch") ++ready;
    pss_kb += PssKb(pid);
  }
  const LoadResult sequential = Load(daemon->socket(), input, requests, 1);
  const double p50 = Percentile(sequential.latencies_ms, 50);
  const double p99 = Percentile(sequential.latencies_ms, 99);
  double rates[3] = {0, 0, 0};
  const int concurrencies[3] = {2, 8, 32};
  int failures = sequential.failures;
  for (int i = 0; i < 3; ++i) {
    const LoadResult r = Load(daemon->socket(), input, requests, concurrencies[i]);
    rates[i] = static_cast<double>(r.latencies_ms.size()) / r.seconds;
    failures += r.failures;
  }

  // --- 16 small requests while two sandboxes burn CPU --------------------------------------
  std::vector<std::thread> burners;
  for (int i = 0; i < 2; ++i) {
    burners.emplace_back([&] {
      auto client = sandboxd::Client::Connect(daemon->socket());
      sandboxd::Request burn;
      burn.output_schema = "typeof(x:long)";
      burn.script =
          "import time\nt = time.time()\nwhile time.time() - t < 8:\n    pass\n"
          "result = pd.DataFrame({'x': [1]})\n";
      (void)client->Execute(burn);
    });
  }
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const LoadResult burst = Load(daemon->socket(), input, 16, 16);
  for (auto& t : burners) t.join();
  const double burst_p99 = Percentile(burst.latencies_ms, 99);

  std::printf(
      "figure                                            | measured          | anchor            | "
      "goal                 | \n");
  std::printf(
      "latency p50, 10 rows, fresh sandbox each           | %7.1f ms        | bwrap %.1f ms     | "
      "<= %.1f ms (0.5x)   | %s\n",
      p50, bwrap_p50, bwrap_p50 / 2, Verdict(p50 <= bwrap_p50 / 2));
  std::printf(
      "latency p99                                        | %7.1f ms        | bwrap %.1f ms     | "
      "<= %.1f ms (2x)     | %s\n",
      p99, bwrap_p50, 2 * bwrap_p50, Verdict(p99 <= 2 * bwrap_p50));
  for (int i = 0; i < 3; ++i)
    std::printf(
        "throughput at concurrency %-2d (%.2fx fork limit)    | %7.0f req/s     | forks %.0f /s    "
        "  | >= %.0f req/s (0.7x) | %s\n",
        concurrencies[i], rates[i] / fork_limit, rates[i], fork_limit, 0.7 * fork_limit,
        Verdict(rates[i] >= 0.7 * fork_limit));
  std::printf(
      "PSS of %2d ready sandboxes, zygote included        | %7.1f MB        | -                 | "
      "<= 150 MB            | %s\n",
      ready, static_cast<double>(pss_kb) / 1024.0, Verdict(pss_kb <= 150 * 1024));
  std::printf(
      "first request, zygote not up                       | %7.0f ms        | import %.0f ms    | "
      "<= %.0f ms (1.1x)    | %s\n",
      first_ms, cold_import, 1.1 * cold_import, Verdict(first_ms <= 1.1 * cold_import));
  std::printf(
      "16 at once beside 2 CPU burners: p99 (%2zu/16 ok)    | %7.1f ms        | -                 "
      "| <= 100 ms, all ok    | %s\n",
      burst.latencies_ms.size(), burst_p99,
      Verdict(burst_p99 <= 100 && burst.latencies_ms.size() == 16));
  std::printf("(bwrap spawns two at a time: %.0f /s; failed requests: %d)\n", bwrap_rate,
              failures + burst.failures);
  return 0;
}
