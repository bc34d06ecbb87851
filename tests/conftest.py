"""Fixtures shared by the kit's own test suite."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]

# Two cores are shared by everything in CI; one torch thread per test process keeps
# timings predictable and avoids oversubscription with the sandboxes' own threads.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def course():
    from autograder.course import load_course
    return load_course(REPO / "course.yaml")


def shared_once(tmp_path_factory, name: str, compute):
    """compute() (JSON-able) run once per test session, even across pytest-xdist workers:
    the first worker to ask computes it under a file lock in the session's shared temp
    folder, the others read what it wrote."""
    import fcntl
    import json

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # shared by every worker of this session
    result, lock = root / f"{name}.json", root / f"{name}.lock"
    with open(lock, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        if not result.is_file():
            result.write_text(json.dumps(compute()))
        return json.loads(result.read_text())


@pytest.fixture(scope="session")
def graded_solutions(tmp_path_factory) -> dict:
    """`autograder grade solutions/ --format json`, every reference notebook through the
    sandbox, graded once for the whole session: {"returncode", "stdout", "stderr"}."""
    def grade():
        done = subprocess.run([sys.executable, "-m", "autograder", "grade", "solutions/", "--format", "json"],
                              cwd=REPO, capture_output=True, text=True, timeout=1200)
        return {"returncode": done.returncode, "stdout": done.stdout, "stderr": done.stderr}
    return shared_once(tmp_path_factory, "graded_solutions", grade)
