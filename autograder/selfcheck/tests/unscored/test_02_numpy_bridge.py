"""Self-check-only tests of 02_numpy_bridge (see unscored/test_01_tensors.py for why)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from autograder.expect import check, describe, expect_array, expect_close


@pytest.mark.points(0)
@pytest.mark.category("value")
@pytest.mark.exercise("increment_through_numpy")
def test_increment_through_numpy_small(submission):
    """increment_through_numpy(t) returns None and leaves t + 1 in t"""
    t = submission.keep(torch.zeros(3))
    result = submission.call("increment_through_numpy", t)
    check(result is None, f"increment_through_numpy(t) returned {describe(result)}; expected None "
                          f"(it changes t in place)")
    expect_close(submission.fetch(t), torch.ones(3), what="t after increment_through_numpy(t)")


@pytest.mark.points(0)
@pytest.mark.category("value")
@pytest.mark.exercise("safe_to_numpy")
def test_safe_to_numpy_detaches(submission):
    """safe_to_numpy of a tensor that requires grad gives its values"""
    x = torch.ones(2, requires_grad=True)
    result = expect_array(submission.call("safe_to_numpy", x), what="safe_to_numpy(torch.ones(2, requires_grad=True))",
                          shape=(2,), dtype=np.float32)
    expect_close(result, np.ones(2, dtype=np.float32), what="safe_to_numpy(torch.ones(2, requires_grad=True))")
