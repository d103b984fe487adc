// sandboxd: runs Python UDFs for a query engine, each in a fresh, confined sandbox.
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <thread>

#include "cgroups.h"
#include "config.h"
#include "instance_lock.h"
#include "internal_modes.h"
#include "launcher_client.h"
#include "log_sinks.h"
#include "metrics_endpoint.h"
#include "privilege_drop.h"
#include "root_helper.h"
#include "seccomp_policy.h"
#include "server.h"
#include "shutdown.h"
#include "tree_paths.h"

namespace {

// The daemon's io_context, which can drop its queued handlers before the objects they use go.
class EventLoop : public boost::asio::io_context {
 public:
  void DestroyHandlers() { shutdown(); }
};

std::string DefaultSeccompPolicy() {
  if (std::filesystem::exists(SANDBOXD_DEFAULT_SECCOMP_POLICY))
    return SANDBOXD_DEFAULT_SECCOMP_POLICY;
  return sandboxd::kSourceSeccompPolicy;
}

// The extension built with this binary: the installed one for the installed daemon, the build
// tree's for the build tree's (an installed extension of another build would not speak its
// launcher's frames).
std::string DefaultZygoteModuleDir() {
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec && exe == std::filesystem::path(SANDBOXD_INSTALLED_BINARY))
    return SANDBOXD_INSTALLED_ZYGOTE_DIR;
  return sandboxd::kBuiltZygoteDir;
}

// Makes `dir` (created 0700 if missing) and everything in it the daemon user's, for what the
// daemon writes there after it dropped root.
sandboxd::Status PrepareFolderForUser(const std::string& dir, const sandboxd::DaemonUser& user) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(dir).parent_path(), ec);
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return {sandboxd::ErrorCode::kInternal, "cannot create " + dir + ": " + std::strerror(errno)};
  return sandboxd::GiveToUser(dir, user);
}

