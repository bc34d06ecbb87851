"""Hidden tests of 06_cuda. Without a GPU, device handling is still observable: the
"meta" device (tensors with a shape and no data) shows whether a device argument is
honoured and whether a training step moves inputs and labels to the model's device, and
device selection is checked with torch.cuda.is_available patched in the student's space.
Tests marked `cuda` repeat the checks on a real GPU (course.yaml devices.without_gpu
decides what a CPU-only runner does with them).

What the verdicts rest on (docs/SECURITY.md): a meta tensor holds no values, so on a CPU
runner "on meta" is read through the channel: the grader fetches the tensor itself, and
the sandbox's encoder, reading the device with torch's C accessors, sends anything with
values back as data on its real device and only a meta tensor as a handle; shapes and
exact types come from probes.tensor_facts (accessors captured before the student's code
loads). On a GPU the checks rest on values: a batch left on the CPU makes the step
raise, and the parameters the grader fetches must equal its own SGD steps."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from autograder import probes
from autograder.expect import check, describe, expect_close, expect_number, expect_tensor
from autograder.submission import device_of
from autograder.tests_hidden import _reference as ref

FEATURES = 12


def _as_device(value, what):
    check(isinstance(value, torch.device),
          f"{what} returned {describe(value)}; expected a torch.device (torch.device('cuda:0') or "
          f"torch.device('cpu'))")
    return value


def _random_x(rng, dtype=torch.float32):
    return (torch.randn(ref.random_shape(rng, ref.randint(rng, 1, 3), 1, 5), generator=rng) * 5).to(dtype)


@pytest.mark.points(1.5)
@pytest.mark.category("device")
def test_pick_device_follows_cuda_available(submission):
    """pick_device follows torch.cuda.is_available() (no hard-coded "cuda" or "cpu")"""
    for available, expected in ((True, "cuda"), (False, "cpu")):
        what = f"pick_device() when torch.cuda.is_available() is {available}"
        # a fresh copy of the submission whose torch gives that answer from the start: the
        # condition is set by the grader, not by kit code the student's process could replace
        with submission.cuda_available_as(available) as copy:
            device = _as_device(copy.call("pick_device"), what)
        check(device.type == expected and device.index in (None, 0),
              f"{what} returned {device}; expected {expected}{':0' if expected == 'cuda' else ''} "
              f"(decide inside pick_device, each time it is called)")


@pytest.mark.points(1)
@pytest.mark.category("value")
def test_ones_on_values(submission, rng):
    """ones_on gives ones with x's shape and dtype"""
    for dtype in (torch.float32, torch.int64, torch.float64):
        x = _random_x(rng, dtype)
        what = f"ones_on(x, 'cpu') for a {dtype} x of shape {list(x.shape)}"
        result = expect_tensor(submission.call("ones_on", x, "cpu"), what=what, shape=x.shape, dtype=dtype)
        check(bool((result == 1).all()), f"{what} returned values other than 1")


@pytest.mark.points(1.5)
@pytest.mark.category("device")
def test_ones_on_device(submission, rng):
    """ones_on creates the tensor directly on the device it is given"""
    for device in ("meta", torch.device("meta")):
        x = _random_x(rng)
        kept = submission.call_keep("ones_on", x, device)
        info = ref.facts(submission, kept)
        check(ref.fetched_meta(submission, kept) and ref.on(info, "meta") and info["shape"] == list(x.shape),
              f"ones_on(x, {device!r}) gave {ref.what_came_back(info)}; expected a tensor on meta of shape "
              f"{list(x.shape)}: torch.ones_like(x, device=device)")


@pytest.mark.points(1)
@pytest.mark.category("value")
def test_add_on_device_values(submission, rng):
    """add_on_device gives x + 1"""
    for _ in range(2):
        x = _random_x(rng)
        expect_close(submission.call("add_on_device", x, "cpu"), x + 1, what=f"add_on_device(x, 'cpu')")


@pytest.mark.points(1.5)
@pytest.mark.category("device")
def test_add_on_device_device(submission, rng):
    """add_on_device computes on the device it is given"""
    x = _random_x(rng)
    kept = submission.call_keep("add_on_device", x, "meta")
    info = ref.facts(submission, kept)
    check(ref.fetched_meta(submission, kept) and ref.on(info, "meta"), f"add_on_device(x, 'meta') gave {ref.what_came_back(info)}; expected a tensor on meta: "
                             f"move x with x.to(device) and create the ones on device")


@pytest.mark.points(1)
@pytest.mark.category("behaviour")
def test_add_on_device_leaves_x_alone(submission, rng):
    """add_on_device leaves the caller's x unchanged"""
    for device in ("cpu", "meta"):
        original = _random_x(rng)
        x = submission.keep(original)
        submission.call_keep("add_on_device", x, device)
        expect_close(submission.fetch(x), original, what=f"the caller's x after add_on_device(x, {device!r})",
                     atol=0.0, rtol=0.0,
                     hint="x.add_(1) changes the caller's tensor (and x.to(device) is x itself when x is "
                          "already there); return a new tensor: x.to(device) + 1")


