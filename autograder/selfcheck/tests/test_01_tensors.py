"""Visible self-check tests of 01_tensors (shipped to students; the hidden tests check more)."""
from __future__ import annotations

import pytest
import torch

from autograder.expect import check, expect_close, expect_tensor


@pytest.mark.points(0.5)
@pytest.mark.category("shape")
@pytest.mark.exercise("make_empty")
def test_make_empty_shape(submission):
    """make_empty(5, 3) is a float32 tensor of shape [5, 3]"""
    expect_tensor(submission.call("make_empty", 5, 3), what="make_empty(5, 3)",
                  shape=(5, 3), dtype=torch.float32)


@pytest.mark.points(0.5)
@pytest.mark.category("value")
@pytest.mark.exercise("zeros_long")
def test_zeros_long_dtype(submission):
    """zeros_long(5, 3) is int64 zeros of shape [5, 3]"""
    result = expect_tensor(submission.call("zeros_long", 5, 3), what="zeros_long(5, 3)",
                           shape=(5, 3), dtype=torch.int64)
    check(not result.any(), "zeros_long(5, 3) returned non-zero values; expected all zeros")


@pytest.mark.points(0.5)
@pytest.mark.category("value")
@pytest.mark.exercise("second_column")
def test_second_column_small(submission):
    """second_column picks column 1 of a 3x4 tensor"""
    x = torch.arange(12.0).view(3, 4)
    expect_close(submission.call("second_column", x), torch.tensor([1.0, 5.0, 9.0]),
                 what="second_column(torch.arange(12.0).view(3, 4))", hint="x[:, 1] is the second column")
