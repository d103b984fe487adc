#include "status_report.h"

#include <chrono>
#include <map>

#include "cache.h"
#include "callout_policy.h"
#include "cgroups.h"
#include "launcher_client.h"
#include "seccomp_policy.h"
#include "server.h"

namespace sandboxd {
namespace {

using Clock = std::chrono::steady_clock;

std::uint64_t MillisSince(Clock::time_point then, Clock::time_point now) {
  if (now <= then) return 0;
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(now - then).count());
}

// A sandbox exists (and with it its cgroup) from its launch until its exit.
bool HasSandbox(RequestPhase phase) {
  return phase == RequestPhase::kLaunching || phase == RequestPhase::kRunning;
}

proto::ZygoteState ZygoteStateOf(ZygoteHealth::View::State state) {
  switch (state) {
    case ZygoteHealth::View::State::kNotStarted:
      return proto::ZYGOTE_NOT_STARTED;
    case ZygoteHealth::View::State::kInUse:
      return proto::ZYGOTE_IN_USE;
    case ZygoteHealth::View::State::kBackingOff:
      return proto::ZYGOTE_BACKING_OFF;
  }
  return proto::ZYGOTE_STATE_UNSPECIFIED;
}

}  // namespace

void FillLimitsInForce(const NodeConfig& config, proto::LimitsInForce& limits) {
  limits.set_max_sandboxes(config.max_sandboxes);
  limits.set_max_queue(config.max_queue);
  limits.set_warm_sandboxes(config.warm_sandboxes);
  limits.set_memory_bytes(config.limits.memory_bytes);
  limits.set_timeout_ms(config.limits.timeout_ms);
  limits.set_cpu_percent(config.limits.cpu_percent);
  limits.set_max_result_bytes(config.limits.max_result_bytes);
  limits.set_max_log_bytes(config.limits.max_log_bytes);
  limits.set_max_pids(config.limits.max_pids);
  limits.set_tmp_bytes(config.limits.tmp_bytes);
  limits.set_work_bytes(config.limits.work_bytes);
  limits.set_max_frame_bytes(config.max_frame_bytes);
  limits.set_max_connections(config.max_connections);
  limits.set_max_connections_per_uid(config.max_connections_per_uid);
}

proto::DaemonStatus BuildDaemonStatus(Server& server) {
  const Services& services = server.services();
  const NodeConfig& config = services.config;
  const auto now = Clock::now();
  proto::DaemonStatus status;
  status.set_version(SANDBOXD_VERSION);
  status.set_uptime_ms(MillisSince(server.started(), now));
  status.set_draining(server.draining());
  status.set_default_image(config.default_image);
  status.set_sandboxes_in_use(server.admission().running());
  status.set_queued(server.admission().queued());
  if (services.launcher != nullptr) status.set_launcher_restarts(services.launcher->restarts());
  FillLimitsInForce(config, *status.mutable_limits());

  std::map<std::string, unsigned> running_by_image;
  for (const auto& request : server.active_requests().List()) {
    auto* line = status.add_requests();
    line->set_request_id(request.request_id);
    line->set_image(request.image);
    line->set_phase(static_cast<proto::RequestPhase>(request.phase));
    line->set_age_ms(MillisSince(request.received, now));
    if (HasSandbox(request.phase)) ++running_by_image[request.image];
    // The cgroup's peak so far (memory.peak, memory.max_usage_in_bytes); a validating request's
    // sandbox is gone, and so is its cgroup.
    if (services.cgroups != nullptr && !request.sandbox_id.empty() &&
        request.phase != RequestPhase::kValidating) {
      line->set_peak_memory_bytes(services.cgroups->Outcome(request.sandbox_id).peak_memory_bytes);
    }
  }

  WarmPool* pool = server.pool();
  for (const auto& image : services.images->List()) {
    auto* info = status.add_images();
    info->set_name(image.name);
    info->set_manifest_sha256(image.manifest_sha256);
    info->set_package_count(image.package_count);
    auto* line = status.add_pools();
    line->set_image(image.name);
    if (pool != nullptr && pool->image() == image.name) line->set_ready(pool->ready());
    line->set_running(running_by_image[image.name]);
    if (!config.zygotes) {
      line->set_zygote(proto::ZYGOTES_OFF);
      continue;
    }
    const auto zygote = services.zygote_health->Describe(image.name, now);
    line->set_zygote(ZygoteStateOf(zygote.state));
    if (zygote.state == ZygoteHealth::View::State::kBackingOff) {
      line->set_zygote_retry_in_ms(static_cast<std::uint64_t>(zygote.retry_in.count()));
      line->set_zygote_failure(zygote.cause);
    }
  }
  return status;
}

proto::PolicyReport BuildPolicyReport(Server& server) {
  const Services& services = server.services();
  proto::PolicyReport report;
  FillLimitsInForce(services.config, *report.mutable_limits());

  auto* seccomp = report.mutable_seccomp();
  const auto in_force = services.seccomp_in_force();
  seccomp->set_memfd_noexec_seal(services.config.memfd_noexec_seal);
  if (in_force.policy) {
    seccomp->set_enabled(true);
    seccomp->set_generation(in_force.generation);
    seccomp->set_path(services.config.seccomp_policy_path);
    seccomp->set_kernel_features(services.seccomp_features);
    const std::string& program = in_force.policy->program();
    seccomp->set_instructions(static_cast<std::uint32_t>(program.size() / 8));  // sock_filter
    seccomp->set_program_sha256(Sha256Hex(program));
    seccomp->set_loaded_ms_ago(MillisSince(in_force.loaded, Clock::now()));
  }

  auto* callout = report.mutable_callout();
  CalloutPolicy& policy = server.callout_policy();
  const auto current = policy.Current();
  callout->set_path(policy.path());
  callout->set_error(current.error);
  for (const auto& rule : current.rules->rules()) {
    auto* line = callout->add_rules();
    line->set_callout_type(rule.type);
    line->set_uri_regex(rule.uri_regex);
    line->set_can_call(rule.can_call);
  }
  return report;
}

}  // namespace sandboxd
