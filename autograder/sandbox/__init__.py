"""The sandbox: student code runs in a confined child process, reached only through a
data-only channel (see docs/INTERNALS.md).

    factory = SandboxFactory(course.limits, device="cpu")
    sub = factory.open(load_code("student.ipynb"), "03_autograd")
    sub.call("f", torch.ones(2))      # data comes back by value, other objects as handles

Modules: wire (the format), confine (OS limits), template (warm fork server and the
sandbox's start), child (the sandbox's request loop), launcher (grader-side processes
and transport), remote (SandboxFactory, SandboxSubmission, Handle). Only wire, confine,
template and child run inside the sandbox; nothing here imports the course or tests.
"""
from __future__ import annotations

__all__ = ["SandboxFactory", "SandboxSubmission", "Handle", "LoadIssue", "SandboxStartError"]

# Names resolved on first use (PEP 562): the warm template (which imports this package)
# never loads the loader, and a batch's parent process, which only starts processes,
# never imports torch (remote and wire need it; a second or two at every batch's start).
_LAZY = {"SandboxFactory": "autograder.sandbox.remote", "SandboxSubmission": "autograder.sandbox.remote",
         "Handle": "autograder.sandbox.remote", "SandboxStartError": "autograder.sandbox.launcher",
         "LoadIssue": "autograder.load"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
