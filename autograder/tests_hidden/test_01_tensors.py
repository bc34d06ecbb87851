"""Hidden tests of 01_tensors: creation, like-constructors, addition, indexing, views."""
from __future__ import annotations

import pytest
import torch

from autograder.expect import check, describe, expect_close, expect_number, expect_tensor
from autograder.tests_hidden import _reference as ref
from autograder.tests_hidden._reference import randint, randn, random_shape, seed_student


@pytest.mark.points(0.5)
@pytest.mark.category("shape")
def test_make_empty_shapes(submission, rng):
    """make_empty gives float32 tensors of the requested shape"""
    for rows, cols in [random_shape(rng, 2, 1, 9) for _ in range(3)]:
        expect_tensor(submission.call("make_empty", rows, cols), what=f"make_empty({rows}, {cols})",
                      shape=(rows, cols), dtype=torch.float32)


@pytest.mark.points(1)
@pytest.mark.category("value")
def test_make_uniform_range(submission, rng):
    """make_uniform draws fresh values uniformly from [0, 1)"""
    seed_student(submission, rng)
    rows, cols = randint(rng, 150, 250), randint(rng, 40, 60)
    what = f"make_uniform({rows}, {cols})"
    first = expect_tensor(submission.call("make_uniform", rows, cols), what=what,
                          shape=(rows, cols), dtype=torch.float32)
    low, high, mean = float(first.min()), float(first.max()), float(first.mean())
    check(low >= 0.0 and high < 1.0,
          f"{what} returned values from {low:.3f} to {high:.3f}; expected all in [0, 1) "
          f"(torch.rand, not torch.randn)")
    check(0.45 < mean < 0.55 and high - low > 0.9,
          f"{what} returned values with mean {mean:.3f}, spread {high - low:.3f}; uniform values "
          f"in [0, 1) have mean 0.5 and fill the interval")
    second = submission.call("make_uniform", rows, cols)
    check(not torch.equal(first, second),
          f"two calls of {what} returned the same values; expected fresh random values each call")


@pytest.mark.points(0.5)
@pytest.mark.category("value")
def test_zeros_long_shapes(submission, rng):
    """zeros_long gives int64 zeros of any requested shape"""
    for rows, cols in [random_shape(rng, 2, 1, 9) for _ in range(3)]:
        what = f"zeros_long({rows}, {cols})"
        result = expect_tensor(submission.call("zeros_long", rows, cols), what=what,
                               shape=(rows, cols), dtype=torch.int64)
        check(not result.any(), f"{what} returned non-zero values; expected all zeros")


@pytest.mark.points(1)
@pytest.mark.category("value")
def test_from_list_infers_dtype(submission, rng):
    """from_list keeps the values and infers int64 for ints, float32 for floats"""
    ints = torch.randint(-50, 50, random_shape(rng, 2, 1, 4), generator=rng).tolist()
    floats = (torch.randn(random_shape(rng, 2, 1, 4), generator=rng) * 10).tolist()
    flat = [round(v, 3) for v in torch.randn(randint(rng, 1, 6), generator=rng).tolist()]
    for values, dtype in ((ints, torch.int64), (floats, torch.float32), (flat, torch.float32)):
        what = f"from_list({values!r})"
        expected = torch.tensor(values)
        result = expect_tensor(submission.call("from_list", values), what=what,
                               shape=expected.shape, dtype=dtype)
        expect_close(result, expected, what=what, atol=1e-6)


@pytest.mark.points(0.5)
@pytest.mark.category("value")
def test_ones_double_like(submission, rng):
    """ones_double_like gives float64 ones with the input's shape, whatever its dtype"""
    for dtype in (torch.float32, torch.int64, torch.float16):
        shape = random_shape(rng, randint(rng, 1, 3))
        x = randn(rng, *shape).to(dtype)
        what = f"ones_double_like(x) for x of shape {list(shape)} and dtype {dtype}"
        result = expect_tensor(submission.call("ones_double_like", x), what=what,
                               shape=shape, dtype=torch.float64)
        check(bool((result == 1).all()), f"{what} returned values other than 1")


@pytest.mark.points(0.5)
@pytest.mark.category("device")
def test_ones_double_like_device(submission, rng):
    """ones_double_like creates its ones on x's device"""
    shape = random_shape(rng, randint(rng, 1, 3))
    # the meta device (shapes, no values) stands for a GPU on any runner
    x = submission.helper("to_device", randn(rng, *shape), "meta")
    kept = submission.call_keep("ones_double_like", x)
    info = ref.facts(submission, kept)
    # the device alone: the dtype and the values are test_ones_double_like's
    check(ref.fetched_meta(submission, kept) and ref.on(info, "meta") and info["shape"] == list(shape),
          f"ones_double_like(x) for an x on the 'meta' device gave {ref.what_came_back(info)}; expected ones "
          f"on x's device: x.new_ones(x.shape, dtype=torch.double) keeps x's device, "
          f"torch.ones(x.shape, dtype=torch.double) does not")


