"""Visible self-check tests of 06_cuda (shipped to students; the hidden tests check device
handling more closely, with and without a GPU)."""
from __future__ import annotations

import pytest
import torch

from autograder.expect import check, describe, expect_close, expect_tensor


@pytest.mark.points(1)
@pytest.mark.category("device")
@pytest.mark.exercise("pick_device")
def test_pick_device_here(submission):
    """pick_device returns cuda:0 where a GPU is visible, else cpu"""
    device = submission.call("pick_device")
    check(isinstance(device, torch.device), f"pick_device() returned {describe(device)}; expected a torch.device")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    check(device.type == expected, f"pick_device() returned {device}; on this machine expected {expected}")


@pytest.mark.points(1)
@pytest.mark.category("value")
@pytest.mark.exercise("to_cpu_double")
def test_to_cpu_double_basic(submission):
    """to_cpu_double(tensor([2.5])) is tensor([2.5], dtype=torch.float64)"""
    result = expect_tensor(submission.call("to_cpu_double", torch.tensor([2.5])),
                           what="to_cpu_double(torch.tensor([2.5]))", shape=(1,), dtype=torch.float64)
    expect_close(result, torch.tensor([2.5], dtype=torch.float64), what="to_cpu_double(torch.tensor([2.5]))")
