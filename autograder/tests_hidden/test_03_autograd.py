"""Hidden tests of 03_autograd: values at random points (a literal 4.5 fails), grad_fn
where it belongs, J^T v against the grader's own Jacobian, and a float64 gradient check."""
from __future__ import annotations

import pytest
import torch

from autograder import probes
from autograder.expect import check, describe, expect_close, expect_tensor
from autograder.submission import grad_fn_name, is_leaf
from autograder.tests_hidden import _reference as ref


def _unpack_graph(result, what):
    check(isinstance(result, (tuple, list)) and len(result) == 3,
          f"{what} returned {describe(result)}; expected a tuple (y, z, out)")
    return result


@pytest.mark.points(0.5)
@pytest.mark.category("gradient")
def test_tracked_ones_shapes(submission, rng):
    """tracked_ones gives float32 ones that are leaves tracking gradients, for any shape"""
    for rows, cols in [ref.random_shape(rng, 2, 1, 8) for _ in range(3)]:
        what = f"tracked_ones({rows}, {cols})"
        kept = submission.call_keep("tracked_ones", rows, cols)
        result = expect_tensor(submission.fetch(kept), what=what,
                               shape=(rows, cols), dtype=torch.float32, requires_grad=True)
        check(bool((result == 1).all()), f"{what} returned values other than 1")
        check(is_leaf(result), f"{what} returned a tensor computed from another (grad_fn "
                               f"{grad_fn_name(result)}); expected a leaf: torch.ones(..., requires_grad=True)")
        # The verdict on "a leaf that tracks gradients": a backward with a random vector
        # must leave exactly that vector in the tensor's own .grad.
        v = ref.randn(rng, rows, cols)
        submission.backward(kept, v)
        grad = submission.fetch(kept).grad
        check(grad is not None, f"{what}: after a backward through it, its .grad is empty; expected a leaf "
                                f"that tracks gradients: torch.ones(..., requires_grad=True)")
        expect_close(grad, v, what=f"the .grad of {what} after backward(v)",
                     hint="A leaf's .grad after y.backward(v) with y the leaf itself is v")


@pytest.mark.points(1)
@pytest.mark.category("value")
def test_lesson_graph_values(submission, rng):
    """lesson_graph's y, z and out are right at random points"""
    for shape in [(2, 2), ref.random_shape(rng, 2, 1, 5), ref.random_shape(rng, 1, 2, 9)]:
        x = ref.randn(rng, *shape).requires_grad_(True)
        what = f"lesson_graph(x) for a random x of shape {list(shape)}"
        y, z, out = _unpack_graph(submission.call("lesson_graph", x), what)
        ey, ez, eout = ref.lesson_graph(x.detach())
        expect_close(y, ey, what=f"{what}: y", hint="y = x + 2")
        expect_close(z, ez, what=f"{what}: z", hint="z = y * y * 3")
        expect_close(out, eout, what=f"{what}: out", hint="out = z.mean(), a single number")


@pytest.mark.points(1)
@pytest.mark.category("gradient")
def test_lesson_graph_grad_fns(submission, rng):
    """lesson_graph's y, z and out are tracked: each has a grad_fn"""
    x = ref.randn(rng, *ref.random_shape(rng, 2, 1, 4))
    for index, name in enumerate(("y", "z", "out")):
        leaf = submission.keep(x.clone().requires_grad_(True))
        kept = submission.call_keep("lesson_graph", leaf)
        t = _unpack_graph(submission.fetch(kept), "lesson_graph(x)")[index]
        check(isinstance(t, torch.Tensor), f"lesson_graph(x): {name} is {describe(t)}; expected a tensor")
        untracked = (f"lesson_graph(x): {name} has no grad_fn although x requires grad; compute it from x "
                     f"with tensor operations (no .detach(), .item(), torch.no_grad() or new tensors)")
        check(t.requires_grad, untracked)
        # The verdict: backward from it with a random vector reaches x with the true J^T v.
        v = torch.randn(t.shape, generator=rng)
        submission.backward(kept, v, index=index)
        grad = submission.fetch(leaf).grad
        check(grad is not None, untracked)
        expected = _lesson_graph_vjp(x, index, v)
        expect_close(grad, expected, what=f"x.grad after lesson_graph(x)'s {name}.backward(v)", atol=1e-4,
                     hint=f"{name} must be computed from x by tensor operations, as in the lesson")


