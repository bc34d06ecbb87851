"""The one interface through which tests reach a student's code.

Hidden tests (graded, run in the trusted grader process against a sandbox) and visible
tests (students' self-check, run in the notebook's own process) are the same pytest code.
They only ever touch the student's objects through a `Submission`, so the two backends
are interchangeable:

* `InProcessSubmission` (here): the student's namespace lives in this process; objects
  are the real objects. Used by `autograder check`, the notebooks' `check()` and fast
  unit tests.
* `autograder.sandbox.SandboxSubmission`: the student's code runs in a limited child
  process; data (tensors, numbers, strings, containers, dtype/device/Size) is copied
  across, every other object stays there and arrives as a handle that supports
  attribute access, calls, indexing, `len` and iteration.

Semantics both backends share (tests may rely on these and nothing else):
* Arguments are passed by value: a tensor or array argument is copied into the student's
  space, so a student cannot modify the grader's tensors. Handles (and, in process, any
  non-data object) are passed by reference.
* `keep(value)` copies grader data into the student's space and returns a handle to it;
  `fetch(handle)` copies its current value back. Use them to observe in-place effects
  and memory sharing (write through one handle, fetch another).
* Tensors that come back keep their requires_grad and grad; their original device,
  grad_fn and leaf-ness are read with `device_of`, `grad_fn_name` and `is_leaf`, never
  with the tensor attributes, because a copied tensor is a CPU leaf.
* `write(handle, values)` writes grader values into a student's tensor/array in place and
  `backward(handle, grad)` backpropagates from a student's tensor, both done by the
  backend's own code; tests observe the effect by fetching (the security rule: a verdict
  rests on values the grader fetched, see docs/SECURITY.md).
* `helper(name, ...)` calls `autograder.probes.<name>` inside the student's space (kit
  code, not secret: loaders over grader tensors, probe models, test functions) and
  returns a handle to the result.
* Faults in student code raise the exceptions below; the grading plugin turns each into
  a report status.
"""
from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from contextlib import contextmanager
from typing import Any, Iterator

import torch

from autograder.localize import N_

# Attributes the sandbox sets on a tensor it copies back, recording what the original
# tensor was in the student's process.
REMOTE_DEVICE = "_autograder_device"
REMOTE_GRAD_FN = "_autograder_grad_fn"
REMOTE_IS_LEAF = "_autograder_is_leaf"


class SubmissionFault(Exception):
    """Base of every fault a test can meet while it calls student code."""

    status = "error"


class StudentCodeError(SubmissionFault):
    """Student code raised; `str()` is the student's exception, traceback trimmed to
    their own frames (cell number and line where known)."""

    status = "error"

    def __init__(self, message: str, exc_type: str = "Exception", traceback_text: str = ""):
        super().__init__(message)
        self.exc_type = exc_type
        self.traceback_text = traceback_text


class MissingName(StudentCodeError):
    """The submission does not define a name the test needs."""

    def __init__(self, name: str):
        super().__init__(N_(f"`{name}` is not defined in the submission; keep the exercise's "
                            f"name and signature"), "NameError")
        self.name = name


class SubmissionTimeout(SubmissionFault):
    status = "timeout"


class SubmissionCrashed(SubmissionFault):
    status = "crashed"


class SubmissionMemoryError(SubmissionFault):
    status = "memory"


TAMPER_FLAG = "tamper"


class TamperDetected(SubmissionFault):
    """The submission modified the kit code that serves the grader inside its process.
    The test fails and the report carries the `tamper` flag for the instructor."""

    status = "failed"
    flag = TAMPER_FLAG

    @classmethod
    def of(cls, changed: list) -> "TamperDetected":
        what = ", ".join(str(c)[:80] for c in list(changed)[:3]) or "unknown"
        return cls(N_(f"the submission modified the grader's code running in its process ({what}); this "
                      f"test and the later ones of this assignment score 0, and the attempt is flagged "
                      f"for your instructor. Remove the code that changes autograder objects"))


