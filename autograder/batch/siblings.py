"""The batch side of the zygote (zygote.py): starting it, asking it for workers and
templates, and handles on those processes, which are the zygote's children, not ours
(a pidfd tells when one ends; the zygote, which reaps it, tells its exit code)."""
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
from multiprocessing.connection import Connection
from pathlib import Path

from autograder.sandbox.launcher import SandboxStartError, Template, sandbox_env, template_env
from autograder.sandbox.template import PRELOAD

START_TIMEOUT_S = 120.0


# The zygote folds its memory into huge pages (template.fold_into_huge_pages: 0.4-0.9 s
# before the first fork) only for a batch that starts at least this many sandboxes: each
# fork and exit of a folded process costs about 35 ms less (18 ms instead of 53, measured
# here), two of them a sandbox as root (three otherwise), spread over the workers.
FOLD_WORTH_SANDBOXES = 16
# Text in graded code that means a sandbox will load torch._dynamo (an optimizer step,
# torch.compile, torchvision's import): then the zygote preloads it for every sandbox.
NEEDS_PRELOAD = (b"torchvision", b"optim", b"_dynamo", b"torch.compile")


def zygote_plan(test_files: list[str], submissions: list[Path], sandboxes: int) -> tuple[tuple, bool]:
    """(what the zygote preloads, whether it folds) for a batch that will start about
    `sandboxes` sandboxes: the preload when the tests of the assignments students
    submitted or a student's code cells mention NEEDS_PRELOAD (a sandbox without it
    would import torch._dynamo itself: 2 s each; with it where it is not needed, every
    batch starts 2 s later), folding when the batch starts enough sandboxes
    (FOLD_WORTH_SANDBOXES). Either choice only moves time: grades never depend on it."""
    from autograder.load import load_code
    from autograder.mapping import student_files

    def mentions(path: Path, code_only: bool) -> bool:
        try:
            data = path.read_bytes()
        except OSError:
            return False  # grading will say what is wrong with it
        if not any(token in data for token in NEEDS_PRELOAD):
            return False
        if not code_only or path.suffix != ".ipynb":
            return True
        try:  # a notebook: its code cells, not its prose
            source = load_code(str(path)).source.encode("utf-8", "replace")
        except Exception:
            return True
        return any(token in source for token in NEEDS_PRELOAD)

    needed = any(mentions(Path(f), False) for f in test_files) or any(
        mentions(f, True) for sub in submissions for f in student_files(Path(sub)))
    return (PRELOAD if needed else ()), sandboxes >= FOLD_WORTH_SANDBOXES


def zygote_supported() -> bool:
    return hasattr(os, "pidfd_open") and hasattr(socket, "send_fds") and sys.platform.startswith("linux")


