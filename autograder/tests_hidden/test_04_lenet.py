"""Hidden tests of 04_lenet: layer types and sizes, flat features, output shapes for several
batch sizes, gradients for every parameter, and the forward pass against a functional
LeNet the grader runs on the student's own weights (nn.Sequential models work too: only
parameters() order and layer types are used, never attribute names)."""
from __future__ import annotations

import pytest
import torch

from autograder.expect import check, expect_close, expect_number, expect_tensor, shape_text
from autograder.tests_hidden import _reference as ref

GRAY_LAYERS = [("Conv2d", 1, 6, (3, 3)), ("Conv2d", 6, 16, (3, 3)),
               ("Linear", 576, 120), ("Linear", 120, 84), ("Linear", 84, 10)]
CIFAR_LAYERS = [("Conv2d", 3, 6, (5, 5)), ("Conv2d", 6, 16, (5, 5)),
                ("Linear", 400, 120), ("Linear", 120, 84), ("Linear", 84, 10)]
NETS = {"GrayLeNet": (1, GRAY_LAYERS, ref.GRAY_SHAPES), "CifarLeNet": (3, CIFAR_LAYERS, ref.CIFAR_SHAPES)}


def _layer_text(layer) -> str:
    if layer[0] == "Conv2d":
        return f"Conv2d({layer[1]}, {layer[2]}, kernel_size={layer[3]})"
    return f"Linear({layer[1]}, {layer[2]})"


def _layers(submission, model) -> list[tuple]:
    return ref.layers_from_parameters(ref.named_parameters(submission, model))


def _check_layers(submission, name):
    _, expected, _ = NETS[name]
    found = _layers(submission, submission.call_keep(name))
    check(found == expected,
          f"{name}'s layers with parameters, in order, are "
          f"{', '.join(_layer_text(l) if len(l) > 1 else l[0] for l in found) or 'none'}; expected "
          f"{', '.join(_layer_text(l) for l in expected)}")


def _check_output_shapes(submission, rng, name, sizes):
    channels = NETS[name][0]
    model = submission.call_keep(name)
    for n in sizes:
        x = torch.randn(n, channels, 32, 32, generator=rng)
        expect_tensor(submission.call(model, x), what=f"{name}()(x) for x of shape {shape_text(x.shape)}",
                      shape=(n, 10), dtype=torch.float32)


def _check_against_reference(submission, rng, name):
    channels, _, shapes = NETS[name]
    ref.seed_student(submission, rng)
    model = submission.call_keep(name)
    params = [value.detach().clone() for _, value in ref.named_parameters(submission, model)]
    found = [tuple(p.shape) for p in params]
    check(found == shapes, f"{name}'s parameters, in order, have shapes "
                           f"{', '.join(shape_text(s) for s in found)}; expected "
                           f"{', '.join(shape_text(s) for s in shapes)} (conv1, conv2, fc1, fc2, fc3)")
    x = torch.randn(ref.randint(rng, 2, 5), channels, 32, 32, generator=rng)
    with torch.no_grad():
        expected = ref.lenet_forward(params, x)
    expect_close(submission.call(model, x), expected, what=f"{name}()(x) for a random batch", atol=1e-4,
                 hint="The forward pass must be: conv1, ReLU, 2x2 max-pool, conv2, ReLU, 2x2 max-pool, flatten, "
                      "fc1, ReLU, fc2, ReLU, fc3 (no ReLU after fc3)")


@pytest.mark.points(1)
@pytest.mark.category("shape")
def test_gray_layers(submission):
    """GrayLeNet has Conv2d(1,6,3), Conv2d(6,16,3), Linear(576,120), Linear(120,84), Linear(84,10)"""
    _check_layers(submission, "GrayLeNet")


@pytest.mark.points(1)
@pytest.mark.category("shape")
def test_flat_features(submission):
    """the first Linear layer takes 576 features (GrayLeNet) and 400 (CifarLeNet)"""
    for name, expected in (("GrayLeNet", 576), ("CifarLeNet", 400)):
        linears = [l for l in _layers(submission, submission.call_keep(name)) if l[0] == "Linear"]
        check(bool(linears), f"{name} has no nn.Linear layer; expected fc1 = nn.Linear({expected}, 120)")
        check(linears[0][1] == expected,
              f"{name}'s first Linear layer takes {linears[0][1]} input features; expected {expected} "
              f"(16 channels x {int((expected // 16) ** 0.5)} x {int((expected // 16) ** 0.5)} after "
              f"two conv + pool stages)")


@pytest.mark.points(1)
@pytest.mark.category("shape")
def test_gray_output_shapes(submission, rng):
    """GrayLeNet maps [N, 1, 32, 32] to [N, 10] for several batch sizes"""
    _check_output_shapes(submission, rng, "GrayLeNet", [1, ref.randint(rng, 2, 4), ref.randint(rng, 5, 9)])


