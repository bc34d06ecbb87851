"""The grader's own answers: reference computations the hidden tests compare against.

Everything here runs in the grader's process on data fetched from the student's space
(their weights, their recorded batches), so a test compares the student's result with
what the exercise *should* give for exactly those inputs.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from autograder import probes
from autograder.accuracy.measure import CIFAR_SHAPES, lenet_forward  # noqa: F401 (the tests use ref.*)
from autograder.localize import N_
from autograder.submission import device_of


def randint(rng: torch.Generator, low: int, high: int) -> int:
    """A whole number in [low, high] from the test's generator."""
    return int(torch.randint(low, high + 1, (1,), generator=rng))


def pick(rng: torch.Generator, options):
    return options[randint(rng, 0, len(options) - 1)]


def new_seed(rng: torch.Generator) -> int:
    return randint(rng, 0, 2 ** 30)


def seed_student(submission, rng: torch.Generator) -> None:
    """Seed torch in the student's space from the test's generator, so values that come
    from the student's own randomness (and the messages quoting them) repeat exactly
    when the same submission is graded again."""
    submission.helper("seed_everything", new_seed(rng))


def random_shape(rng: torch.Generator, dims: int, low: int = 1, high: int = 7) -> tuple[int, ...]:
    return tuple(randint(rng, low, high) for _ in range(dims))


def randn(rng: torch.Generator, *shape, dtype=torch.float32) -> torch.Tensor:
    return torch.randn(*shape, generator=rng).to(dtype)


# -- 03 autograd ------------------------------------------------------------------------------
def lesson_graph(x: torch.Tensor):
    y = x + 2
    z = y * y * 3
    return y, z, z.mean()


def lesson_gradient(x: torch.Tensor) -> torch.Tensor:
    """d mean(3 (x + 2)^2) / dx = 6 (x + 2) / n; at a 2x2 input that is 1.5 (x + 2)."""
    return 6 * (x + 2) / x.numel()


