// data_path_bench: issue 11's figures (the data path at memory speed), each beside its anchor
// measured in the same run and its goal.
//
//   build/bench/data_path_bench [--rows 10000000] [--strings 2000000] [--runs 3]
//
// Starts a daemon of its own (bench_daemon.h; run as root) and measures from a client linking
// sandboxdClient, `result = df` under `typeof(*)`, a fresh sandbox per request (best of --runs,
// the first call reported apart):
//   - 10M rows of `long` + `real`: GB/s (input bytes / client wall time);
//   - the same with 10% nulls in a `long`, a `real` and a `datetime` column;
//   - 2M short strings in and out: seconds;
//   - spill_to_disk=true on the 10M-row table, beside the default path;
//   - the sandbox's peak memory for each, against the table's size.
// Anchors: the same 10M-row table through CSV in the image's pandas (`to_csv` + `read_csv`, in a
// chroot of the image), memcpy of the table here, and a per-row Python encode + decode of the
// same strings in the image's Python.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "bench_daemon.h"
#include "sandboxd/client.h"
#include "test_paths.h"

namespace {

using sandboxd::bench::Clock;
using sandboxd::bench::Ms;
using sandboxd::bench::RunTimed;

constexpr double kGB = 1e9;

struct Measured {
  std::string error;  // empty: every run answered
  double first_s = 0;
  double best_s = std::numeric_limits<double>::max();
  double run_s = 0;  // of the best: the sandbox's part (the daemon's stats)
  std::uint64_t peak_memory = 0;
  std::uint64_t result_bytes = 0;
};

// `runs` requests of `result = df` with `input`; the first one's time is kept apart.
Measured ResultIsDf(const std::string& socket, const std::string& input, int runs, bool spill) {
  Measured m;
  for (int i = 0; i < runs; ++i) {
    auto table = sandboxd::Table::FromBuffer(input);
    if (!table.ok()) return {table.status().ToString()};
    auto client = sandboxd::Client::Connect(socket);
    if (!client.ok()) return {client.status().ToString()};
    sandboxd::Request request;
    request.output_schema = "typeof(*)";
    request.script = "result = df\n";
    request.spill_to_disk = spill;
    request.input = std::move(*table);
    const std::uint64_t input_rows = request.input.view().row_count();
    const std::size_t input_columns = request.input.view().column_count();
    const auto t0 = Clock::now();
    auto outcome = client->Execute(request);
    const double seconds = Ms(Clock::now() - t0) / 1000;
    if (!outcome.ok()) return {outcome.error().ToString()};
    const auto& view = outcome.result().table.view();
    if (view.row_count() != input_rows || view.column_count() != input_columns)
      return {"the result does not have the input's rows and columns"};
    if (i == 0) m.first_s = seconds;
    if (seconds < m.best_s) {
      m.best_s = seconds;
      m.run_s = outcome.result().stats.run_seconds;
    }
    m.peak_memory = std::max(m.peak_memory, outcome.result().stats.peak_memory_bytes);
    m.result_bytes = outcome.result().table.buffer().size();
  }
  return m;
}

std::string FixedTable(std::uint64_t rows, bool nulls) {
  using sandboxd::ColumnType;
  std::vector<sandboxd::ColumnSpec> columns = {{"x", ColumnType::kLong}, {"y", ColumnType::kReal}};
  if (nulls) columns.push_back({"t", ColumnType::kDateTime});
  sandboxd::TableBuilder builder(columns);
  const std::int64_t start = 17040672000000000LL;  // 2024-01-01T00:00Z in ticks
  for (std::uint64_t i = 0; i < rows; ++i) {
    const bool null = nulls && i % 10 == 3;
    if (null) {
      for (std::size_t c = 0; c < columns.size(); ++c) builder.AppendNull(c);
      continue;
    }
    builder.AppendLong(0, static_cast<std::int64_t>(i));
    builder.AppendReal(1, static_cast<double>(i) * 0.25);
    if (nulls) builder.AppendTicks(2, start + static_cast<std::int64_t>(i) * 10'000'000);
  }
  return builder.Finish().value();
}

std::string StringTable(std::uint64_t rows) {
  sandboxd::TableBuilder builder({{"s", sandboxd::ColumnType::kString}});
  for (std::uint64_t i = 0; i < rows; ++i) builder.AppendText(0, "row-" + std::to_string(i));
  return builder.Finish().value();
}

// Seconds a Python snippet in the image prints (its own timing of the part that counts).
double ImageSeconds(const std::string& rootfs, const std::string& code) {
  std::string out;
  if (RunTimed({"chroot", rootfs, "/usr/bin/python3", "-c", code}, &out) < 0) return -1;
  return std::strtod(out.c_str(), nullptr);
}

// The runner alone on the string table, in the host's Debian Python (the images' numpy and
// pandas): SBXT -> df -> SBXT through frames.py, with the C loops and with its Python loops.
// Prints "<c seconds> <python seconds>".
std::string RunnerStringSeconds(std::uint64_t strings) {
  const std::string code =
      "import os, sys, time\n"
      "sys.path[:0] = ['" +
      std::string(sandboxd::test_paths::kBinaryDir) + "/zygote', '" +
      std::string(sandboxd::test_paths::kRuntimeSource) +
      "']\n"
      "import numpy as np, pandas as pd\n"
      "from sandboxd_runtime import frames, sbxt\n"
      "df = pd.DataFrame({'s': np.array(['row-%d' % i for i in range(" +
      std::to_string(strings) +
      ")], dtype=object)})\n"
      "def once():\n"
      "    t = time.perf_counter()\n"
      "    rows, columns = frames.encode_result(df, [('s', 'string')], 1 << 34)\n"
      "    fd = os.memfd_create('bench')\n"
      "    sbxt.write_table(fd, rows, columns)\n"
      "    back = frames.read_input(fd)\n"
      "    os.close(fd)\n"
      "    return time.perf_counter() - t\n"
      "native = min(once() for _ in range(2))\n"
      "loops, frames._columns = frames._columns, None\n"
      "python = min(once() for _ in range(2))\n"
      "print(native if loops else -1, python)\n";
  std::string out;
  if (RunTimed({"/usr/bin/python3", "-c", code}, &out) < 0) return "-1 -1";
  return out;
}

double MemcpyGBs(const std::string& input) {
  std::string copy(input.size(), '\0');
  double best = std::numeric_limits<double>::max();
  for (int i = 0; i < 3; ++i) {
    const auto t0 = Clock::now();
    std::memcpy(copy.data(), input.data(), input.size());
    best = std::min(best, Ms(Clock::now() - t0) / 1000);
  }
  return static_cast<double>(input.size()) / best / kGB;
}

const char* Verdict(bool ok) { return ok ? "met" : "NOT met"; }

void PrintRow(const char* what, const Measured& m, std::uint64_t bytes) {
  if (!m.error.empty()) {
    std::printf("  %-34s FAILED: %s\n", what, m.error.c_str());
    return;
  }
  std::printf(
      "  %-34s %7.3f s  %5.2f GB/s  (in the sandbox %.3f s; first call %.3f s)  sandbox peak "
      "%.0f MB = %.2fx the table\n",
      what, m.best_s, static_cast<double>(bytes) / m.best_s / kGB, m.run_s, m.first_s,
      static_cast<double>(m.peak_memory) / 1e6,
      static_cast<double>(m.peak_memory) / static_cast<double>(bytes));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"issue 11's data path figures beside their anchors"};
  std::uint64_t rows = 10'000'000;
  std::uint64_t strings = 2'000'000;
  int runs = 3;
  std::string images_dir = "/var/lib/sandboxd/images";
  app.add_option("--rows", rows, "rows of the long + real tables");
  app.add_option("--strings", strings, "rows of the string table");
  app.add_option("--runs", runs, "requests per figure (the best is reported)")
      ->check(CLI::Range(1, 100));
  app.add_option("--images-dir", images_dir);
  CLI11_PARSE(app, argc, argv);
  const std::string rootfs = images_dir + "/python3.11/rootfs";
  if (::geteuid() != 0 || !std::filesystem::exists(rootfs)) {
    std::fprintf(stderr, "data_path_bench: run as root, with %s built\n", rootfs.c_str());
    return 2;
  }

