"""Kit helpers that run in the student's space (`submission.helper(name, ...)`).

Tests can only pass data into the student's process and get data or handles back, so
whatever must exist *there* comes from here: loaders over grader tensors, small models
with known weights, models/criteria/optimizers that record what the student's code did
to them, test functions for autograd, and describers that turn objects into plain data.

This is kit code, not secret: it is shipped with the self-check and also imported by the
grader, which rebuilds the same objects (same seeds) to compute its reference answers.
Keep it import-light: torch, torchvision, numpy only, and nothing that reads student data
beyond the arguments it is given.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


# -- data and training parts ------------------------------------------------------------
def tensor_loader(inputs, labels=None, batch_size=4, shuffle=False, seed=0):
    """A DataLoader over grader tensors; a shuffled one is reproducible from `seed`."""
    dataset = TensorDataset(inputs) if labels is None else TensorDataset(inputs, labels)
    generator = torch.Generator().manual_seed(int(seed)) if shuffle else None
    return DataLoader(dataset, batch_size=int(batch_size), shuffle=shuffle, generator=generator)


def cross_entropy():
    return nn.CrossEntropyLoss()


def sgd(model, lr, momentum=0.0):
    return torch.optim.SGD(model.parameters(), lr=float(lr), momentum=float(momentum))


def predict_logits(model, images, batch_size=256):
    """The model's logits for `images`, in eval mode and without autograd (CPU tensor)."""
    model.eval()
    device = next(iter(model.parameters())).device
    outputs = []
    with torch.no_grad():
        for start in range(0, len(images), int(batch_size)):
            outputs.append(model(images[start:start + int(batch_size)].to(device)).cpu())
    return torch.cat(outputs) if outputs else torch.empty(0)


def seed_everything(seed):
    """Seed torch's global generators in the student's space, so the student's model is
    initialised the same way for every submission graded with the same seed."""
    torch.manual_seed(int(seed))
    return None


# Layers a grader may ask `sequential_from_spec` for: the channel carries data, not code,
# so a model the grader needs in the student's space is described, never sent.
_SPEC_LAYERS = {"Conv2d": nn.Conv2d, "MaxPool2d": nn.MaxPool2d, "ReLU": nn.ReLU,
                "Flatten": nn.Flatten, "Linear": nn.Linear}


def sequential_from_spec(spec):
    """nn.Sequential from [[layer name, *positional args], ...] (names from _SPEC_LAYERS)."""
    layers = []
    for name, *args in spec:
        if name not in _SPEC_LAYERS:
            raise ValueError(f"sequential_from_spec: unsupported layer {name!r}")
        layers.append(_SPEC_LAYERS[name](*[int(a) for a in args]))
    return nn.Sequential(*layers)


# -- in-place writes from inside the student's space ----------------------------------------
def add_inplace(t, value):
    """`t += value` on the very tensor the student holds (no_grad: t may be a leaf that
    requires grad); used to see whether views/arrays share t's memory."""
    with torch.no_grad():
        t.add_(value)
    return t


def numpy_add_inplace(a, value):
    np.add(a, value, out=a, casting="unsafe")
    return a


# -- describers: objects -> plain data --------------------------------------------------------
def describe_tensor(t):
    """Plain facts about a value, readable for tensors the channel cannot copy (meta)."""
    if not isinstance(t, torch.Tensor):
        return {"is_tensor": False, "type": f"{type(t).__module__}.{type(t).__qualname__}"}
    return {"is_tensor": True, "device": str(t.device), "shape": list(t.shape),
            "dtype": str(t.dtype), "requires_grad": bool(t.requires_grad)}


def describe_module(model):
    """Device/shape/dtype of every parameter and buffer, in registration order."""
    if not isinstance(model, nn.Module):
        return {"is_module": False, "type": f"{type(model).__module__}.{type(model).__qualname__}"}
    return {"is_module": True,
            "parameters": [describe_tensor(p) for p in model.parameters()],
            "buffers": [describe_tensor(b) for b in model.buffers()]}


