"""Hidden tests of 02_numpy_bridge: values, dtypes and real memory sharing both ways."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from autograder.expect import check, describe, expect_array, expect_close, expect_tensor
from autograder.tests_hidden._reference import randint, random_shape

TORCH_TO_NUMPY = {torch.float32: np.float32, torch.float64: np.float64, torch.int64: np.int64,
                  torch.int32: np.int32, torch.int8: np.int8, torch.uint8: np.uint8,
                  torch.float16: np.float16}


def _tensor(rng, dtype, shape=None):
    shape = shape or random_shape(rng, randint(rng, 1, 3), 1, 6)
    if dtype.is_floating_point:
        return (torch.randn(shape, generator=rng) * 10).to(dtype)
    return torch.randint(0 if dtype == torch.uint8 else -100, 100, shape, generator=rng).to(dtype)


def _written_into(submission, handle, like: torch.Tensor, rng) -> torch.Tensor:
    """Write fresh random values into the student's tensor or array (by the sandbox's
    request loop, not a helper the submission could replace); returns them. Only an
    object that really shares that memory can show them when fetched."""
    values = _tensor(rng, like.dtype, tuple(like.shape))
    submission.write(handle, values)
    return values


@pytest.mark.points(1)
@pytest.mark.category("value")
def test_tensor_to_numpy_dtypes(submission, rng):
    """tensor_to_numpy keeps values and dtype for float and integer tensors"""
    for dtype in (torch.float32, torch.float64, torch.int64, torch.int8, torch.int32):
        t = _tensor(rng, dtype)
        what = f"tensor_to_numpy(t) for a {dtype} tensor of shape {list(t.shape)}"
        result = expect_array(submission.call("tensor_to_numpy", t), what=what,
                              shape=tuple(t.shape), dtype=TORCH_TO_NUMPY[dtype])
        expect_close(result, t, what=what, atol=0)


@pytest.mark.points(1.5)
@pytest.mark.category("behaviour")
def test_tensor_to_numpy_shares_memory(submission, rng):
    """tensor_to_numpy's array shares memory: t.add_(1) shows in the array"""
    values = _tensor(rng, torch.float32)
    t = submission.keep(values)
    array = submission.call_keep("tensor_to_numpy", t)
    written = _written_into(submission, t, values, rng)
    result = submission.fetch(array)
    expect_array(result, what="tensor_to_numpy(t)")
    expect_close(result, written, what="the array from tensor_to_numpy(t), after new values were written into t,",
                 hint="t.numpy() shares t's memory; np.array(t) or .copy() make a separate copy")


@pytest.mark.points(1)
@pytest.mark.category("value")
def test_numpy_to_tensor_dtypes(submission, rng):
    """numpy_to_tensor keeps values and dtype (float64 stays float64)"""
    for dtype in (torch.float64, torch.float32, torch.int64, torch.int32, torch.uint8):
        a = _tensor(rng, dtype).numpy()
        what = f"numpy_to_tensor(a) for a {a.dtype} array of shape {list(a.shape)}"
        result = expect_tensor(submission.call("numpy_to_tensor", a), what=what,
                               shape=a.shape, dtype=dtype)
        expect_close(result, a, what=what, atol=0)


@pytest.mark.points(1.5)
@pytest.mark.category("behaviour")
def test_numpy_to_tensor_shares_memory(submission, rng):
    """numpy_to_tensor's tensor shares memory: a write to the array shows in the tensor"""
    values = _tensor(rng, torch.float64).numpy()
    a = submission.keep(values)
    t = submission.call_keep("numpy_to_tensor", a)
    written = _written_into(submission, a, torch.from_numpy(values), rng).numpy()
    result = submission.fetch(t)
    expect_tensor(result, what="numpy_to_tensor(a)")
    expect_close(result, written, what="the tensor from numpy_to_tensor(a), after new values were written into a,",
                 hint="torch.from_numpy(a) shares a's memory; torch.tensor(a) copies it")


@pytest.mark.points(1.5)
@pytest.mark.category("behaviour")
def test_increment_through_numpy(submission, rng):
    """increment_through_numpy adds 1 to the tensor itself, through its NumPy view"""
    for dtype in (torch.float32, torch.int64, torch.float64):
        values = _tensor(rng, dtype)
        t = submission.keep(values)
        submission.call("increment_through_numpy", t)
        expect_close(submission.fetch(t), values + 1,
                     what=f"a {dtype} tensor t after increment_through_numpy(t)",
                     hint="Write into t's own memory: a = t.numpy(); np.add(a, 1, out=a)")


@pytest.mark.points(0.5)
@pytest.mark.category("value")
def test_safe_to_numpy_requires_grad(submission, rng):
    """safe_to_numpy converts a tensor that requires grad (detach first)"""
    t = _tensor(rng, torch.float32).requires_grad_(True)
    what = "safe_to_numpy(t) for a tensor with requires_grad=True"
    result = expect_array(submission.call("safe_to_numpy", t), what=what, dtype=np.float32)
    expect_close(result, t.detach(), what=what)


@pytest.mark.points(0.5)
@pytest.mark.category("value")
def test_safe_to_numpy_bfloat16(submission, rng):
    """safe_to_numpy converts bfloat16 (which NumPy lacks) to float32"""
    t = _tensor(rng, torch.bfloat16)
    what = "safe_to_numpy(t) for a bfloat16 tensor"
    result = expect_array(submission.call("safe_to_numpy", t), what=what, dtype=np.float32)
    expect_close(result, t.float(), what=what)


@pytest.mark.points(0.5)
@pytest.mark.category("behaviour")
def test_safe_to_numpy_leaves_plain_tensors(submission, rng):
    """safe_to_numpy keeps other dtypes (int8 too) and still shares a plain CPU tensor's memory"""
    for dtype in (torch.int8, torch.float16, torch.int64):
        t = _tensor(rng, dtype)
        what = f"safe_to_numpy(t) for a {dtype} tensor"
        result = expect_array(submission.call("safe_to_numpy", t), what=what, dtype=TORCH_TO_NUMPY[dtype])
        expect_close(result, t, what=what, atol=0)
    values = _tensor(rng, torch.float32)
    t = submission.keep(values)
    array = submission.call_keep("safe_to_numpy", t)
    written = _written_into(submission, t, values, rng)
    result = submission.fetch(array)
    check(isinstance(result, np.ndarray), f"safe_to_numpy(t) returned {describe(result)}; expected a NumPy array")
    expect_close(result, written, what="the array from safe_to_numpy(t), after new values were written into t,",
                 hint="A plain CPU tensor needs no copy: t.numpy() shares its memory")
