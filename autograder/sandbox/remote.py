"""The grader's view of a sandboxed submission: `SandboxFactory` opens submissions,
`SandboxSubmission` implements the `Submission` interface over the channel, and `Handle`
stands for an object that stays in the sandbox.

Faults become the exceptions of autograder.submission. A fatal one (timeout, crash,
memory kill, protocol violation) stops the sandbox; later calls raise the same kind of
fault at once until `restart()` starts a fresh sandbox with the same code.
"""
from __future__ import annotations

import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from autograder.localize import N_
from autograder.sandbox import wire
from autograder.sandbox.launcher import Deadline, Ended, Link, SandboxStartError, Template, begin_link, new_link
from autograder.submission import (MissingName, StudentCodeError, Submission, SubmissionCrashed,
                                   SubmissionFault, SubmissionMemoryError, SubmissionTimeout,
                                   TamperDetected, qualified_name)

# What a student reads when a signal ends their process: one whole sentence per signal.
KILLED_BY = {
    "SIGSEGV": N_("the student's process was killed by signal SIGSEGV (segmentation fault)"),
    "SIGBUS": N_("the student's process was killed by signal SIGBUS (bus error)"),
    "SIGABRT": N_("the student's process was killed by signal SIGABRT (aborted)"),
    "SIGKILL": N_("the student's process was killed by signal SIGKILL (killed; possibly out of memory)"),
    "SIGFPE": N_("the student's process was killed by signal SIGFPE (arithmetic fault)"),
}

if TYPE_CHECKING:
    from autograder.course import Limits
    from autograder.load import StudentCode

START_TIMEOUT_S = 120.0
MB = 1 << 20


def _limits_dict(limits) -> dict:
    keys = ("test_timeout_s", "submission_timeout_s", "cpu_time_s", "memory_mb", "max_file_mb", "max_processes")
    return {k: getattr(limits, k) for k in keys}


def default_secrets() -> list[str]:
    """Folders whose contents student code must never read: the package (hidden tests)
    and, for a checkout, the repository around it (solutions/, course.yaml)."""
    import autograder
    package = Path(autograder.__file__).resolve().parent
    secrets = [str(package)]
    repo = package.parent
    if any((repo / marker).exists() for marker in ("course.yaml", "solutions", "pyproject.toml", ".git")):
        secrets.append(str(repo))
    cwd = Path.cwd()
    if (cwd / "course.yaml").exists():
        secrets.append(str(cwd))
    return secrets


def sandbox_config(factory_config: dict, cpu_used: float = 0.0, pretend: dict | None = None) -> dict:
    """What one sandbox is started with: the factory's config, the CPU time the submission
    has left, and what torch must answer before the student's code loads."""
    limits = dict(factory_config["limits"])
    limits["cpu_time_s"] = max(1.0, float(limits["cpu_time_s"]) - cpu_used)
    return {**factory_config, "limits": limits, "pretend": dict(pretend or {})}