_LAYER_ATTRIBUTES = ("in_channels", "out_channels", "kernel_size", "stride", "padding",
                     "in_features", "out_features")


def module_summary(model):
    """The model's leaf modules that hold parameters, in order: type name and the sizes
    that define them. No attribute names are used, so nn.Sequential models read the same."""
    layers = []
    for module in model.modules():
        if any(True for _ in module.children()) or not any(True for _ in module.parameters(recurse=False)):
            continue
        entry = {"type": type(module).__name__}
        for attr in _LAYER_ATTRIBUTES:
            if hasattr(module, attr):
                value = getattr(module, attr)
                entry[attr] = tuple(value) if isinstance(value, (tuple, list)) else value
        layers.append(entry)
    return layers


def parameters_of(model):
    return [p.detach().clone() for p in model.parameters()]


def grads_of(model):
    return [None if p.grad is None else p.grad.detach().clone() for p in model.parameters()]


def set_grads(model, grads):
    """Give every parameter a (stale) gradient, as if an earlier backward had run."""
    for p, g in zip(model.parameters(), grads):
        p.grad = g.detach().clone().to(p.device)
    return model


def set_training(model, flag):
    model.train(bool(flag))
    return model


def count_parameters(model):
    return len(list(model.parameters()))


def backward_grads(model, x, grad_output):
    """Every parameter's gradient after model(x).backward(grad_output) from zeroed grads."""
    model.zero_grad()
    model(x).backward(grad_output)
    return grads_of(model)


# -- small models with known weights -----------------------------------------------------------
def seeded_init(model, seed, scale=0.5):
    """Overwrite every parameter from a private generator: same seed, same weights, in
    the student's process and in the grader's."""
    generator = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * scale)
    return model


def small_net(seed, sizes=(5, 4, 3)):
    """Linear/Tanh stack with seeded weights."""
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(nn.Tanh())
    return seeded_init(nn.Sequential(*layers), seed)


def model_with_buffers(seed):
    """Parameters *and* buffers (BatchNorm's running stats): `.to(device)` must move both."""
    return seeded_init(nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3)), seed)


class RecordingClassifier(nn.Module):
    """Flatten + Linear classifier that records, for every forward, the mode, whether
    autograd was on, the input's device, the input and the weights it saw; and for every
    backward the gradients as they stand in `.grad` right after accumulation. From these
    the grader recomputes each step on its own and spots accumulated gradients, a missing
    optimizer.step, the wrong mode or autograd left on."""

    def __init__(self, in_features, num_classes, seed=0):
        super().__init__()
        self.linear = nn.Linear(int(in_features), int(num_classes))
        seeded_init(self, seed)
        self.forwards = []
        self.backwards = {}   # forward index -> {parameter index: grad after accumulation}
        for index, p in enumerate(self.parameters()):
            p.register_post_accumulate_grad_hook(self._grad_recorder(index))

    def _grad_recorder(self, index):
        def record(p):
            step = self.backwards.setdefault(len(self.forwards) - 1, {})
            step[index] = p.grad.detach().cpu().clone()
        return record

    def forward(self, x):
        self.forwards.append({
            "training": self.training, "grad_enabled": torch.is_grad_enabled(),
            "device": str(x.device), "inputs": x.detach().cpu().clone(),
            "params": [p.detach().cpu().clone() for p in self.parameters()]})
        return self.linear(x.flatten(1))


