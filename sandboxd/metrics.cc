#include "metrics.h"

#include <fmt/format.h>

#include <algorithm>

#include "sandboxd/status.h"

namespace sandboxd {
namespace {

// Label values are quoted; an image name is the only free text, and image names are checked
// ([A-Za-z0-9._-]), but escape anyway as the format asks.
std::string Escaped(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

}  // namespace

void Metrics::Histogram::Observe(double seconds) {
  if (!(seconds >= 0)) return;  // NaN or negative: a stat the answer did not carry
  const auto bucket = std::lower_bound(kBuckets.begin(), kBuckets.end(), seconds);
  if (bucket != kBuckets.end()) ++counts[static_cast<std::size_t>(bucket - kBuckets.begin())];
  ++count;
  sum += seconds;
}

void Metrics::RecordAnswer(const proto::DaemonMessage& message) {
  const proto::Stats* stats = nullptr;
  std::string code;
  if (message.has_result()) {
    code = "OK";
    stats = &message.result().stats();
  } else if (message.has_error()) {
    code = std::string(ErrorCodeName(static_cast<ErrorCode>(message.error().code())));
    stats = &message.error().stats();
  } else {
    return;
  }
  std::lock_guard lock(mu_);
  ++answers_by_code_[code];
  // Requests that never reached a sandbox (refused, queued out) carry no stats.
  if (stats->wall_seconds() > 0) {
    queue_.Observe(stats->queue_seconds());
    if (stats->setup_seconds() > 0 || stats->run_seconds() > 0) {
      setup_.Observe(stats->setup_seconds());
      run_.Observe(stats->run_seconds());
    }
  }
  bytes_in_ += stats->bytes_in();
  bytes_out_ += stats->bytes_out();
}

std::string Metrics::Render(const MetricsGauges& gauges) const {
  std::string out;
  auto family = [&](const char* name, const char* type, const char* help) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  };
  std::lock_guard lock(mu_);

  family("sandboxd_requests_total", "counter",
         "Execute requests answered, by outcome code (OK or the error code).");
  for (const auto& [code, count] : answers_by_code_)
    out += fmt::format("sandboxd_requests_total{{code=\"{}\"}} {}\n", Escaped(code), count);

  auto histogram = [&](const char* name, const char* help, const Histogram& h) {
    family(name, "histogram", help);
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < kBuckets.size(); ++i) {
      cumulative += h.counts[i];
      out += fmt::format("{}_bucket{{le=\"{}\"}} {}\n", name, kBuckets[i], cumulative);
    }
    out += fmt::format("{}_bucket{{le=\"+Inf\"}} {}\n", name, h.count);
    out += fmt::format("{}_sum {}\n{}_count {}\n", name, h.sum, name, h.count);
  };
  histogram("sandboxd_queue_seconds", "Time from a request's arrival to its sandbox.", queue_);
  histogram("sandboxd_setup_seconds", "Time to launch a request's sandbox (0 for a warm one).",
            setup_);
  histogram("sandboxd_run_seconds", "Time a request's script ran.", run_);

  family("sandboxd_input_bytes_total", "counter", "Bytes of input tables received.");
  out += fmt::format("sandboxd_input_bytes_total {}\n", bytes_in_);
  family("sandboxd_output_bytes_total", "counter", "Bytes of result tables sent.");
  out += fmt::format("sandboxd_output_bytes_total {}\n", bytes_out_);

  family("sandboxd_sandboxes_running", "gauge",
         "Sandbox slots in use (running a request, starting, or warm).");
  out += fmt::format("sandboxd_sandboxes_running {}\n", gauges.running);
  family("sandboxd_sandbox_slots", "gauge", "Sandboxes this node runs at once at most.");
  out += fmt::format("sandboxd_sandbox_slots {}\n", gauges.max_sandboxes);
  family("sandboxd_queue_depth", "gauge", "Requests waiting for a free sandbox slot.");
  out += fmt::format("sandboxd_queue_depth {}\n", gauges.queued);
  family("sandboxd_sandboxes_ready", "gauge", "Warm sandboxes waiting for a request, by image.");
  for (const auto& [image, ready] : gauges.ready_by_image)
    out += fmt::format("sandboxd_sandboxes_ready{{image=\"{}\"}} {}\n", Escaped(image), ready);
  family("sandboxd_requests_active", "gauge",
         "Requests accepted and not yet answered, by image and phase (as sandboxctl status lists "
         "them).");
  for (const auto& [key, count] : gauges.requests_by_image_phase)
    out += fmt::format("sandboxd_requests_active{{image=\"{}\",phase=\"{}\"}} {}\n",
                       Escaped(key.first), Escaped(key.second), count);
  family("sandboxd_launcher_restarts_total", "counter",
         "Launchers replaced after missing launcher_timeout_s or dying.");
  out += fmt::format("sandboxd_launcher_restarts_total {}\n", gauges.launcher_restarts);
  family("sandboxd_zygote_restarts_total", "counter",
         "Zygotes started again, by image and why the one before ended (died, aged, "
         "unresponsive, reload); zygotes that end with their launcher count as launcher "
         "restarts.");
  for (const auto& [key, count] : gauges.zygote_restarts)
    out += fmt::format("sandboxd_zygote_restarts_total{{image=\"{}\",reason=\"{}\"}} {}\n",
                       Escaped(key.first), Escaped(key.second), count);

  auto per_cache = [&](const char* name, const char* type, const char* help,
                       std::uint64_t ArtifactCacheCounts::*field) {
    family(name, type, help);
    for (const auto& [cache, sample] : gauges.artifact_caches)
      out += fmt::format("{}{{cache=\"{}\"}} {}\n", name, Escaped(cache), sample.*field);
  };
  per_cache("sandboxd_artifact_cache_hits_total", "counter",
            "Artifacts served from the cache: a download the server answered 304 to its ETag, "
            "or a bundle whose unpacked tree was cached.",
            &ArtifactCacheCounts::hits);
  per_cache("sandboxd_artifact_cache_misses_total", "counter",
            "Artifacts not in the cache: downloaded whole, or unpacked afresh.",
            &ArtifactCacheCounts::misses);
  per_cache("sandboxd_artifact_cache_evictions_total", "counter",
            "Cache entries removed to stay within the cache's capacity.",
            &ArtifactCacheCounts::evictions);
  per_cache("sandboxd_artifact_cache_bytes", "gauge", "Bytes the cache holds.",
            &ArtifactCacheCounts::bytes);
  return out;
}

}  // namespace sandboxd