def vjp(fn, x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """J^T v from the full Jacobian, shaped like x."""
    jacobian = torch.autograd.functional.jacobian(fn, x)
    return (jacobian.reshape(v.numel(), x.numel()).T @ v.reshape(-1)).reshape(x.shape)


def numerical_gradient(scalar_fn, x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Central differences in float64, as torch.autograd.gradcheck computes them."""
    grad = torch.zeros_like(x, dtype=torch.float64)
    flat = x.detach().double().reshape(-1)
    for i in range(flat.numel()):
        up, down = flat.clone(), flat.clone()
        up[i] += eps
        down[i] -= eps
        grad.view(-1)[i] = (scalar_fn(up.reshape(x.shape)) - scalar_fn(down.reshape(x.shape))) / (2 * eps)
    return grad


# -- reading a student's model through the channel -----------------------------------------
def named_parameters(submission, model) -> list[tuple[str, torch.Tensor]]:
    """(name, value) of every parameter, in registration order, as torch's own
    nn.Module.named_parameters lists them (raw values, each with its .grad); never a kit
    helper's summary, which code in the student's process could rewrite."""
    return [(str(name), value) for name, value in submission.named_parameters(model)]


def values_along(submission, model, named, direction, x, grad_output, ts) -> list[float]:
    """<model(x), grad_output> with every parameter at p + t * direction, for each t: the
    request loop writes the moved weights into the student's model (then the original ones
    back), and the grader reads the outputs of the student's own forward."""
    handles = [submission.call_keep(model.get_parameter, name) for name, _ in named]
    originals = [value.detach().clone() for _, value in named]
    values = []
    try:
        for t in ts:
            for handle, p, d in zip(handles, originals, direction):
                submission.write(handle, p + t * d)
            values.append(float((submission.call(model, x).detach().double() * grad_output.double()).sum()))
    finally:
        for handle, p in zip(handles, originals):
            submission.write(handle, p)
    return values


def matches_directional_derivative(submission, model, named, direction, x, grad_output, expected: float,
                                   steps=(1e-3, 1e-4)) -> tuple[bool, float]:
    """(whether `expected`, the derivative the student's gradients give along `direction`,
    is within 5 % + 0.05 of one measured from the forward; the central difference at the
    first step). A ReLU or max-pool that switches within a step bends the difference
    across it: with central differences at 1e-3 alone, about one correct LeNet in 700
    missed (3 of 2000 simulated). So the one-sided differences count too (a switch on one
    side leaves the other exact), and a smaller step is tried before failing (switches on
    both sides); none missed in 7,500 simulated. Gradients that are not the forward's miss
    every one of these measures."""
    reported = at_zero = None
    for step in steps:
        # the value at 0 comes with the first step's: one round of handles and restores
        values = values_along(submission, model, named, direction, x, grad_output,
                              [step, -step] if at_zero is not None else [step, -step, 0.0])
        ahead, behind = values[:2]
        at_zero = values[2] if at_zero is None else at_zero
        central = (ahead - behind) / (2 * step)
        reported = central if reported is None else reported
        for measured in (central, (ahead - at_zero) / step, (at_zero - behind) / step):
            if abs(measured - expected) <= 0.05 * abs(expected) + 0.05:
                return True, measured
    return False, reported


def layers_from_parameters(named: list[tuple[str, torch.Tensor]]) -> list[tuple]:
    """Layers with parameters, in order, from their weights' shapes alone: a 4-d weight
    is a Conv2d (out, in, kh, kw), a 2-d one a Linear (out, in). Only the names' last
    part (weight/bias, set by torch) is used, never the student's attribute names."""
    layers, seen = [], []
    for name, value in named:
        owner, _, leaf = name.rpartition(".")
        if leaf != "weight" or owner in seen:
            continue
        seen.append(owner)
        shape = tuple(value.shape)
        if len(shape) == 4:
            layers.append(("Conv2d", shape[1], shape[0], shape[2:]))
        elif len(shape) == 2:
            layers.append(("Linear", shape[1], shape[0]))
        else:
            layers.append((f"a layer with a {len(shape)}-d weight",))
    return layers


# -- 04 LeNet ---------------------------------------------------------------------------------
GRAY_SHAPES = [(6, 1, 3, 3), (6,), (16, 6, 3, 3), (16,), (120, 576), (120,), (84, 120), (84,), (10, 84), (10,)]
# CIFAR_SHAPES and lenet_forward (both LeNets) are the accuracy check's own copy, imported above.


def sequential_grads(params, x, grad_output, sizes):
    """Gradients of probes.small_net(sizes) with these weights after out.backward(grad_output)."""
    params = [p.detach().clone().requires_grad_(True) for p in params]
    h = x
    layers = len(sizes) - 1
    for i in range(layers):
        h = F.linear(h, params[2 * i], params[2 * i + 1])
        if i < layers - 1:
            h = torch.tanh(h)
    h.backward(grad_output)
    return [p.grad for p in params]


# -- 05 training ------------------------------------------------------------------------------
def classifier_grads(params, inputs, labels):
    """Fresh gradients of probes.RecordingClassifier's cross-entropy at these weights."""
    weight, bias = (p.detach().clone().requires_grad_(True) for p in params)
    loss = F.cross_entropy(F.linear(inputs.flatten(1), weight, bias), labels)
    loss.backward()
    return [weight.grad, bias.grad], float(loss)


def grad_fn_chain(loss: torch.Tensor, steps: int) -> list[str]:
    """What 05's grad_fn_chain docstring asks for: type(node).__name__ of loss.grad_fn, then
    of next_functions[0][0], and so on; the list stops early where the chain ends."""
    names, fn = [], loss.grad_fn
    while fn is not None and len(names) < steps:
        names.append(type(fn).__name__)
        fn = fn.next_functions[0][0] if fn.next_functions else None
    return names


def chain_names(ops, steps, seed) -> list[str]:
    return grad_fn_chain(probes.chain_loss(ops, seed), steps)


def per_class_accuracy(predicted, labels, num_classes):
    out = []
    for c in range(num_classes):
        mask = labels == c
        out.append(float((predicted[mask] == c).float().mean()) if mask.any() else 0.0)
    return out


# -- devices: what a tensor the student's code made is, read without trusting it ------------------
def facts(submission, handle):
    """probes.tensor_facts of a handle: exact type, device, shape, dtype (C accessors)."""
    return submission.fetch(submission.helper("tensor_facts", handle))


_C_DEVICE = torch._C.TensorBase.__dict__["device"].__get__
_PLAIN_TENSOR_TYPES = ("torch.Tensor", "torch.nn.parameter.Parameter")


def meta_through_channel(value) -> bool:
    """Whether a fetched value is a plain tensor on meta. Through the sandbox a tensor
    with values comes back as data (on its real device), a meta tensor as a handle; in
    process the object itself comes back and is read with the C accessor."""
    if isinstance(value, torch.Tensor):
        return type(value) in (torch.Tensor, torch.nn.Parameter) and _C_DEVICE(value).type == "meta" \
            and device_of(value).type == "meta"
    return getattr(value, "remote_type", None) in _PLAIN_TENSOR_TYPES


def fetched_meta(submission, handle) -> bool:
    return meta_through_channel(submission.fetch(handle))


def on(info, device_type):
    """Whether tensor_facts describe a plain tensor on this device type."""
    return bool(info.get("exact")) and str(info.get("device", "")).split(":")[0] == device_type


def what_came_back(info):
    if not info.get("exact"):
        kind = info.get("type")
        return N_(f"a {kind} (not a plain torch.Tensor; its .device is not trusted)")
    device, shape = info["device"], info["shape"]
    return N_(f"a tensor on {device} of shape {shape}")
