// A real PostgreSQL cluster of a test's own, with the built `sandboxd` extension installed in it.
//
// PostgreSQL 15 finds extensions only in its share folder (no extension_control_path before
// PG 18) and modules in its pkglib folder, both found relative to the running `postgres`
// binary. So instead of writing into the system's folders, the cluster runs from a private copy
// of the installation's layout under the test's folder: the binaries copied (postgres resolves
// symlinks to find itself), every other file of share/ and lib/ a symlink to the system's, and
// the extension's module, control file and SQL script added. `initdb` makes the cluster (trust
// authentication, UTF-8), and `postgres` runs it on a private Unix socket folder with no TCP, as
// an unprivileged OS user (postgres refuses root): the `postgres` user, else `nobody`.
//
// The postmaster is the test's child and dies with it (DieWithParent); its backends exit when it
// does. The folder is the test's to remove (a LeftoverGuard, so that it goes however the test
// ends).
#pragma once

#include <grp.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "leftover_guard.h"
#include "wait_for.h"

namespace sandboxd::testing {

// One statement's outcome: rows as text (nullopt for NULL), or the error's fields.
struct PgResult {
  bool ok = false;
  std::string sqlstate;
  std::string message;
  std::string detail;
  std::vector<std::vector<std::optional<std::string>>> rows;
};

inline PgResult TakeResult(PGresult* result) {
  PgResult out;
  const ExecStatusType status = PQresultStatus(result);
  out.ok = status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK;
  if (!out.ok) {
    auto field = [&](int code) {
      const char* text = PQresultErrorField(result, code);
      return std::string(text != nullptr ? text : "");
    };
    out.sqlstate = field(PG_DIAG_SQLSTATE);
    out.message = field(PG_DIAG_MESSAGE_PRIMARY);
    out.detail = field(PG_DIAG_MESSAGE_DETAIL);
    if (out.message.empty()) out.message = PQresultErrorMessage(result);
  } else {
    for (int r = 0; r < PQntuples(result); ++r) {
      auto& row = out.rows.emplace_back();
      for (int c = 0; c < PQnfields(result); ++c) {
        if (PQgetisnull(result, r, c))
          row.emplace_back(std::nullopt);
        else
          row.emplace_back(std::string(PQgetvalue(result, r, c), PQgetlength(result, r, c)));
      }
    }
  }
  PQclear(result);
  return out;
}

// A libpq session.
class PgSession {
 public:
  explicit PgSession(const std::string& conninfo) : conn_(PQconnectdb(conninfo.c_str())) {}
  ~PgSession() {
    if (conn_ != nullptr) PQfinish(conn_);
  }
  PgSession(const PgSession&) = delete;
  PgSession& operator=(const PgSession&) = delete;

  bool ok() const { return conn_ != nullptr && PQstatus(conn_) == CONNECTION_OK; }
  std::string error() const { return conn_ != nullptr ? PQerrorMessage(conn_) : "no memory"; }
  PGconn* get() const { return conn_; }
  int backend_pid() const { return PQbackendPID(conn_); }

  // Runs `sql` (one statement, or several of which the last counts).
  PgResult Exec(const std::string& sql) {
    PGresult* last = nullptr;
    if (PQsendQuery(conn_, sql.c_str()) == 0) {
      PgResult failed;
      failed.message = error();
      return failed;
    }
    return Finish(last);
  }
  // Sends `sql` without waiting; Wait() takes its outcome.
  bool Send(const std::string& sql) { return PQsendQuery(conn_, sql.c_str()) != 0; }
  PgResult Wait() { return Finish(nullptr); }

