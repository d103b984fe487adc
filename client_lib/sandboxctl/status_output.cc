#include "status_output.h"

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <vector>

namespace sandboxctl {
namespace {

// Request ids and image names come from clients and folders: control characters are shown
// escaped, so a name cannot move the operator's cursor or rewrite the lines around it.
std::string Printable(const std::string& text) {
  std::string out;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) {
      char escaped[8];
      std::snprintf(escaped, sizeof(escaped), "\\x%02x", byte);
      out += escaped;
    } else {
      out += c;
    }
  }
  return out;
}

// Rows of cells under a header, each column as wide as its widest cell.
void WriteColumns(const std::vector<std::vector<std::string>>& rows, std::ostream& out) {
  std::vector<std::size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()));
    for (std::size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line = "  ";
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    out << line << '\n';
  }
}

std::string LimitOrNone(std::uint64_t value, const std::string& text) {
  return value == 0 ? std::string("no cap") : text;
}

void WriteLimits(const sandboxd::NodeLimits& limits, std::ostream& out) {
  out << "  sandboxes at once   " << limits.max_sandboxes << " (max_sandboxes), "
      << limits.warm_sandboxes << " kept warm\n";
  out << "  queue               " << limits.max_queue << " requests (max_queue)\n";
  out << "  per request         memory " << FormatBytes(limits.memory_bytes) << ", time "
      << FormatDuration(limits.timeout_ms) << ", result " << FormatBytes(limits.max_result_bytes)
      << ", logs " << FormatBytes(limits.max_log_bytes)
      << "\n                      (each the default and the most a request may ask for)\n";
  out << "  per sandbox         cpu "
      << LimitOrNone(limits.cpu_percent, std::to_string(limits.cpu_percent) + "%")
      << " (not per request), pids "
      << LimitOrNone(limits.max_pids, std::to_string(limits.max_pids)) << ", /tmp "
      << FormatBytes(limits.tmp_bytes) << ", work " << FormatBytes(limits.work_bytes) << '\n';
  out << "  connections         " << limits.max_connections << " ("
      << limits.max_connections_per_uid << " per uid), frames up to "
      << FormatBytes(limits.max_frame_bytes) << '\n';
}

nlohmann::json LimitsJson(const sandboxd::NodeLimits& limits) {
  return {{"max_sandboxes", limits.max_sandboxes},
          {"max_queue", limits.max_queue},
          {"warm_sandboxes", limits.warm_sandboxes},
          {"memory_bytes", limits.memory_bytes},
          {"timeout_ms", limits.timeout_ms},
          {"cpu_percent", limits.cpu_percent},
          {"max_result_bytes", limits.max_result_bytes},
          {"max_log_bytes", limits.max_log_bytes},
          {"max_pids", limits.max_pids},
          {"tmp_bytes", limits.tmp_bytes},
          {"work_bytes", limits.work_bytes},
          {"max_frame_bytes", limits.max_frame_bytes},
          {"max_connections", limits.max_connections},
          {"max_connections_per_uid", limits.max_connections_per_uid}};
}