def _lesson_graph_vjp(x: torch.Tensor, index: int, v: torch.Tensor) -> torch.Tensor:
    """J^T v of lesson_graph's output number `index` (y, z or out) at x."""
    leaf = x.detach().clone().requires_grad_(True)
    ref.lesson_graph(leaf)[index].backward(v)
    return leaf.grad


@pytest.mark.points(1.5)
@pytest.mark.category("gradient")
def test_lesson_graph_gradcheck(submission, rng):
    """gradcheck in float64: lesson_graph's out backpropagates the true derivative"""
    x = ref.randn(rng, *ref.random_shape(rng, 2, 1, 3), dtype=torch.float64)
    what = f"lesson_graph(x) for a float64 x of shape {list(x.shape)}"

    def student_out(point):
        y, z, out = _unpack_graph(submission.call("lesson_graph", point.requires_grad_(True)), what)
        check(isinstance(out, torch.Tensor) and out.dtype == torch.float64,
              f"{what}: out is {describe(out)}; expected float64 (keep the input's dtype)")
        return float(out)

    numerical = ref.numerical_gradient(student_out, x)
    # out.backward() run by the sandbox's request loop on the student's own out; x's .grad
    # read back raw (never a gradient a helper in the student's process reports)
    leaf = submission.keep(x.clone().requires_grad_(True))
    submission.backward(submission.call_keep("lesson_graph", leaf), torch.ones((), dtype=torch.float64), index=2)
    analytical = submission.fetch(leaf).grad
    check(analytical is not None, f"{what}: out.backward() left no gradient in x; compute out from x "
                                  f"with tensor operations")
    expect_close(analytical, numerical, what=f"the gradient of out from {what}", atol=1e-5, rtol=1e-3,
                 hint="out.backward() must give the derivative of the out you return "
                      "(finite differences of your out were compared, as torch.autograd.gradcheck does)")


@pytest.mark.points(2)
@pytest.mark.category("gradient")
def test_grad_random_points(submission, rng):
    """lesson_gradient equals 1.5 (x + 2) at random 2x2 points, and 6 (x + 2) / n for other shapes"""
    for shape in [(2, 2), (2, 2), ref.random_shape(rng, 2, 2, 5), ref.random_shape(rng, 1, 3, 9)]:
        x = ref.randn(rng, *shape) * 3
        expect_close(submission.call("lesson_gradient", x), ref.lesson_gradient(x),
                     what=f"lesson_gradient(x) for a random x of shape {list(shape)}",
                     hint="Backpropagate out = mean(3 (x + 2)^2) from x; the 4.5 of the lesson holds "
                          "only at x = 1")


@pytest.mark.points(0.5)
@pytest.mark.category("behaviour")
def test_lesson_gradient_no_side_effects(submission, rng):
    """lesson_gradient leaves x alone: the same answer twice on one tensor, x unchanged"""
    values = ref.randn(rng, 2, 2)
    x = submission.keep(values)
    first = submission.call("lesson_gradient", x)
    expect_tensor(first, what="lesson_gradient(x)", shape=values.shape)
    first = first.detach().clone()
    expect_close(submission.call("lesson_gradient", x), first,
                 what="lesson_gradient(x), called a second time on the same x,",
                 hint="(the first call gave a different answer) work on a fresh copy "
                      "(x.detach().clone().requires_grad_()) so gradients do not pile up in x.grad")
    after = submission.fetch(x)
    expect_close(after, values, what="x after lesson_gradient(x)", hint="lesson_gradient must not modify x")
    check(not after.requires_grad, "lesson_gradient(x) switched on requires_grad of the caller's x; "
                                   "work on a copy instead")