@pytest.mark.points(1)
@pytest.mark.category("gradient")
def test_gray_backward_fills_grads(submission, rng):
    """backward through GrayLeNet gives every one of its parameters a gradient"""
    model = submission.call_keep("GrayLeNet")
    x, grad_output = torch.randn(4, 1, 32, 32, generator=rng), torch.randn(4, 10, generator=rng)
    output = submission.call_keep(model, x)
    submission.backward(output, grad_output)
    named = ref.named_parameters(submission, model)
    check(len(named) == 10, f"GrayLeNet has {len(named)} parameter tensors; expected 10")
    grads = [value.grad for _, value in named]
    missing = [str(i) for i, g in enumerate(grads) if g is None or not bool(g.abs().sum() > 0)]
    check(not missing, f"after out.backward(...), parameters number {', '.join(missing)} (in parameters() "
                       f"order) have no gradient; every layer must be used in forward")
    # The gradients must be those of the student's own forward: its change along a random
    # direction, measured by the grader from outputs at moved weights, matches them.
    # Each parameter moves in proportion to its own size, so ReLU and max-pool switch rarely.
    direction = [torch.randn(g.shape, generator=rng) * (float(v.detach().abs().mean()) + 1e-3)
                 for g, (_, v) in zip(grads, named)]
    expected = sum(float((g.double() * d.double()).sum()) for g, d in zip(grads, direction))
    matches, measured = ref.matches_directional_derivative(submission, model, named, direction, x, grad_output,
                                                           expected)
    check(matches,
          f"after out.backward(grad_output), GrayLeNet's parameter gradients do not match how its "
          f"output changes with its weights (directional derivative {expected:.4g} from the gradients, "
          f"{measured:.4g} measured); let autograd compute them: do not set .grad by hand")


@pytest.mark.points(2)
@pytest.mark.category("value")
def test_gray_matches_reference(submission, rng):
    """GrayLeNet's output equals a functional LeNet run on the same weights"""
    _check_against_reference(submission, rng, "GrayLeNet")


@pytest.mark.points(1)
@pytest.mark.category("shape")
def test_cifar_layers(submission):
    """CifarLeNet has Conv2d(3,6,5), Conv2d(6,16,5), Linear(400,120), Linear(120,84), Linear(84,10)"""
    _check_layers(submission, "CifarLeNet")


@pytest.mark.points(1)
@pytest.mark.category("shape")
def test_cifar_output_shapes(submission, rng):
    """CifarLeNet maps [N, 3, 32, 32] to [N, 10] for several batch sizes"""
    _check_output_shapes(submission, rng, "CifarLeNet", [1, 4, ref.randint(rng, 5, 9)])


@pytest.mark.points(1.5)
@pytest.mark.category("value")
def test_cifar_matches_reference(submission, rng):
    """CifarLeNet's output equals a functional LeNet run on the same weights"""
    _check_against_reference(submission, rng, "CifarLeNet")


@pytest.mark.points(1)
@pytest.mark.category("value")
def test_num_flat_features(submission, rng):
    """num_flat_features multiplies all sizes but the batch size, for 2 to 5 dimensions"""
    for dims in (2, 3, 4, 5):
        shape = ref.random_shape(rng, dims, 1, 6)
        x = torch.zeros(shape)
        expected = x[0].numel()
        what = f"num_flat_features(x) for x of shape {list(shape)}"
        value = expect_number(submission.call("num_flat_features", x), what=what)
        check(value == expected, f"{what} returned {value:g}; expected {expected} "
                                 f"(the product of every size but the first, which is the batch)")


@pytest.mark.points(0.5)
@pytest.mark.category("shape")
def test_add_batch_dim_shapes(submission, rng):
    """add_batch_dim turns [C, H, W] into [1, C, H, W], values unchanged"""
    for _ in range(3):
        sample = torch.randn(ref.random_shape(rng, 3, 1, 6), generator=rng)
        result = expect_tensor(submission.call("add_batch_dim", sample),
                               what=f"add_batch_dim(x) for x of shape {list(sample.shape)}",
                               shape=(1, *sample.shape))
        expect_close(result, sample.unsqueeze(0), what="add_batch_dim(x)")


@pytest.mark.points(1.5)
@pytest.mark.category("gradient")
def test_backprop_random_grad(submission, rng):
    """backprop_random_grad zeroes old gradients, then backpropagates grad_output"""
    sizes = (5, ref.randint(rng, 3, 6), 3)
    net = submission.helper("small_net", ref.new_seed(rng), sizes)
    params = [value.detach().clone() for _, value in ref.named_parameters(submission, net)]
    stale = [torch.randn(p.shape, generator=rng) for p in params]
    submission.helper("set_grads", net, stale)
    before = [value.grad.clone() if value.grad is not None else None
              for _, value in ref.named_parameters(submission, net)]
    if not all(g is not None and torch.equal(g, s) for g, s in zip(before, stale)):
        raise RuntimeError("set_grads did not leave the stale gradients in place")  # the kit's own failure
    n = ref.randint(rng, 1, 4)
    x, grad_output = torch.randn(n, sizes[0], generator=rng), torch.randn(n, sizes[-1], generator=rng)
    submission.call("backprop_random_grad", net, x, grad_output)
    grads = [value.grad for _, value in ref.named_parameters(submission, net)]
    expected = ref.sequential_grads(params, x, grad_output, sizes)
    for i, (g, e) in enumerate(zip(grads, expected)):
        check(g is not None, f"after backprop_random_grad, parameter {i} has no gradient; expected "
                             f"out.backward(grad_output) to fill it")
        expect_close(g, e, what=f"parameter {i}'s gradient after backprop_random_grad(net, x, grad_output)",
                     atol=1e-5, hint="Zero the old gradients first (net.zero_grad()), then "
                                     "net(x).backward(grad_output)")
