// Waiting for the event a test means instead of sleeping a fixed time: a condition polled until it
// holds or a bound passes (the bound only ends a test that would otherwise hang; a loaded 2-core
// machine may take long to get there), and the events the daemon tests wait for: a line in a
// daemon's log, a sandbox's process that its script named (a beacon), a daemon's live sandboxes.
#pragma once

#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "process_tree.h"

namespace sandboxd::testing {

// Polls `done` every `step` until it returns true (then true) or `limit` passes (then false).
template <typename Condition>
bool WaitUntil(Condition done, std::chrono::milliseconds limit,
               std::chrono::milliseconds step = std::chrono::milliseconds(10)) {
  const auto until = std::chrono::steady_clock::now() + limit;
  for (;;) {
    if (done()) return true;
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(step);
  }
}

// How many times `needle` occurs in the file at `path`: lines of a daemon's log (DaemonOptions
// log_path; spdlog writes each line to stderr as it is logged).
inline std::size_t CountInFile(const std::string& path, const std::string& needle) {
  const std::string text = ReadWholeFile(path);
  std::size_t count = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1))
    ++count;
  return count;
}

// A beacon: a process name (at most 15 bytes, /proc/<pid>/comm) unique to this test process, that
// a script gives itself so the test sees from the host when the script runs.
inline std::string BeaconName(const std::string& prefix) {
  return (prefix + std::to_string(::getpid())).substr(0, 15);
}

// Python that names the script's process `beacon` (PR_SET_NAME, as the security probes do).
inline std::string BeaconPython(const std::string& beacon) {
  return "import ctypes\nctypes.CDLL(None).prctl(15, b'" + beacon + "', 0, 0, 0)\n";
}

// A script for `typeof(released:bool)` that names itself `beacon` and waits (up to 120 s) for the
// test's Release: its one row says whether the release came.
inline std::string ReleasedByTestPython(const std::string& beacon) {
  return "import signal\nsignal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})\n" +
         BeaconPython(beacon) +
         "released = signal.sigtimedwait({signal.SIGUSR1}, 120) is not None\n"
         "result = pd.DataFrame({'released': [released]})\n";
}

// Lets a script waiting for SIGUSR1 (blocked, then sigtimedwait) go on: the signal goes to its
// main thread, which waits for it (sent to the process, it could reach another thread of the
// script, whose default action would end the process).
inline void Release(pid_t script) {
  if (script > 0) ::syscall(SYS_tgkill, script, script, SIGUSR1);
}

// The processes named `comm` (all of the host's: a beacon is unique to the test process).
inline std::vector<pid_t> ProcessesNamed(const std::string& comm) {
  std::vector<pid_t> found;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string line = ReadWholeFile(entry.path() / "comm");
    if (!line.empty() && line.back() == '\n') line.pop_back();
    if (line == comm) found.push_back(std::stoi(name));
  }
  return found;
}

// The inits of the sandboxes of the daemon `daemon` (children of its launcher, which is its root
// helper's child: daemon -> sandboxd-helper -> sandboxd-launcher -> sandbox-init) that are alive:
// not a zombie, not exiting (PF_EXITING in /proc/<pid>/stat's flags) and not killed (SIGKILL
// pending). A sandbox killed when its request was answered keeps its init a few milliseconds
// longer.
inline std::vector<pid_t> LiveSandboxInitsOf(pid_t daemon) {
  constexpr unsigned long kExiting = 0x4;  // PF_EXITING
  constexpr unsigned long kSigkill = 1UL << (9 - 1);
  std::vector<pid_t> inits;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    const pid_t pid = std::stoi(name);
    if (Comm(pid) != "sandbox-init") continue;
    const pid_t launcher = ParentOf(pid);
    const pid_t helper = launcher > 0 ? ParentOf(launcher) : -1;
    if (helper <= 0 || ParentOf(helper) != daemon) continue;
    std::ifstream stat_file(entry.path() / "stat");
    std::string line;
    std::getline(stat_file, line);
    const auto close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 2));
    std::string state;
    long ppid = 0, pgrp = 0, session = 0, tty = 0, tpgid = 0;
    unsigned long flags = 0;
    rest >> state >> ppid >> pgrp >> session >> tty >> tpgid >> flags;
    if (!rest || state == "Z" || state == "X" || (flags & kExiting) != 0) continue;
    std::ifstream status_file(entry.path() / "status");
    bool killed = false;
    for (std::string field; std::getline(status_file, field);) {
      if (field.rfind("SigPnd:", 0) == 0 || field.rfind("ShdPnd:", 0) == 0)
        killed = killed || (std::stoul(field.substr(7), nullptr, 16) & kSigkill) != 0;
    }
    if (!killed) inits.push_back(pid);
  }
  return inits;
}

}  // namespace sandboxd::testing