 private:
  PgResult Finish(PGresult* last) {
    // Keeps the first error, else the last result.
    PGresult* error = nullptr;
    while (PGresult* result = PQgetResult(conn_)) {
      const ExecStatusType status = PQresultStatus(result);
      if ((status == PGRES_FATAL_ERROR || status == PGRES_NONFATAL_ERROR) && error == nullptr) {
        error = result;
        continue;
      }
      if (last != nullptr) PQclear(last);
      last = result;
    }
    if (error != nullptr) {
      if (last != nullptr) PQclear(last);
      return TakeResult(error);
    }
    if (last == nullptr) {
      PgResult failed;
      failed.message = error_message_or("no result");
      return failed;
    }
    return TakeResult(last);
  }
  std::string error_message_or(const char* fallback) const {
    const std::string text = error();
    return text.empty() ? fallback : text;
  }
  PGconn* conn_;
};

// The OS user the server runs as: `postgres` (Debian's packages make it), else `nobody`.
inline const passwd* ServerUser() {
  const passwd* user = ::getpwnam("postgres");
  return user != nullptr ? user : ::getpwnam("nobody");
}

class PgCluster {
 public:
  struct Options {
    std::string root;                   // a folder the test owns; the cluster's files go under it
    std::string module;                 // the built sandboxd.so
    std::string extension;              // the folder with sandboxd.control and sandboxd--*.sql
    std::vector<std::string> settings;  // more `-c name=value` for the server
  };

  // Nullptr when something failed; `why` says what.
  static std::unique_ptr<PgCluster> Start(const Options& options, std::string& why) {
    auto cluster = std::unique_ptr<PgCluster>(new PgCluster);
    if (!cluster->Make(options, why)) return nullptr;
    return cluster;
  }

  ~PgCluster() {
    if (postmaster_ > 0) {
      ::kill(postmaster_, SIGINT);  // fast shutdown: ends the sessions, checkpoints, exits
      if (!WaitUntil([&] { return Reaped(); }, std::chrono::seconds(60),
                     std::chrono::milliseconds(20))) {
        ::kill(postmaster_, SIGKILL);
        (void)WaitUntil([&] { return Reaped(); }, std::chrono::seconds(60));
      }
    }
  }

  // "host=<socket folder> port=... dbname=postgres user=<role>"
  std::string Conninfo(const std::string& role) const {
    return "host=" + socket_dir_ + " port=5432 dbname=postgres user=" + role +
           " connect_timeout=30";
  }
  const std::string& data_dir() const { return data_dir_; }
  const std::string& socket_dir() const { return socket_dir_; }
  uid_t server_uid() const { return uid_; }

 private:
  PgCluster() = default;

  static std::string Capture(const std::string& command) {
    std::string out;
    if (FILE* pipe = ::popen(command.c_str(), "r")) {
      char buffer[4096];
      while (std::fgets(buffer, sizeof(buffer), pipe) != nullptr) out += buffer;
      ::pclose(pipe);
    }
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
    return out;
  }

