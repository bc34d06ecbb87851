"""Grader side of the process plumbing: the warm template process and one running
sandbox (`Link`): its channel, its captured output, its exit status, deadlines and the
memory watch. Nothing here interprets values; remote.py does that.
"""
from __future__ import annotations

import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import Callable, TypeVar

# wire (which imports torch) is imported where frames are read and written: the batch's
# parent process imports this module only to start processes, and torch would cost it
# a second or two at every batch's start.
from autograder.sandbox.cgroups import SandboxCgroup, remove_stale_groups
from autograder.sandbox.template import rss_anon

OUTPUT_KEPT = 64 * 1024
WHERE_SIGNAL = signal.SIGUSR2
WHERE_MARK = "[autograder] the call was stopped "
POLL_S = 0.2
PASSED_ENV = ("CUDA_VISIBLE_DEVICES", "CUDA_HOME", "CUDA_PATH", "LD_LIBRARY_PATH", "NVIDIA_VISIBLE_DEVICES",
              "NVIDIA_DRIVER_CAPABILITIES", "PYTORCH_CUDA_ALLOC_CONF", "TORCH_HOME", "SSL_CERT_FILE")


class SandboxStartError(RuntimeError):
    """The template or a sandbox could not be started (an installation problem)."""


class Ended(Exception):
    """The sandbox process ended (or was killed) while the grader waited on it."""


class Deadline(Exception):
    """A deadline passed while the grader waited on the sandbox."""


def template_env(home: str, threads: int) -> dict:
    """The environment a template (or a batch's zygote) starts with: the sandbox's, and
    glibc's malloc asked to back its heap with 2 MiB pages, so torch's import leaves
    fewer pages for every fork to copy (see template.fold_into_huge_pages). It is read
    once, at the interpreter's start: sandboxes inherit the setting with the memory, and
    no program a sandbox runs sees the variable (run_student replaces the environment).
    glibc before 2.35 ignores it."""
    return {**sandbox_env(home, threads), "GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"}


def sandbox_env(home: str, threads: int) -> dict:
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": home, "TMPDIR": home,
           "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1",
           "PYTHONIOENCODING": "utf-8", "MPLBACKEND": "Agg", "MPLCONFIGDIR": os.path.join(home, ".mpl")}
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
        env[name] = str(threads)
    env.update({k: os.environ[k] for k in PASSED_ENV if k in os.environ})
    return env


T = TypeVar("T")


class Template:
    """The fork server process (see template.py); restarted if it dies."""

    CODE = "import sys; from autograder.sandbox.template import main; main(int(sys.argv[1]), sys.argv[2])"

    def __init__(self, threads: int):
        self.threads = threads
        self.proc: subprocess.Popen | None = None
        self.control: socket.socket | None = None
        self.home = tempfile.mkdtemp(prefix="autograder-template-")
        self.log = Path(self.home) / "template.log"
        self.ready = False
        remove_stale_groups()

    def start(self) -> None:
        self.stop()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        import autograder
        kit_parent = str(Path(autograder.__file__).resolve().parent.parent)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-E", "-s", "-c", self.CODE, str(theirs.fileno()), kit_parent],
                pass_fds=[theirs.fileno()], cwd=self.home, env=template_env(self.home, self.threads),
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
        theirs.close()
        self.control, self.ready = ours, False

    def _await_ready(self, timeout: float) -> None:
        if self.proc is None:
            self.start()
        if self.ready:
            return
        reply = self._receive(timeout)
        if not reply.get("ready"):
            raise SandboxStartError(f"sandbox template said {reply!r}")
        self.ready = True

    def _receive(self, timeout: float) -> dict:
        assert self.control is not None
        ready, _, _ = select.select([self.control], [], [], timeout)
        data = self.control.recv(1 << 16) if ready else b""
        if not data:
            tail = self.log.read_text(errors="replace")[-2000:].strip().splitlines()[-1:] if self.log.exists() else []
            self.stop()
            raise SandboxStartError("the sandbox template did not answer" + (f": {tail[0]}" if tail else ""))
        return json.loads(data)

    def fork(self, config: dict, fds: list[int], timeout: float = 120.0) -> int:
        """Start one sandbox; returns its process group id."""
        def send_and_answer() -> int:
            self._send(config, fds, timeout)
            return self._answer()
        return self._restarting(send_and_answer)

    def request_fork(self, config: dict, fds: list[int], timeout: float = 120.0) -> Callable[[], int]:
        """Send a fork request without waiting for the answer; returns what reads it (the
        sandbox's process group id). A template that dies before it answers is not asked
        again: the caller starts that sandbox another way."""
        self._restarting(lambda: self._send(config, fds, timeout))
        control = self.control

        def answer() -> int:
            if self.control is not control or control is None:
                raise SandboxStartError("the sandbox template was restarted before it answered")
            try:
                return self._answer()
            except (OSError, SandboxStartError):
                self.stop()
                raise
        return answer

    def _restarting(self, action: Callable[[], T]) -> T:
        for attempt in (1, 2):  # a template that died is started again once
            try:
                return action()
            except (OSError, SandboxStartError):
                self.stop()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _send(self, config: dict, fds: list[int], timeout: float) -> None:
        if self.proc is None or self.proc.poll() is not None:
            self.start()
        self._await_ready(timeout)
        assert self.control is not None
        socket.send_fds(self.control, [json.dumps(config).encode()], fds)

    def _answer(self) -> int:
        reply = self._receive(30.0)
        if "pid" not in reply:
            raise SandboxStartError(f"sandbox template refused: {reply.get('error')}")
        return int(reply["pid"])

    def stop(self) -> None:
        if self.control is not None:
            self.control.close()
            self.control = None
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            self.proc = None
        self.ready = False

    def close(self) -> None:
        self.stop()
        remove_tree(self.home)
        remove_dying_groups(wait_s=2.0)


