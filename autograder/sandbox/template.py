"""The warm template: a fork server that has imported torch, numpy, the kit and what
sandboxes would otherwise import lazily (ALWAYS, PRELOAD) once, so a fresh sandbox costs
a fork instead of a 3-4 s import.

It never runs a tensor operation, so neither CUDA nor torch's thread pools exist in it
and a forked child may still initialise both. For each request from the grader (a JSON
config plus three file descriptors: channel, output, exit status) it forks:

    template -> setup (joins the sandbox's cgroup, new session, new network, PID, mount
                      and IPC namespaces, private /dev/shm, /tmp and scratch)
             -> reaper (PID 1 there, mounts the namespace's own /proc)
             -> student (confined, then serves the channel)

The setup process exits at once; the reaper waits for the student process, writes its
exit status and resource use to the status pipe, and exits, which makes the kernel kill
everything left in the PID namespace (a fork bomb's children included).

As root, one fork fewer (each fork and exit of this torch-sized process costs about
18 ms of kernel time): the template asks for a new PID namespace for its next child
(unshare(CLONE_NEWPID), then setns back to its own), so the child it forks is the
reaper, PID 1 of that namespace, and does the setup itself (NewPidNamespaceForks):

    template -> reaper (PID 1: joins the cgroup, new session, network, mount and IPC
                        namespaces, private mounts and /proc)
             -> student

and, where a `sleep` program is found, no torch-sized reaper at all (InitSandboxes):

    template -> init (PID 1: `sleep`, vfork and exec)
             -> student (PID 2: the reaper's setup, then confined; the template reaps it,
                         reports its end and kills the init)
"""
from __future__ import annotations

import gc
import json
import os
import signal
import socket
import sys

# Bound now: report_where runs after the kit is out of the student's reach by name.
from autograder.localize import N_

PR_SET_CHILD_SUBREAPER = 36
PR_SET_PDEATHSIG = 1
MADV_COLLAPSE = 25  # Linux 6.1
HUGE_PAGE = 2 << 20
FOLD_AFTER_FORKS = 12  # a standalone template that serves more sandboxes folds its pages
FOLD_BUDGET_S = 1.5  # at most this long each time (it is an optimisation)
FOLD_PIECE = 32 << 20
# The kit's entries in sys.modules once the template has imported everything its
# sandboxes run (child.take_kit takes them out of the student's reach).
KIT_MODULES: tuple[int, tuple[str, ...]] | None = None


# What a template imports besides torch and the kit, because torch imports it lazily on
# the first use of something sandboxes do, and each sandbox would pay that again:
# * always: a backward pass from an output with a gradient vector (the grader's
#   backward requests, 03 onwards) imports symbolic_shapes and sympy with it (0.4 s);
# * PRELOAD, where the graded code needs it (batch/siblings.zygote_plan): torchvision's
#   import brings torch._dynamo, which any optimizer step loads (2 s).
ALWAYS = ("torch.fx.experimental.symbolic_shapes",)
PRELOAD = ("torchvision",)


def preload_modules(names: tuple) -> None:
    import importlib
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError:  # another torch version may not have it: sandboxes import what they need
            pass