class RecordingCrossEntropy(nn.CrossEntropyLoss):
    """CrossEntropyLoss that records each call's labels, devices and loss value."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def forward(self, input, target):
        loss = super().forward(input, target)
        self.calls.append({"labels": target.detach().cpu().clone(), "label_device": str(target.device),
                           "output_device": str(input.device),
                           "predicted": input.detach().argmax(1).cpu(), "loss": float(loss.detach())})
        return loss


class RecordingSGD(torch.optim.SGD):
    """SGD that counts its step() and zero_grad() calls."""

    def __init__(self, params, lr, momentum=0.0):
        super().__init__(params, lr=float(lr), momentum=float(momentum))
        self.steps = 0
        self.zero_grads = 0

    def step(self, closure=None):
        self.steps += 1
        return super().step(closure)

    def zero_grad(self, set_to_none: bool = True):
        self.zero_grads += 1
        return super().zero_grad(set_to_none=set_to_none)


def recording_classifier(in_features, num_classes, seed=0):
    return RecordingClassifier(in_features, num_classes, seed)


def recording_cross_entropy():
    return RecordingCrossEntropy()


def recording_sgd(model, lr, momentum=0.0):
    return RecordingSGD(model.parameters(), lr, momentum)


def classifier_records(model, criterion=None, optimizer=None):
    """Everything the recording parts saw, as plain data."""
    records = {"forwards": list(model.forwards),
               "backwards": [{"forward": i, "grads": [g[k] for k in sorted(g)]}
                             for i, g in sorted(model.backwards.items())]}
    if criterion is not None:
        records["losses"] = list(criterion.calls)
    if optimizer is not None:
        records["steps"] = optimizer.steps
        records["zero_grads"] = optimizer.zero_grads
    return records


class DeviceRecordingModel(nn.Module):
    """Records the device of every input it is called with. Put on the "meta" device it
    makes device handling observable without a GPU: an input left on the CPU shows up."""

    def __init__(self, in_features, num_classes, seed=0):
        super().__init__()
        self.linear = nn.Linear(int(in_features), int(num_classes))
        seeded_init(self, seed)
        self.input_devices = []

    def forward(self, x):
        self.input_devices.append(str(x.device))
        # Record, don't crash: an input on the wrong device is reported by the test that
        # checks inputs, and the labels' test still gets to see the labels.
        return self.linear(x.to(self.linear.weight.device).flatten(1))


class DeviceRecordingCriterion(nn.Module):
    """Records the devices of outputs and labels. Where real data exists (CPU, CUDA,
    devices matching) it returns the true cross-entropy; on "meta" tensors, which hold
    no values, it returns a CPU stand-in so `.backward()` and `.item()` still work."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def forward(self, outputs, labels):
        self.calls.append({"output_device": str(outputs.device), "label_device": str(labels.device)})
        if outputs.device.type != "meta" and labels.device == outputs.device:
            return nn.functional.cross_entropy(outputs, labels)
        return torch.zeros((), requires_grad=True)


def device_recording_model(in_features, num_classes, seed=0, device="cpu"):
    return DeviceRecordingModel(in_features, num_classes, seed).to(device)


def device_recording_criterion():
    return DeviceRecordingCriterion()


def device_records(model, criterion):
    return {"input_devices": list(model.input_devices), "criterion_calls": list(criterion.calls)}


# -- autograd -------------------------------------------------------------------------------------
def _cubic_mix(x):
    # R^n -> R^(2n+1): a non-square Jacobian with no symmetry, so J v and J^T v differ.
    x = x.flatten()
    return torch.cat([x ** 3, torch.sin(x) * x.sum(), (x[:1] * x[-1:]).exp()])


def _outer_tanh(x):
    x = x.flatten()
    return torch.tanh(torch.outer(x, x[:2] + 1.0)).flatten()


def _double_square(x):
    # Shape-preserving, like the lesson's y = x * 2 example but not linear.
    return x * x * 2


TEST_FUNCTIONS = {"cubic_mix": _cubic_mix, "outer_tanh": _outer_tanh, "double_square": _double_square}


def test_function(name):
    """A non-scalar differentiable function the grader also knows (see TEST_FUNCTIONS)."""
    return TEST_FUNCTIONS[name]


test_function.__test__ = False  # not a pytest test, whatever its name says