class Submission(ABC):
    """What a test's `submission` fixture is. See the module docstring for semantics."""

    assignment: str = ""

    @abstractmethod
    def has(self, name: str) -> bool: ...

    @abstractmethod
    def get(self, name: str) -> Any:
        """A top-level name of the submission: data by value, anything else a handle."""

    @abstractmethod
    def call(self, target, *args, **kwargs) -> Any:
        """Call a top-level name (str) or a handle; the result comes back as data or a handle."""

    @abstractmethod
    def call_keep(self, target, *args, **kwargs) -> Any:
        """Like `call`, but the result always stays in the student's space (a handle)."""

    @abstractmethod
    def keep(self, value) -> Any:
        """Copy grader data into the student's space; returns a handle to the copy."""

    @abstractmethod
    def fetch(self, handle) -> Any:
        """The current value of a handle, copied back as data (handles inside stay handles)."""

    @abstractmethod
    def helper(self, name: str, *args, **kwargs) -> Any:
        """Call `autograder.probes.<name>` in the student's space; returns a handle."""

    @abstractmethod
    def write(self, target, values) -> None:
        """Write grader values in place into a student's tensor or array (a handle), by
        the backend's own code: memory sharing is then observed by fetching another
        object, never reported by code the student could replace."""

    @abstractmethod
    def named_parameters(self, model) -> list:
        """[(name, value)] of a student's nn.Module, listed by torch's own
        nn.Module.named_parameters (not a method the model's class may override); each
        value is a copy with its .grad."""

    @abstractmethod
    def backward(self, target, grad, index: int | None = None) -> None:
        """torch.autograd.backward from a student's tensor (a handle; or item `index` of
        a kept tuple) with the grader's `grad`; fetch the leaves to read their .grad."""

    @abstractmethod
    def same_object(self, a, b) -> bool:
        """Whether two handles (or in-process objects) are the same object."""

    @abstractmethod
    def type_names(self, obj) -> list[str]:
        """Qualified names of the object's type and its bases (`type(obj).__mro__`)."""

    def type_name(self, obj) -> str:
        return self.type_names(obj)[0]

    @contextmanager
    def cuda_available_as(self, available: bool) -> Iterator["Submission"]:
        """The submission as it runs where torch.cuda.is_available() answers `available`.
        In process the answer is patched around the calls made inside the block; the
        sandbox overrides this with a fresh copy whose torch answers so before the
        student's first line runs, so no code of theirs can fake the condition."""
        original = torch.cuda.is_available
        torch.cuda.is_available = lambda: bool(available)
        try:
            yield self
        finally:
            torch.cuda.is_available = original

    def close(self) -> None:
        """Release the backend (end the sandbox). Safe to call twice."""

    @property
    def isolation(self) -> dict:
        """What isolation this backend reached, for the report."""
        return {"backend": "unknown"}


def qualified_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def device_of(t: torch.Tensor) -> torch.device:
    """The device the tensor lived on in the student's process."""
    return torch.device(getattr(t, REMOTE_DEVICE, None) or t.device)


def grad_fn_name(t: torch.Tensor) -> str | None:
    """Class name of the tensor's grad_fn in the student's process (None for leaves)."""
    if hasattr(t, REMOTE_GRAD_FN):
        return getattr(t, REMOTE_GRAD_FN)
    return type(t.grad_fn).__name__ if t.grad_fn is not None else None


def is_leaf(t: torch.Tensor) -> bool:
    if hasattr(t, REMOTE_IS_LEAF):
        return bool(getattr(t, REMOTE_IS_LEAF))
    return t.is_leaf


def copy_data(value: Any) -> Any:
    """Pass-by-value copy of grader data for the in-process backend; mirrors what the
    sandbox channel does so tests behave the same on both backends."""
    if isinstance(value, torch.Tensor):
        out = value.detach().clone()
        if value.requires_grad:
            out.requires_grad_(True)
        return out
    if isinstance(value, (list, tuple)):
        items = [copy_data(v) for v in value]
        return type(value)(items) if not hasattr(value, "_fields") else type(value)(*items)
    if isinstance(value, dict):
        return {k: copy_data(v) for k, v in value.items()}
    try:
        import numpy as np
        if isinstance(value, np.ndarray):
            return value.copy()
    except ImportError:  # pragma: no cover - numpy is a dependency
        pass
    return value