// Invalid UTF-8 (a name from a client) is replaced rather than thrown about.
std::string Dump(const nlohmann::json& json) {
  return json.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

std::string FormatBytes(std::uint64_t bytes) {
  static const char* const kUnits[] = {"KiB", "MiB", "GiB", "TiB"};
  if (bytes < 1024) return std::to_string(bytes) + " bytes";
  double value = static_cast<double>(bytes) / 1024;
  int unit = 0;
  while (value >= 1024 && unit < 3) {
    value /= 1024;
    ++unit;
  }
  char text[32];
  if (value == static_cast<double>(static_cast<std::uint64_t>(value)))
    std::snprintf(text, sizeof(text), "%.0f %s", value, kUnits[unit]);
  else
    std::snprintf(text, sizeof(text), "%.1f %s", value, kUnits[unit]);
  return text;
}

std::string FormatDuration(std::uint64_t ms) {
  char text[48];
  if (ms < 1000) return std::to_string(ms) + " ms";
  if (ms < 60'000) {
    std::snprintf(text, sizeof(text), "%.1f s", static_cast<double>(ms) / 1000);
  } else if (ms < 3'600'000) {
    std::snprintf(text, sizeof(text), "%llu min %02llu s",
                  static_cast<unsigned long long>(ms / 60'000),
                  static_cast<unsigned long long>(ms / 1000 % 60));
  } else {
    std::snprintf(text, sizeof(text), "%llu h %02llu min",
                  static_cast<unsigned long long>(ms / 3'600'000),
                  static_cast<unsigned long long>(ms / 60'000 % 60));
  }
  return text;
}

void WriteStatusText(const sandboxd::DaemonStatus& status, std::ostream& out) {
  out << "sandboxd " << Printable(status.version) << ", up " << FormatDuration(status.uptime_ms)
      << (status.draining ? ", DRAINING (takes no new requests)" : "") << '\n';
  out << "sandboxes: " << status.sandboxes_in_use << " of " << status.limits.max_sandboxes
      << " in use (warm ones included), " << status.queued << " requests queued";
  if (status.launcher_restarts > 0)
    out << ", launcher restarted " << status.launcher_restarts << "x";
  out << "\n\nimages (default " << Printable(status.default_image) << "):\n";
  std::vector<std::vector<std::string>> rows = {
      {"IMAGE", "READY", "RUNNING", "ZYGOTE", "PACKAGES", "MANIFEST"}};
  for (std::size_t i = 0; i < status.images.size(); ++i) {
    const auto& image = status.images[i];
    const sandboxd::ImagePool* pool = i < status.pools.size() ? &status.pools[i] : nullptr;
    std::string zygote = pool != nullptr ? pool->zygote : "-";
    if (pool != nullptr && pool->zygote == "backing off")
      zygote += " (retry in " + FormatDuration(pool->zygote_retry_in_ms) + ")";
    rows.push_back({Printable(image.name), pool != nullptr ? std::to_string(pool->ready) : "-",
                    pool != nullptr ? std::to_string(pool->running) : "-", zygote,
                    std::to_string(image.package_count), image.manifest_sha256.substr(0, 12)});
  }
  if (status.images.empty()) {
    out << "  none built\n";
  } else {
    WriteColumns(rows, out);
  }
  for (const auto& pool : status.pools) {
    if (!pool.zygote_failure.empty())
      out << "  zygote of " << Printable(pool.image)
          << " failed: " << Printable(pool.zygote_failure) << '\n';
  }
  out << "\nlimits in force:\n";
  WriteLimits(status.limits, out);
  out << "\nrequests (" << status.requests.size() << "):\n";
  if (status.requests.empty()) {
    out << "  none\n";
    return;
  }
  rows = {{"ID", "IMAGE", "PHASE", "AGE", "PEAK MEMORY"}};
  for (const auto& request : status.requests) {
    rows.push_back({Printable(request.request_id), Printable(request.image), request.phase,
                    FormatDuration(request.age_ms),
                    request.peak_memory_bytes == 0 ? "-" : FormatBytes(request.peak_memory_bytes)});
  }
  WriteColumns(rows, out);
}

std::string StatusJson(const sandboxd::DaemonStatus& status) {
  nlohmann::json images = nlohmann::json::array();
  for (const auto& image : status.images) {
    images.push_back({{"name", image.name},
                      {"manifest_sha256", image.manifest_sha256},
                      {"package_count", image.package_count}});
  }
  nlohmann::json pools = nlohmann::json::array();
  for (const auto& pool : status.pools) {
    nlohmann::json line = {{"image", pool.image},
                           {"ready", pool.ready},
                           {"running", pool.running},
                           {"zygote", pool.zygote}};
    if (pool.zygote == "backing off") {
      line["zygote_retry_in_ms"] = pool.zygote_retry_in_ms;
      line["zygote_failure"] = pool.zygote_failure;
    }
    pools.push_back(std::move(line));
  }
  nlohmann::json requests = nlohmann::json::array();
  for (const auto& request : status.requests) {
    requests.push_back({{"id", request.request_id},
                        {"image", request.image},
                        {"phase", request.phase},
                        {"age_ms", request.age_ms},
                        {"peak_memory_bytes", request.peak_memory_bytes}});
  }
  const nlohmann::json json = {{"version", status.version},
                               {"uptime_ms", status.uptime_ms},
                               {"draining", status.draining},
                               {"default_image", status.default_image},
                               {"images", std::move(images)},
                               {"pools", std::move(pools)},
                               {"sandboxes_in_use", status.sandboxes_in_use},
                               {"queued", status.queued},
                               {"launcher_restarts", status.launcher_restarts},
                               {"limits", LimitsJson(status.limits)},
                               {"requests", std::move(requests)}};
  return Dump(json);
}

void WritePolicyText(const sandboxd::PolicyReport& report, std::ostream& out) {
  out << "limits in force:\n";
  WriteLimits(report.limits, out);
  const auto& seccomp = report.seccomp;
  out << "\nseccomp policy: ";
  if (!seccomp.enabled) {
    out << "none (the daemon runs with --no-seccomp: development only)\n";
  } else {
    out << "generation " << seccomp.generation << ", in force for "
        << FormatDuration(seccomp.loaded_ms_ago) << " (SIGHUP compiles the next)\n";
    out << "  file              " << Printable(seccomp.path) << '\n';
    out << "  compiled for      kernel features: " << Printable(seccomp.kernel_features)
        << " (memfd_noexec_seal " << Printable(seccomp.memfd_noexec_seal) << ")\n";
    out << "  program           " << seccomp.instructions << " BPF instructions, sha256 "
        << seccomp.program_sha256 << '\n';
  }
  out << "\ncallout policy (artifact URLs): " << Printable(report.callout_path) << ", "
      << report.callout_rules.size() << (report.callout_rules.size() == 1 ? " rule" : " rules")
      << "; the first that matches decides, no match denies\n";
  if (!report.callout_error.empty())
    out << "  its file's last change was not taken (the rules below stay in force): "
        << Printable(report.callout_error) << '\n';
  if (report.callout_rules.empty()) {
    out << "  no rules: every artifact URL is denied\n";
    return;
  }
  std::vector<std::vector<std::string>> rows = {{"#", "TYPE", "CAN CALL", "URI REGEX"}};
  std::size_t index = 0;
  for (const auto& rule : report.callout_rules) {
    rows.push_back({std::to_string(++index), Printable(rule.callout_type),
                    rule.can_call ? "allow" : "deny", Printable(rule.uri_regex)});
  }
  WriteColumns(rows, out);
}

std::string PolicyJson(const sandboxd::PolicyReport& report) {
  nlohmann::json rules = nlohmann::json::array();
  for (const auto& rule : report.callout_rules) {
    rules.push_back({{"CalloutType", rule.callout_type},
                     {"CalloutUriRegex", rule.uri_regex},
                     {"CanCall", rule.can_call}});
  }
  const auto& seccomp = report.seccomp;
  const nlohmann::json json = {{"limits", LimitsJson(report.limits)},
                               {"seccomp",
                                {{"enabled", seccomp.enabled},
                                 {"generation", seccomp.generation},
                                 {"path", seccomp.path},
                                 {"kernel_features", seccomp.kernel_features},
                                 {"memfd_noexec_seal", seccomp.memfd_noexec_seal},
                                 {"instructions", seccomp.instructions},
                                 {"program_sha256", seccomp.program_sha256},
                                 {"loaded_ms_ago", seccomp.loaded_ms_ago}}},
                               {"callout",
                                {{"path", report.callout_path},
                                 {"rules", std::move(rules)},
                                 {"error", report.callout_error}}}};
  return Dump(json);
}

}  // namespace sandboxctl