@pytest.mark.points(1.5)
@pytest.mark.category("value")
def test_to_cpu_double_values(submission, rng):
    """to_cpu_double gives float64 values on the CPU for float32, float16 and int64 input"""
    for dtype in (torch.float32, torch.float16, torch.int64):
        z = _random_x(rng, dtype)
        what = f"to_cpu_double(z) for a {dtype} z"
        result = expect_tensor(submission.call("to_cpu_double", z), what=what, shape=z.shape, dtype=torch.float64)
        check(device_of(result).type == "cpu", f"{what} returned a tensor on {device_of(result)}; expected cpu")
        expect_close(result, z.double(), what=what, atol=0)


@pytest.mark.points(2)
@pytest.mark.category("device")
def test_move_model_moves_everything(submission, rng):
    """move_model moves every parameter and buffer to the device and returns the model"""
    model = submission.helper("model_with_buffers", ref.new_seed(rng))
    moved = submission.call_keep("move_model", model, "meta")
    check(submission.same_object(moved, model),
          f"move_model(model, 'meta') returned {describe(moved)}; expected the model itself (model.to(device) "
          f"moves it in place and returns it)")
    info = submission.fetch(submission.helper("module_tensor_facts", model))
    for kind, count in (("parameters", 4), ("buffers", 3)):  # Linear(4, 3) + BatchNorm1d(3)
        fetched = list(submission.call(getattr(model, kind)))
        left = sorted({"a tensor subclass" if not t.get("exact") else t["device"]
                       for t in info[kind] if not ref.on(t, "meta")})
        if not left and (len(fetched) != count or not all(ref.meta_through_channel(v) for v in fetched)):
            left = ["a device other than meta (the tensors came back with values)"]
        check(not left, f"after move_model(model, 'meta'), some {kind} are still on {', '.join(left)}; "
                        f"model.to(device) moves parameters and buffers together")


def _meta_step(submission, rng, calls=2):
    """Two steps with the model on meta; returns what the model and the loss were called
    with, fetched through the channel (handles for meta tensors, data for anything else)."""
    model = submission.helper("device_checking_model", FEATURES, 3, ref.new_seed(rng), "meta")
    criterion = submission.helper("device_checking_criterion")
    optimizer = submission.helper("sgd", model, 0.1)
    for _ in range(calls):
        n = ref.randint(rng, 2, 5)
        batch = (torch.randn(n, FEATURES, generator=rng), torch.randint(0, 3, (n,), generator=rng))
        submission.call("train_step_on_device", model, batch, criterion, optimizer)
    return list(model.seen_inputs), list(criterion.seen_labels), calls


def _where(value) -> str:
    if isinstance(value, torch.Tensor):
        return f"{device_of(value)}" if type(value) is torch.Tensor else f"a {type(value).__name__}"
    return f"a {getattr(value, 'remote_type', type(value).__name__)}"


@pytest.mark.points(1)
@pytest.mark.category("device")
def test_train_step_moves_inputs(submission, rng):
    """train_step_on_device sends the inputs to the model's device every step"""
    inputs, _, calls = _meta_step(submission, rng)
    check(len(inputs) == calls, f"train_step_on_device(...) called the model {len(inputs)} times in {calls} steps")
    left = sorted({_where(v) for v in inputs if not ref.meta_through_channel(v)})
    check(not left, f"with the model on device 'meta', train_step_on_device passed inputs on {', '.join(left)} "
                    f"to it; expected the model's device: device = next(model.parameters()).device; "
                    f"inputs = inputs.to(device)")


@pytest.mark.points(1)
@pytest.mark.category("device")
def test_train_step_moves_labels(submission, rng):
    """train_step_on_device sends the labels to the model's device every step"""
    _, labels, calls = _meta_step(submission, rng)
    check(len(labels) == calls, f"train_step_on_device(...) called the criterion {len(labels)} times in {calls} steps")
    left = sorted({_where(v) for v in labels if not ref.meta_through_channel(v)})
    check(not left, f"with the model on device 'meta', train_step_on_device passed labels on {', '.join(left)} "
                    f"to the loss; expected the model's device: labels = labels.to(device)")


@pytest.mark.points(1.5)
@pytest.mark.category("value")
def test_train_step_updates(submission, rng):
    """train_step_on_device returns the loss and applies one clean SGD step"""
    sizes, seed, lr = (FEATURES, ref.randint(rng, 4, 8), 3), ref.new_seed(rng), 0.2
    net = submission.helper("small_net", seed, sizes)
    submission.helper("set_grads", net, [torch.randn(p.shape, generator=rng)
                                         for p in probes.small_net(seed, sizes).parameters()])
    n = ref.randint(rng, 2, 6)
    batch = (torch.randn(n, FEATURES, generator=rng), torch.randint(0, 3, (n,), generator=rng))
    result = submission.call("train_step_on_device", net, batch, submission.helper("cross_entropy"),
                             submission.helper("sgd", net, lr))
    mine = probes.small_net(seed, sizes)
    loss = F.cross_entropy(mine(batch[0]), batch[1])
    loss.backward()
    value = expect_number(result, what="train_step_on_device(...)")
    check(abs(value - float(loss)) < 1e-4, f"train_step_on_device(...) returned {value:.5f}; expected the "
                                           f"batch's loss {float(loss):.5f} as a float")
    after = submission.fetch(submission.helper("parameters_of", net))
    for i, (p, mine_p) in enumerate(zip(after, mine.parameters())):
        expect_close(p, mine_p.detach() - lr * mine_p.grad, what=f"parameter {i} after train_step_on_device",
                     atol=1e-5, hint="zero_grad, forward, loss, backward, then optimizer.step()")