class InProcessSubmission(Submission):
    """A submission whose names live in a dict in this process (a notebook's globals,
    or a module's namespace). No isolation: for self-check and unit tests only."""

    def __init__(self, namespace: dict, assignment: str = ""):
        self.namespace = namespace
        self.assignment = assignment
        # Objects handed out as handles (keep, call_keep, helper). In process a kept
        # tensor looks like data, so without this list it would be copied again when
        # passed back, and in-place/memory-sharing checks would see a copy. Holding the
        # objects keeps their ids unique.
        self._kept: dict[int, Any] = {}

    def _as_handle(self, value):
        self._kept[id(value)] = value
        return value

    def _pass(self, value):
        return value if self._kept.get(id(value)) is value else copy_data(value)

    def has(self, name):
        return name in self.namespace

    def get(self, name):
        if name not in self.namespace:
            raise MissingName(name)
        return self.namespace[name]

    def _resolve(self, target):
        return self.get(target) if isinstance(target, str) else target

    def call(self, target, *args, **kwargs):
        fn = self._resolve(target)
        args = [self._pass(a) for a in args]
        kwargs = {k: self._pass(v) for k, v in kwargs.items()}
        try:
            return fn(*args, **kwargs)
        except SubmissionFault:
            raise
        except Exception as exc:  # the student's exception, reported as theirs
            raise StudentCodeError(f"{type(exc).__name__}: {exc}", type(exc).__name__) from exc

    def call_keep(self, target, *args, **kwargs):
        return self._as_handle(self.call(target, *args, **kwargs))

    def keep(self, value):
        return self._as_handle(copy_data(value))

    def fetch(self, handle):
        return handle

    def helper(self, name, *args, **kwargs):
        probes = importlib.import_module("autograder.probes")
        # Probes may call student code (e.g. with_cuda_available(flag, pick_device)), so
        # their exceptions are reported like the student's own, as in the sandbox.
        return self._as_handle(self.call(getattr(probes, name), *args, **kwargs))

    def write(self, target, values):
        if isinstance(target, torch.Tensor):
            with torch.no_grad():
                target.copy_(torch.as_tensor(values))
            return
        import numpy as np
        if not isinstance(target, np.ndarray):
            raise StudentCodeError(f"TypeError: expected a tensor or a NumPy array to write into, got "
                                   f"{qualified_name(type(target))}", "TypeError")
        np.copyto(target, values, casting="unsafe")

    def named_parameters(self, model):
        if not isinstance(model, torch.nn.Module):
            raise StudentCodeError(f"TypeError: expected an nn.Module, got {qualified_name(type(model))}",
                                   "TypeError")
        return [(name, value) for name, value in torch.nn.Module.named_parameters(model)]

    def backward(self, target, grad, index=None):
        try:
            tensor = target[index] if index is not None else target
            if not isinstance(tensor, torch.Tensor):
                raise TypeError(f"expected a tensor to backpropagate from, got {qualified_name(type(tensor))}")
            torch.autograd.backward([tensor], [copy_data(grad)])
        except SubmissionFault:
            raise
        except Exception as exc:
            raise StudentCodeError(f"{type(exc).__name__}: {exc}", type(exc).__name__) from exc

    def same_object(self, a, b):
        return a is b

    def type_names(self, obj):
        return [qualified_name(c) for c in type(obj).__mro__]

    @property
    def isolation(self):
        return {"backend": "in-process", "level": "none"}


def namespace_from_source(source: str, filename: str = "<submission>") -> dict:
    """Run student source in a fresh namespace (in process: self-check and unit tests only)."""
    namespace: dict = {"__name__": "__submission__"}
    exec(compile(source, filename, "exec"), namespace)  # noqa: S102 - trusted callers only
    return namespace


__all__ = [
    "Submission", "InProcessSubmission", "SubmissionFault", "StudentCodeError", "MissingName",
    "SubmissionTimeout", "SubmissionCrashed", "SubmissionMemoryError", "TamperDetected", "TAMPER_FLAG", "device_of",
    "grad_fn_name", "is_leaf", "qualified_name", "copy_data", "namespace_from_source",
    "REMOTE_DEVICE", "REMOTE_GRAD_FN", "REMOTE_IS_LEAF",
]
