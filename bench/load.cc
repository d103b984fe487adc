// sandboxd_load: a bounded load generator for a running daemon (loopback Unix socket only).
//   sandboxd_load --socket /run/sandboxd/sandboxd.sock --requests 64 --concurrency 8 --rows 360
#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <thread>
#include <vector>

#include "sandboxd/client.h"

int main(int argc, char** argv) {
  CLI::App app{"sandboxd load generator"};
  std::string socket = "/run/sandboxd/sandboxd.sock";
  int requests = 32, concurrency = 4;
  std::int64_t rows = 360;
  std::string script =
      "result = df\nresult['fx'] = 100 * np.sin(df['x'] / len(df) * 2 * np.pi * 4)\n";
  app.add_option("--socket", socket);
  app.add_option("--requests", requests)->check(CLI::Range(1, 100000));
  app.add_option("--concurrency", concurrency)->check(CLI::Range(1, 256));
  app.add_option("--rows", rows)->check(CLI::Range(1, 100000000));
  app.add_option("--script", script, "script text (default: the sine example)");
  CLI11_PARSE(app, argc, argv);

  sandboxd::TableBuilder builder({{"x", sandboxd::ColumnType::kLong}});
  for (std::int64_t i = 1; i <= rows; ++i) builder.AppendLong(0, i);
  const std::string input = builder.Finish().value();

  std::atomic<int> next{0}, failures{0};
  std::mutex mu;
  std::vector<double> latencies;
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < concurrency; ++t) {
    threads.emplace_back([&] {
      auto client = sandboxd::Client::Connect(socket);
      if (!client.ok()) {
        std::fprintf(stderr, "%s\n", client.status().ToString().c_str());
        failures += 1;
        return;
      }
      while (next.fetch_add(1) < requests) {
        sandboxd::Request request;
        request.output_schema = "typeof(*, fx:real)";
        request.script = script;
        request.input = std::move(sandboxd::Table::FromBuffer(input).value());
        const auto t0 = std::chrono::steady_clock::now();
        auto outcome = client->Execute(request);
        const double ms =
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                .count();
        if (!outcome.ok()) {
          failures += 1;
          std::fprintf(stderr, "%s\n", outcome.error().ToString().c_str());
          continue;
        }
        std::lock_guard lock(mu);
        latencies.push_back(ms);
      }
    });
  }
  for (auto& t : threads) t.join();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::sort(latencies.begin(), latencies.end());
  auto pct = [&](double p) {
    return latencies.empty() ? 0.0
                             : latencies[std::min(latencies.size() - 1,
                                                  static_cast<std::size_t>(p * latencies.size()))];
  };
  std::printf("requests=%d concurrency=%d rows=%lld ok=%zu failed=%d\n", requests, concurrency,
              static_cast<long long>(rows), latencies.size(), failures.load());
  std::printf("throughput=%.2f req/s  latency ms: p50=%.1f p95=%.1f max=%.1f\n",
              static_cast<double>(latencies.size()) / seconds, pct(0.50), pct(0.95),
              latencies.empty() ? 0.0 : latencies.back());
  return failures.load() == 0 ? 0 : 1;
}
