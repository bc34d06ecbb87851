"""Self-check-only tests of 03_autograd (see unscored/test_01_tensors.py for why)."""
from __future__ import annotations

import pytest
import torch

from autograder.expect import expect_close, expect_tensor


@pytest.mark.points(0)
@pytest.mark.category("gradient")
@pytest.mark.exercise("vector_jacobian_product")
def test_vjp_of_double_square(submission):
    """vector_jacobian_product of x -> 2 * x * x at ones with v = ones is 4s"""
    f = submission.helper("test_function", "double_square")
    expect_close(submission.call("vector_jacobian_product", f, torch.ones(3), torch.ones(3)),
                 torch.full((3,), 4.0), what="vector_jacobian_product(lambda x: 2 * x * x, ones(3), ones(3))",
                 hint="The Jacobian of 2 * x * x is diag(4 * x); use y.backward(v) and read x.grad")


@pytest.mark.points(0)
@pytest.mark.category("gradient")
@pytest.mark.exercise("no_grad_double")
def test_no_grad_double_small(submission):
    """no_grad_double(ones requiring grad) is 2s that do not require grad"""
    result = expect_tensor(submission.call("no_grad_double", torch.ones(2, requires_grad=True)),
                           what="no_grad_double(torch.ones(2, requires_grad=True))", shape=(2,),
                           requires_grad=False)
    expect_close(result, torch.full((2,), 2.0), what="no_grad_double(torch.ones(2, requires_grad=True))")


@pytest.mark.points(0)
@pytest.mark.category("gradient")
@pytest.mark.exercise("detached")
def test_detached_small(submission):
    """detached(x) has x's values and does not require grad"""
    result = expect_tensor(submission.call("detached", torch.ones(2, requires_grad=True)),
                           what="detached(torch.ones(2, requires_grad=True))", shape=(2,), requires_grad=False)
    expect_close(result, torch.ones(2), what="detached(torch.ones(2, requires_grad=True))")


@pytest.mark.points(0)
@pytest.mark.category("gradient")
@pytest.mark.exercise("accumulated_grad")
def test_accumulated_grad_once(submission):
    """accumulated_grad(ones, 1) is 2s"""
    expect_close(submission.call("accumulated_grad", torch.ones(2), 1), torch.full((2,), 2.0),
                 what="accumulated_grad(torch.ones(2), 1)")
