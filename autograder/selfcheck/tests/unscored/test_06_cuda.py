"""Self-check-only tests of 06_cuda (see unscored/test_01_tensors.py for why). They use the
CPU and PyTorch's "meta" device, so they mean something on a machine without a GPU."""
from __future__ import annotations

import pytest
import torch

from autograder.expect import check, describe, expect_close, expect_number, expect_tensor


@pytest.mark.points(0)
@pytest.mark.category("device")
@pytest.mark.exercise("ones_on")
def test_ones_on_cpu(submission):
    """ones_on(torch.zeros(2, 3), "cpu") is ones [2, 3] on the CPU"""
    result = expect_tensor(submission.call("ones_on", torch.zeros(2, 3), "cpu"),
                           what='ones_on(torch.zeros(2, 3), "cpu")', shape=(2, 3))
    expect_close(result, torch.ones(2, 3), what='ones_on(torch.zeros(2, 3), "cpu")')


@pytest.mark.points(0)
@pytest.mark.category("device")
@pytest.mark.exercise("add_on_device")
def test_add_on_device_cpu(submission):
    """add_on_device(x, "cpu") is x + 1 and leaves x unchanged"""
    x = submission.keep(torch.tensor([1.0, 2.0]))
    expect_close(submission.call("add_on_device", x, "cpu"), torch.tensor([2.0, 3.0]),
                 what='add_on_device(torch.tensor([1., 2.]), "cpu")')
    expect_close(submission.fetch(x), torch.tensor([1.0, 2.0]), what='x after add_on_device(x, "cpu")',
                 hint="Return a new tensor; do not add into x in place")


@pytest.mark.points(0)
@pytest.mark.category("device")
@pytest.mark.exercise("move_model")
def test_move_model_to_meta(submission):
    """move_model(model, "meta") returns the model with its parameters on that device"""
    model = submission.helper("small_net", 0, (2, 1))
    result = submission.call_keep("move_model", model, "meta")
    check(submission.same_object(result, model), "move_model(model, device) should return the model it was given")
    devices = {str(p.device) for p in submission.fetch(submission.helper("parameters_of", model))}
    check(devices == {"meta"}, f'after move_model(model, "meta") the parameters are on {sorted(devices)}; '
                               f"expected meta (use model.to(device))")


@pytest.mark.points(0)
@pytest.mark.category("behaviour")
@pytest.mark.exercise("train_step_on_device")
def test_train_step_on_device_cpu(submission):
    """train_step_on_device on the CPU returns the loss as a float and updates the model"""
    model = submission.helper("small_net", 0, (4, 3))
    before = [p.clone() for p in submission.fetch(submission.helper("parameters_of", model))]
    batch = (torch.randn(5, 4, generator=torch.Generator().manual_seed(0)), torch.tensor([0, 1, 2, 0, 1]))
    result = submission.call("train_step_on_device", model, batch, submission.helper("cross_entropy"),
                             submission.helper("sgd", model, 0.1))
    expect_number(result, what="train_step_on_device(...)")
    after = submission.fetch(submission.helper("parameters_of", model))
    check(any(not torch.equal(a, b) for a, b in zip(before, after)),
          f"train_step_on_device(...) returned {describe(result)} but left the parameters unchanged: "
          f"call optimizer.step() after backward()")