  std::printf("data_path_bench: %llu rows, %llu strings, best of %d\n\n",
              static_cast<unsigned long long>(rows), static_cast<unsigned long long>(strings),
              runs);
  const std::string fixed = FixedTable(rows, false);
  const std::string nullable = FixedTable(rows, true);
  const std::string text = StringTable(strings);

  // Anchors, same run.
  const std::string n = std::to_string(rows);
  const double csv_s = ImageSeconds(rootfs,
                                    "import io, time, numpy as np, pandas as pd\n"
                                    "df = pd.DataFrame({'x': np.arange(" +
                                        n + ", dtype=np.int64), 'y': np.arange(" + n +
                                        ") * 0.25})\n"
                                        "t = time.perf_counter()\n"
                                        "back = pd.read_csv(io.StringIO(df.to_csv(index=False)))\n"
                                        "print(time.perf_counter() - t)\n");
  const double per_row_s = ImageSeconds(
      rootfs, "import time\ncells = ['row-%d' % i for i in range(" + std::to_string(strings) +
                  ")]\n"
                  "t = time.perf_counter()\n"
                  "data = [c.encode('utf-8') for c in cells]\n"
                  "back = [d.decode('utf-8') for d in data]\n"
                  "print(time.perf_counter() - t)\n");
  const double memcpy_gbs = MemcpyGBs(fixed);
  const std::string runner_seconds = RunnerStringSeconds(strings);
  char* rest = nullptr;
  const double runner_c_s = std::strtod(runner_seconds.c_str(), &rest);
  const double runner_python_s = std::strtod(rest, nullptr);
  const double fixed_bytes = static_cast<double>(fixed.size());
  std::printf("anchors:\n");
  std::printf("  %llu rows long + real through CSV in the image's pandas: %.2f s, %.3f GB/s\n",
              static_cast<unsigned long long>(rows), csv_s, fixed_bytes / csv_s / kGB);
  std::printf("  memcpy of the table here: %.2f GB/s\n", memcpy_gbs);
  std::printf("  per-row Python encode + decode of the strings: %.3f s\n", per_row_s);
  std::printf(
      "  the runner alone, strings out and back in (frames.py): %.3f s with its C loops, "
      "%.3f s with its Python loops\n\n",
      runner_c_s, runner_python_s);

