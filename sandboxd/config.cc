#include "config.h"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>

namespace sandboxd {
namespace {

template <typename T>
void Read(const nlohmann::json& obj, const char* key, T& out) {
  if (auto it = obj.find(key); it != obj.end()) out = it->get<T>();
}

Status ReadArtifacts(const nlohmann::json& a, const std::string& path, ArtifactsConfig& out) {
  if (!a.is_object()) return {ErrorCode::kInternal, path + ": 'artifacts' must be an object"};
  static const char* const kKnown[] = {"policy_file",         "ca_file",
                                       "allow_http_loopback", "dir",
                                       "max_artifacts",       "max_artifact_bytes",
                                       "max_request_bytes",   "download_timeout_s",
                                       "connect_timeout_s",   "max_redirects",
                                       "cache_bytes",         "unpacked_cache_bytes",
                                       "fetch_threads",       "unpack_helper",
                                       "unpack_uid",          "unpack_gid",
                                       "unpack_timeout_s",    "bundle"};
  for (const auto& [key, value] : a.items()) {
    if (std::find(std::begin(kKnown), std::end(kKnown), key) == std::end(kKnown))
      return {ErrorCode::kInternal, path + ": unknown key 'artifacts." + key + "'"};
  }
  Read(a, "policy_file", out.policy_file);
  Read(a, "ca_file", out.ca_file);
  Read(a, "allow_http_loopback", out.allow_http_loopback);
  Read(a, "dir", out.dir);
  Read(a, "max_artifacts", out.max_artifacts);
  Read(a, "max_artifact_bytes", out.max_artifact_bytes);
  Read(a, "max_request_bytes", out.max_request_bytes);
  Read(a, "download_timeout_s", out.download_timeout_s);
  Read(a, "connect_timeout_s", out.connect_timeout_s);
  Read(a, "max_redirects", out.max_redirects);
  Read(a, "cache_bytes", out.cache_bytes);
  Read(a, "unpacked_cache_bytes", out.unpacked_cache_bytes);
  Read(a, "fetch_threads", out.fetch_threads);
  Read(a, "unpack_helper", out.unpack_helper);
  Read(a, "unpack_uid", out.unpack_uid);
  Read(a, "unpack_gid", out.unpack_gid);
  Read(a, "unpack_timeout_s", out.unpack_timeout_s);
  if (auto it = a.find("bundle"); it != a.end()) {
    const auto& b = *it;
    static const char* const kBundle[] = {"max_entries", "max_unpacked_bytes", "max_entry_bytes",
                                          "max_ratio",   "max_name_bytes",     "max_depth"};
    for (const auto& [key, value] : b.items()) {
      if (std::find(std::begin(kBundle), std::end(kBundle), key) == std::end(kBundle))
        return {ErrorCode::kInternal, path + ": unknown key 'artifacts.bundle." + key + "'"};
    }
    Read(b, "max_entries", out.bundle.max_entries);
    Read(b, "max_unpacked_bytes", out.bundle.max_unpacked_bytes);
    Read(b, "max_entry_bytes", out.bundle.max_entry_bytes);
    Read(b, "max_ratio", out.bundle.max_ratio);
    Read(b, "max_name_bytes", out.bundle.max_name_bytes);
    Read(b, "max_depth", out.bundle.max_depth);
  }
  if (out.unpack_uid == 0 || out.unpack_gid == 0)
    return {ErrorCode::kInternal, path + ": artifacts.unpack_uid and unpack_gid must not be 0"};
  if (out.max_artifact_bytes == 0 || out.max_request_bytes == 0 || out.bundle.max_ratio == 0)
    return {ErrorCode::kInternal, path + ": artifact size limits must be positive"};
  return Status::Ok();
}

}  // namespace

Status LoadConfigFile(const std::string& path, NodeConfig& config) {
  std::ifstream in(path);
  if (!in) return {ErrorCode::kInternal, "cannot read config file " + path};
  try {
    const nlohmann::json doc = nlohmann::json::parse(in);
    if (!doc.is_object())
      return {ErrorCode::kInternal, path + ": the config must be a JSON object"};
    static const char* const kKnown[] = {"socket",
                                         "allowed_uids",
                                         "allowed_gids",
                                         "images_dir",
                                         "runtime_dir",
                                         "default_image",
                                         "seccomp_policy",
                                         "cgroup_root",
                                         "cgroup_v1_group",
                                         "state_dir",
                                         "max_sandboxes",
                                         "max_queue",
                                         "warm_sandboxes",
                                         "io_threads",
                                         "sandbox_uid_base",
                                         "max_frame_bytes",
                                         "limits",
                                         "artifacts",
                                         "memfd_noexec_seal",
                                         "spill_dir",
                                         "max_spill_mb",
                                         "lock_dir",
                                         "client_write_timeout_ms",
                                         "client_frame_timeout_ms",
                                         "max_connections",
                                         "max_connections_per_uid",
                                         "drain_timeout_s",
                                         "launcher_timeout_s",
                                         "metrics_listen",
                                         "user",
                                         "log_format",
                                         "zygotes",
                                         "zygote_module_dir"};
    for (const auto& [key, value] : doc.items()) {
      if (std::find(std::begin(kKnown), std::end(kKnown), key) == std::end(kKnown))
        return {ErrorCode::kInternal, path + ": unknown key '" + key + "'"};
    }
    Read(doc, "socket", config.socket_path);
    Read(doc, "allowed_uids", config.allowed_uids);
    Read(doc, "allowed_gids", config.allowed_gids);
    Read(doc, "images_dir", config.images_dir);
    Read(doc, "runtime_dir", config.runtime_dir);
    Read(doc, "default_image", config.default_image);
    Read(doc, "seccomp_policy", config.seccomp_policy_path);
    Read(doc, "memfd_noexec_seal", config.memfd_noexec_seal);
    Read(doc, "cgroup_root", config.cgroup_root);
    Read(doc, "cgroup_v1_group", config.cgroup_v1_group);
    Read(doc, "state_dir", config.state_dir);
    Read(doc, "lock_dir", config.lock_dir);
    Read(doc, "max_sandboxes", config.max_sandboxes);
    Read(doc, "max_queue", config.max_queue);
    Read(doc, "warm_sandboxes", config.warm_sandboxes);
    Read(doc, "io_threads", config.io_threads);
    Read(doc, "sandbox_uid_base", config.sandbox_uid_base);
    Read(doc, "max_frame_bytes", config.max_frame_bytes);
    Read(doc, "spill_dir", config.spill_dir);
    Read(doc, "client_write_timeout_ms", config.client_write_timeout_ms);
    Read(doc, "client_frame_timeout_ms", config.client_frame_timeout_ms);
    Read(doc, "max_connections", config.max_connections);
    Read(doc, "max_connections_per_uid", config.max_connections_per_uid);
    Read(doc, "drain_timeout_s", config.drain_timeout_s);
    Read(doc, "launcher_timeout_s", config.launcher_timeout_s);
    Read(doc, "metrics_listen", config.metrics_listen);
    Read(doc, "user", config.user);
    Read(doc, "log_format", config.log_format);
    Read(doc, "zygotes", config.zygotes);
    Read(doc, "zygote_module_dir", config.zygote_module_dir);
    if (doc.contains("max_spill_mb"))
      config.max_spill_bytes = doc["max_spill_mb"].get<std::uint64_t>() << 20;
    if (auto it = doc.find("limits"); it != doc.end()) {
      const auto& l = *it;
      SandboxLimits& out = config.limits;
      if (l.contains("memory_mb")) out.memory_bytes = l["memory_mb"].get<std::uint64_t>() << 20;
      if (l.contains("timeout_s")) out.timeout_ms = l["timeout_s"].get<std::uint64_t>() * 1000;
      if (l.contains("max_result_mb"))
        out.max_result_bytes = l["max_result_mb"].get<std::uint64_t>() << 20;
      if (l.contains("max_log_kb")) out.max_log_bytes = l["max_log_kb"].get<std::uint64_t>() << 10;
      if (l.contains("tmp_mb")) out.tmp_bytes = l["tmp_mb"].get<std::uint64_t>() << 20;
      if (l.contains("work_mb")) out.work_bytes = l["work_mb"].get<std::uint64_t>() << 20;
      if (l.contains("shm_mb")) out.shm_bytes = l["shm_mb"].get<std::uint64_t>() << 20;
      Read(l, "max_inodes", out.max_inodes);
      Read(l, "max_open_files", out.max_open_files);
      Read(l, "max_pids", out.max_pids);
      Read(l, "cpu_percent", out.cpu_percent);
    }
    if (auto it = doc.find("artifacts"); it != doc.end()) {
      if (Status s = ReadArtifacts(*it, path, config.artifacts); !s.ok()) return s;
    }
  } catch (const nlohmann::json::exception& e) {
    return {ErrorCode::kInternal, path + ": " + e.what()};
  }
  if (config.sandbox_uid_base == 0)
    return {ErrorCode::kInternal, path + ": sandbox_uid_base must not be 0"};
  if (config.memfd_noexec_seal != "auto" && config.memfd_noexec_seal != "off")
    return {ErrorCode::kInternal, path + ": memfd_noexec_seal must be \"auto\" or \"off\", not \"" +
                                      config.memfd_noexec_seal + "\""};
  if (!config.log_format.empty() && config.log_format != "text" && config.log_format != "json" &&
      config.log_format != "journald")
    return {ErrorCode::kInternal,
            path + ": log_format must be \"text\", \"json\" or \"journald\", not \"" +
                config.log_format + "\""};
  if (config.max_sandboxes == 0)
    return {ErrorCode::kInternal, path + ": max_sandboxes must be at least 1"};
  if (config.client_write_timeout_ms == 0)
    return {ErrorCode::kInternal, path + ": client_write_timeout_ms must be at least 1"};
  if (config.client_frame_timeout_ms == 0)
    return {ErrorCode::kInternal, path + ": client_frame_timeout_ms must be at least 1"};
  if (config.max_connections == 0 || config.max_connections_per_uid == 0)
    return {ErrorCode::kInternal,
            path + ": max_connections and max_connections_per_uid must be at least 1"};
  if (config.drain_timeout_s > kMaxDrainTimeoutS)
    return {ErrorCode::kInternal, path + ": drain_timeout_s must be at most " +
                                      std::to_string(kMaxDrainTimeoutS) + ", not " +
                                      std::to_string(config.drain_timeout_s)};
  if (config.launcher_timeout_s == 0 || config.launcher_timeout_s > kMaxLauncherTimeoutS)
    return {ErrorCode::kInternal, path + ": launcher_timeout_s must be 1 to " +
                                      std::to_string(kMaxLauncherTimeoutS) + ", not " +
                                      std::to_string(config.launcher_timeout_s)};
  return Status::Ok();
}

}  // namespace sandboxd
