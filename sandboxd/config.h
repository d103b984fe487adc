// The node's configuration: one schema, read from /etc/sandboxd/sandboxd.conf (JSON) and
// overridden by flags. Every limit here is a node default that a request may only lower.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "artifacts_config.h"
#include "sandboxd/status.h"

namespace sandboxd {

struct SandboxLimits {
  std::uint64_t memory_bytes = 1ULL << 30;  // Kusto's default: 1 GiB per sandbox
  std::uint64_t timeout_ms = 600'000;       // 600 s
  std::uint64_t max_result_bytes = 256ULL << 20;
  std::uint64_t max_log_bytes = 1ULL << 20;
  std::uint64_t tmp_bytes = 256ULL << 20;
  std::uint64_t work_bytes = 256ULL << 20;
  std::uint64_t shm_bytes = 64ULL << 20;
  std::uint64_t max_inodes = 16384;
  std::uint64_t max_open_files = 1024;
  std::uint64_t max_pids = 256;
  std::uint32_t cpu_percent = 100;  // throttled (cpu.max), never killed
};

// An hour: far past any request's time limit, short of a unit that never stops.
inline constexpr std::uint64_t kMaxDrainTimeoutS = 3600;
inline constexpr std::uint64_t kMaxLauncherTimeoutS = 3600;

struct NodeConfig {
  std::string socket_path = "/run/sandboxd/sandboxd.sock";
  std::vector<uid_t> allowed_uids;  // besides root and the daemon's own uid
  std::vector<gid_t> allowed_gids;  // peers whose primary group is one of these
  std::string images_dir = "/var/lib/sandboxd/images";
  std::string runtime_dir = SANDBOXD_DEFAULT_RUNTIME_DIR;
  std::string default_image = "python3.11";
  std::string seccomp_policy_path;  // empty: the installed default policy
  // "auto": the policy's `when memfd_noexec_seal` rules apply where the kernel has the flag
  // (6.3+); "off": compile it as for a kernel without (Debian 12's 6.1), whatever this one has.
  std::string memfd_noexec_seal = "auto";
  std::string cgroup_root;  // empty: detect (v2 delegated subtree, or v1 controllers)
  std::string cgroup_v1_group = "sandboxd";  // the daemon's group in each v1 hierarchy
  std::string state_dir = "/var/lib/sandboxd";
  // Where each daemon claims its cgroup group and uid range (instance_lock.h), host-wide.
  std::string lock_dir = "/run/lock/sandboxd";
  unsigned max_sandboxes = 16;
  unsigned max_queue = 64;
  unsigned warm_sandboxes = 2;  // of the default image, ready before requests arrive
  unsigned io_threads = 4;
  std::uint32_t sandbox_uid_base = 1'500'000'000;  // slot i owns host uids base+2i, base+2i+1
  std::uint32_t max_frame_bytes = 64U << 20;
  // spill_to_disk: where input tables are staged (empty: state_dir/spill; a disk filesystem,
  // not tmpfs), and how many bytes all staged inputs may hold at once.
  std::string spill_dir;
  std::uint64_t max_spill_bytes = 16ULL << 30;
  // A client connection whose answers make no progress into its socket for this long is closed
  // (only that one), so a peer that stops reading holds its own memory and nothing else.
  std::uint64_t client_write_timeout_ms = 30'000;
  // A frame that has begun must arrive whole within this long, or its connection is closed: a
  // client that sends part of a frame and stops holds nothing for long. A connection idle between
  // frames is not bounded.
  std::uint64_t client_frame_timeout_ms = 5'000;
  // Client connections open at once, in all and per peer uid; one past a cap is answered
  // OVERLOADED and closed. Well under the daemon's descriptor limit (the unit's LimitNOFILE), so
  // a flood of connections cannot take the descriptors that answers, logs and launches need.
  unsigned max_connections = 4096;
  unsigned max_connections_per_uid = 1024;
  // SIGTERM: requests already accepted may finish for this long; what is still running or
  // queued then is stopped and answered OVERLOADED (retry elsewhere or after the restart). The
  // unit's TimeoutStopSec must exceed it. 0: stop them at once.
  std::uint64_t drain_timeout_s = 60;
  // How long the daemon waits for one answer of its launcher. Above the launcher's own bounds
  // (a zygote's start, 120 s, and its steps): a launcher that misses it is wedged, and is
  // restarted (launcher_client.h).
  std::uint64_t launcher_timeout_s = 180;
  // "text", "json" or "journald" (log_sinks.h); empty: journald when stderr is the journal,
  // else text. The --log-format flag wins.
  std::string log_format;
  // "host:port" of the Prometheus endpoint (GET /metrics); empty: none.
  std::string metrics_listen;
  // The user the daemon drops to once it holds what needs root (privilege_drop.h); a root
  // helper and the launcher keep root. Empty: the daemon stays root (a warning says so).
  std::string user;
  // Fork sandboxes from a zygote per image (sandboxd/launcher/zygotes.h) rather than starting each
  // one's interpreter (artifacts included: their folders go to the child as detached mount trees).
  // `zygote_module_dir` holds the zygote's extension (empty: the one built with this binary).
  bool zygotes = true;
  std::string zygote_module_dir;
  SandboxLimits limits;
  ArtifactsConfig artifacts;  // the "artifacts" object; see artifacts/README.md
};

// Reads a JSON config file into `config` (keys absent from the file keep their values).
Status LoadConfigFile(const std::string& path, NodeConfig& config);

}  // namespace sandboxd
