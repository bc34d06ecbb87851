"""The sandbox side: the one process where student code runs.

It confines itself (see confine.py), says hello with the isolation it reached, then
answers the grader's requests one at a time: load the cells, get a name, call, get an
attribute, iterate... Values that are data go back by value; every other object stays
here in a table and goes back as a handle id the grader can use in later requests.
"""
from __future__ import annotations

import builtins
import linecache
import os
import random
import socket
import sys
import traceback
import types

import json
import json.encoder

import numpy as np
import torch
import torch.autograd
import torch.autograd.graph

from autograder.localize import N_
from autograder.sandbox import integrity, wire

# Student code may replace builtins (a grading trick that only hurts itself); the
# sandbox's own code keeps the originals so the channel still works.
from builtins import (BaseException, Exception, bool, dict, getattr, int, isinstance, iter, len,  # noqa: E402
                      list, next, repr, setattr, sorted, str, super, tuple, type)  # noqa: A004

MEMORY_MESSAGES = ("can't allocate memory", "DefaultCPUAllocator", "out of memory", "bad_alloc")
STUDENT_SEED = 0  # torch's, NumPy's and Python's generators start here in every sandbox
KIT_PACKAGE = "autograder"

# What the request loop itself does to the student's objects, captured at import (before
# any student code runs) so that patching torch's module attributes later changes nothing.
_AUTOGRAD_BACKWARD = torch.autograd.backward
_NO_GRAD = torch.no_grad
_NO_TORCH_FUNCTION = torch._C.DisableTorchFunction
_COPY_INTO_TENSOR = torch._C.TensorBase.copy_
_COPY_INTO_ARRAY = np.copyto
_TENSOR, _NDARRAY = torch.Tensor, np.ndarray
_MODULE, _MODULE_NAMED_PARAMETERS = torch.nn.Module, torch.nn.Module.named_parameters
_SEEDS = (torch.manual_seed, np.random.seed, random.seed)


class Stop(Exception):
    """The grader is gone: leave quietly."""


def qualified(cls) -> str:
    return f"{getattr(cls, '__module__', '?')}.{getattr(cls, '__qualname__', getattr(cls, '__name__', '?'))}"


class KitBlocker:
    """Meta-path finder that refuses the kit's package: while grading, the submission
    cannot import the kit code that serves the grader (or the grader's tests)."""

    def find_spec(self, name, path=None, target=None):
        if is_kit_module(name):
            raise ModuleNotFoundError(N_(f"the autograder package cannot be imported by the submission while it "
                                         f"is graded; remove `import {name}` from graded cells (tag self-check "
                                         f"cells `selfcheck`)"))
        return None


def is_kit_module(name: str) -> bool:
    return name == KIT_PACKAGE or name.startswith(KIT_PACKAGE + ".")


def kit_modules_now() -> tuple[int, tuple[str, ...]]:
    """How many modules are loaded, and which of them are the kit's: the template takes
    this once, after its imports, and hands it to every sandbox it forks (take_kit)."""
    return len(sys.modules), tuple(n for n in sys.modules if is_kit_module(n))


def take_kit(kit_modules: tuple[int, tuple[str, ...]] | None = None) -> tuple[dict, "integrity.Snapshot"]:
    """Capture the probe registry, snapshot the kit code that runs here, then put the
    kit out of the student's reach by name: call before the student's cells load.

    kit_modules: kit_modules_now() taken in the template this process was forked from.
    While sys.modules still holds as many modules as then (nothing was imported since),
    those are the kit's names; otherwise every name is looked at. Why: reading each of
    the ~1,700 module names writes its reference count, and the names lie on pages
    shared with the template, so the walk copied ~900 pages in every sandbox (measured)."""
    import autograder.probes as probes
    helpers = {name: getattr(probes, name) for name in probes.__all__ if callable(getattr(probes, name))}
    snapshot = integrity.Snapshot()
    snapshot.add_namespace("probe registry", helpers, strict=True)
    for label, module in (("probes", probes), ("request loop", sys.modules[__name__]), ("wire", wire),
                          ("integrity", integrity)):
        snapshot.add_module(label, module)
    for name, value in helpers.items():
        if isinstance(value, type):
            snapshot.add_class(f"probes.{name}", value)
    # What the loop and the encoder reach outside the kit: the socket that sends the
    # reply, the JSON writer, the autograd entry points the loop calls.
    snapshot.add_class("socket.socket", socket.socket)
    snapshot.add_class("json.JSONEncoder", json.JSONEncoder)
    snapshot.add_namespace("wire's JSON writer", vars(wire._JSON_OUT), strict=True)
    snapshot.add_module("json.encoder", json.encoder, own_classes=False)
    snapshot.add_module("torch.autograd", torch.autograd, own_classes=False)
    snapshot.add_module("torch.autograd.graph", torch.autograd.graph, own_classes=False)
    blocker = KitBlocker()
    snapshot.add_class("KitBlocker", KitBlocker)
    if kit_modules is not None and len(sys.modules) == kit_modules[0]:
        names = [n for n in kit_modules[1] if n in sys.modules]
    else:
        names = [n for n in sys.modules if is_kit_module(n)]
    for name in names:
        del sys.modules[name]
    sys.meta_path.insert(0, blocker)
    return helpers, snapshot