def available_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def worker_threads(cores: int, jobs: int) -> int:
    """Torch threads for each of `jobs` workers on `cores` cores."""
    return max(1, cores // jobs)


def start_zygote(threads: int) -> "Zygote | None":
    """The batch's zygote, started before anything else is known, or None where Linux
    does not allow one (the pool then starts workers the slow way)."""
    if not zygote_supported():
        return None
    try:
        return Zygote(threads)
    except OSError as exc:
        print(f"batch: workers are started the slow way (no zygote: {exc})", file=sys.stderr)
        return None


def zygote_for_command(jobs: int | None) -> "Zygote | None":
    """For `autograder batch`, as soon as its command line is parsed (before the course
    is loaded and the rest of the batch package imported: ~0.1 s): the zygote whose
    torch import is the longest step before the first grade. run_batch takes it over;
    the caller closes it if the command stops before that."""
    cores = available_cores()
    jobs = cores if jobs is None else jobs
    return start_zygote(worker_threads(cores, jobs)) if jobs >= 1 else None


class SiblingProcess:
    """The parts of multiprocessing.Process the pool uses, for a process we did not fork."""

    def __init__(self, pid: int, zygote: "Zygote | None" = None):
        self.pid, self.zygote = pid, zygote
        self.sentinel = os.pidfd_open(pid)
        self._exitcode: int | None = None
        self._asked = False

    def _ended(self, timeout: float = 0.0) -> bool:
        if self.sentinel < 0:
            return True
        ready, _, _ = select.select([self.sentinel], [], [], max(0.0, timeout))
        return bool(ready)

    def is_alive(self) -> bool:
        return not self._ended()

    def poll(self):  # launcher.Template reads a Popen's poll()
        return None if self.is_alive() else 0

    def join(self, timeout: float | None = None) -> None:
        self._ended(1e9 if timeout is None else timeout)

    wait = join

    def kill(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    @property
    def exitcode(self) -> int | None:
        if not self._asked and self.zygote is not None and self._ended():
            self._asked = True
            self._exitcode = self.zygote.exitcode(self.pid)
        return self._exitcode

    def close(self) -> None:
        if self.sentinel >= 0:
            os.close(self.sentinel)
            self.sentinel = -1


class AdoptedTemplate(Template):
    """A worker's template that the zygote forked ready-made. If it dies, the next
    start() is launcher.Template's own (a fresh interpreter): slower, same result."""

    def __init__(self, threads: int, control: socket.socket, pid: int, log: str):
        super().__init__(threads)
        self.control, self.proc, self.log = control, SiblingProcess(pid), Path(log)

    def start(self) -> None:
        self.log = Path(self.home) / "template.log"
        super().start()


class Zygote:
    def __init__(self, threads: int):
        self.threads = threads
        self.home = tempfile.mkdtemp(prefix="autograder-zygote-")
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        import autograder
        kit_parent = str(Path(autograder.__file__).resolve().parent.parent)
        script = str(Path(__file__).with_name("zygote.py"))
        code = ("import sys, importlib.util as u; s = u.spec_from_file_location('autograder_zygote', sys.argv[1]); "
                "m = u.module_from_spec(s); s.loader.exec_module(m); m.serve(int(sys.argv[2]), sys.argv[3]); "
                "m.end()")
        # stderr is the batch's, so a worker's crash is seen; the environment is a template's
        # (the sandbox's plus glibc's huge-page setting), so nothing of the grader's reaches a
        # template (workers get theirs back over their pipe).
        self.proc = subprocess.Popen([sys.executable, "-E", "-s", "-c", code, script, str(theirs.fileno()), kit_parent],
                                     pass_fds=[theirs.fileno()], cwd=self.home,
                                     env=template_env(self.home, threads), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL)
        theirs.close()
        self.control = ours
        self.ready = False
        self.planned = False

    def plan(self, preload: tuple = PRELOAD, fold: bool = True) -> None:
        """What the zygote imports besides torch and whether it folds its memory into huge
        pages: told while it imports torch, and at the latest before its first fork."""
        if not self.planned:
            self.planned = True
            self.control.send(json.dumps({"preload": list(preload), "fold": bool(fold)}).encode())

    def _receive(self, timeout: float) -> dict:
        ready, _, _ = select.select([self.control], [], [], timeout)
        data = self.control.recv(1 << 16) if ready else b""
        if not data:
            raise SandboxStartError("the batch's zygote process did not answer")
        return json.loads(data)

    def _fork(self, request: dict, fds: list[int]) -> int:
        self.plan()
        if not self.ready:
            reply = self._receive(START_TIMEOUT_S)
            if not reply.get("ready"):
                raise SandboxStartError(f"the batch's zygote said {reply!r}")
            self.ready = True
        socket.send_fds(self.control, [json.dumps(request).encode()], fds)
        return int(self._receive(30.0)["pid"])

    def exitcode(self, pid: int) -> int | None:
        try:
            self.control.send(json.dumps({"kind": "exitcode", "pid": pid}).encode())
            return self._receive(10.0).get("exitcode")
        except (OSError, SandboxStartError, ValueError):
            return None

    def worker(self, course, options) -> tuple[Connection, SiblingProcess, str]:
        """A worker with its own ready template; returns its pipe, its process and the
        template's folder (the caller removes it when the worker is gone)."""
        home = tempfile.mkdtemp(prefix="autograder-template-")
        log = os.path.join(home, "template.log")
        t_ours, t_theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        c_ours, c_theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            template_pid = self._fork({"kind": "template", "home": home, "log": log,
                                       "env": sandbox_env(home, options.torch_threads)}, [t_theirs.fileno()])
            worker_pid = self._fork({"kind": "worker"}, [c_theirs.fileno(), t_ours.fileno()])
        finally:
            for s in (t_ours, t_theirs, c_theirs):
                s.close()
        conn = Connection(c_ours.detach())
        # The batch's working directory too: the zygote runs in its own folder, and a class
        # folder given as a relative path must mean the same thing in the worker.
        conn.send((course, options, dict(os.environ), list(sys.path), os.getcwd(), template_pid, log))
        return conn, SiblingProcess(worker_pid, self), home

    def close(self, wait: bool = True) -> None:
        """Tell the zygote to leave (it returns at the end of its socket). wait=False:
        do not wait for its exit (tens of ms for a process of torch's size), for a batch
        whose workers are all gone: it ends on its own, and with the batch process at the
        latest (PR_SET_PDEATHSIG)."""
        self.control.close()
        if not self.ready:  # never asked for a process (the batch stopped early): not worth waiting for
            self.proc.kill()
            wait = True  # its end is immediate
        if wait:
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.home, ignore_errors=True)

