"""Fixtures shared by the kit's own test suite."""
from __future__ import annotations

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
