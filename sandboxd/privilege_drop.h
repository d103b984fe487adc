// The daemon's drop from root to its own user (config `user`, --user). The daemon parses client
// protobuf, sandbox output and HTTPS; once it has taken what needs root (the instance lock, its
// cgroups, the socket, the config and policy, the root helper and the launcher), it runs as an
// ordinary user with no capability left, so a bug in that parsing gains an attacker that user
// and no more. What still needs root lives in two small processes that check what they are
// asked: the launcher (launcher/launch_bounds.h) and the root helper (root_helper.h).
#pragma once

#include <sys/types.h>

#include <string>

#include "sandboxd/status.h"

namespace sandboxd {

struct DaemonUser {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;  // the user's primary group; the daemon keeps no other
};

// The user `name` from the password database; an error when it does not exist or is root's
// (uid or gid 0: dropping to it would drop nothing).
StatusOr<DaemonUser> LookUpDaemonUser(const std::string& name);

// Makes `path` owned by `user`, and everything below it when it is a folder (symlinks are not
// followed: their own ownership changes). For what the daemon writes after the drop: its
// cgroups, spill and artifact folders, its socket.
Status GiveToUser(const std::string& path, const DaemonUser& user);

// Drops this process to `user` for good: only the user's primary group, real, effective and
// saved ids the user's, no capability (permitted, effective, inheritable, ambient), and
// PR_SET_NO_NEW_PRIVS, so no exec can give any back. A parent-death signal (the credential change
// clears it) is set again. The process must have one thread (capabilities and no_new_privs are
// per thread). Then checks it (CheckDropped): an error means the process must not go on.
Status DropPrivileges(const DaemonUser& user);

// Ok when /proc/self/status says: every uid and gid is the user's, no capability is left, and
// no_new_privs is set; and root cannot be taken back (setresuid(0) fails).
Status CheckDropped(const DaemonUser& user);

}  // namespace sandboxd
