"""Running notebooks in real Jupyter kernels, two at a time on two cores: the lesson's
reference and student notebooks, the translated ones, the released ones."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

# A hang guard, not a speed check: generous for a loaded two-core CI runner.
NOTEBOOK_BUDGET_S = {"05_training": 600}
DEFAULT_BUDGET_S = 300

def kernel_env() -> dict:
    env = dict(os.environ)
    # One thread per kernel: CI has two cores shared with the pytest process.
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    # ipykernel's inline backend renders figures headless; an inherited Agg would drop them.
    env.pop("MPLBACKEND", None)
    return env


def run_cells(nb, folder: Path, budget_s: float, stop_at_first_error: bool = False):
    """Execute `nb` in a python3 kernel with cwd `folder`. Returns the first error's
    exception (or None); without stop_at_first_error an error fails the test."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    client = NotebookClient(nb, kernel_name="python3", resources={"metadata": {"path": str(folder)}})
    deadline = time.monotonic() + budget_s
    with client.setup_kernel(env=kernel_env()):
        for index, cell in enumerate(nb.cells):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                pytest.fail(f"notebook still running after {budget_s:.0f} s (cell {index + 1})")
            client.timeout = max(1, int(remaining))
            try:
                client.execute_cell(cell, index)
            except CellExecutionError as err:
                if stop_at_first_error:
                    return err
                raise
    return None


class Raised:
    """What running a notebook raised (a failed cell, the hang guard's pytest.fail), kept
    to be raised again by the test it belongs to."""

    def __init__(self, exc: BaseException):
        self.exc = exc


def run_notebooks(jobs: dict, stop_at_first_error: bool = False) -> dict:
    """{key: (nb, folder, budget_s[, stop_at_first_error])} executed as many at a time as
    there are cores (each kernel is its own process, so two cores run two notebooks), in
    the order given (put the longest first); returns {key: what run_cells returned, or a
    Raised}. The notebooks are executed in place."""
    from concurrent.futures import ThreadPoolExecutor

    def one(job):
        nb, folder, budget_s, *stop = job
        try:
            return run_cells(nb, folder, budget_s, stop[0] if stop else stop_at_first_error)
        except BaseException as exc:  # noqa: BLE001 - handed to the test that owns this notebook
            return Raised(exc)

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 2
    with ThreadPoolExecutor(max_workers=max(1, min(cores, len(jobs)))) as pool:
        return dict(zip(jobs, pool.map(one, list(jobs.values()))))


def selected_params(request, test_name: str, param: str = "assignment_id") -> list:
    """The values of `param` that this session will run `test_name` with (so a module
    fixture executes only the notebooks whose tests were selected)."""
    return list(dict.fromkeys(item.callspec.params[param] for item in request.session.items
                              if getattr(item, "originalname", None) == test_name and hasattr(item, "callspec")))


def outcome_of(runs: dict, key):
    outcome = runs[key]
    if isinstance(outcome, Raised):
        raise outcome.exc
    return outcome


def stream_text(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")
