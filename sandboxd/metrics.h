// What an operator scrapes: the daemon's counters and histograms in Prometheus' text exposition
// format (version 0.0.4), served on a local endpoint (metrics_endpoint.h). Answers are counted as
// they go out (every request ends in exactly one), so the counters move with the load; gauges are
// read from the server when the endpoint is scraped.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "cache.h"
#include "sandboxd.pb.h"

namespace sandboxd {

// Read at scrape time.
struct MetricsGauges {
  unsigned running = 0;        // sandboxes holding a slot (running a request, or warm)
  unsigned queued = 0;         // requests waiting for a slot
  unsigned max_sandboxes = 0;  // slots
  std::map<std::string, unsigned> ready_by_image;  // warm sandboxes waiting for a request
  unsigned launcher_restarts = 0;
  // By (image, why the zygote before ended): ZygoteHealth::Restarts.
  std::map<std::pair<std::string, std::string>, std::uint64_t> zygote_restarts;
  // Unanswered requests by (image, phase): "queued", "launching", "running", ... (ActiveRequests).
  std::map<std::pair<std::string, std::string>, unsigned> requests_by_image_phase;
  // By cache: "downloads" (artifact files, revalidated by ETag) and "bundles" (unpacked trees).
  // Zero until the first request with artifacts starts the artifact service.
  std::map<std::string, ArtifactCacheCounts> artifact_caches = {{"downloads", {}}, {"bundles", {}}};
};

class Metrics {
 public:
  // Upper bounds (seconds) of the latency histograms' buckets; +Inf is implied.
  static constexpr std::array<double, 14> kBuckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                                      1,     2.5,  5,     10,   30,  120,  600};

  // One answer to an Execute (a result or an error); other answers are not counted.
  void RecordAnswer(const proto::DaemonMessage& message);

  std::string Render(const MetricsGauges& gauges) const;

 private:
  struct Histogram {
    std::array<std::uint64_t, kBuckets.size()> counts{};  // per bucket, not cumulative
    std::uint64_t count = 0;
    double sum = 0;
    void Observe(double seconds);
  };

  mutable std::mutex mu_;
  std::map<std::string, std::uint64_t> answers_by_code_;
  Histogram queue_, setup_, run_;
  std::uint64_t bytes_in_ = 0;
  std::uint64_t bytes_out_ = 0;
};

}  // namespace sandboxd
