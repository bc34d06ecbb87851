"""Visible self-check tests of 02_numpy_bridge (shipped to students; the hidden tests check more)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from autograder.expect import expect_array, expect_close, expect_tensor


@pytest.mark.points(1)
@pytest.mark.category("value")
@pytest.mark.exercise("tensor_to_numpy")
def test_tensor_to_numpy_ones(submission):
    """tensor_to_numpy(torch.ones(5)) is a float32 array of five 1s"""
    result = expect_array(submission.call("tensor_to_numpy", torch.ones(5)),
                          what="tensor_to_numpy(torch.ones(5))", shape=(5,), dtype=np.float32)
    expect_close(result, np.ones(5, dtype=np.float32), what="tensor_to_numpy(torch.ones(5))")


@pytest.mark.points(1)
@pytest.mark.category("value")
@pytest.mark.exercise("numpy_to_tensor")
def test_numpy_to_tensor_ones(submission):
    """numpy_to_tensor(np.ones(5)) is a float64 tensor of five 1s"""
    result = expect_tensor(submission.call("numpy_to_tensor", np.ones(5)),
                           what="numpy_to_tensor(np.ones(5))", shape=(5,), dtype=torch.float64)
    expect_close(result, torch.ones(5, dtype=torch.float64), what="numpy_to_tensor(np.ones(5))")