// An absolute path without "." or ".." parts or a trailing '/': what the launcher's bounds and
// every launch request name, so that the one can be compared with the other.
std::string AbsoluteNormal(const std::string& path) {
  if (path.empty()) return path;
  std::error_code ec;
  std::string normal = std::filesystem::absolute(path, ec).lexically_normal().string();
  while (normal.size() > 1 && normal.back() == '/') normal.pop_back();
  return normal;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace sandboxd;
  // The root helper and the launcher are this binary too (internal_modes.h).
  if (auto code = RunInternalMode(argc, argv)) return *code;

  CLI::App app{"sandboxd: runs Python user-defined functions in confined sandboxes"};
  NodeConfig config;
  std::string config_path = "/etc/sandboxd/sandboxd.conf";
  bool foreground = false;
  bool no_cgroups = false;
  bool no_seccomp = false;
  bool no_zygotes = false;
  std::string log_level = "info";
  std::optional<std::string> log_format;
  std::optional<std::string> socket, images_dir, runtime_dir, cgroup_root, cgroup_group,
      seccomp_policy, memfd_noexec_seal;
  std::optional<unsigned> max_sandboxes, max_queue, warm_sandboxes, max_connections,
      max_connections_per_uid;
  std::optional<std::uint32_t> uid_base;
  std::optional<std::uint64_t> drain_timeout_s;
  std::optional<std::uint64_t> launcher_timeout_s;
  std::optional<std::string> metrics_listen;
  std::optional<std::string> user;
  app.add_option("--config", config_path, "JSON config file (missing is fine at the default path)");
  app.add_flag("--foreground", foreground, "run in the foreground (development and tests)");
  app.add_option("--socket", socket, "Unix socket to listen on");
  app.add_option("--images-dir", images_dir, "where built runtime images live");
  app.add_option("--runtime-dir", runtime_dir, "the Python runner folder mounted into sandboxes");
  app.add_option("--cgroup-root", cgroup_root, "a delegated cgroup v2 dir or the v1 mount root");
  app.add_option("--cgroup-v1-group", cgroup_group,
                 "this daemon's group in each cgroup v1 hierarchy");
  app.add_option("--seccomp-policy", seccomp_policy, "seccomp policy file");
  app.add_option("--memfd-noexec-seal", memfd_noexec_seal,
                 "auto: use MFD_NOEXEC_SEAL where the kernel has it (6.3+); off: policy as for 6.1")
      ->check(CLI::IsMember({"auto", "off"}));
  app.add_option("--max-sandboxes", max_sandboxes, "sandboxes running at once");
  app.add_option("--max-queue", max_queue, "requests waiting for a sandbox before OVERLOADED");
  app.add_option("--max-connections", max_connections,
                 "client connections open at once before OVERLOADED")
      ->check(CLI::Range(1U, UINT_MAX));
  app.add_option("--max-connections-per-uid", max_connections_per_uid,
                 "client connections of one peer uid open at once before OVERLOADED")
      ->check(CLI::Range(1U, UINT_MAX));
  app.add_option("--warm-sandboxes", warm_sandboxes, "sandboxes of the default image kept ready");
  app.add_option("--uid-base", uid_base, "host uid of sandbox slot 0 (never 0)");
  app.add_option("--drain-timeout-s", drain_timeout_s,
                 "on SIGTERM, how long accepted requests may finish before they are stopped")
      ->check(CLI::Range(std::uint64_t{0}, kMaxDrainTimeoutS));
  app.add_option("--launcher-timeout-s", launcher_timeout_s,
                 "how long one launch may take before the launcher is deemed wedged and restarted")
      ->check(CLI::Range(std::uint64_t{1}, kMaxLauncherTimeoutS));
  app.add_option("--metrics-listen", metrics_listen,
                 "host:port for Prometheus' GET /metrics, e.g. 127.0.0.1:9464 (default: none)");
  app.add_option("--user", user,
                 "the user the daemon drops to once it holds what needs root (config `user`)");
  app.add_flag("--no-zygotes", no_zygotes,
               "start every sandbox's interpreter instead of forking it from a zygote");
  app.add_flag("--no-cgroups", no_cgroups, "development only: no cgroup limits");
  app.add_flag("--no-seccomp", no_seccomp, "development only: no syscall filter");
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error");
  app.add_option("--log-format", log_format,
                 "text, json (one object per line) or journald (native fields); default: journald "
                 "when stderr is the journal, else text")
      ->check(CLI::IsMember({"text", "json", "journald"}));
  CLI11_PARSE(app, argc, argv);

  // The format the flag names, else the default until the config file may name another.
  const auto use_log_format = [&](LogFormat format) {
    spdlog::set_default_logger(MakeLogger(format, STDERR_FILENO, foreground));
    spdlog::set_level(spdlog::level::from_str(log_level));
  };
  use_log_format(log_format ? *ParseLogFormat(*log_format) : DefaultLogFormat());

  if (std::filesystem::exists(config_path) || app.count("--config") > 0) {
    if (Status s = LoadConfigFile(config_path, config); !s.ok()) {
      spdlog::critical("{}", s.message());
      return 2;
    }
  }
  if (!log_format && !config.log_format.empty())
    use_log_format(*ParseLogFormat(config.log_format));  // LoadConfigFile checked the name
  if (socket) config.socket_path = *socket;
  if (images_dir) config.images_dir = *images_dir;
  if (runtime_dir) config.runtime_dir = *runtime_dir;
  if (cgroup_root) config.cgroup_root = *cgroup_root;
  if (cgroup_group) config.cgroup_v1_group = *cgroup_group;
  if (seccomp_policy) config.seccomp_policy_path = *seccomp_policy;
  if (memfd_noexec_seal) config.memfd_noexec_seal = *memfd_noexec_seal;
  if (max_sandboxes) config.max_sandboxes = *max_sandboxes;
  if (max_queue) config.max_queue = *max_queue;
  if (max_connections) config.max_connections = *max_connections;
  if (max_connections_per_uid) config.max_connections_per_uid = *max_connections_per_uid;
  if (warm_sandboxes) config.warm_sandboxes = std::min(*warm_sandboxes, config.max_sandboxes);
  if (uid_base) config.sandbox_uid_base = *uid_base;
  if (drain_timeout_s) config.drain_timeout_s = *drain_timeout_s;
  if (launcher_timeout_s) config.launcher_timeout_s = *launcher_timeout_s;
  if (metrics_listen) config.metrics_listen = *metrics_listen;
  if (user) config.user = *user;
  if (config.sandbox_uid_base == 0) {
    spdlog::critical("--uid-base must not be 0: sandboxes never run as host root");
    return 2;
  }
  if (config.seccomp_policy_path.empty()) config.seccomp_policy_path = DefaultSeccompPolicy();
  if (no_zygotes) config.zygotes = false;
  if (config.zygote_module_dir.empty()) config.zygote_module_dir = DefaultZygoteModuleDir();

  for (std::string* dir : {&config.images_dir, &config.runtime_dir, &config.zygote_module_dir,
                           &config.state_dir, &config.artifacts.dir})
    *dir = AbsoluteNormal(*dir);

  // The user to drop to (privilege_drop.h), looked up while nothing has started yet.
  std::optional<DaemonUser> daemon_user;
  if (!config.user.empty()) {
    auto found = LookUpDaemonUser(config.user);
    if (!found.ok()) {
      spdlog::critical("{}", found.status().message());
      return 2;
    }
    if (::geteuid() != 0) {
      spdlog::critical("user {}: the daemon must be started as root to drop to it", config.user);
      return 2;
    }
    daemon_user = *found;
  } else if (::geteuid() == 0) {
    spdlog::warn(
        "the daemon runs as root while it parses client requests, sandbox output and downloads: "
        "set `user` (--user, the package's is 'sandboxd') so that only the launcher and the root "
        "helper keep root");
  }

  // The root helper first: it must be exec'd before this process has any thread, and it learns
  // now, before anything hostile has been read, whom it may signal and what it may remove.
  RootHelper::Bounds helper_bounds;
  helper_bounds.uid_first = config.sandbox_uid_base;
  helper_bounds.uid_count = 2 * config.max_sandboxes;
  helper_bounds.socket_path = AbsoluteNormal(config.socket_path);
  helper_bounds.claim_path = config.lock_dir + "/" + std::to_string(::getpid()) + ".claim";
  auto helper = RootHelper::Start(helper_bounds);
  if (!helper.ok()) {
    spdlog::critical("{}", helper.status().message());
    return 1;
  }
  SetRootHelper(helper->get());

  // The cgroups before the launcher: its bounds name the folders of the sandboxes' cgroups.
  std::unique_ptr<CgroupManager> cgroups;
  if (!no_cgroups) {
    auto detected = DetectCgroupManager(config.cgroup_root, config.cgroup_v1_group);
    if (!detected.ok()) {
      spdlog::critical("cgroups: {}", detected.status().message());
      return 1;
    }
    cgroups = std::move(*detected);
  }
  // The launcher (the helper's child) learns what it may be asked for now, before anything
  // hostile has been read (launcher/launch_bounds.h).
  internal::LaunchBounds bounds;
  bounds.set_uid_first(config.sandbox_uid_base);
  bounds.set_uid_count(2 * config.max_sandboxes);
  bounds.set_images_dir(config.images_dir);
  bounds.set_runtime_dir(config.runtime_dir);
  bounds.set_zygote_module_dir(config.zygote_module_dir);
  bounds.set_artifacts_dir(config.artifacts.dir.empty() ? config.state_dir + "/artifacts"
                                                        : config.artifacts.dir);
  bounds.set_allow_no_seccomp(no_seccomp);
  if (cgroups) {
    for (const auto& dir : cgroups->SandboxParents()) bounds.add_cgroup_dirs(AbsoluteNormal(dir));
  }
  bounds.set_max_tmp_bytes(config.limits.tmp_bytes);
  bounds.set_max_work_bytes(config.limits.work_bytes);
  bounds.set_max_shm_bytes(config.limits.shm_bytes);
  bounds.set_max_inodes(config.limits.max_inodes);
  bounds.set_max_open_files(config.limits.max_open_files);
  bounds.set_max_memory_bytes(config.limits.memory_bytes);
  auto launcher =
      LauncherClient::Start(bounds, helper->get(), std::chrono::seconds(config.launcher_timeout_s));
  if (!launcher.ok()) {
    spdlog::critical("{}", launcher.status().message());
    return 1;
  }

  // The kernel facts the policy's `when`/`unless` lines depend on, asked once.
  KernelFeatures kernel = KernelFeatures::Probe();
  if (config.memfd_noexec_seal == "off") kernel.memfd_noexec_seal = false;
  std::shared_ptr<const SeccompPolicy> seccomp;
  if (!no_seccomp) {
    auto policy = SeccompPolicy::LoadFile(config.seccomp_policy_path, kernel);
    if (!policy.ok()) {
      spdlog::critical("seccomp policy: {}", policy.status().message());
      return 1;
    }
    seccomp = std::make_shared<const SeccompPolicy>(std::move(*policy));
    spdlog::info("seccomp policy {} compiled ({} instructions; kernel features: {})",
                 config.seccomp_policy_path, seccomp->program().size() / 8, kernel.Describe());
  }
  // Before anything of another daemon's could be touched: the stale-sandbox sweep below removes
  // every sandbox cgroup of this daemon's group, which is only right while no live daemon shares
  // it (nor the uids of its slots).
  InstanceClaim claim;
  claim.cgroup = cgroups ? cgroups->Describe() : "";
  claim.uid_first = config.sandbox_uid_base;
  claim.uid_count = 2 * config.max_sandboxes;
  claim.socket = config.socket_path;
  auto instance = InstanceLock::Acquire(config.lock_dir, claim);
  if (!instance.ok()) {
    spdlog::critical("{}", instance.status().message());
    return 1;
  }
  if (cgroups) {
    const int stale = cgroups->RemoveStale();
    spdlog::info("{}; removed {} stale sandbox cgroups", cgroups->Describe(), stale);
  }

  ImageRegistry images(config.images_dir);
  Services services;
  services.config = config;
  services.launcher = launcher->get();
  services.cgroups = cgroups.get();
  services.set_seccomp(seccomp);
  services.seccomp_features = kernel.Describe();
  services.images = &images;

  EventLoop io;
  Server server(io, services);
  if (Status s = server.Listen(); !s.ok()) {
    spdlog::critical("{}", s.message());
    return 1;
  }
  // Everything that needs root is held now: the rest runs as the daemon's user. What it writes
  // from here on becomes that user's first (the cgroups it makes sandboxes in, its spill and
  // artifact folders, its socket).
  if (daemon_user) {
    std::vector<std::string> owned = {config.socket_path};
    if (cgroups) {
      const auto parents = cgroups->SandboxParents();
      owned.insert(owned.end(), parents.begin(), parents.end());
    }
    Status given = Status::Ok();
    for (const auto& path : owned) {
      if (given.ok()) given = GiveToUser(path, *daemon_user);
    }
    for (const std::string& dir :
         {config.spill_dir.empty() ? config.state_dir + "/spill" : config.spill_dir,
          bounds.artifacts_dir()}) {
      if (given.ok()) given = PrepareFolderForUser(dir, *daemon_user);
    }
    if (given.ok()) given = DropPrivileges(*daemon_user);
    if (!given.ok()) {
      spdlog::critical("dropping root to user {}: {}", daemon_user->name, given.message());
      return 1;
    }
    spdlog::info(
        "running as user {} (uid {}, gid {}) with no capability; the root helper (pid {}) and "
        "its launcher keep root",
        daemon_user->name, daemon_user->uid, daemon_user->gid, (*helper)->pid());
  }
  spdlog::info("listening on {} ({} sandboxes, {} warm, queue {}, images in {})",
               config.socket_path, config.max_sandboxes, config.warm_sandboxes, config.max_queue,
               config.images_dir);
  server.StartWarmPool();
  std::shared_ptr<MetricsEndpoint> metrics;
  if (!config.metrics_listen.empty()) {
    auto started = MetricsEndpoint::Start(io, config.metrics_listen, [&server] {
      return server.metrics().Render(server.SampleGauges());
    });
    if (!started.ok()) {
      spdlog::critical("{}", started.status().message());
      return 1;
    }
    metrics = std::move(*started);
    spdlog::info("metrics on http://{}/metrics", metrics->address());
  }

  // SIGTERM drains, bounded by drain_timeout_s; a second signal stops at once (shutdown.h).
  Shutdown shutdown(io, server, std::chrono::seconds(config.drain_timeout_s));
  shutdown.Watch();
  ::signal(SIGPIPE, SIG_IGN);

  // SIGHUP reloads the policy files; a policy that does not compile leaves the old one in force.
  boost::asio::signal_set reload_signals(io, SIGHUP);
  std::function<void()> wait_reload = [&] {
    reload_signals.async_wait([&](const boost::system::error_code& ec, int) {
      if (ec) return;
      if (!no_seccomp) {
        auto policy = SeccompPolicy::LoadFile(config.seccomp_policy_path, kernel);
        if (policy.ok()) {
          services.set_seccomp(std::make_shared<const SeccompPolicy>(std::move(*policy)));
          spdlog::info("SIGHUP: seccomp policy {} reloaded", config.seccomp_policy_path);
          // Warm sandboxes carry the filter they were launched with.
          if (auto* pool = server.pool()) pool->Recycle();
        } else {
          spdlog::error("SIGHUP: seccomp policy not reloaded, the old one stays: {}",
                        policy.status().message());
        }
      }
      // Fresh zygotes: a new address layout and hash seed for the children to come.
      // Every image tries its zygote again (a broken one may have been rebuilt).
      services.zygote_health->Reset();
      if (Status s = services.launcher->RestartZygotes(); !s.ok())
        spdlog::error("SIGHUP: {}", s.message());
      else if (config.zygotes)
        spdlog::info("SIGHUP: zygotes restarted");
      wait_reload();
    });
  };
  wait_reload();

  // systemd: ready, and the watchdog fed from the event loop so a stuck loop gets restarted.
  sd_notify(0, "READY=1");
  std::uint64_t watchdog_usec = 0;
  boost::asio::steady_timer watchdog(io);
  std::function<void()> feed = [&] {
    sd_notify(0, "WATCHDOG=1");
    watchdog.expires_after(std::chrono::microseconds(watchdog_usec / 2));
    watchdog.async_wait([&](const boost::system::error_code& ec) {
      if (!ec) feed();
    });
  };
  if (sd_watchdog_enabled(0, &watchdog_usec) > 0) feed();

  std::vector<std::thread> threads;
  const unsigned n = std::max(1U, config.io_threads);
  for (unsigned i = 1; i < n; ++i) threads.emplace_back([&] { io.run(); });
  io.run();
  for (auto& t : threads) t.join();
  WaitForLaunchesAndChecks();
  // The handlers still queued hold sessions and executions that use the Server's parts: they
  // are destroyed now, while those parts exist (the context would destroy them after the Server),
  // and the sandboxes they held are killed and their cgroups removed.
  io.DestroyHandlers();
  WaitForCleanups();
  // A stopped node leaves no sandbox cgroup: what a removal under load had to leave for later
  // (there is no later) gets a last, longer try; what still remains, the next start sweeps.
  if (cgroups) {
    if (const int left = cgroups->RemoveLeftovers(); left > 0)
      spdlog::warn("{} sandbox cgroups could not be removed yet; the next start removes them",
                   left);
  }
  // Once root was dropped, the socket's and the claim's folders are not the daemon's to write:
  // the helper removes both (the claim's lock is still held: no other daemon can take it yet).
  if (daemon_user)
    (*helper)->RemoveFiles();
  else
    ::unlink(config.socket_path.c_str());
  spdlog::info("stopped");
  return 0;
}