def output_gradient(fn, x, index=None):
    """d fn(x)[index] / dx for a scalar output, computed by backward in the student's space."""
    x = x.detach().clone().requires_grad_(True)
    out = fn(x)
    if index is not None:
        out = out[index]
    out.backward()
    return x.grad


_CHAIN_OPS = {
    "sin": torch.sin, "exp": torch.exp, "tanh": torch.tanh, "sigmoid": torch.sigmoid,
    "double": lambda h: h * 2, "shift": lambda h: h + 1, "square": lambda h: h * h,
}
CHAIN_OPS = tuple(_CHAIN_OPS)


def chain_loss(ops, seed=0, reduction="mean"):
    """A scalar built by applying `ops` in order to a leaf, then mean/sum: a graph whose
    grad_fn chain the grader knows from the op list."""
    x = torch.randn(4, generator=torch.Generator().manual_seed(int(seed))).requires_grad_(True)
    h = x
    for op in ops:
        h = _CHAIN_OPS[op](h)
    return h.mean() if reduction == "mean" else h.sum()


def lesson_mse_loss(seed=0, sizes=(6, 5, 4)):
    """The lesson's loss: MSE between a small net's [1, K] output and a target."""
    net = small_net(seed, sizes)
    generator = torch.Generator().manual_seed(int(seed) + 1)
    output = net(torch.randn(1, sizes[0], generator=generator))
    target = torch.randn(1, sizes[-1], generator=generator)
    return nn.MSELoss()(output, target)


# -- devices ---------------------------------------------------------------------------------------
def to_device(t, device):
    """A copy of grader data placed on a device of the student's process (e.g. CUDA)."""
    return t.to(device)


# -- images ----------------------------------------------------------------------------------------
def random_image_array(seed, height, width):
    generator = np.random.default_rng(int(seed))
    return generator.integers(0, 256, size=(int(height), int(width), 3), dtype=np.uint8)


def random_pil_image(seed, height, width):
    from PIL import Image  # torchvision's dependency; imported only when needed
    return Image.fromarray(random_image_array(seed, height, width))


def apply(fn, *args, **kwargs):
    """fn(*args) in the student's space, the result kept there (e.g. a transform)."""
    return fn(*args, **kwargs)


__all__ = [name for name in dir() if not name.startswith("_") and name not in ("np", "torch", "nn")]


# == 05_training / 06_cuda: probes whose evidence the grader can check =======================
# (issue 10, part B). Tests of the training loop and of device handling read what these
# leave behind through facts the grader decides: parameters and gradients it recomputes,
# returned losses it recomputes, and tensor facts read with accessors captured here at
# import, before any student code runs (Tensor.device and friends are Python-level
# attributes a student can replace or a subclass can override; the C descriptors are not).
_exact_type = type
_TENSOR_TYPES = (torch.Tensor, nn.Parameter)
_C_DEVICE = torch._C.TensorBase.__dict__["device"].__get__
_C_SHAPE = torch._C.TensorBase.__dict__["shape"].__get__
_C_DTYPE = torch._C.TensorBase.__dict__["dtype"].__get__
_MODULE_DICT = object.__getattribute__


class ModeScaledClassifier(nn.Module):
    """Flatten + Linear whose scores are multiplied by a grader-chosen factor that
    depends on the mode (train/eval) and on whether autograd is on. The factor is visible
    in everything downstream (the loss, its gradients, the parameters after a step), so
    the grader, replaying a loop on its own copy, sees which mode each forward ran in
    without asking this object. `scales`: [train+grad, train+no_grad, eval+grad, eval+no_grad]."""

    def __init__(self, in_features, num_classes, scales):
        super().__init__()
        self.linear = nn.Linear(int(in_features), int(num_classes))
        self.scales = [float(s) for s in scales]

    def scale(self):
        return self.scales[(0 if self.training else 2) + (0 if torch.is_grad_enabled() else 1)]

    def forward(self, x):
        return self.linear(x.flatten(1)) * self.scale()


def mode_scaled_classifier(in_features, num_classes, scales):
    return ModeScaledClassifier(in_features, num_classes, scales)


