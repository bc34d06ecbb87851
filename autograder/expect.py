"""Assertion helpers whose failure messages are written for students.

Tests run with `--assert=plain`, so the message of the AssertionError is all a student
sees. Every helper here says what was expected and what came back, naming the call that
produced it: "zeros_long(3, 4) returned dtype torch.float32; expected torch.int64
(torch.long)". Shipped to students with the self-check; nothing secret lives here.
"""
from __future__ import annotations

import contextlib
from typing import Any, Sequence

import numpy as np
import torch

from autograder.localize import N_

_DTYPE_ALIASES = {
    torch.int64: "torch.long", torch.float32: "torch.float", torch.float64: "torch.double",
    torch.int32: "torch.int", torch.float16: "torch.half", torch.int16: "torch.short",
}


class Mismatch(AssertionError):
    """A check on the student's result failed; str() is the student-facing message."""


def fail(message: str) -> None:
    raise Mismatch(message)


def check(condition: bool, message: str) -> None:
    if not condition:
        raise Mismatch(message)


def dtype_name(dtype) -> str:
    """'torch.int64 (torch.long)' for dtypes better known by an alias."""
    alias = _DTYPE_ALIASES.get(dtype)
    return f"{dtype} ({alias})" if alias else str(dtype)


def shape_text(shape: Sequence[int]) -> str:
    return "[" + ", ".join(str(int(s)) for s in shape) + "]"


def describe(value: Any) -> str:
    """A short account of what came back: type, and shape/dtype for arrays. Each case is a
    whole phrase of its own (one catalog entry), never assembled from English pieces."""
    kind = _type_name(value)
    if value is None or kind == "NoneType":  # a sandbox handle to None too: the student returned nothing
        return "None"
    if isinstance(value, torch.Tensor):
        return N_(f"a tensor of shape {shape_text(value.shape)} and dtype {value.dtype}")
    if isinstance(value, np.ndarray):
        return N_(f"a NumPy array of shape {shape_text(value.shape)} and dtype {value.dtype}")
    if isinstance(value, bool):
        return N_(f"the bool {value}")
    if isinstance(value, int):
        return N_(f"the int {value!r}")
    if isinstance(value, float):
        return N_(f"the float {value!r}")
    if isinstance(value, (list, tuple)):
        kind, count = type(value).__name__, len(value)
        if count == 1:
            return N_(f"a {kind} of 1 item")
        return N_(f"a {kind} of {count} items")
    if isinstance(value, str):
        text = repr(value[:60])
        return N_(f"the string {text}")
    return N_(f"a {kind}")


def _type_name(value: Any) -> str:
    """The type a student would name: for a sandbox handle, the type of the object it
    stands for (a handle's class has a `remote_type` property: "builtins.NoneType"),
    never "Handle"."""
    remote = getattr(type(value), "remote_type", None)
    if isinstance(remote, property):
        with contextlib.suppress(Exception):
            return str(remote.fget(value)).rpartition(".")[2]
    return type(value).__name__


def preview(values, limit: int = 6) -> str:
    """The first few values, rounded, for messages."""
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu()
        flat = values.reshape(-1)[:limit].tolist()
        more = values.numel() > limit
    else:
        arr = np.asarray(values).reshape(-1)
        flat, more = arr[:limit].tolist(), arr.size > limit
    text = ", ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in flat)
    return f"[{text}{', ...' if more else ''}]"


def expect_tensor(value, *, what: str, shape: Sequence[int] | None = None, dtype=None,
                  requires_grad: bool | None = None) -> torch.Tensor:
    """`value` is a tensor with the given shape/dtype/requires_grad; returns it."""
    check(isinstance(value, torch.Tensor), f"{what} returned {describe(value)}; expected a torch.Tensor")
    if shape is not None:
        check(tuple(value.shape) == tuple(shape),
              f"{what} returned shape {shape_text(value.shape)}; expected {shape_text(shape)}")
    if dtype is not None:
        check(value.dtype == dtype,
              f"{what} returned dtype {dtype_name(value.dtype)}; expected {dtype_name(dtype)}")
    if requires_grad is not None:
        check(bool(value.requires_grad) == requires_grad,
              f"{what} returned a tensor with requires_grad={value.requires_grad}; "
              f"expected requires_grad={requires_grad}")
    return value


def expect_array(value, *, what: str, shape: Sequence[int] | None = None, dtype=None) -> np.ndarray:
    check(isinstance(value, np.ndarray), f"{what} returned {describe(value)}; expected a NumPy array")
    if shape is not None:
        check(tuple(value.shape) == tuple(shape),
              f"{what} returned shape {shape_text(value.shape)}; expected {shape_text(shape)}")
    if dtype is not None:
        check(value.dtype == np.dtype(dtype),
              f"{what} returned a {value.dtype} array; expected {np.dtype(dtype)}")
    return value


def expect_close(actual, expected, *, what: str, atol: float = 1e-5, rtol: float = 1e-4,
                 hint: str = "") -> None:
    """Values agree within tolerance; shapes must match first. Tensors or arrays."""
    expected_t = torch.as_tensor(np.asarray(expected) if isinstance(expected, np.ndarray) else expected)
    if isinstance(actual, np.ndarray):
        actual_t = torch.from_numpy(np.ascontiguousarray(actual))
    elif isinstance(actual, torch.Tensor):
        actual_t = actual
    elif isinstance(actual, (int, float)) and not isinstance(actual, bool):
        actual_t = torch.tensor(float(actual))
    else:
        fail(f"{what} returned {describe(actual)}; expected values like {preview(expected_t)}")
    actual_t = actual_t.detach().cpu()
    expected_t = expected_t.detach().cpu()
    if tuple(actual_t.shape) != tuple(expected_t.shape):
        fail(f"{what} returned shape {shape_text(actual_t.shape)}; expected {shape_text(expected_t.shape)}")
    a = actual_t.double()
    e = expected_t.double()
    if not torch.allclose(a, e, atol=atol, rtol=rtol, equal_nan=False):
        diff = (a - e).abs()
        worst = int(torch.nan_to_num(diff, nan=float("inf")).reshape(-1).argmax())
        message = (f"{what} returned {preview(a)}; expected {preview(e)} "
                   f"(largest difference {float(diff.reshape(-1)[worst]):.4g} at flat index {worst})")
        fail(message + (f". {hint}" if hint else ""))


def expect_number(value, *, what: str) -> float:
    """A plain Python int or float (not a tensor, not a bool)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    check(ok, f"{what} returned {describe(value)}; expected a plain Python number "
              f"(use .item() on a one-element tensor)")
    return float(value)


def expect_same_values(actual, expected, *, what: str) -> None:
    """Exact equality (integers, booleans, copies)."""
    expect_close(actual, expected, what=what, atol=0.0, rtol=0.0)


__all__ = ["Mismatch", "fail", "check", "dtype_name", "shape_text", "describe", "preview",
           "expect_tensor", "expect_array", "expect_close", "expect_number", "expect_same_values"]
