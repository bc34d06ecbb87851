"""Self-check-only tests of 01_tensors: one cheap check for every exercise the scored
visible tests do not cover, so a blank exercise never looks fine. They run in the
student's self-check only (worth no points; grading runs the hidden tests instead)."""
from __future__ import annotations

import pytest
import torch

from autograder.expect import check, describe, expect_close, expect_number, expect_tensor


@pytest.mark.points(0)
@pytest.mark.category("value")
@pytest.mark.exercise("make_uniform")
def test_make_uniform_in_unit_interval(submission):
    """make_uniform(4, 2) is float32 [4, 2] with values in [0, 1)"""
    result = expect_tensor(submission.call("make_uniform", 4, 2), what="make_uniform(4, 2)",
                           shape=(4, 2), dtype=torch.float32)
    check(bool(((result >= 0) & (result < 1)).all()), "make_uniform(4, 2) has values outside [0, 1)")


@pytest.mark.points(0)
@pytest.mark.category("value")
@pytest.mark.exercise("from_list")
def test_from_list_ints(submission):
    """from_list([1, 2]) is tensor([1, 2]) of int64"""
    result = expect_tensor(submission.call("from_list", [1, 2]), what="from_list([1, 2])",
                           shape=(2,), dtype=torch.int64)
    expect_close(result, torch.tensor([1, 2]), what="from_list([1, 2])")


@pytest.mark.points(0)
@pytest.mark.category("value")
@pytest.mark.exercise("ones_double_like")
def test_ones_double_like_small(submission):
    """ones_double_like(torch.zeros(2)) is float64 ones [2]"""
    result = expect_tensor(submission.call("ones_double_like", torch.zeros(2)),
                           what="ones_double_like(torch.zeros(2))", shape=(2,), dtype=torch.float64)
    expect_close(result, torch.ones(2, dtype=torch.float64), what="ones_double_like(torch.zeros(2))")


@pytest.mark.points(0)
@pytest.mark.category("shape")
@pytest.mark.exercise("randn_float_like")
def test_randn_float_like_shape(submission):
    """randn_float_like of an int64 [2, 3] tensor is float32 [2, 3]"""
    expect_tensor(submission.call("randn_float_like", torch.zeros(2, 3, dtype=torch.int64)),
                  what="randn_float_like(torch.zeros(2, 3, dtype=torch.int64))", shape=(2, 3),
                  dtype=torch.float32)


@pytest.mark.points(0)
@pytest.mark.category("value")
@pytest.mark.exercise("add_out")
def test_add_out_small(submission):
    """add_out(ones, ones, out) writes 2s into out and returns it"""
    out = submission.keep(torch.zeros(3))
    result = submission.call("add_out", torch.ones(3), torch.ones(3), out)
    check(submission.same_object(result, out), f"add_out returned {describe(result)}, not the `out` tensor it was given")
    expect_close(submission.fetch(out), torch.full((3,), 2.0), what="out after add_out(ones, ones, out)")


@pytest.mark.points(0)
@pytest.mark.category("value")
@pytest.mark.exercise("add_inplace")
def test_add_inplace_small(submission):
    """add_inplace(ones, y) adds 1 into y and returns y itself"""
    y = submission.keep(torch.zeros(3))
    result = submission.call("add_inplace", torch.ones(3), y)
    check(submission.same_object(result, y), f"add_inplace returned {describe(result)}, not `y` itself")
    expect_close(submission.fetch(y), torch.ones(3), what="y after add_inplace(torch.ones(3), y)")


@pytest.mark.points(0)
@pytest.mark.category("shape")
@pytest.mark.exercise("views_of")
def test_views_of_flat_and_rows_of_8(submission):
    """views_of(torch.arange(16.)) gives shapes [16] and [2, 8]"""
    result = submission.call("views_of", torch.arange(16.0))
    check(isinstance(result, (tuple, list)) and len(result) == 2,
          f"views_of(x) returned {describe(result)}; expected a tuple (flat, rows_of_8)")
    expect_tensor(result[0], what="views_of(torch.arange(16.))[0]", shape=(16,))
    expect_tensor(result[1], what="views_of(torch.arange(16.))[1]", shape=(2, 8))


@pytest.mark.points(0)
@pytest.mark.category("value")
@pytest.mark.exercise("to_python_number")
def test_to_python_number_float(submission):
    """to_python_number(torch.tensor([1.5])) is the Python float 1.5"""
    result = submission.call("to_python_number", torch.tensor([1.5]))
    check(type(result) is float, f"to_python_number returned {describe(result)}; expected a Python float")
    check(expect_number(result, what="to_python_number(torch.tensor([1.5]))") == 1.5,
          f"to_python_number(torch.tensor([1.5])) returned {result}; expected 1.5")
