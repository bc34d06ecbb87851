"""Visible self-check tests of 05_training (shipped to students; the hidden tests check the
training loop's behaviour and the accuracy your model reaches)."""
from __future__ import annotations

import pytest
import torch

from autograder.expect import expect_array, expect_close, expect_number


@pytest.mark.points(1)
@pytest.mark.category("value")
@pytest.mark.exercise("mse_against_target")
def test_mse_basic(submission):
    """mse_against_target of [[1, 2, 3]] and [1, 2, 5] is 4/3"""
    result = submission.call("mse_against_target", torch.tensor([[1.0, 2.0, 3.0]]), torch.tensor([1.0, 2.0, 5.0]))
    expect_close(result, torch.tensor(4.0 / 3.0), what="mse_against_target([[1, 2, 3]], [1, 2, 5])")


@pytest.mark.points(0.5)
@pytest.mark.category("value")
@pytest.mark.exercise("unnormalize")
def test_unnormalize_basic(submission):
    """unnormalize maps -1, 0, 1 to 0, 0.5, 1"""
    expect_close(submission.call("unnormalize", torch.tensor([-1.0, 0.0, 1.0])), torch.tensor([0.0, 0.5, 1.0]),
                 what="unnormalize(torch.tensor([-1., 0., 1.]))")


@pytest.mark.points(0.5)
@pytest.mark.category("shape")
@pytest.mark.exercise("to_display_image")
def test_display_image_shape(submission):
    """to_display_image turns a [3, 8, 6] image into an [8, 6, 3] array"""
    expect_array(submission.call("to_display_image", torch.zeros(3, 8, 6)),
                 what="to_display_image(torch.zeros(3, 8, 6))", shape=(8, 6, 3))


@pytest.mark.points(1)
@pytest.mark.category("value")
@pytest.mark.exercise("training_step")
def test_training_step_returns_float(submission):
    """training_step returns the loss as a Python float"""
    net = submission.helper("small_net", 0, (4, 3))
    result = submission.call("training_step", net, submission.helper("sgd", net, 0.1),
                             submission.helper("cross_entropy"), torch.randn(5, 4), torch.tensor([0, 1, 2, 0, 1]))
    expect_number(result, what="training_step(...)")