@pytest.mark.points(1)
@pytest.mark.category("value")
def test_randn_float_like(submission, rng):
    """randn_float_like gives float32 standard-normal values with the input's shape"""
    seed_student(submission, rng)
    for dtype in (torch.float64, torch.int64):
        x = torch.zeros(randint(rng, 60, 80), randint(rng, 60, 80), dtype=dtype)
        what = f"randn_float_like(x) for x of shape {list(x.shape)} and dtype {dtype}"
        result = expect_tensor(submission.call("randn_float_like", x), what=what,
                               shape=x.shape, dtype=torch.float32)
        mean, std = float(result.mean()), float(result.std())
        check(abs(mean) < 0.1 and 0.9 < std < 1.1,
              f"{what} returned values with mean {mean:.3f} and std {std:.3f}; expected a standard "
              f"normal sample (mean 0, std 1)")


@pytest.mark.points(1)
@pytest.mark.category("behaviour")
def test_add_out_writes_into_out(submission, rng):
    """add_out writes x + y into the given out tensor and returns that same tensor"""
    shape = random_shape(rng, 2, 2, 6)
    x, y = randn(rng, *shape), randn(rng, *shape)
    out = submission.keep(torch.zeros(shape))
    result = submission.call_keep("add_out", x, y, out)
    check(submission.same_object(result, out),
          "add_out(x, y, out) returned a different tensor; expected it to return `out` itself "
          "(torch.add(x, y, out=out), then return out)")
    expect_close(submission.fetch(out), x + y, what="the `out` tensor after add_out(x, y, out)",
                 hint="Write the sum into `out` with torch.add(x, y, out=out)")


@pytest.mark.points(1)
@pytest.mark.category("behaviour")
def test_add_inplace_modifies_y(submission, rng):
    """add_inplace adds x into y in place and returns y itself"""
    shape = random_shape(rng, 2, 2, 6)
    x, y_values = randn(rng, *shape), randn(rng, *shape)
    y = submission.keep(y_values)
    result = submission.call_keep("add_inplace", x, y)
    expect_close(submission.fetch(y), x + y_values, what="y after add_inplace(x, y)",
                 hint="Modify y itself with y.add_(x); y = y + x only makes a new tensor")
    check(submission.same_object(result, y),
          "add_inplace(x, y) returned a different tensor; expected it to return y itself")


@pytest.mark.points(0.5)
@pytest.mark.category("value")
def test_second_column_values(submission, rng):
    """second_column returns column 1 of tensors of several shapes"""
    for _ in range(3):
        shape = (randint(rng, 2, 7), randint(rng, 2, 7))
        x = randn(rng, *shape)
        expect_close(submission.call("second_column", x), x[:, 1],
                     what=f"second_column(x) for x of shape {list(shape)}",
                     hint="x[:, 1] takes every row's element 1")


def _views_input(rng):
    # (2a, 4b): the element count is a multiple of 8, as views_of requires.
    return randn(rng, 2 * randint(rng, 1, 4), 4 * randint(rng, 1, 3))


@pytest.mark.points(0.5)
@pytest.mark.category("shape")
def test_views_of_shapes(submission, rng):
    """views_of returns (x flattened, x as rows of 8) with x's values"""
    for _ in range(2):
        x = _views_input(rng)
        what = f"views_of(x) for x of shape {list(x.shape)}"
        result = submission.call("views_of", x)
        check(isinstance(result, (tuple, list)) and len(result) == 2,
              f"{what} returned {describe(result)}; expected a tuple (flat, rows_of_8)")
        flat, rows_of_8 = result
        expect_close(flat, x.reshape(-1), what=f"{what}[0] (flat)")
        expect_close(rows_of_8, x.reshape(-1, 8), what=f"{what}[1] (rows of 8)")


@pytest.mark.points(0.5)
@pytest.mark.category("behaviour")
def test_views_of_share_storage(submission, rng):
    """views_of's results are views: a write to x shows in both"""
    original = _views_input(rng)
    x = submission.keep(original)
    views = submission.call_keep("views_of", x)
    # fresh random values written into x by the sandbox's request loop: only a real view
    # of x's memory can show them
    x_values = randn(rng, *original.shape)
    submission.write(x, x_values)
    result = submission.fetch(views)
    check(isinstance(result, (tuple, list)) and len(result) == 2,
          f"views_of(x) returned {describe(result)}; expected a tuple (flat, rows_of_8)")
    for index, value in enumerate(result):
        check(isinstance(value, torch.Tensor) and value.numel() == x_values.numel(),
              f"views_of(x)[{index}] is {describe(value)}; expected a view of x")
        expect_close(value.reshape(-1), x_values.reshape(-1),
                     what=f"views_of(x)[{index}], after new values were written into x in place,",
                     hint="Return views made with x.view(...), not copies (clone, torch.tensor, ...)")


@pytest.mark.points(0.5)
@pytest.mark.category("value")
def test_to_python_number(submission, rng):
    """to_python_number returns the plain Python number inside a one-element tensor"""
    cases = [torch.tensor([float(randn(rng, 1)) * 10]), torch.tensor(randint(rng, -99, 99)),
             torch.tensor([[float(randn(rng, 1))]], dtype=torch.float64)]
    for t in cases:
        expected = t.item()
        what = f"to_python_number(torch.tensor({t.tolist()!r}))"
        value = expect_number(submission.call("to_python_number", t), what=what)
        check(abs(value - expected) <= 1e-6 * max(1.0, abs(expected)),
              f"{what} returned {value!r}; expected {expected!r}")
