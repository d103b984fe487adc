// What every PostgreSQL extension test needs: a real sandboxd that takes requests from the
// server's uid, and a PostgreSQL cluster of its own (pg_cluster.h) with the built extension
// created, its module pointed at the daemon by `sandboxd.socket`, and two ordinary roles: alice,
// granted EXECUTE, and bob, not granted it.
#pragma once

#include <sys/stat.h>

#include <filesystem>
#include <memory>
#include <string>

#include "daemon_fixture.h"
#include "pg_cluster.h"
#include "test_paths.h"

namespace sandboxd::testing {

class PgSandboxd {
 public:
  // `root` is a folder the test owns (and removes); the daemon and the cluster go below it.
  // `daemon_config` holds more members of the daemon's config object (",\"artifacts\": {...}").
  // Suites that may run side by side (ctest -j) take host uid ranges of their own.
  static std::unique_ptr<PgSandboxd> Start(const std::string& root,
                                           const std::string& daemon_config, std::string& error,
                                           std::uint32_t uid_base_start = 1'820'000'000U) {
    auto env = std::unique_ptr<PgSandboxd>(new PgSandboxd);
    const passwd* server = ServerUser();
    if (server == nullptr) {
      error = "no postgres or nobody user to run the server as";
      return nullptr;
    }
    // The server's uid reaches the daemon's socket (allowed_uids makes it 0666) through folders
    // it may search.
    ::chmod(root.c_str(), 0755);
    const std::string daemon_dir = root + "/daemon";
    std::filesystem::create_directories(daemon_dir);
    ::chmod(daemon_dir.c_str(), 0755);
    DaemonOptions daemon_options;
    daemon_options.dir = daemon_dir;
    daemon_options.log_path = root + "/daemon.log";
    daemon_options.config_json =
        "{\"allowed_uids\": [" + std::to_string(server->pw_uid) + "]" + daemon_config + "}";
    daemon_options.cgroup_group_prefix = "sandboxd-pg-";
    daemon_options.uid_base_start = uid_base_start;
    env->daemon_ = DaemonProcess::Start(std::move(daemon_options));
    if (env->daemon_ == nullptr) {
      error = "sandboxd did not start: see " + root + "/daemon.log";
      return nullptr;
    }

    PgCluster::Options options;
    options.root = root + "/pg";
    options.module = std::string(test_paths::kBinaryDir) + "/postgres/sandboxd.so";
    options.extension = std::string(test_paths::kSourceDir) + "/postgres";
    options.settings = {"sandboxd.socket=" + env->daemon_->socket_path()};
    std::filesystem::create_directories(options.root);
    ::chmod(options.root.c_str(), 0755);
    env->cluster_ = PgCluster::Start(options, error);
    if (env->cluster_ == nullptr) return nullptr;

    // As the superuser: the extension, and the roles.
    PgSession admin(env->cluster_->Conninfo("admin"));
    if (!admin.ok()) {
      error = "admin session: " + admin.error();
      return nullptr;
    }
    for (const char* sql : {"CREATE EXTENSION sandboxd", "CREATE ROLE alice LOGIN",
                            "CREATE ROLE bob LOGIN", "GRANT USAGE ON SCHEMA sandboxd TO alice, bob",
                            "GRANT EXECUTE ON FUNCTION sandboxd.python TO alice"}) {
      const PgResult result = admin.Exec(sql);
      if (!result.ok) {
        error = std::string(sql) + ": " + result.message;
        return nullptr;
      }
    }
    return env;
  }

  // The cluster first (fast shutdown, waited for), then the daemon.
  ~PgSandboxd() {
    cluster_.reset();
    daemon_.reset();
  }

  DaemonProcess& daemon() const { return *daemon_; }
  PgCluster& cluster() const { return *cluster_; }

 private:
  PgSandboxd() = default;
  std::unique_ptr<DaemonProcess> daemon_;
  std::unique_ptr<PgCluster> cluster_;
};

}  // namespace sandboxd::testing
