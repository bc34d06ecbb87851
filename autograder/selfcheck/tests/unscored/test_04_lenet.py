"""Self-check-only tests of 04_lenet (see unscored/test_01_tensors.py for why)."""
from __future__ import annotations

import pytest
import torch

from autograder.expect import check, describe, expect_close, expect_tensor


@pytest.mark.points(0)
@pytest.mark.category("shape")
@pytest.mark.exercise("CifarLeNet")
def test_cifar_output_shape(submission):
    """CifarLeNet maps two 3x32x32 images to [2, 10]"""
    model = submission.call_keep("CifarLeNet")
    expect_tensor(submission.call(model, torch.zeros(2, 3, 32, 32)),
                  what="CifarLeNet()(torch.zeros(2, 3, 32, 32))", shape=(2, 10))


@pytest.mark.points(0)
@pytest.mark.category("shape")
@pytest.mark.exercise("num_flat_features")
def test_num_flat_features_small(submission):
    """num_flat_features of a [2, 3, 4] tensor is 12"""
    result = submission.call("num_flat_features", torch.zeros(2, 3, 4))
    check(isinstance(result, int) and not isinstance(result, bool) and result == 12,
          f"num_flat_features(torch.zeros(2, 3, 4)) returned {describe(result)}; expected the int 12")


@pytest.mark.points(0)
@pytest.mark.category("gradient")
@pytest.mark.exercise("backprop_random_grad")
def test_backprop_random_grad_fills_grads(submission):
    """backprop_random_grad returns None and leaves the gradients of net(x).backward(grad_output)"""
    net = submission.helper("small_net", 1, (3, 2))
    x, grad_output = torch.ones(1, 3), torch.ones(1, 2)
    result = submission.call("backprop_random_grad", net, x, grad_output)
    check(result is None, f"backprop_random_grad returned {describe(result)}; expected None")
    grads = submission.fetch(submission.helper("grads_of", net))
    check(all(g is not None for g in grads), "after backprop_random_grad some parameter has no .grad: "
                                             "call out.backward(grad_output)")
    # For a single Linear layer, d(out . g)/d(bias) is g itself.
    expect_close(grads[-1], grad_output[0], what="the bias gradient after backprop_random_grad(net, x, ones)")