def main(control_fd: int, kit_parent: str = "", fold_after: int | None = FOLD_AFTER_FORKS,
         preload: tuple = PRELOAD) -> None:
    import importlib.util
    if kit_parent and importlib.util.find_spec("autograder") is None:
        sys.path.append(kit_parent)  # a checkout that is not installed
    control = socket.socket(fileno=control_fd)
    os.set_inheritable(control_fd, False)  # a sandbox's init (an exec'd program) must not hold it
    try:
        from autograder.sandbox.confine import libc
        libc().prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)  # orphaned reapers come back here
    except (OSError, AttributeError):
        pass
    # No garbage collections while torch imports (~330k objects, none of them garbage:
    # the collections their allocations set off took 0.3-0.5 s of a 2 s import here);
    # frozen, then back on, before the first sandbox is forked.
    gc.disable()
    import numpy  # noqa: F401 - imported for the children
    import torch
    preload_modules((*ALWAYS, *preload))
    import_sandbox_code()
    list_kit_modules()
    freeze_for_forks()
    gc.enable()
    forks_into_new_namespaces = NewPidNamespaceForks()
    sandboxes = InitSandboxes(forks_into_new_namespaces)
    control.send(json.dumps({"ready": True, "pid": os.getpid(), "torch": torch.__version__}).encode())
    forks = 0
    try:
        while True:
            if forks == fold_after:  # None: a batch's zygote folded them already (or the class is too small)
                fold_into_huge_pages()
            # What is here now is out of every sandbox's garbage collections (freeze_for_forks).
            freeze_for_forks()
            sandboxes.serve_until_readable(control)
            try:
                message, fds, _, _ = socket.recv_fds(control, 1 << 16, 3)
            except OSError:
                return
            if not message:
                return  # the grader is gone
            if len(fds) != 3:
                for fd in fds:
                    os.close(fd)
                control.send(json.dumps({"error": "expected 3 file descriptors"}).encode())
                continue
            config = json.loads(message)
            pid = sandboxes.start(config, *fds, control=control) if sandboxes.enabled else None
            if pid is None:
                pid, as_init = forks_into_new_namespaces.fork()
                if pid == 0:
                    code = 70
                    try:
                        control.close()
                        sandboxes.close_in_child()
                        start_sandbox(config, *fds, as_init=as_init)
                    finally:
                        os._exit(code)
                for fd in fds:
                    os.close(fd)
            control.send(json.dumps({"pid": pid}).encode())
            forks += 1
    finally:
        sandboxes.stop_all()  # no sandbox outlives its template


def import_sandbox_code() -> None:
    """The kit code a sandbox runs, imported before any fork so that every sandbox shares it."""
    import autograder.submission  # noqa: F401
    from autograder.sandbox import cgroups, child, confine, mounts, wire  # noqa: F401
    try:
        import autograder.probes  # noqa: F401 - kit helpers the tests construct in the sandbox
    except ImportError:
        pass


def list_kit_modules() -> None:
    """Set KIT_MODULES, unless it was set (by a batch's zygote, before it forked this
    template) and nothing has been imported since: reading every module name writes its
    reference count, which in a forked process copies the pages the names lie on."""
    global KIT_MODULES
    if KIT_MODULES is None or KIT_MODULES[0] != len(sys.modules):
        from autograder.sandbox import child
        KIT_MODULES = child.kit_modules_now()


class NewPidNamespaceForks:
    """Forks whose child is the init (PID 1) of a new PID namespace, where the template
    may create one (root, Linux): unshare(CLONE_NEWPID) sets the namespace of the
    caller's next children only, and setns back to its own undoes that right after the
    fork, so nothing else the template forks lands there. Tried once at start (both
    steps, and checked); where either fails, fork() is a plain fork and the sandbox's
    setup process creates the namespace as before."""

    def __init__(self):
        self.own_fd: int | None = None
        if sys.platform != "linux" or os.geteuid() != 0:
            return
        try:
            from autograder.sandbox.confine import libc
            self.libc = libc()
            fd = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
        except (OSError, AttributeError):
            return
        self.own_fd = fd
        if not (self._enter() and self._leave()):
            os.close(fd)
            self.own_fd = None

    def _enter(self) -> bool:
        from autograder.sandbox.confine import CLONE_NEWPID
        return self.libc.unshare(CLONE_NEWPID) == 0

    def _leave(self) -> bool:
        """Back to the template's own PID namespace for its next children."""
        from autograder.sandbox.confine import CLONE_NEWPID
        try:
            return self.libc.setns(self.own_fd, CLONE_NEWPID) == 0 and \
                os.readlink("/proc/self/ns/pid_for_children") == os.readlink("/proc/self/ns/pid")
        except OSError:
            return False

    def fork(self) -> tuple[int, bool]:
        """(pid as os.fork gives it, whether the child is PID 1 of a new namespace)."""
        if self.own_fd is None or not self._enter():
            return os.fork(), False
        try:
            pid = os.fork()
        finally:
            # In the child too: the reaper's own children must stay in its namespace,
            # which setns to the template's would undo; it has nothing to restore.
            if os.getpid() != 1 and not self._leave():
                # The template's next children would be born into a namespace whose
                # init is gone: stop (the grader starts a fresh template).
                raise SystemExit("the template could not return to its own PID namespace")
        return pid, True


