#include "launch_spec_builder.h"

#include <algorithm>
#include <limits>

namespace sandboxd {
namespace {

bool Absolute(const std::string& path) { return !path.empty() && path.front() == '/'; }

}  // namespace

unsigned VisibleCpus(std::uint32_t cpu_percent, unsigned host_cpus) {
  const unsigned host = std::max(host_cpus, 1U);
  if (cpu_percent == 0) return host;
  return std::clamp((cpu_percent + 99U) / 100U, 1U, host);
}

void SetSandboxCommand(internal::LaunchRequest& launch, bool from_zygote,
                       const std::string& zygote_module_dir,
                       const std::vector<std::string>& preload) {
  launch.set_from_zygote(from_zygote);
  // The project's extensions: a zygote loads them; a launched sandbox mounts the folder at
  // /sandbox/lib for the runner's C loops (runtime_images/native).
  launch.set_zygote_module_dir(zygote_module_dir);
  launch.clear_argv();
  for (const char* arg :
       {"/usr/bin/python3", "-I", "-B",
        from_zygote ? "/sandbox/runtime/zygote.py" : "/sandbox/runtime/runner.py"})
    launch.add_argv(arg);
  for (const auto& module : preload) launch.add_argv("--preload=" + module);
}

void LaunchSpecBuilder::Error(const std::string& message) {
  errors_.emplace_back(ErrorCode::kInternal, "the sandbox's launch specification: " + message);
}

LaunchSpecBuilder& LaunchSpecBuilder::SandboxId(const std::string& id) {
  if (id.empty()) Error("sandbox_id is empty");
  spec_.set_sandbox_id(id);
  return *this;
}

LaunchSpecBuilder& LaunchSpecBuilder::Rootfs(const std::string& path) {
  if (!Absolute(path)) Error("rootfs '" + path + "' is not an absolute path");
  spec_.set_rootfs(path);
  return *this;
}

LaunchSpecBuilder& LaunchSpecBuilder::RuntimeDir(const std::string& path) {
  if (!Absolute(path)) Error("runtime_dir '" + path + "' is not an absolute path");
  spec_.set_runtime_dir(path);
  return *this;
}

LaunchSpecBuilder& LaunchSpecBuilder::ArtifactsDir(const std::string& path) {
  if (!path.empty() && !Absolute(path))
    Error("artifacts_dir '" + path + "' is not an absolute path");
  spec_.set_artifacts_dir(path);
  return *this;
}

LaunchSpecBuilder& LaunchSpecBuilder::SiteDir(const std::string& path) {
  if (!path.empty() && !Absolute(path)) Error("site_dir '" + path + "' is not an absolute path");
  spec_.set_site_dir(path);
  return *this;
}

LaunchSpecBuilder& LaunchSpecBuilder::Slot(std::uint32_t uid_base, unsigned slot) {
  // Slot i owns host ids base+2i (the UDF) and base+2i+1 (the sandbox's root).
  const std::uint64_t udf_id = std::uint64_t{uid_base} + 2 * std::uint64_t{slot};
  if (uid_base == 0) {
    Error("the slots' host uids start at 0 (root)");
  } else if (udf_id + 1 > std::numeric_limits<std::uint32_t>::max()) {
    Error("slot " + std::to_string(slot) + " from uid " + std::to_string(uid_base) +
          " is past the largest host uid");
  } else {
    has_slot_ = true;
  }
  const auto udf = static_cast<std::uint32_t>(udf_id);
  spec_.set_outside_uid(udf);
  spec_.set_outside_gid(udf);
  spec_.set_outside_root_uid(udf + 1);
  spec_.set_outside_root_gid(udf + 1);
  return *this;
}

LaunchSpecBuilder& LaunchSpecBuilder::Limits(const SandboxLimits& limits) {
  spec_.set_tmp_bytes(limits.tmp_bytes);
  spec_.set_work_bytes(limits.work_bytes);
  spec_.set_shm_bytes(limits.shm_bytes);
  spec_.set_max_inodes(limits.max_inodes);
  spec_.set_max_open_files(limits.max_open_files);
  spec_.set_max_file_bytes(limits.work_bytes);
  return *this;
}

LaunchSpecBuilder& LaunchSpecBuilder::VisibleResources(unsigned cpus, std::uint64_t memory_bytes) {
  if (cpus == 0) Error("cpu_count is 0");
  spec_.set_cpu_count(cpus);
  spec_.set_memory_bytes(memory_bytes);
  return Env("OMP_NUM_THREADS=" + std::to_string(cpus));
}

LaunchSpecBuilder& LaunchSpecBuilder::Hostname(const std::string& name) {
  if (name.empty()) Error("hostname is empty");
  spec_.set_hostname(name);
  return *this;
}

LaunchSpecBuilder& LaunchSpecBuilder::Command(bool from_zygote,
                                              const std::string& zygote_module_dir,
                                              const std::vector<std::string>& preload) {
  if ((from_zygote || !zygote_module_dir.empty()) && !Absolute(zygote_module_dir))
    Error("zygote_module_dir '" + zygote_module_dir + "' is not an absolute path");
  SetSandboxCommand(spec_, from_zygote, zygote_module_dir, preload);
  return *this;
}

LaunchSpecBuilder& LaunchSpecBuilder::Env(const std::string& variable) {
  if (const auto eq = variable.find('='); eq == std::string::npos || eq == 0)
    Error("environment entry '" + variable + "' is not NAME=value");
  spec_.add_env(variable);
  return *this;
}

LaunchSpecBuilder& LaunchSpecBuilder::SeccompProgram(const std::string& program) {
  spec_.set_seccomp_program(program);
  return *this;
}

StatusOr<internal::LaunchRequest> LaunchSpecBuilder::Build() {
  // Fields no setter was called for (a setter that was called and failed said so already).
  if (spec_.sandbox_id().empty()) Error("sandbox_id is not set");
  if (spec_.rootfs().empty()) Error("rootfs is not set");
  if (spec_.runtime_dir().empty()) Error("runtime_dir is not set");
  if (!has_slot_) Error("no slot is set");
  if (spec_.argv().empty()) Error("no command is set");
  if (!errors_.empty()) return errors_.front();
  return spec_;
}

}  // namespace sandboxd