def load_parameters(model, values):
    """Write grader-chosen values into the model's parameters (in parameters() order)."""
    params = list(model.parameters())
    if len(params) != len(values):
        raise ValueError(f"load_parameters: {len(values)} values for {len(params)} parameters")
    with torch.no_grad():
        for p, v in zip(params, values):
            p.copy_(v)
    return model


def tensor_facts(value):
    """Exact type, device, shape and dtype of a value, read with the C accessors captured
    at import: a tensor subclass, or a patched torch.Tensor.device, cannot change them.
    `exact` is False for anything that is not a plain torch.Tensor / nn.Parameter."""
    kind = _exact_type(value)
    if kind not in _TENSOR_TYPES:
        return {"exact": False, "type": f"{kind.__module__}.{kind.__qualname__}"}
    return {"exact": True, "type": f"{kind.__module__}.{kind.__qualname__}",
            "device": str(_C_DEVICE(value)), "shape": list(_C_SHAPE(value)),
            "dtype": str(_C_DTYPE(value)).rsplit(".", 1)[-1]}


def module_tensor_facts(model):
    """tensor_facts of every parameter and buffer, walking the modules' own tables
    (`_modules`, `_parameters`, `_buffers`) rather than methods a subclass may override."""
    facts = {"parameters": [], "buffers": []}
    pending = [model]
    while pending:
        module = pending.pop(0)
        if not isinstance(module, nn.Module):
            return {"module": False, "type": f"{_exact_type(module).__qualname__}"}
        for table, key in (("_parameters", "parameters"), ("_buffers", "buffers")):
            for value in _MODULE_DICT(module, table).values():
                if value is not None:
                    facts[key].append(tensor_facts(value))
        pending.extend(m for m in _MODULE_DICT(module, "_modules").values() if m is not None)
    facts["module"] = True
    return facts


class DeviceCheckingModel(nn.Module):
    """Linear classifier that keeps every input it is called with, the tensor itself, in
    `seen_inputs`: the grader fetches them through the channel, whose encoder reads the
    device with torch's C accessors (a meta tensor comes back as a handle, anything with
    values as data on its real device). It does not crash on a wrong device, so the
    labels' test still sees the labels when the inputs were left behind."""

    def __init__(self, in_features, num_classes, seed=0):
        super().__init__()
        self.linear = nn.Linear(int(in_features), int(num_classes))
        seeded_init(self, seed)
        self.seen_inputs = []

    def forward(self, x):
        self.seen_inputs.append(x)
        weight = _MODULE_DICT(self.linear, "_parameters")["weight"]
        if _exact_type(x) in _TENSOR_TYPES and _C_DEVICE(x) != _C_DEVICE(weight):
            x = x.to(_C_DEVICE(weight))
        return self.linear(x.flatten(1))


class DeviceCheckingCriterion(nn.Module):
    """Cross-entropy that keeps every labels tensor it is called with in `seen_labels`
    (fetched like DeviceCheckingModel's inputs); on "meta" (no values) it returns a CPU
    stand-in so .backward() and .item() still work."""

    def __init__(self):
        super().__init__()
        self.seen_labels = []

    def forward(self, outputs, labels):
        self.seen_labels.append(labels)
        plain = _exact_type(outputs) in _TENSOR_TYPES and _exact_type(labels) in _TENSOR_TYPES
        if plain and _C_DEVICE(outputs) == _C_DEVICE(labels) and _C_DEVICE(outputs).type != "meta":
            return nn.functional.cross_entropy(outputs, labels)
        return torch.zeros((), requires_grad=True)


def device_checking_model(in_features, num_classes, seed=0, device="cpu"):
    return DeviceCheckingModel(in_features, num_classes, seed).to(device)


def device_checking_criterion():
    return DeviceCheckingCriterion()


__all__ = [name for name in dir() if not name.startswith("_") and name not in ("np", "torch", "nn")]