class InitSandboxes:
    """As root, where NewPidNamespaceForks works and a `sleep` program is found: each
    sandbox is two processes the template starts itself, in a new PID namespace,

        template -> init (PID 1: `sleep`, spawned with vfork and exec, so no copy of the
                          template's page tables; its own session, the group the grader kills)
                 -> student (PID 2, forked: joins the cgroup, new session, network, mount and
                             IPC namespaces, private mounts and /proc, then confined)

    instead of a torch-sized reaper that forks the student (each fork and exit of this
    process costs ~10 ms of kernel time). The template reaps the student itself: it
    writes the exit status and CPU time to the status pipe, as the reaper did, and kills
    the init, which takes everything left in the namespace with it (a fork bomb's
    children, setsid'd loops). A grader that closes the status pipe (it is gone, or it
    closed the sandbox) gets the init killed the same way; so does the template's own end,
    and a student process dies with the template (PR_SET_PDEATHSIG)."""

    def __init__(self, namespaces: "NewPidNamespaceForks"):
        import shutil
        self.namespaces = namespaces
        self.sleep = shutil.which("sleep", path="/usr/bin:/bin") if namespaces.own_fd is not None else None
        self.enabled = self.sleep is not None
        self.students: dict[int, list] = {}  # student pid -> [status pipe, its init's pid or None once reaped]
        self.inits: dict[int, int] = {}  # init pid -> student pid, until the init is reaped
        self.abandoned: set[int] = set()  # status pipes whose grader is gone (init killed)
        if not self.enabled:
            signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps sandboxes that end
            return
        self.wake_r, self.wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)  # ends the poll below

    def serve_until_readable(self, control: socket.socket) -> None:
        """Report the students that end and stop abandoned sandboxes until a request comes."""
        if not self.enabled:
            return
        import select
        while True:
            poller = select.poll()
            poller.register(control, select.POLLIN)
            poller.register(self.wake_r, select.POLLIN)
            for fd, _init in self.students.values():
                if fd not in self.abandoned:
                    poller.register(fd, 0)  # errors only: POLLERR once the grader's read end is closed
            try:
                events = poller.poll()
            except InterruptedError:
                events = []
            request = False
            for fd, _event in events:
                if fd == control.fileno():
                    request = True
                elif fd == self.wake_r:
                    try:
                        while os.read(self.wake_r, 512):
                            pass
                    except BlockingIOError:
                        pass
                else:
                    self.abandoned.add(fd)
                    for status_fd, init in self.students.values():
                        if status_fd == fd and init is not None:
                            _kill(init)
            self.reap()
            if request:
                return

    def reap(self) -> None:
        while True:
            try:
                pid, status, usage = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid in self.inits:  # reaped: its pid may be reused from now on, so never kill it again
                student = self.inits.pop(pid)
                if student in self.students:
                    self.students[student][1] = None
                continue
            entry = self.students.pop(pid, None)
            if entry is None:
                continue  # a setup process or reaper of the fallback path
            status_fd, init = entry
            self.abandoned.discard(status_fd)
            end = {"status": status, "cpu": usage.ru_utime + usage.ru_stime}
            try:
                os.write(status_fd, json.dumps(end).encode() + b"\n")
            except OSError:
                pass  # the grader closed it already
            os.close(status_fd)
            if init is not None:
                _kill(init)  # as PID 1 of the namespace, its end kills everything left in it

    def start(self, config: dict, chan_fd: int, out_fd: int, status_fd: int, control: socket.socket) -> int | None:
        """Start one sandbox; returns the init's pid (its process group), or None when no
        namespace could be entered or `sleep` not started this time (the caller then
        starts it the reaper way)."""
        for fd in (chan_fd, out_fd, status_fd):
            os.set_inheritable(fd, False)
        if not self.namespaces._enter():
            return None
        student = -1
        try:
            try:
                init = os.posix_spawn(self.sleep, [self.sleep, "infinity"], {}, setsid=True)
            except OSError:
                return None  # `sleep` cannot run here after all: this sandbox starts the reaper way
            try:
                student = os.fork()
            except OSError:
                _kill(init)
                raise
        finally:
            if student != 0 and not self.namespaces._leave():  # the student stays: its children are its namespace's
                raise SystemExit("the template could not return to its own PID namespace")
        if student == 0:
            code = 70
            try:
                control.close()
                os.close(status_fd)
                self.close_in_child()
                start_student(config, chan_fd, out_fd)
            finally:
                os._exit(code)
        os.close(chan_fd)
        os.close(out_fd)
        self.students[student] = [status_fd, init]
        self.inits[init] = student
        return init

    def close_in_child(self) -> None:
        """In a process the template forks: let go of the template's wake-up pipe and of
        the other sandboxes' status pipes (their graders must see them close)."""
        if self.enabled:
            signal.set_wakeup_fd(-1)
            for fd in (self.wake_r, self.wake_w, *(entry[0] for entry in self.students.values())):
                os.close(fd)

    def stop_all(self) -> None:
        if self.enabled:
            for init in self.inits:
                _kill(init)


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def freeze_for_forks() -> None:
    """Move every object this process holds into the garbage collector's permanent
    generation (gc.freeze), so the collections of a forked child never walk them: a
    collection writes into the header of every object it walks, and each write to a
    page shared with this process costs the child a page copy. The ~330k objects
    importing torch and torchvision creates are never garbage anyway. Measured here: a
    full collection in a forked child took 250 ms and 21,800 page faults, frozen
    20-28 ms and 1,150. A child's own objects are collected as usual."""
    gc.freeze()


