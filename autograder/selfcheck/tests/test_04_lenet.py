"""Visible self-check tests of 04_lenet (shipped to students; the hidden tests check more)."""
from __future__ import annotations

import pytest
import torch

from autograder.expect import check, expect_tensor, shape_text


@pytest.mark.points(1)
@pytest.mark.category("shape")
@pytest.mark.exercise("GrayLeNet")
def test_gray_output_shape(submission):
    """GrayLeNet maps one 1x32x32 image to [1, 10]"""
    model = submission.call_keep("GrayLeNet")
    expect_tensor(submission.call(model, torch.randn(1, 1, 32, 32)),
                  what="GrayLeNet()(torch.randn(1, 1, 32, 32))", shape=(1, 10))


@pytest.mark.points(1)
@pytest.mark.category("shape")
@pytest.mark.exercise("GrayLeNet")
def test_gray_parameter_count(submission):
    """GrayLeNet has 10 parameter tensors, the first of size [6, 1, 3, 3]"""
    params = submission.fetch(submission.helper("parameters_of", submission.call_keep("GrayLeNet")))
    check(len(params) == 10, f"GrayLeNet has {len(params)} parameter tensors; expected 10 "
                             f"(weight and bias of 2 conv and 3 linear layers)")
    check(tuple(params[0].shape) == (6, 1, 3, 3),
          f"GrayLeNet's first parameter has size {shape_text(params[0].shape)}; expected [6, 1, 3, 3] "
          f"(conv1's weight)")


@pytest.mark.points(0.5)
@pytest.mark.category("shape")
@pytest.mark.exercise("add_batch_dim")
def test_add_batch_dim(submission):
    """add_batch_dim turns a [3, 32, 32] sample into [1, 3, 32, 32]"""
    expect_tensor(submission.call("add_batch_dim", torch.randn(3, 32, 32)),
                  what="add_batch_dim(torch.randn(3, 32, 32))", shape=(1, 3, 32, 32))