class Link:
    """One running sandbox, as the grader sees it."""

    def __init__(self, pgid: int, chan: socket.socket, out_fd: int, status_fd: int, scratch: str,
                 cgroup: SandboxCgroup | None = None):
        self.pgid, self.chan, self.out_fd, self.status_fd, self.scratch = pgid, chan, out_fd, status_fd, scratch
        self.cgroup = cgroup
        self.chan.setblocking(False)
        self.output: deque[bytes] = deque()
        self.output_size = 0
        self.pid: int | None = None  # the student process, for the memory watch
        self.rss_base, self.rss_limit = 0, 0
        self.exit: dict | None = None  # what the reaper wrote when the student process ended
        self.killed_for: str | None = None
        self.cpu_at_kill = 0.0
        self.closed = False
        self._last_poll = 0.0

    # -- waiting ---------------------------------------------------------------------------
    def _wait(self, deadline: float, write: bool = False) -> None:
        now = time.monotonic()
        if now >= deadline:
            raise Deadline()
        watch = [fd for fd in (self.out_fd, self.status_fd) if fd >= 0]
        readable, writable, _ = select.select([self.chan, *watch] if not write else watch,
                                              [self.chan] if write else [], [], min(POLL_S, deadline - now))
        if self.out_fd in readable:
            self._drain_output()
        if self.status_fd in readable:
            self._read_exit()
        self._watch_memory()

    def _drain_output(self) -> None:
        while True:
            try:
                data = os.read(self.out_fd, 65536)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                os.close(self.out_fd)
                self.out_fd = -1
                return
            self.output.append(data)
            self.output_size += len(data)
            while self.output_size - len(self.output[0]) >= OUTPUT_KEPT:
                self.output_size -= len(self.output.popleft())

    def ended(self) -> bool:
        """Whether the sandbox has ended or is ending, without waiting: its reaper has
        written the student's exit, or every holder of the status pipe is gone."""
        if self.closed or self.status_fd < 0:
            return True
        poller = select.poll()
        poller.register(self.status_fd, select.POLLIN | select.POLLHUP | select.POLLERR)
        return bool(poller.poll(0))

    def _read_exit(self) -> None:
        try:
            data = os.read(self.status_fd, 4096)
        except OSError:
            data = b""
        try:
            self.exit = json.loads(data) if data.strip() else {"status": None, "cpu": 0.0}
        except ValueError:
            self.exit = {"status": None, "cpu": 0.0}
        os.close(self.status_fd)
        self.status_fd = -1
        if self.killed_for is None and self.cgroup is not None and self.cgroup.oom_killed():
            self.killed_for = "memory"  # the kernel enforced the sandbox's memory limit

    def _watch_memory(self) -> None:
        now = time.monotonic()
        if self.pid is None or self.rss_limit <= 0 or now - self._last_poll < POLL_S:
            return
        self._last_poll = now
        if rss_anon(self.pid) - self.rss_base > self.rss_limit:
            self.kill("memory")
            raise Ended()

    # -- frames ----------------------------------------------------------------------------
    def read_exact(self, n: int, deadline: float) -> bytearray:
        buf = bytearray(n)
        view, got = memoryview(buf), 0
        while got < n:
            try:
                k = self.chan.recv_into(view[got:])
            except BlockingIOError:
                if self.exit is not None or self.closed:
                    raise Ended() from None
                self._wait(deadline)
                continue
            except OSError:
                k = 0
            if k == 0:
                self._await_exit()
                raise Ended()
            got += k
        return buf

    def _await_exit(self, grace: float = 3.0) -> None:
        """After end of file on the channel: collect the reaper's report if it comes."""
        end = time.monotonic() + grace
        while self.exit is None and self.status_fd >= 0 and time.monotonic() < end:
            ready, _, _ = select.select([self.status_fd], [], [], end - time.monotonic())
            if ready:
                self._read_exit()

    def receive(self, deadline: float, max_bytes: int | None = None):
        from autograder.sandbox import wire  # not at the top: see the imports
        if max_bytes is None:
            max_bytes = wire.MAX_FRAME_BYTES
        envelope, buffers = wire.read_frame(lambda n: self.read_exact(n, deadline), max_bytes)
        if self.out_fd >= 0:
            self._drain_output()
        return envelope, buffers

    def send(self, envelope: dict, buffers: list, deadline: float) -> None:
        from autograder.sandbox import wire
        for part in wire.frame_parts(envelope, buffers):
            view = memoryview(part).cast("B")
            while view.nbytes:
                try:
                    view = view[self.chan.send(view):]
                except BlockingIOError:
                    if self.exit is not None:
                        raise Ended() from None
                    self._wait(deadline, write=True)
                except OSError:
                    self._await_exit()
                    raise Ended() from None

    # -- the end ---------------------------------------------------------------------------
    def kill(self, reason: str | None = None) -> None:
        if reason and self.killed_for is None and self.exit is None:
            self.killed_for = reason
        if self.exit is None and self.pid is not None:
            self.cpu_at_kill = max(self.cpu_at_kill, process_cpu_seconds(self.pid))
        try:
            os.killpg(self.pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def cpu_seconds(self) -> float:
        """CPU time the student's process used (with its waited-for children)."""
        if self.exit is not None:
            return float(self.exit.get("cpu") or 0.0)
        return self.cpu_at_kill

    def stopped_where(self, wait_s: float = 0.3) -> str:
        """Ask the student's process where it is (see template.report_where) before it is
        killed for time: "in cell 3, line 7, in train", or "" when it does not say. What
        it says is a hint for the message, nothing else."""
        if self.pid is None or self.exit is not None:
            return ""
        before = self.output_size
        try:
            os.kill(self.pid, WHERE_SIGNAL)
        except OSError:
            return ""
        end = time.monotonic() + wait_s
        while time.monotonic() < end and self.out_fd >= 0:
            ready, _, _ = select.select([self.out_fd], [], [], end - time.monotonic())
            if ready:
                self._drain_output()
                text = b"".join(self.output)[-4096:].decode("utf-8", "replace")
                if self.output_size > before and WHERE_MARK in text:
                    line = text.rsplit(WHERE_MARK, 1)[1].split("\n", 1)[0]
                    return line.strip()[:200]
        return ""

    def text_output(self) -> str:
        if self.out_fd >= 0:
            try:
                self._drain_output()
            except OSError:
                pass
        return b"".join(self.output)[-OUTPUT_KEPT:].decode("utf-8", errors="replace")

    def close(self) -> None:
        if self.closed:
            return
        self.kill()
        self.text_output()
        self.closed = True
        self.chan.close()
        for fd in (self.out_fd, self.status_fd):
            if fd >= 0:
                os.close(fd)
        self.out_fd = self.status_fd = -1
        remove_tree(self.scratch)
        if self.cgroup is not None and not self.cgroup.remove():
            _dying_groups.append(self.cgroup)  # its processes are still exiting: removed later


_dying_groups: list[SandboxCgroup] = []


def remove_dying_groups(wait_s: float = 0.0) -> None:
    end = time.monotonic() + wait_s
    while True:
        _dying_groups[:] = [g for g in _dying_groups if not g.remove()]
        if not _dying_groups or time.monotonic() >= end:
            return
        time.sleep(0.02)


def remove_tree(path: str) -> None:
    """Remove a scratch folder whatever the student left in it: shutil.rmtree gives up
    on a tree deeper than Python's recursion limit or on folders without write or search
    permission, so its leftovers are removed by a loop that needs no recursion, and
    `rm -rf` is the last resort. A folder that still cannot be removed is reported on
    stderr, never ignored silently."""
    if not os.path.lexists(path):
        return
    if os.path.islink(path) or not os.path.isdir(path):
        os.unlink(path)
        return
    try:
        shutil.rmtree(path, onerror=_allow_and_retry)
    except (OSError, RecursionError):
        pass
    if os.path.lexists(path):
        _remove_iteratively(path)
    if os.path.lexists(path):
        subprocess.run(["rm", "-rf", "--one-file-system", "--", path], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    if os.path.lexists(path):
        print(f"autograder: could not remove the sandbox folder {path}", file=sys.stderr)


def _allow_and_retry(function, path, exc_info) -> None:
    if isinstance(exc_info[1], (PermissionError, RecursionError)):
        try:
            os.chmod(os.path.dirname(path), 0o700)
            function(path)
        except (OSError, RecursionError):
            pass


def _remove_iteratively(top: str) -> None:
    """Depth first with an explicit stack of open folder descriptors (no path grows
    longer than one name, so depth is no limit)."""
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    stack: list[int] = []
    names: list[str] = [top]
    try:
        stack.append(os.open(top, flags))
        while stack:
            fd = stack[-1]
            try:
                os.fchmod(fd, 0o700)
            except OSError:
                pass
            inner = None
            with os.scandir(fd) as entries:  # a duplicate, rewound each time
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        inner = entry.name
                        break
                    os.unlink(entry.name, dir_fd=fd)
            if inner is not None:
                stack.append(os.open(inner, flags, dir_fd=fd))
                names.append(inner)
                continue
            os.close(stack.pop())
            name = names.pop()
            if stack:
                os.rmdir(name, dir_fd=stack[-1])
    except OSError:
        pass
    finally:
        for fd in stack:
            os.close(fd)
    try:
        os.rmdir(top)
    except OSError:
        pass


def process_cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def new_link(template: Template, config: dict) -> Link:
    """A started sandbox (a template that died is started again once)."""
    return begin_link(template, config, wait=True)()


def begin_link(template: Template, config: dict, wait: bool = False) -> Callable[[], Link]:
    """Ask the template for a sandbox; returns what gives its Link once the template has
    answered. wait=False does not wait for that answer (the fork and the kernel's page
    table copy, 5-60 ms on a busy machine): a spare's caller reads it when it needs the
    spare, and before it asks the template for anything else (answers come in order)."""
    remove_dying_groups()
    scratch = tempfile.mkdtemp(prefix="autograder-sandbox-")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        os.chown(scratch, 65534, 65534)  # where no private tmpfs covers it, nobody must own it
    limits = config["limits"]
    cgroup, cgroup_status = SandboxCgroup.create(config["threads"], int(limits["memory_mb"]),
                                                 int(limits["max_processes"]))
    config = {**config, "scratch": scratch, "env": sandbox_env(scratch, config["threads"]),
              "tmpfs_mb": tmpfs_size_mb(limits), "cgroup": cgroup_status,
              "cgroup_procs": cgroup.join_files() if cgroup is not None else []}
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    out_r, out_w = os.pipe()
    status_r, status_w = os.pipe()
    os.set_blocking(out_r, False)

    def abandon() -> None:
        ours.close()
        os.close(out_r)
        os.close(status_r)
        remove_tree(scratch)
        if cgroup is not None and not cgroup.remove():
            _dying_groups.append(cgroup)

    try:
        if wait:
            pgid = template.fork(config, [theirs.fileno(), out_w, status_w])
            answer: Callable[[], int] = lambda: pgid  # noqa: E731
        else:
            answer = template.request_fork(config, [theirs.fileno(), out_w, status_w])
    except BaseException:
        abandon()
        raise
    finally:  # the template holds its own copies once the request is sent
        theirs.close()
        os.close(out_w)
        os.close(status_w)

    def link() -> Link:
        try:
            pgid = answer()
        except BaseException:
            abandon()
            raise
        return Link(pgid, ours, out_r, status_r, scratch, cgroup)
    return link


def tmpfs_size_mb(limits: dict) -> int:
    """Size of each private memory-backed folder (/dev/shm, /tmp, scratch): room for
    DataLoader workers' batches and a checkpoint, bounded by the memory limit because
    their contents are memory the sandbox is charged for."""
    return max(64, min(int(limits["memory_mb"]) // 4, 1024))
