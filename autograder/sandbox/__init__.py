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

from autograder.sandbox.launcher import SandboxStartError
from autograder.sandbox.remote import Handle, SandboxFactory, SandboxSubmission

__all__ = ["SandboxFactory", "SandboxSubmission", "Handle", "LoadIssue", "SandboxStartError"]


def __getattr__(name: str):
    # lazy, so the warm template (which imports this package) never loads the loader
    if name == "LoadIssue":
        from autograder.load import LoadIssue
        return LoadIssue
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
