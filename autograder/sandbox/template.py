"""The warm template: a fork server that has imported torch, torchvision and numpy once,
so a fresh sandbox costs a fork instead of a 3-4 s import.

It never runs a tensor operation, so neither CUDA nor torch's thread pools exist in it
and a forked child may still initialise both. For each request from the grader (a JSON
config plus three file descriptors: channel, output, exit status) it forks:

    template -> setup (new session, new network + PID namespaces) -> reaper (PID 1 there)
             -> student (confined, then serves the channel)

The setup process exits at once; the reaper waits for the student process, writes its
exit status and resource use to the status pipe, and exits, which makes the kernel kill
everything left in the PID namespace (a fork bomb's children included).
"""
from __future__ import annotations

import json
import os
import signal
import socket
import sys

PR_SET_CHILD_SUBREAPER = 36


def main(control_fd: int, kit_parent: str = "") -> None:
    import importlib.util
    if kit_parent and importlib.util.find_spec("autograder") is None:
        sys.path.append(kit_parent)  # a checkout that is not installed
    control = socket.socket(fileno=control_fd)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps sandboxes that end
    try:
        from autograder.sandbox.confine import libc
        libc().prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)  # orphaned reapers come back here
    except (OSError, AttributeError):
        pass
    import numpy  # noqa: F401 - imported for the children
    import torch
    import torchvision  # noqa: F401
    import autograder.submission  # noqa: F401
    from autograder.sandbox import child, confine, wire  # noqa: F401
    try:
        import autograder.probes  # noqa: F401 - kit helpers the tests construct in the sandbox
    except ImportError:
        pass
    control.send(json.dumps({"ready": True, "pid": os.getpid(), "torch": torch.__version__}).encode())
    while True:
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
        pid = os.fork()
        if pid == 0:
            code = 70
            try:
                control.close()
                start_sandbox(config, *fds)
            finally:
                os._exit(code)
        for fd in fds:
            os.close(fd)
        control.send(json.dumps({"pid": pid}).encode())


def start_sandbox(config: dict, chan_fd: int, out_fd: int, status_fd: int) -> None:
    from autograder.sandbox import confine
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    os.setsid()  # the grader kills the sandbox as one process group
    network, pid_ns, warnings = confine.enter_namespaces()
    if os.fork() != 0:
        os._exit(0)
    student = os.fork()
    if student == 0:
        os.close(status_fd)
        try:
            run_student(config, chan_fd, out_fd, {"network": network, "warnings": warnings,
                                                  "pid_namespace": pid_ns})
        finally:
            os._exit(0)
    os.close(chan_fd)
    os.close(out_fd)
    end = reap_until_student_ends(student, status_fd)
    if end is not None:
        os.write(status_fd, json.dumps(end).encode() + b"\n")
    if not pid_ns:
        os.killpg(0, signal.SIGKILL)  # no PID namespace: sweep the group (this process too)
    os._exit(0)  # as PID 1 of the namespace, this kills everything left in it


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


def run_student(config: dict, chan_fd: int, out_fd: int, namespaces: dict) -> None:
    import resource
    import tempfile

    import torch

    from autograder.sandbox import child, confine, wire
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

    isolation = {"backend": "sandbox", "network": namespaces["network"],
                 "pid_namespace": namespaces["pid_namespace"]}
    warnings = list(namespaces["warnings"])
    rlimits, more = confine.set_rlimits(config["limits"], device)
    warnings += more
    import autograder
    package_dir = os.path.dirname(os.path.abspath(autograder.__file__))
    kit_files = [os.path.join(package_dir, f) for f in ("__init__.py", "submission.py", "probes.py")]
    readable = confine.readable_roots(config["secrets"], package_dir) + [os.path.join(package_dir, "sandbox")]
    devices = list(confine.DEVICE_FILES)
    if device.startswith("cuda"):
        devices += [os.path.join("/dev", n) for n in os.listdir("/dev") if n.startswith("nvidia")]
    landlock, more = confine.apply_landlock(readable, [scratch, "/dev/shm"], kit_files, devices)
    warnings += more
    python_roots = [sys.base_prefix, sys.prefix, os.path.dirname(torch.__file__)]
    user, more = confine.drop_user(python_roots, landlock.startswith("abi"))
    warnings += more
    isolation.update({"landlock": landlock, "rlimits": rlimits, "user": user, "warnings": warnings})

    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(threads)
    except RuntimeError:
        pass
    try:
        global_pid = int(os.readlink("/proc/self"))
    except (OSError, ValueError):
        global_pid = os.getpid()
    sock = socket.socket(fileno=chan_fd)
    hello = {"hello": True, "isolation": isolation, "pid": global_pid, "rss": rss_anon(),
             "cpu_limit": resource.getrlimit(resource.RLIMIT_CPU)[0]}
    wire.send_frame(sock, hello)
    sock.detach()
    child.serve(chan_fd, int(config["reply_budget"]))


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