class Server:
    def __init__(self, sock: socket.socket, budget: int, helpers: dict | None = None,
                 snapshot: "integrity.Snapshot | None" = None):
        self.sock, self.budget = sock, budget
        self.helpers = helpers if helpers is not None else {}
        self.snapshot = snapshot
        self.tampered: list[str] = []
        self.objects: dict[int, object] = {}
        self.ids: dict[int, int] = {}  # id(obj) -> handle id; objects stay alive in the table
        self.labels: dict[str, str] = {}  # compiled file name -> "cell 4"
        module = types.ModuleType("__submission__")
        sys.modules["__submission__"] = module
        self.namespace = module.__dict__
        self.namespace["__builtins__"] = builtins

    # -- transport ---------------------------------------------------------------------
    def read_exact(self, n: int) -> bytearray:
        buf = bytearray(n)
        view, got = memoryview(buf), 0
        while got < n:
            k = self.sock.recv_into(view[got:])
            if k == 0:
                raise Stop()
            got += k
        return buf

    def reply(self, seq: int, envelope: dict, buffers=()) -> None:
        for stream in (sys.stdout, sys.stderr):  # output before the reply, so the grader has it
            try:
                stream.flush()
            except Exception:
                pass
        # Every reply follows a call into student code (loading cells, calling, copying a
        # value): once the kit is found modified, every answer from here on says so.
        if not self.tampered and self.snapshot is not None:
            self.tampered = self.snapshot.changed()
        if self.tampered:
            envelope, buffers = {"ok": False, "error": {"kind": "tamper", "changed": self.tampered[:20]}}, []
        try:
            wire.send_frame(self.sock, {"seq": seq, **envelope}, list(buffers))
        except OSError:
            raise Stop() from None

    # -- handles ---------------------------------------------------------------------------
    def handle_node(self, obj) -> dict:
        hid = self.ids.get(id(obj))
        if hid is None:
            hid = len(self.objects) + 1
            self.objects[hid], self.ids[id(obj)] = obj, hid
        return {"$": "handle", "id": hid, "type": qualified(type(obj))}

    def lookup(self, hid: int):
        if hid not in self.objects:
            raise _Internal(f"unknown handle {hid}")
        return self.objects[hid]

    def decode(self, node, buffers):
        return wire.Decoder(buffers, on_ref=self.lookup, place=_place).decode(node)

    # -- the loop --------------------------------------------------------------------------
    def serve(self) -> None:
        while True:
            try:
                envelope, buffers = wire.read_frame(self.read_exact)
            except Stop:
                return
            seq = envelope.get("seq", 0)
            try:
                op = getattr(self, "op_" + str(envelope.get("op")), None)
                if op is None:
                    raise _Internal(f"unknown request {str(envelope.get('op'))[:40]!r}")
                result = op(envelope, buffers)
            except SystemExit as exc:
                self.reply(seq, {"ok": False, "error": self.exit_error(exc)})
                os._exit(exc.code if isinstance(exc.code, int) else 1)
            except _Missing as exc:
                self.reply(seq, {"ok": False, "error": {"kind": "missing", "name": exc.name}})
                continue
            except (wire.ProtocolError, _Internal) as exc:
                self.reply(seq, {"ok": False, "error": {"kind": "internal", "message": str(exc)}})
                continue
            except BaseException as exc:  # student code raised: report it as theirs
                self.reply(seq, {"ok": False, "error": self.student_error(exc)})
                continue
            self.send_value(seq, result)

    def send_value(self, seq: int, result) -> None:
        keep, value = result if isinstance(result, _Keep) else (False, result)
        try:
            if keep:
                tree, buffers = self.handle_node(value), []
            else:
                encoder = wire.Encoder(self.handle_node, self.budget)
                tree, buffers = encoder.encode(value), encoder.buffers
        except BaseException as exc:  # a student object that breaks while being copied
            self.reply(seq, {"ok": False, "error": self.student_error(exc)})
            return
        self.reply(seq, {"ok": True, "value": tree}, buffers)

    # -- errors ----------------------------------------------------------------------------
    def student_frames(self, tb) -> list:
        return [f for f in traceback.extract_tb(tb) if f.filename in self.labels]

    def format_frames(self, frames) -> str:
        return "\n".join("  " + self.frame_line(self.labels[f.filename], f.lineno, f.name)
                         + (f"\n    {f.line.strip()}" if f.line else "") for f in frames)

    @staticmethod
    def frame_line(label: str, line: int, function: str) -> str:
        return N_(f"{label}, line {line}, in {function}")

    def student_error(self, exc: BaseException) -> dict:
        try:
            text = str(exc)
        except Exception:
            text = "<exception text could not be read>"
        name = type(exc).__name__
        kind = "memory" if isinstance(exc, MemoryError) or (
            isinstance(exc, RuntimeError) and any(m in text for m in MEMORY_MESSAGES)) else "student"
        frames = self.student_frames(exc.__traceback__)
        return {"kind": kind, "type": name, "message": f"{name}: {text}" if text else name,
                "traceback": self.format_frames(frames)}

    def exit_error(self, exc: SystemExit) -> dict:
        frames = self.student_frames(exc.__traceback__)
        code = repr(exc.code)
        if not frames:
            return {"kind": "exit", "message": N_(f"the student's code called sys.exit({code})")}
        label, line = self.labels[frames[-1].filename], frames[-1].lineno
        return {"kind": "exit", "message": N_(f"the student's code called sys.exit({code}) at {label}, line {line}")}

    # -- requests ---------------------------------------------------------------------------
    def op_load(self, req, buffers):
        # The same start for every sandbox: a model the student's code builds gets the
        # same initial weights in every grading, so a check that depends on them (the
        # gradient check of 04_lenet, say) gives the same verdict every run.
        for seed in _SEEDS:
            seed(STUDENT_SEED)
        issues = []
        for cell in req["cells"]:
            index, label, source = int(cell["index"]), str(cell["label"]), str(cell["source"])
            filename = f"<{label}>"
            self.labels[filename] = label
            linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
            try:
                code = compile(source, filename, "exec")
            except SyntaxError as exc:
                issues.append({"cell": index, "line": exc.lineno, "kind": "syntax",
                               "message": f"{type(exc).__name__}: {exc.msg}", "traceback": ""})
                continue
            try:
                exec(code, self.namespace)  # noqa: S102 - this process exists to run it
            except SystemExit:
                raise
            except BaseException as exc:
                error = self.student_error(exc)
                frames = [f for f in self.student_frames(exc.__traceback__) if f.filename == filename]
                kind = "error" if error["kind"] == "student" else error["kind"]
                issues.append({"cell": index, "line": frames[0].lineno if frames else None, "kind": kind,
                               "message": error["message"], "traceback": error["traceback"]})
                if error["kind"] == "memory":
                    break
        names = sorted(k for k in self.namespace if not k.startswith("__"))
        return {"issues": issues, "names": names}

    def target(self, req, buffers):
        if "name" in req:
            return self.op_get(req, buffers)
        return self.decode(req["target"], buffers)

    def op_has(self, req, buffers):
        return str(req["name"]) in self.namespace

    def op_get(self, req, buffers):
        name = str(req["name"])
        if name not in self.namespace:
            raise _Missing(name)
        return self.namespace[name]

    def op_call(self, req, buffers):
        fn = self.target(req, buffers)
        args = self.decode(req.get("args", []), buffers)
        kwargs = self.decode(req.get("kwargs", {"$": "dict", "items": []}), buffers)
        result = fn(*args, **kwargs)
        return _Keep(True, result) if req.get("keep") else result

    def op_helper(self, req, buffers):
        name = str(req["name"])
        if name not in self.helpers:
            raise _Internal(f"unknown helper {name[:40]!r}")
        fn = self.helpers[name]
        args = self.decode(req.get("args", []), buffers)
        kwargs = self.decode(req.get("kwargs", {"$": "dict", "items": []}), buffers)
        return _Keep(True, fn(*args, **kwargs))

    def op_getattr(self, req, buffers):
        return getattr(self.decode(req["target"], buffers), str(req["name"]))

    def op_setattr(self, req, buffers):
        setattr(self.decode(req["target"], buffers), str(req["name"]), self.decode(req["value"], buffers))

    def op_getitem(self, req, buffers):
        return self.decode(req["target"], buffers)[self.decode(req["key"], buffers)]

    def op_setitem(self, req, buffers):
        obj = self.decode(req["target"], buffers)
        obj[self.decode(req["key"], buffers)] = self.decode(req["value"], buffers)

    def op_len(self, req, buffers):
        return int(len(self.decode(req["target"], buffers)))

    def op_bool(self, req, buffers):
        return bool(self.decode(req["target"], buffers))

    def op_repr(self, req, buffers):
        return str(repr(self.decode(req["target"], buffers)))[:10000]

    def op_iter(self, req, buffers):
        return _Keep(True, iter(self.decode(req["target"], buffers)))

    def op_next(self, req, buffers):
        try:
            return {"value": next(self.decode(req["target"], buffers))}
        except StopIteration:
            return {"stop": True}

    def op_write(self, req, buffers):
        """Grader values written in place into a student's tensor or array: shared memory
        is then seen by reading the student's other object, not by trusting a helper."""
        target, values = self.decode(req["target"], buffers), self.decode(req["value"], buffers)
        if isinstance(target, _TENSOR):
            with _NO_TORCH_FUNCTION(), _NO_GRAD():
                _COPY_INTO_TENSOR(target, values)
        elif isinstance(target, _NDARRAY):
            _COPY_INTO_ARRAY(target, values, casting="unsafe")
        else:
            raise TypeError(f"expected a tensor or a NumPy array to write into, got {qualified(type(target))}")

    def op_backward(self, req, buffers):
        """torch.autograd.backward on the student's own output (or item `index` of it)
        with the grader's vector; the grader then fetches the leaves' .grad."""
        target = self.decode(req["target"], buffers)
        if req.get("index") is not None:
            target = target[int(req["index"])]
        if not isinstance(target, _TENSOR):
            raise TypeError(f"expected a tensor to backpropagate from, got {qualified(type(target))}")
        _AUTOGRAD_BACKWARD([target], [self.decode(req["grad"], buffers)])

    def op_parameters(self, req, buffers):
        """(name, parameter) pairs of a student's model by nn.Module's own method, so a
        class that overrides named_parameters() cannot describe a network it lacks."""
        model = self.decode(req["target"], buffers)
        if not isinstance(model, _MODULE):
            raise TypeError(f"expected an nn.Module, got {qualified(type(model))}")
        return [(name, value) for name, value in _MODULE_NAMED_PARAMETERS(model)]

    def op_keep(self, req, buffers):
        return _Keep(True, self.decode(req["value"], buffers))

    def op_fetch(self, req, buffers):
        return self.decode(req["target"], buffers)

    def op_same(self, req, buffers):
        return self.decode(req["a"], buffers) is self.decode(req["b"], buffers)

    def op_types(self, req, buffers):
        return [qualified(c) for c in type(self.decode(req["target"], buffers)).__mro__]