# -- on a real GPU --------------------------------------------------------------------------------
def _need_cuda():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device on this runner")


@pytest.mark.points(1)
@pytest.mark.category("device")
@pytest.mark.cuda
def test_cuda_move_model(submission, rng):
    """on a GPU, move_model puts every parameter and buffer on cuda"""
    _need_cuda()
    model = submission.helper("model_with_buffers", ref.new_seed(rng))
    moved = submission.call_keep("move_model", model, "cuda")
    check(submission.same_object(moved, model), f"move_model(model, 'cuda') returned {describe(moved)}; "
                                                f"expected the model itself")
    info = submission.fetch(submission.helper("module_tensor_facts", model))
    for kind in ("parameters", "buffers"):
        left = sorted({"a tensor subclass" if not t.get("exact") else t["device"]
                       for t in info[kind] if not ref.on(t, "cuda")})
        check(not left, f"after move_model(model, 'cuda'), some {kind} are on {', '.join(left)}; expected cuda")


@pytest.mark.points(1.5)
@pytest.mark.category("device")
@pytest.mark.cuda
def test_cuda_train_step(submission, rng):
    """on a GPU, train_step_on_device moves inputs and labels to cuda every step"""
    _need_cuda()
    # Values, not records: with the model on the GPU a batch left on the CPU makes the
    # forward or the loss raise, and the parameters fetched after two steps must be the
    # grader's own two SGD steps.
    sizes, seed, lr = (FEATURES, ref.randint(rng, 4, 8), 3), ref.new_seed(rng), 0.2
    net = submission.helper("small_net", seed, sizes)
    submission.helper("to_device", net, "cuda")
    optimizer = submission.helper("sgd", net, lr)
    mine = probes.small_net(seed, sizes)
    mine_optimizer = torch.optim.SGD(mine.parameters(), lr=lr)
    for _ in range(2):
        batch = (torch.randn(4, FEATURES, generator=rng), torch.randint(0, 3, (4,), generator=rng))
        expect_number(submission.call("train_step_on_device", net, batch, submission.helper("cross_entropy"),
                                      optimizer), what="train_step_on_device(...) on a GPU")
        mine_optimizer.zero_grad()
        F.cross_entropy(mine(batch[0]), batch[1]).backward()
        mine_optimizer.step()
    after = submission.fetch(submission.helper("parameters_of", net))
    for i, (p, want) in enumerate(zip(after, mine.parameters())):
        expect_close(p, want.detach(), what=f"parameter {i} after two train_step_on_device steps on a GPU",
                     atol=1e-4, hint="Move inputs and labels to the model's device, then zero_grad, forward, "
                                     "loss, backward, optimizer.step()")


@pytest.mark.points(1)
@pytest.mark.category("device")
@pytest.mark.cuda
def test_cuda_tensors(submission, rng):
    """on a GPU, pick_device gives cuda:0 and ones_on / add_on_device create cuda tensors"""
    _need_cuda()
    device = _as_device(submission.call("pick_device"), "pick_device()")
    check(device.type == "cuda", f"pick_device() returned {device} on a machine with a GPU; expected cuda:0")
    x = _random_x(rng)
    info = ref.facts(submission, submission.call_keep("ones_on", x, "cuda"))
    check(ref.on(info, "cuda"), f"ones_on(x, 'cuda') gave {ref.what_came_back(info)}")
    kept = submission.call_keep("add_on_device", x, "cuda")
    info = ref.facts(submission, kept)
    check(ref.on(info, "cuda"), f"add_on_device(x, 'cuda') gave {ref.what_came_back(info)}")
    expect_close(submission.fetch(kept), x + 1, what="add_on_device(x, 'cuda')")


@pytest.mark.points(1)
@pytest.mark.category("device")
@pytest.mark.cuda
def test_cuda_to_cpu_double(submission, rng):
    """on a GPU, to_cpu_double brings a cuda tensor back to the CPU as float64"""
    _need_cuda()
    z = _random_x(rng)
    kept = submission.call_keep("to_cpu_double", submission.helper("to_device", z, "cuda"))
    info = ref.facts(submission, kept)
    check(ref.on(info, "cpu") and info["dtype"] == "float64",
          f"to_cpu_double(z) for z on cuda gave {ref.what_came_back(info)} ({info.get('dtype')}); expected a float64 "
          f"tensor on cpu: z.to('cpu', torch.double)")
    result = expect_tensor(submission.fetch(kept), what="to_cpu_double(z) for z on cuda", shape=z.shape,
                           dtype=torch.float64)
    expect_close(result, z.double(), what="to_cpu_double(z) for z on cuda", atol=1e-6)
