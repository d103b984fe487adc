#include "config.h"

#include <fstream>
#include <nlohmann/json.hpp>

namespace sandboxd {
namespace {

template <typename T>
void Read(const nlohmann::json& obj, const char* key, T& out) {
  if (auto it = obj.find(key); it != obj.end()) out = it->get<T>();
}

}  // namespace

Status LoadConfigFile(const std::string& path, NodeConfig& config) {
  std::ifstream in(path);
  if (!in) return {ErrorCode::kInternal, "cannot read config file " + path};
  try {
    const nlohmann::json doc = nlohmann::json::parse(in);
    if (!doc.is_object()) return {ErrorCode::kInternal, path + ": the config must be a JSON object"};
    static const char* const kKnown[] = {
        "socket", "allowed_uids", "allowed_gids", "images_dir", "runtime_dir", "default_image",
        "seccomp_policy", "cgroup_root", "cgroup_v1_group", "state_dir", "max_sandboxes", "max_queue", "io_threads",
        "sandbox_uid_base", "max_frame_bytes", "limits"};
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
    Read(doc, "cgroup_root", config.cgroup_root);
    Read(doc, "cgroup_v1_group", config.cgroup_v1_group);
    Read(doc, "state_dir", config.state_dir);
    Read(doc, "max_sandboxes", config.max_sandboxes);
    Read(doc, "max_queue", config.max_queue);
    Read(doc, "io_threads", config.io_threads);
    Read(doc, "sandbox_uid_base", config.sandbox_uid_base);
    Read(doc, "max_frame_bytes", config.max_frame_bytes);
    if (auto it = doc.find("limits"); it != doc.end()) {
      const auto& l = *it;
      SandboxLimits& out = config.limits;
      if (l.contains("memory_mb")) out.memory_bytes = l["memory_mb"].get<std::uint64_t>() << 20;
      if (l.contains("timeout_s")) out.timeout_ms = l["timeout_s"].get<std::uint64_t>() * 1000;
      if (l.contains("max_result_mb")) out.max_result_bytes = l["max_result_mb"].get<std::uint64_t>() << 20;
      if (l.contains("max_log_kb")) out.max_log_bytes = l["max_log_kb"].get<std::uint64_t>() << 10;
      if (l.contains("tmp_mb")) out.tmp_bytes = l["tmp_mb"].get<std::uint64_t>() << 20;
      if (l.contains("work_mb")) out.work_bytes = l["work_mb"].get<std::uint64_t>() << 20;
      if (l.contains("shm_mb")) out.shm_bytes = l["shm_mb"].get<std::uint64_t>() << 20;
      Read(l, "max_inodes", out.max_inodes);
      Read(l, "max_open_files", out.max_open_files);
      Read(l, "max_pids", out.max_pids);
      Read(l, "cpu_percent", out.cpu_percent);
    }
  } catch (const nlohmann::json::exception& e) {
    return {ErrorCode::kInternal, path + ": " + e.what()};
  }
  if (config.sandbox_uid_base == 0) return {ErrorCode::kInternal, path + ": sandbox_uid_base must not be 0"};
  if (config.max_sandboxes == 0) return {ErrorCode::kInternal, path + ": max_sandboxes must be at least 1"};
  return Status::Ok();
}

}  // namespace sandboxd