  sandboxd::bench::DaemonOptions options;
  options.images_dir = images_dir;
  options.name = "data-path";
  options.warm_sandboxes = 2;
  options.config_json = R"({"limits": {"memory_mb": 8192, "max_result_mb": 2048}})";
  auto daemon = sandboxd::bench::Daemon::Start(options);
  if (daemon == nullptr) {
    std::fprintf(stderr, "data_path_bench: the daemon did not start\n");
    return 1;
  }
  const Measured m_fixed = ResultIsDf(daemon->socket(), fixed, runs, false);
  const Measured m_null = ResultIsDf(daemon->socket(), nullable, runs, false);
  const Measured m_text = ResultIsDf(daemon->socket(), text, runs, false);
  const Measured m_spill = ResultIsDf(daemon->socket(), fixed, runs, true);

  std::printf("result = df, typeof(*), a fresh sandbox each:\n");
  PrintRow("long + real", m_fixed, fixed.size());
  PrintRow("long, real, datetime, 10% nulls", m_null, nullable.size());
  PrintRow("short strings", m_text, text.size());
  PrintRow("long + real, spill_to_disk", m_spill, fixed.size());
  std::printf("\n");

  auto goal = [](const char* what, bool ok, const std::string& detail) {
    std::printf("  %-44s %-40s %s\n", what, detail.c_str(), Verdict(ok));
  };
  const bool failed = !m_fixed.error.empty() || !m_null.error.empty() || !m_text.error.empty() ||
                      !m_spill.error.empty();
  const double fixed_gbs = fixed_bytes / m_fixed.best_s / kGB;
  const double null_gbs = static_cast<double>(nullable.size()) / m_null.best_s / kGB;
  std::printf("goals:\n");
  goal("long + real >= 1 GB/s", !failed && fixed_gbs >= 1.0, fmt::format("{:.2f} GB/s", fixed_gbs));
  goal("long + real >= 40x the CSV round trip", !failed && csv_s / m_fixed.best_s >= 40,
       fmt::format("{:.1f}x (CSV {:.2f} s)", csv_s / m_fixed.best_s, csv_s));
  goal("10% nulls >= 0.5 GB/s", !failed && null_gbs >= 0.5, fmt::format("{:.2f} GB/s", null_gbs));
  goal("short strings in and out <= 0.4 s", !failed && m_text.best_s <= 0.4,
       fmt::format("{:.3f} s (per-row Python {:.3f} s)", m_text.best_s, per_row_s));
  double peak_ratio = 0;
  for (const auto* m : {&m_fixed, &m_null, &m_text, &m_spill}) {
    peak_ratio =
        std::max(peak_ratio, static_cast<double>(m->peak_memory) /
                                 static_cast<double>(std::max<std::uint64_t>(m->result_bytes, 1)));
  }
  goal("sandbox peak <= ~2x the table, every table", !failed && peak_ratio <= 2.0,
       fmt::format("at most {:.2f}x", peak_ratio));
  return failed ? 1 : 0;
}