class SandboxFactory:
    """Opens sandboxed submissions, each forked from one warm template process.

    spare=True keeps one sandbox started ahead (a batch worker grades one submission after
    another): a submission's first sandbox is the spare when one is ready, and the next
    spare is started at once, so a sandbox's start-up (its forks, namespaces, private
    mounts and cgroup) overlaps the grading of the submission before it. A spare is an
    ordinary confined sandbox that has not loaded any code yet (docs/SECURITY.md)."""

    def __init__(self, limits: "Limits", device: str = "cpu", torch_threads: int = 1,
                 secret_paths: list[str] | tuple = (), template: Template | None = None,
                 spare: bool = False):
        device = str(device)
        if device != "cpu" and not device.startswith("cuda"):
            raise ValueError(f"sandbox device must be cpu or cuda, got {device!r}")
        if not hasattr(os, "fork"):
            raise RuntimeError("the sandbox needs os.fork (Linux or macOS); use the in-process backend")
        self.limits, self.device, self.threads = limits, device, max(1, int(torch_threads))
        self.secrets = [*default_secrets(), *(str(Path(p).resolve()) for p in secret_paths)]
        # A template handed in (a batch worker's, forked ready-made) is this factory's to close.
        self.template = template if template is not None else Template(self.threads)
        if template is None:
            self.template.start()  # warms up while the caller prepares; open() waits for it
        self.opened: list[SandboxSubmission] = []
        self.keep_spare = spare
        # (config, the Link, or what gives it once the template has answered: begin_link)
        self._spare: tuple[dict, Link | Callable[[], Link]] | None = None

    def config(self) -> dict:
        return {"limits": _limits_dict(self.limits), "device": self.device, "threads": self.threads,
                "secrets": self.secrets, "reply_budget": wire.MAX_FRAME_BYTES // 2}

    def open(self, code: "StudentCode", assignment: str = "") -> "SandboxSubmission":
        sub = SandboxSubmission(self, code, assignment)
        self.opened.append(sub)
        return sub

    def start_link(self, config: dict) -> Link:
        """A started sandbox for `config`: the spare when it was started for the same
        config and is still alive, else a new one; with spares on, the next spare is
        started before returning. A spare that dies between this check and its hello
        faults as a sandbox started on demand would: it is the same process, forked earlier.
        The next spare is asked for without waiting for the template's answer."""
        spare = self._spare_link()
        if spare is not None and spare[1].ended():  # died waiting (killed, template gone)
            spare[1].close()
            spare = self._spare = None
        if spare is not None and spare[0] == config:
            self._spare = None
            link = spare[1]
        else:  # none ready, or another config (a restart, torch told to answer otherwise): it waits
            link = new_link(self.template, config)
        self.start_spare()
        return link

    def start_spare(self) -> None:
        """With spares on and none waiting: ask for one (a batch worker also calls this
        before its first submission, so that sandbox starts while the worker collects its
        tests)."""
        if self.keep_spare and self._spare is None:
            first = sandbox_config(self.config())  # what a submission's first sandbox asks for
            try:
                self._spare = (first, begin_link(self.template, first))
            except (OSError, SandboxStartError):
                pass  # none ahead this time: the next submission starts its own

    def _spare_link(self) -> tuple[dict, Link] | None:
        """The spare with the template's answer read (None if the start failed)."""
        if self._spare is not None and not isinstance(self._spare[1], Link):
            config, answer = self._spare
            try:
                self._spare = (config, answer())
            except (OSError, SandboxStartError):
                self._spare = None
        return self._spare  # type: ignore[return-value]

    def close(self) -> None:
        spare = self._spare_link()
        if spare is not None:
            spare[1].close()
            self._spare = None
        for sub in self.opened:
            sub.close()
        self.opened.clear()
        self.template.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class SandboxSubmission(Submission):
    def __init__(self, factory: SandboxFactory, code: "StudentCode", assignment: str = "",
                 pretend: dict | None = None, deadline: float | None = None):
        self.factory, self.code, self.assignment = factory, code, assignment
        self.limits = factory.limits
        # what the sandbox makes torch answer before the student's code loads (template.py)
        self.pretend = dict(pretend or {})
        self.link: Link | None = None
        self.generation = 0
        # one wall clock and one CPU budget for the submission, shared by its restarts
        # (and by copies opened with cuda_available_as)
        self.submission_deadline: float | None = deadline
        self.cpu_used = 0.0
        self.stopped_at = ""  # where the student's code was when a call last ran out of time
        self._seq = 0
        self.load_errors: list = []
        self.load_status = "ok"
        self.load_fault: SubmissionFault | None = None
        self._isolation: dict = {"backend": "sandbox"}
        self._fault: SubmissionFault | None = None
        self._last_output = ""
        self._start()

    # -- life --------------------------------------------------------------------------------
    def _start(self) -> None:
        self.generation += 1
        self._fault, self.load_fault, self.load_errors, self.load_status = None, None, [], "ok"
        self.link = self.factory.start_link(self._sandbox_config())
        # the clock starts once the first sandbox exists (a template still importing
        # torch is not the student's time); a restart gets only what is left of it
        if self.submission_deadline is None:
            self.submission_deadline = time.monotonic() + self.limits.submission_timeout_s
        self.life_deadline = self.submission_deadline
        try:
            hello = self._receive(min(self.life_deadline, time.monotonic() + START_TIMEOUT_S))
        except SubmissionFault as exc:
            self.load_status, self.load_fault = exc.status, exc
            return
        if not hello.get("hello"):
            self._stop(SubmissionCrashed("protocol violation: the sandbox did not say hello"))
            self.load_status = "crashed"
            return
        self._isolation = dict(hello.get("isolation") or {})
        self.link.pid = int(hello.get("pid") or 0) or None
        self.link.rss_base = int(hello.get("rss") or 0)
        self.link.rss_limit = int(self.limits.memory_mb) * MB
        self._load()

    def _load(self) -> None:
        from autograder.load import LoadIssue
        cells = [{"index": c.index, "label": self.code.label(c.index), "source": c.source}
                 for c in self.code.cells]
        try:
            result = self._request({"op": "load", "cells": cells}, deadline=self.life_deadline)
        except (SubmissionTimeout, SubmissionCrashed, SubmissionMemoryError) as exc:
            self.load_status, self.load_fault = exc.status, exc
            return
        except TamperDetected:  # loading tampered with the kit: every test meets the fault
            return
        try:
            self.load_errors = [LoadIssue(int(i["cell"]), i.get("line") if type(i.get("line")) is int else None,
                                          _text(i["message"], 2000), _text(i.get("traceback"), 4000),
                                          _text(i.get("kind"), 40) or "error")
                                for i in result["issues"]]
        except (KeyError, TypeError, ValueError, AttributeError):
            self._stop(SubmissionCrashed("protocol violation: a malformed load reply"))
            self.load_status, self.load_fault = "crashed", self._fault
        if any(i.kind == "memory" for i in self.load_errors):
            self.load_status = "memory"

    def restart(self) -> None:
        """A fresh sandbox with the same code (after a crash or timeout). Code that
        faulted while loading would fault again on every restart, costing the whole time
        limit once per remaining test: it keeps its load fault (calls fail fast) instead."""
        if self.load_fault is not None:
            return
        self._close_link()
        used_up = self._budget_used_up()
        if used_up:  # no new sandbox: the remaining tests end at once
            self._fault = SubmissionTimeout(used_up)
            return
        self._start()

    def _sandbox_config(self) -> dict:
        """The factory's config with the CPU time this submission has left."""
        return sandbox_config(self.factory.config(), self.cpu_used, self.pretend)

    @contextmanager
    def cuda_available_as(self, available: bool) -> Iterator["SandboxSubmission"]:
        """A fresh sandbox with the same code in which torch.cuda.is_available() answers
        `available` from before the first student line runs: a device choice that differs
        between two such copies can only come from that answer, whatever their code does."""
        if self.submission_deadline is None:
            self.submission_deadline = time.monotonic() + self.limits.submission_timeout_s
        copy = SandboxSubmission(self.factory, self.code, self.assignment,
                                 pretend={**self.pretend, "cuda_available": bool(available)},
                                 deadline=self.submission_deadline)
        copy.cpu_used = self.cpu_used
        try:
            yield copy
        finally:
            copy.close()
            self.cpu_used = max(self.cpu_used, copy.cpu_used)

    # Fault messages are whole sentences (one feedback catalog entry each, see
    # autograder/localize.py); `where` is the sandbox's hint of the student's line.
    def _submission_time_used_up(self) -> str:
        limit, where = f"{self.limits.submission_timeout_s:g}", self.stopped_at
        if where:
            return N_(f"the submission's time limit of {limit} s is used up (stopped {where})")
        return N_(f"the submission's time limit of {limit} s is used up")

    def _cpu_time_used_up(self) -> str:
        limit, where = f"{self.limits.cpu_time_s:g}", self.stopped_at
        if where:
            return N_(f"the student's code used up its {limit} s of CPU time (stopped {where})")
        return N_(f"the student's code used up its {limit} s of CPU time")

    def _call_too_long(self) -> str:
        limit, where = f"{self.limits.test_timeout_s:g}", self.stopped_at
        if where:
            return N_(f"a call into the student's code took longer than {limit} s (stopped {where})")
        return N_(f"a call into the student's code took longer than {limit} s")

    def _budget_used_up(self) -> str:
        """Why this submission may not start another sandbox ('' when it may)."""
        if self.submission_deadline is not None and time.monotonic() >= self.submission_deadline:
            return self._submission_time_used_up()
        if self.cpu_used >= self.limits.cpu_time_s - 0.5:
            return self._cpu_time_used_up()
        return ""

    def _close_link(self) -> None:
        if self.link is not None:
            self._last_output = self.link.text_output()
            self.link.close()
            self.cpu_used += self.link.cpu_seconds()
            self.link = None

    def close(self) -> None:
        self._close_link()
        if self._fault is None:
            self._fault = SubmissionCrashed(N_("the sandbox was closed"))

    @property
    def output(self) -> str:
        """The last ~64 KB the student's code printed (stdout and stderr together)."""
        return self.link.text_output() if self.link is not None else self._last_output

    @property
    def isolation(self) -> dict:
        return dict(self._isolation)

    # -- faults ------------------------------------------------------------------------------
    def _stop(self, fault: SubmissionFault) -> SubmissionFault:
        self._fault = fault
        if self.link is not None:
            self.link.kill()
        return fault

    def _ended_fault(self) -> SubmissionFault:
        link = self.link
        if link is None:
            return SubmissionCrashed(N_("the sandbox is closed"))
        if link.killed_for == "memory":
            limit = self.limits.memory_mb
            return SubmissionMemoryError(N_(f"the student's code used more than {limit} MB "
                                            "of memory and was stopped"))
        end = link.exit or {}
        status, cpu = end.get("status"), float(end.get("cpu") or 0.0)
        if status is None:
            return SubmissionCrashed(N_("the sandbox process ended unexpectedly"))
        if os.WIFSIGNALED(status):
            import signal
            number = os.WTERMSIG(status)
            try:
                name = signal.Signals(number).name
            except ValueError:
                name = f"signal {number}"
            if number == signal.SIGXCPU or (number == signal.SIGKILL and cpu >= self.limits.cpu_time_s - 0.5):
                limit = f"{self.limits.cpu_time_s:g}"
                return SubmissionTimeout(N_(f"the student's code used up its {limit} s of CPU time"))
            return SubmissionCrashed(KILLED_BY.get(name) or N_(f"the student's process was killed by signal {name}"))
        code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else status
        if code == wire.BROKEN_LOOP_EXIT:
            return SubmissionCrashed(N_("the sandbox stopped answering because the student's code damaged "
                                        "the interpreter (replaced builtins or closed its files)"))
        return SubmissionCrashed(N_(f"the student's process exited with code {code} "
                                    "(sys.exit or os._exit in the student's code)"))

    def _check_alive(self) -> None:
        if self._fault is not None:
            fault = self._fault
            raise type(fault)(N_(f"the sandbox stopped after an earlier fault: {fault}"))
        if self.link is None:
            raise SubmissionCrashed(N_("the sandbox is closed"))
        if time.monotonic() >= self.life_deadline:
            raise self._stop(SubmissionTimeout(self._submission_time_used_up()))

    # -- transport ---------------------------------------------------------------------------
    def _receive(self, deadline: float) -> dict:
        assert self.link is not None
        try:
            envelope, buffers = self.link.receive(deadline)
        except Deadline:
            self.stopped_at = self.link.stopped_where() or self.stopped_at
            if time.monotonic() >= self.life_deadline - 0.01:
                fault = SubmissionTimeout(self._submission_time_used_up())
            else:
                fault = SubmissionTimeout(self._call_too_long())
            raise self._stop(fault) from None
        except Ended:
            raise self._stop(self._ended_fault()) from None
        except wire.ProtocolError as exc:
            raise self._stop(SubmissionCrashed(str(exc))) from None
        self._buffers = buffers
        return envelope

    def _request(self, request: dict, deadline: float | None = None) -> Any:
        self._check_alive()
        assert self.link is not None
        self._seq += 1
        request = {**request, "seq": self._seq}
        encoder = wire.Encoder(self._ref_node)
        for key in ("args", "kwargs", "value", "target", "key", "a", "b", "grad"):
            if key in request:
                request[key] = encoder.encode(request[key])
        if deadline is None:
            deadline = min(self.life_deadline, time.monotonic() + self.limits.test_timeout_s)
        try:
            self.link.send(request, encoder.buffers, deadline)
        except Deadline:
            raise self._stop(SubmissionTimeout("the sandbox stopped reading requests")) from None
        except Ended:
            raise self._stop(self._ended_fault()) from None
        reply = self._receive(deadline)
        if reply.get("seq") != self._seq:
            raise self._stop(SubmissionCrashed("protocol violation: a reply to the wrong request"))
        if reply.get("ok") is True:
            try:
                return wire.Decoder(self._buffers, on_handle=self._handle, remote=True,
                                    deadline=deadline).decode(reply.get("value"))
            except wire.ProtocolError as exc:
                raise self._stop(SubmissionCrashed(str(exc))) from None
        raise self._error(reply.get("error"))

    def _error(self, error) -> Exception:
        if not isinstance(error, dict):
            return self._stop(SubmissionCrashed("protocol violation: a malformed error reply"))
        kind, message = error.get("kind"), _text(error.get("message"))
        if kind == "tamper":
            return self._stop(TamperDetected.of(error.get("changed") or []))
        if kind == "too_large":  # the sandbox refused to send it and goes on serving
            return StudentCodeError(message, "ReplyTooLarge", "")
        if kind == "missing":
            return MissingName(_text(error.get("name"), 200))
        if kind == "exit":
            return self._stop(SubmissionCrashed(message))
        if kind == "memory":
            return SubmissionMemoryError(message)
        if kind == "student":
            trace = _text(error.get("traceback"))
            text = N_(f"{message}\nTraceback (the student's code, most recent call last):\n{trace}") if trace else message
            return StudentCodeError(text, _text(error.get("type"), 200) or "Exception", trace)
        return RuntimeError(f"sandbox request failed: {message}")

    def _ref_node(self, value) -> dict:
        if isinstance(value, Handle) and value._sub is self:
            if value._generation != self.generation:
                raise SubmissionCrashed("a handle from before the sandbox was restarted was used")
            return {"$": "ref", "id": value._id}
        raise TypeError(f"cannot pass a {type(value).__name__} into the sandbox: only data (tensors, "
                        "arrays, numbers, strings, containers) and handles from this submission")

    def _handle(self, hid: int, type_name: str) -> "Handle":
        return Handle(self, hid, type_name, self.generation)

    # -- the Submission interface -----------------------------------------------------------
    def has(self, name: str) -> bool:
        return bool(self._request({"op": "has", "name": name}))

    def get(self, name: str) -> Any:
        return self._request({"op": "get", "name": name})

    def _call(self, target, args, kwargs, keep: bool):
        request = {"op": "call", "args": list(args), "kwargs": dict(kwargs), "keep": keep}
        request.update({"name": target} if isinstance(target, str) else {"target": target})
        return self._request(request)

    def call(self, target, *args, **kwargs) -> Any:
        return self._call(target, args, kwargs, keep=False)

    def call_keep(self, target, *args, **kwargs) -> Any:
        return self._call(target, args, kwargs, keep=True)

    def keep(self, value) -> Any:
        return value if isinstance(value, Handle) else self._request({"op": "keep", "value": value})

    def fetch(self, handle) -> Any:
        return self._request({"op": "fetch", "target": handle}) if isinstance(handle, Handle) else handle

    def helper(self, name: str, *args, **kwargs) -> Any:
        return self._request({"op": "helper", "name": name, "args": list(args), "kwargs": dict(kwargs)})

    def write(self, target, values) -> None:
        self._request({"op": "write", "target": target, "value": values})

    def named_parameters(self, model) -> list:
        return [tuple(pair) for pair in self._request({"op": "parameters", "target": model})]

    def backward(self, target, grad, index: int | None = None) -> None:
        self._request({"op": "backward", "target": target, "grad": grad,
                       "index": None if index is None else int(index)})

    def same_object(self, a, b) -> bool:
        if isinstance(a, Handle) and isinstance(b, Handle):
            return a._id == b._id or bool(self._request({"op": "same", "a": a, "b": b}))
        return a is b

    def type_names(self, obj) -> list[str]:
        if isinstance(obj, Handle):
            return list(self._request({"op": "types", "target": obj}))
        return [qualified_name(c) for c in type(obj).__mro__]

    def handle_op(self, op: str, handle: "Handle", **fields) -> Any:
        return self._request({"op": op, "target": handle, **fields})


def _text(value, limit: int = 20000) -> str:
    """A string field of a reply, whatever the sandbox put there (a deeply nested list
    would overflow str()), cut to `limit` characters."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        return ""
    return value if len(value) <= limit else value[:limit] + f"... ({len(value) - limit} more characters)"


# Attribute names Python, numpy, torch and pytest probe for on any object: answered here
# instead of asking the sandbox (and never treated as the student's attributes).
_LOCAL_ONLY = frozenset({"__array__", "__array_interface__", "__array_struct__", "__array_priority__",
                         "__torch_function__", "__torch_dispatch__", "__fspath__", "__length_hint__",
                         "__deepcopy__", "__copy__", "__getstate__", "__reduce__", "__reduce_ex__",
                         "__index__", "__float__", "__int__", "__complex__", "__await__", "__aiter__"})
_REMOTE_DUNDERS = frozenset({"__name__", "__qualname__", "__module__", "__doc__", "__dict__",
                             "__wrapped__", "__self__", "__func__"})


class Handle:
    """An object that stays in the sandbox. Attribute access, calls, indexing, len and
    iteration are requests; data comes back by value, other objects as handles."""

    __slots__ = ("_sub", "_id", "_type", "_generation")

    def __init__(self, sub: SandboxSubmission, hid: int, type_name: str, generation: int):
        object.__setattr__(self, "_sub", sub)
        object.__setattr__(self, "_id", hid)
        object.__setattr__(self, "_type", type_name)
        object.__setattr__(self, "_generation", generation)

    def __getattr__(self, name: str):
        if name in Handle.__slots__ or name in _LOCAL_ONLY or name.startswith(("_repr_", "_ipython")) or (
                name.startswith("__") and name.endswith("__") and name not in _REMOTE_DUNDERS):
            raise AttributeError(name)
        return self._sub.handle_op("getattr", self, name=name)

    def __setattr__(self, name: str, value) -> None:
        self._sub.handle_op("setattr", self, name=name, value=value)

    def __call__(self, *args, **kwargs):
        return self._sub.call(self, *args, **kwargs)

    def __getitem__(self, key):
        return self._sub.handle_op("getitem", self, key=key)

    def __setitem__(self, key, value) -> None:
        self._sub.handle_op("setitem", self, key=key, value=value)

    def __len__(self) -> int:
        try:
            return int(self._sub.handle_op("len", self))
        except StudentCodeError as exc:
            if exc.exc_type == "TypeError":  # no len(): list() and friends expect TypeError
                raise TypeError(str(exc).splitlines()[0]) from None
            raise

    def __bool__(self) -> bool:
        return bool(self._sub.handle_op("bool", self))

    def __iter__(self):
        iterator = self._sub.handle_op("iter", self)
        while True:
            step = self._sub.handle_op("next", iterator)
            if step.get("stop"):
                return
            yield step["value"]

    def __next__(self):
        step = self._sub.handle_op("next", self)
        if step.get("stop"):
            raise StopIteration
        return step["value"]

    def __str__(self) -> str:
        return str(self._sub.handle_op("repr", self))

    def __repr__(self) -> str:
        return f"<sandbox handle #{self._id}: {self._type}>"

    @property
    def remote_type(self) -> str:
        return self._type