  // Forks `argv` as the server's OS user; its pid (waited for when `wait`, then 0 on success).
  pid_t RunAsServerUser(std::vector<std::string> args, const std::string& log, bool wait) {
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const pid_t test_pid = ::getpid();
    const pid_t pid = ::fork();
    if (pid == 0) {
      if (std::freopen(log.c_str(), "a", stderr) == nullptr) ::_exit(125);
      ::dup2(2, 1);
      if (::setgroups(0, nullptr) != 0 || ::setgid(gid_) != 0 || ::setuid(uid_) != 0) ::_exit(126);
      // After setuid, which clears the parent-death signal.
      DieWithParent(test_pid);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    if (pid < 0 || !wait) return pid;
    int status = 0;
    if (::waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
      return -1;
    return 0;
  }

  bool Reaped() {
    int status = 0;
    if (postmaster_ > 0 && ::waitpid(postmaster_, &status, WNOHANG) == postmaster_)
      postmaster_ = -1;
    return postmaster_ < 0;
  }

  bool Make(const Options& options, std::string& why) {
    namespace fs = std::filesystem;
    const passwd* user = ServerUser();
    if (user == nullptr) {
      why = "neither a postgres nor a nobody user";
      return false;
    }
    uid_ = user->pw_uid;
    gid_ = user->pw_gid;
    const std::string bindir = Capture("pg_config --bindir");
    const std::string sharedir = Capture("pg_config --sharedir");
    const std::string pkglibdir = Capture("pg_config --pkglibdir");
    if (bindir.empty() || sharedir.empty() || pkglibdir.empty()) {
      why = "pg_config names no bindir, sharedir or pkglibdir";
      return false;
    }
    // The private installation: the same layout under root/install.
    const std::string install = options.root + "/install";
    const std::string bin = install + bindir, share = install + sharedir, lib = install + pkglibdir;
    std::error_code ec;
    fs::create_directories(bin, ec);
    fs::create_directories(share + "/extension", ec);
    fs::create_directories(lib, ec);
    for (const char* tool : {"postgres", "initdb"}) {
      fs::copy_file(bindir + "/" + tool, bin + "/" + tool, ec);
      if (ec) {
        why = "cannot copy " + bindir + "/" + tool + ": " + ec.message();
        return false;
      }
    }
    for (const auto& entry : fs::directory_iterator(sharedir, ec)) {
      if (entry.path().filename() == "extension") continue;
      fs::create_symlink(entry.path(), share + "/" + entry.path().filename().string(), ec);
    }
    for (const auto& entry : fs::directory_iterator(sharedir + "/extension", ec))
      fs::create_symlink(entry.path(), share + "/extension/" + entry.path().filename().string(),
                         ec);
    for (const auto& entry : fs::directory_iterator(pkglibdir, ec))
      fs::create_symlink(entry.path(), lib + "/" + entry.path().filename().string(), ec);
    for (const auto& entry : fs::directory_iterator(options.extension, ec)) {
      const std::string name = entry.path().filename();
      if (name == "sandboxd.control" ||
          (name.rfind("sandboxd--", 0) == 0 && name.ends_with(".sql")))
        fs::copy_file(entry.path(), share + "/extension/" + name, ec);
    }
    fs::copy_file(options.module, lib + "/sandboxd.so", ec);
    if (ec) {
      why = "cannot copy " + options.module + ": " + ec.message();
      return false;
    }
    // The server's user reads it all, whatever the umask the test runs under and the build's
    // files were made with.
    const auto readable = fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read;
    const auto searchable = fs::perms::owner_exec | fs::perms::group_exec | fs::perms::others_exec;
    fs::permissions(install, readable | searchable, fs::perm_options::add, ec);
    for (const auto& entry : fs::recursive_directory_iterator(install, ec)) {
      if (entry.is_symlink()) continue;
      const bool exec = entry.is_directory() || entry.path().parent_path() == bin;
      fs::permissions(entry.path(), exec ? readable | searchable : readable, fs::perm_options::add,
                      ec);
    }

    data_dir_ = options.root + "/data";
    socket_dir_ = options.root + "/socket";
    const std::string log = options.root + "/postgres.log";
    for (const auto& dir : {data_dir_, socket_dir_}) {
      fs::create_directories(dir, ec);
      if (::chown(dir.c_str(), uid_, gid_) != 0 || ::chmod(dir.c_str(), 0700) != 0) {
        why = "cannot hand " + dir + " to the server's user";
        return false;
      }
    }
    if (RunAsServerUser({bin + "/initdb", "-D", data_dir_, "-U", "admin", "--auth=trust", "-E",
                         "UTF8", "--locale=C", "--no-sync"},
                        log, true) != 0) {
      why = "initdb failed: see " + log;
      return false;
    }
    std::vector<std::string> args = {bin + "/postgres",   "-D", data_dir_,  "-k", socket_dir_, "-c",
                                     "listen_addresses=", "-c", "fsync=off"};
    for (const auto& setting : options.settings) {
      args.push_back("-c");
      args.push_back(setting);
    }
    postmaster_ = RunAsServerUser(args, log, false);
    if (postmaster_ <= 0) {
      why = "cannot start postgres";
      return false;
    }
    // Ready when it accepts a session (it may take long on a loaded machine).
    const std::string conninfo = Conninfo("admin");
    if (!WaitUntil([&] { return PQping(conninfo.c_str()) == PQPING_OK || Reaped(); },
                   std::chrono::seconds(120), std::chrono::milliseconds(50)) ||
        postmaster_ < 0) {
      why = "postgres did not start: see " + log;
      return false;
    }
    return true;
  }

  uid_t uid_ = 0;
  gid_t gid_ = 0;
  std::string data_dir_, socket_dir_;
  pid_t postmaster_ = -1;
};

}  // namespace sandboxd::testing