@pytest.mark.points(2)
@pytest.mark.category("gradient")
def test_vjp_matches_jacobian(submission, rng):
    """vector_jacobian_product equals J^T v from torch.autograd.functional.jacobian"""
    cases = [("cubic_mix", (ref.randint(rng, 3, 6),)), ("outer_tanh", (ref.randint(rng, 3, 5),)),
             ("double_square", ref.random_shape(rng, 2, 2, 4))]
    for name, shape in cases:
        fn = probes.test_function(name)
        x = ref.randn(rng, *shape)
        v = ref.randn(rng, *fn(x).shape)
        what = f"vector_jacobian_product(f, x, v) for f={name}, x of shape {list(shape)}, v of shape {list(v.shape)}"
        result = submission.call("vector_jacobian_product", submission.helper("test_function", name),
                                 x.clone().requires_grad_(True), v)
        expect_close(result, ref.vjp(fn, x, v), what=what, atol=1e-4,
                     hint="y = f(x); y.backward(v) leaves J^T v in x.grad (backward on the "
                          "non-scalar y, with v as its argument)")


@pytest.mark.points(1)
@pytest.mark.category("gradient")
def test_no_grad_double(submission, rng):
    """no_grad_double gives 2x without tracking (no grad_fn, requires_grad False)"""
    x = ref.randn(rng, *ref.random_shape(rng, 2, 1, 6)).requires_grad_(True)
    result = expect_tensor(submission.call("no_grad_double", x), what="no_grad_double(x)", shape=x.shape)
    expect_close(result, 2 * x.detach(), what="no_grad_double(x)")
    check(not result.requires_grad and grad_fn_name(result) is None,
          f"no_grad_double(x) returned a tracked tensor (grad_fn {grad_fn_name(result)}); compute "
          f"x * 2 inside `with torch.no_grad():`")


@pytest.mark.points(0.5)
@pytest.mark.category("gradient")
def test_detached_untracked(submission, rng):
    """detached gives x's values with requires_grad False and no grad_fn"""
    x = ref.randn(rng, *ref.random_shape(rng, 2, 1, 6)).requires_grad_(True)
    result = expect_tensor(submission.call("detached", x), what="detached(x)", shape=x.shape)
    expect_close(result, x.detach(), what="detached(x)")
    check(not result.requires_grad and grad_fn_name(result) is None,
          "detached(x) returned a tensor that still requires grad; expected x.detach()")


@pytest.mark.points(0.5)
@pytest.mark.category("behaviour")
def test_detached_shares_storage(submission, rng):
    """detached shares x's storage: an in-place change of x shows in the result"""
    shape = ref.random_shape(rng, 2, 1, 6)
    x = submission.keep(ref.randn(rng, *shape).requires_grad_(True))
    result = submission.call_keep("detached", x)
    values = ref.randn(rng, *shape)  # written into x by the sandbox's request loop
    submission.write(x, values)
    expect_close(submission.fetch(result), values, what="detached(x), after new values were written into x,",
                 hint="x.detach() shares x's storage; clone() makes a copy")


@pytest.mark.points(1.5)
@pytest.mark.category("gradient")
def test_accumulated_grad(submission, rng):
    """accumulated_grad shows gradients adding up: 2 * times * x"""
    for times in (1, ref.randint(rng, 2, 3), ref.randint(rng, 4, 6)):
        x = ref.randn(rng, *ref.random_shape(rng, 2, 1, 5))
        expect_close(submission.call("accumulated_grad", x, times), 2 * times * x,
                     what=f"accumulated_grad(x, {times})",
                     hint="Call (x ** 2).sum().backward() `times` times on one leaf without zeroing")
