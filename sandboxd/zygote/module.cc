// _sandboxd_zygote: the zygote's one C entry point, a CPython extension built for the image's
// Python (sandboxd_runtime/zygote.py imports it once numpy, pandas and the runner are loaded).
// serve() is the zygote's loop: for each fork request from the launcher it clones a sandbox
// (sandbox/init.cc, RunZygoteSandboxInit) and answers with the child's pid and pidfd. It returns
// only in a sandbox's UDF, confined, with the environment and CPU count the UDF is to have; or
// None when the launcher hangs up.
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "launcher.pb.h"
#include "sandbox/fork_descriptors.h"
#include "sandbox/sandbox_spec.h"
#include "sandboxd/framing.h"

namespace sandboxd {
namespace {

// A fork frame's descriptors (launcher.proto, ForkDescriptors): the sandbox's seven, its sync
// socket, the detached trees of its artifacts folder and of its bundles' site folder (each only
// when the request names that folder), and the memory cgroup's three files (or none).
constexpr std::size_t kMaxFds = kSandboxFdCount + 1 + 2 + 3;

void Answer(int socket, const internal::LaunchReply& reply, int pidfd) {
  std::string payload;
  reply.SerializeToString(&payload);
  // A launcher that cannot be answered has gone; the next read ends the loop.
  if (pidfd >= 0) {
    (void)SendFrame(socket, payload, std::span<const int>(&pidfd, 1));
  } else {
    (void)SendFrame(socket, payload);
  }
}

PyObject* ChildTuple(const internal::LaunchRequest& request) {
  PyObject* env = PyList_New(0);
  if (env == nullptr) return nullptr;
  for (const auto& var : request.env()) {
    PyObject* item =
        PyUnicode_DecodeFSDefaultAndSize(var.data(), static_cast<Py_ssize_t>(var.size()));
    if (item == nullptr || PyList_Append(env, item) != 0) {
      Py_XDECREF(item);
      Py_DECREF(env);
      return nullptr;
    }
    Py_DECREF(item);
  }
  return Py_BuildValue("(NI)", env, request.cpu_count());
}

PyObject* Serve(PyObject* /*self*/, PyObject* args) {
  int socket = -1;
  PyObject* after_first_fork = Py_None;
  if (PyArg_ParseTuple(args, "i|O", &socket, &after_first_fork) == 0) return nullptr;
  {
    internal::LaunchReply ready;
    ready.set_ok(true);
    Answer(socket, ready, -1);
  }
  FrameReader reader(16U << 20, kMaxFds);
  for (;;) {
    // Blocking with the GIL held is right here: the zygote has no other thread.
    auto frame = reader.ReadOne(socket);
    if (!frame.ok()) {
      // The launcher hung up (it stops this zygote), or sent what cannot be read: the zygote ends
      // either way, and the launcher starts another when one is needed.
      if (frame.status().message().find("closed") == std::string::npos)
        std::fprintf(stderr, "sandboxd zygote: %s\n", frame.status().message().c_str());
      Py_RETURN_NONE;
    }
    internal::LaunchRequest request;
    internal::LaunchReply reply;
    SandboxFds fds{};
    int sync = -1;
    HostTrees host_trees;
    MemoryCgroupFds memory;
    if (!request.ParseFromString(frame->payload) ||
        !PlaceForkDescriptors(request, *frame, fds, sync, host_trees, memory)) {
      reply.set_error("malformed fork request");
      Answer(socket, reply, -1);
      continue;
    }
    reply.set_sandbox_id(request.sandbox_id());
    int pidfd = -1;
    PyOS_BeforeFork();
    // PID 1 of a new pid namespace, in a copy of this mount namespace, and the launcher's child
    // rather than ours: it must outlive a zygote that is restarted, and die with the launcher.
    const long pid = ::syscall(SYS_clone, CLONE_PARENT | CLONE_NEWPID | CLONE_NEWNS | CLONE_PIDFD,
                               nullptr, &pidfd, nullptr, 0);
    if (pid == 0) {
      RunZygoteSandboxInit(request, fds, sync, memory, host_trees);
      // The UDF: its descriptors are placed; the frame's numbers are not ours to close.
      for (auto& fd : frame->fds) (void)fd.release();
      ::prctl(PR_SET_NAME, "python3", 0, 0, 0);  // init named itself; the UDF is the interpreter
      PyOS_AfterFork_Child();
      return ChildTuple(request);
    }
    const int clone_errno = errno;
    PyOS_AfterFork_Parent();
    if (pid < 0) {
      reply.set_error(std::string("clone: ") + std::strerror(clone_errno));
      Answer(socket, reply, -1);
      continue;
    }
    reply.set_ok(true);
    reply.set_pid(static_cast<std::int32_t>(pid));
    Answer(socket, reply, pidfd);
    ::close(pidfd);
    // Work that makes later children faster but would only delay the first one (the zygote's
    // warm-up) runs once the first child is on its way.
    if (after_first_fork != Py_None) {
      PyObject* done = PyObject_CallNoArgs(after_first_fork);
      if (done == nullptr) PyErr_Print();  // a failed warm-up costs speed, never a request
      Py_XDECREF(done);
      after_first_fork = Py_None;
    }
  }
}

// Detaches the folder the extension was loaded from (the zygote's tree keeps only the image and
// the runner; every child mounts its work folder there).
PyObject* Detach(PyObject* /*self*/, PyObject* args) {
  const char* path = nullptr;
  if (PyArg_ParseTuple(args, "s", &path) == 0) return nullptr;
  if (::umount2(path, MNT_DETACH) != 0) return PyErr_SetFromErrnoWithFilename(PyExc_OSError, path);
  Py_RETURN_NONE;
}

PyMethodDef kMethods[] = {
    {"serve", Serve, METH_VARARGS,
     "serve(fd, after_first_fork=None): forks sandboxes for the launcher on fd, calling "
     "after_first_fork() once the first is forked; returns (env, cpu_count) in each UDF"},
    {"detach", Detach, METH_VARARGS, "detach(path): lazily unmounts path"},
    {nullptr, nullptr, 0, nullptr}};

PyModuleDef kModule = {PyModuleDef_HEAD_INIT,
                       "_sandboxd_zygote",
                       "The zygote's fork server (sandboxd/zygote/module.cc).",
                       -1,
                       kMethods,
                       nullptr,
                       nullptr,
                       nullptr,
                       nullptr};

}  // namespace
}  // namespace sandboxd

// CPython finds the module by this name (PyInit_ and the module's name, which starts with "_").
PyMODINIT_FUNC PyInit__sandboxd_zygote() {  // NOLINT(bugprone-reserved-identifier)
  return PyModule_Create(&sandboxd::kModule);
}