class _Keep(tuple):
    """A result that must stay here (reply with a handle even when it is data)."""

    def __new__(cls, keep: bool, value):
        return super().__new__(cls, (keep, value))


class _Internal(Exception):
    """A request the kit got wrong (unknown handle, missing name): not the student's fault."""


class _Missing(Exception):
    def __init__(self, name: str):
        super().__init__(name)
        self.name = name


def _place(tensor, device: str):
    return tensor if device == "cpu" else tensor.to(device)


def _report_broken_loop(exc: BaseException) -> None:
    """Best effort, without the traceback module: builtins it relies on may be replaced."""
    lines = [f"the sandbox's request loop failed: {type(exc).__name__}: {exc}"]
    tb = exc.__traceback__
    while tb is not None:
        lines.append(f"  {tb.tb_frame.f_code.co_filename}:{tb.tb_lineno} in {tb.tb_frame.f_code.co_name}")
        tb = tb.tb_next
    try:
        os.write(2, ("\n".join(lines) + "\n").encode("utf-8", "replace"))
    except Exception:
        pass


def serve(chan_fd: int, budget: int, kit_modules: tuple[int, tuple[str, ...]] | None = None) -> None:
    sock = socket.socket(fileno=chan_fd)
    sock.setblocking(True)
    try:
        helpers, snapshot = take_kit(kit_modules)
        Server(sock, budget, helpers, snapshot).serve()
    except BaseException as exc:  # the loop itself broke: say so in the output, exit with a known code
        _report_broken_loop(exc)
        code = wire.BROKEN_LOOP_EXIT
    else:
        code = 0
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    os._exit(code)
