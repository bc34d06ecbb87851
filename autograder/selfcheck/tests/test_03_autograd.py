"""Visible self-check tests of 03_autograd (shipped to students; the hidden tests check more,
including other points than x = 1)."""
from __future__ import annotations

import pytest
import torch

from autograder.expect import check, describe, expect_close, expect_tensor


@pytest.mark.points(1)
@pytest.mark.category("gradient")
@pytest.mark.exercise("tracked_ones")
def test_tracked_ones(submission):
    """tracked_ones(2, 2) is float32 ones with requires_grad=True"""
    result = expect_tensor(submission.call("tracked_ones", 2, 2), what="tracked_ones(2, 2)",
                           shape=(2, 2), dtype=torch.float32, requires_grad=True)
    check(bool((result == 1).all()), "tracked_ones(2, 2) returned values other than 1")


@pytest.mark.points(1)
@pytest.mark.category("value")
@pytest.mark.exercise("lesson_graph")
def test_lesson_graph_at_ones(submission):
    """lesson_graph at ones: y is 3, z is 27, out is 27"""
    x = torch.ones(2, 2, requires_grad=True)
    result = submission.call("lesson_graph", x)
    check(isinstance(result, (tuple, list)) and len(result) == 3,
          f"lesson_graph(x) returned {describe(result)}; expected a tuple (y, z, out)")
    y, z, out = result
    expect_close(y, torch.full((2, 2), 3.0), what="lesson_graph(ones(2, 2)): y")
    expect_close(z, torch.full((2, 2), 27.0), what="lesson_graph(ones(2, 2)): z")
    expect_close(out, torch.tensor(27.0), what="lesson_graph(ones(2, 2)): out")


@pytest.mark.points(1)
@pytest.mark.category("gradient")
@pytest.mark.exercise("lesson_gradient")
def test_grad_at_ones(submission):
    """x.grad is 4.5 at ones"""
    expect_close(submission.call("lesson_gradient", torch.ones(2, 2)), torch.full((2, 2), 4.5),
                 what="lesson_gradient(torch.ones(2, 2))")