def fold_into_huge_pages(budget_s: float = FOLD_BUDGET_S) -> int:
    """Back this process's private anonymous memory with 2 MiB pages where the kernel
    can (MADV_COLLAPSE); returns the bytes folded. Why: a fork copies one page-table
    entry per 4 KiB page of the ~370 MB that importing torch leaves, and an exit drops
    them again: 20-40 ms of kernel time for each of a sandbox's three forks, measured on
    Linux 6.18; folded, 6-12 ms. Forked children share the pages as before (a write
    copies 4 KiB of them), and the process grows by about 17 MB (the unused ends of the
    ranges folded). It costs 0.4-0.9 s once, so it is done where many forks follow: a
    batch's zygote, a template that has served FOLD_AFTER_FORKS sandboxes. A kernel
    without MADV_COLLAPSE or with transparent huge pages off refuses it and nothing
    changes. The kernel may compact memory to find free 2 MiB pages, which on a machine
    short of them is slow: folding stops after budget_s, between 32 MiB pieces."""
    if sys.platform != "linux":
        return 0
    import ctypes
    try:
        from autograder.sandbox.confine import libc
        madvise = libc().madvise
        madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        with open("/proc/self/maps") as maps:
            lines = maps.read().splitlines()
    except (OSError, AttributeError):
        return 0
    import time
    deadline = time.monotonic() + budget_s
    folded = 0
    for line in lines:
        fields = line.split()
        # writable private memory with no file behind it: the heap and mmap'd arenas
        if len(fields) < 5 or fields[1][1] != "w" or fields[1][3] != "p" or fields[5:] not in ([], ["[heap]"]):
            continue
        low, high = (int(x, 16) for x in fields[0].split("-"))
        low, high = -(-low // HUGE_PAGE) * HUGE_PAGE, high // HUGE_PAGE * HUGE_PAGE
        for start in range(low, high, FOLD_PIECE):
            if time.monotonic() > deadline:
                return folded
            size = min(FOLD_PIECE, high - start)
            if madvise(start, size, MADV_COLLAPSE) == 0:
                folded += size
    return folded


def start_sandbox(config: dict, chan_fd: int, out_fd: int, status_fd: int, as_init: bool = False) -> None:
    """The sandbox's setup, in the setup process (which then forks the reaper and
    exits), or as_init: in the reaper itself, PID 1 of a new namespace already."""
    namespaces, private, warnings = enter_sandbox(config, in_pid_namespace=as_init)
    host_proc = os.open("/proc", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    if not as_init and os.fork() != 0:
        os._exit(0)  # the setup process: its child is the reaper
    mount_proc(namespaces, private, warnings)  # as PID 1 of the new namespace
    student = os.fork()
    if student == 0:
        os.close(status_fd)
        try:
            run_student(config, chan_fd, out_fd, namespaces, host_proc)
        finally:
            os._exit(0)
    os.close(host_proc)
    os.close(chan_fd)
    os.close(out_fd)
    end = reap_until_student_ends(student, status_fd)
    if end is not None:
        os.write(status_fd, json.dumps(end).encode() + b"\n")
    if not namespaces["pid_namespace"]:
        os.killpg(0, signal.SIGKILL)  # no PID namespace: sweep the group (this process too)
    os._exit(0)  # as PID 1 of the namespace, this kills everything left in it


def start_student(config: dict, chan_fd: int, out_fd: int) -> None:
    """InitSandboxes' student process (PID 2 of a new namespace whose init is `sleep`):
    the same setup, in the same order, as start_sandbox's reaper does, then the student.
    It also moves the init into the sandbox's cgroup (killed with the group, should the
    template be gone): a cgroup v1 move waits for an RCU grace period, 10-20 ms that the
    template would otherwise spend before it answers the grader."""
    from autograder.sandbox import cgroups
    from autograder.sandbox.confine import libc
    if libc().prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0 or os.getppid() == 1:
        os._exit(70)  # the template is gone already: nobody would report this sandbox's end
    namespaces, private, warnings = enter_sandbox(config, in_pid_namespace=True)
    cgroups.add(config.get("cgroup_procs") or [], 1)  # the init, as this PID namespace numbers it
    host_proc = os.open("/proc", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    mount_proc(namespaces, private, warnings)
    run_student(config, chan_fd, out_fd, namespaces, host_proc)


def enter_sandbox(config: dict, in_pid_namespace: bool) -> tuple[dict, list[str], list[str]]:
    """Join the sandbox's cgroup, start a new session, enter new namespaces and mount the
    private /dev/shm, /tmp and scratch: (namespaces, private mounts, warnings)."""
    from autograder.sandbox import cgroups, confine, mounts
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    os.setsid()  # the grader kills the sandbox as one process group
    warnings = cgroups.join(config.get("cgroup_procs") or [])
    namespaces, more = confine.enter_namespaces(in_pid_namespace=in_pid_namespace)
    warnings += more
    private: list[str] = []
    if namespaces["mount_namespace"]:
        try:
            private = mounts.make_private_mounts(config["scratch"], int(config["tmpfs_mb"]), mount_roots())
            warnings += mounts.limit_shared_memory(int(config["tmpfs_mb"]))
        except OSError as exc:
            warnings.append(f"private /dev/shm, /tmp and scratch not (all) mounted: {exc}")
    return namespaces, private, warnings


def mount_proc(namespaces: dict, private: list[str], warnings: list[str]) -> None:
    """A /proc of the sandbox's own PID namespace (the caller is in it); records the
    mounts and warnings in `namespaces` for the student's hello."""
    from autograder.sandbox import mounts
    private_proc = False
    if namespaces["pid_namespace"] and private:
        try:
            mounts.mount_private_proc()
            private_proc = True
        except OSError as exc:
            warnings.append(f"/proc shows the host's processes: {exc}")
    namespaces.update(private_mounts=private, private_proc=private_proc, warnings=warnings)


def mount_roots() -> list[str]:
    """What must stay reachable after the private mounts: the interpreter's folders and
    the kit (Landlock narrows both down afterwards)."""
    import autograder
    from autograder.sandbox import confine
    return [*confine.python_roots(), os.path.dirname(os.path.abspath(autograder.__file__))]


def reap_until_student_ends(student: int, status_fd: int) -> dict | None:
    """Reap every child (orphans come to PID 1) until the student process ends; returns
    its wait status and CPU time, or None when the grader has gone away (its end of the
    status pipe closed), so a spinning sandbox never outlives the grader."""
    import select
    grader = select.poll()
    grader.register(status_fd, 0)  # only errors: POLLERR once the grader's read end is closed
    while True:
        while True:
            try:
                pid, status, usage = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                return {"status": None, "cpu": 0.0}
            if pid == 0:
                break
            if pid == student:
                return {"status": status, "cpu": usage.ru_utime + usage.ru_stime}
        if grader.poll(20):  # also the pace at which an ended student process is noticed
            os.kill(student, signal.SIGKILL)
            return None


def run_student(config: dict, chan_fd: int, out_fd: int, namespaces: dict, host_proc: int) -> None:
    import resource
    import tempfile

    import torch

    from autograder.sandbox import child, confine, wire
    global_pid = _global_pid(host_proc)  # the grader watches this process's memory by it
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os.dup2(out_fd, 1)
    os.dup2(out_fd, 2)
    os.close(out_fd)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    sys.stdout.reconfigure(line_buffering=True)
    sys.stderr.reconfigure(line_buffering=True)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an over-size write fails instead of killing
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)

    scratch, device, threads = config["scratch"], config["device"], int(config["threads"])
    os.chdir(scratch)
    os.environ.clear()
    os.environ.update(config["env"])
    tempfile.tempdir = scratch
    sys.path[:] = [p for p in sys.path if p and os.path.isabs(p)]

    # the scratch folder's name is random per sandbox: the report names its role, so the
    # same submission gives the same report on every run
    private = ["(scratch)" if p == scratch else p for p in namespaces["private_mounts"]]
    isolation = {"backend": "sandbox", "network": namespaces["network"],
                 "pid_namespace": namespaces["pid_namespace"], "private_mounts": private,
                 "private_proc": namespaces["private_proc"], "cgroup": config.get("cgroup", "unavailable")}
    warnings = list(namespaces["warnings"])
    rlimits, more = confine.set_rlimits(config["limits"], device, bool(config.get("cgroup_procs")))
    warnings += more
    import autograder
    package_dir = os.path.dirname(os.path.abspath(autograder.__file__))
    kit_files = [os.path.join(package_dir, f) for f in ("__init__.py", "submission.py", "probes.py")]
    readable = [*confine.readable_roots(config["secrets"], package_dir), os.path.join(package_dir, "sandbox"),
                *confine.ETC_READABLE, *confine.SYS_READABLE, *confine.proc_readable(namespaces["private_proc"])]
    devices = list(confine.DEVICE_FILES)
    if device.startswith("cuda"):
        readable += confine.cuda_readable()
        devices += [os.path.join("/dev", n) for n in os.listdir("/dev") if n.startswith("nvidia")]
    if "/dev/shm" not in private:
        warnings.append("/dev/shm is the host's: files there are shared with other sandboxes")
    landlock, more = confine.apply_landlock(readable, [scratch, "/dev/shm"], kit_files, devices)
    warnings += more
    problem = confine.join_fresh_keyring()  # before the drop: the keyring is not nobody's to keep
    if problem:
        warnings.append(problem)
    user, more = confine.drop_user(confine.python_roots(), landlock.startswith("abi"))
    warnings += more
    # without a PID namespace only the process group holds the sandbox together
    seccomp = confine.install_seccomp(() if namespaces["pid_namespace"] else ("setsid",))
    isolation.update({"landlock": landlock, "rlimits": rlimits, "user": user, "seccomp": seccomp,
                      "capabilities": _effective_capabilities(), "warnings": warnings})

    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(threads)
    except RuntimeError:
        pass
    pretend(config.get("pretend") or {})
    signal.signal(signal.SIGUSR2, report_where)
    sock = socket.socket(fileno=chan_fd)
    hello = {"hello": True, "isolation": isolation, "pid": global_pid, "rss": rss_anon(),
             "cpu_limit": resource.getrlimit(resource.RLIMIT_CPU)[0]}
    wire.send_frame(sock, hello)
    sock.detach()
    child.serve(chan_fd, int(config["reply_budget"]), KIT_MODULES)


def pretend(answers: dict) -> None:
    """Make torch give the grader's answers (e.g. torch.cuda.is_available) before any
    student code runs: a test that compares copies started with different answers sees
    a difference only the student's code reading that answer can make."""
    import torch
    if "cuda_available" in answers:
        flag = bool(answers["cuda_available"])
        torch.cuda.is_available = lambda: flag


def report_where(signum, frame) -> None:
    """The grader's question before it kills a call that ran out of time: print the
    innermost line of the student's code (their cells compile as "<cell 3>")."""
    while frame is not None:
        name = frame.f_code.co_filename
        if name.startswith("<") and name.endswith(">") and not name.startswith(("<frozen", "<string")):
            label, line, function = name[1:-1], frame.f_lineno, frame.f_code.co_name
            where = N_(f"in {label}, line {line}, in {function}")
            try:
                os.write(2, f"\n[autograder] the call was stopped {where}\n".encode("utf-8", "replace"))
            except OSError:
                pass
            return
        frame = frame.f_back


def _global_pid(host_proc: int) -> int:
    try:
        return int(os.readlink("self", dir_fd=host_proc))
    except (OSError, ValueError):
        return os.getpid()
    finally:
        os.close(host_proc)


def _effective_capabilities() -> str:
    try:
        for line in open("/proc/self/status"):
            if line.startswith("CapEff:"):
                value = int(line.split()[1], 16)
                return "none" if value == 0 else hex(value)
    except (OSError, ValueError):
        pass
    return "unknown"


def rss_anon(pid: int | str = "self") -> int:
    """Anonymous resident memory in bytes (what the process itself allocated)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0
