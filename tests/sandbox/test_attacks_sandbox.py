"""Attacks on assignments 01-04 and on the sandbox's own code, graded through the real
sandbox: each earns nothing on the tests it targets, and where it modified the kit's code
in the student's process the report carries the "tamper" flag (docs/SECURITY.md).

Each attack is what an attacker who knows the kit's design would write: it reaches the
kit's objects the way ordinary Python allows (the package is not importable while
grading, so through `gc`) and replaces what used to decide a score in the sandbox: the
module summary, the backward-gradient helper, the in-place writers, the output-gradient
helper, the wire encoder, the request loop.
"""
from __future__ import annotations

import os
import textwrap

import pytest


from submissions import sources

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the sandbox needs os.fork")

# How an attack finds kit objects without importing the kit.
FIND_KIT = '''
import gc as _gc
import types as _types

# The template freezes what it imported (gc.freeze), which hides it from get_objects();
# an attacker who scans the heap for kit objects unfreezes it first.
_gc.unfreeze()

def _kit_function(name):
    for o in _gc.get_objects():
        if isinstance(o, _types.FunctionType) and o.__name__ == name and \\
                str(getattr(o, "__module__", "")).startswith("autograder"):
            return o
    raise LookupError(name)

def _kit_class(name, module):
    for o in _gc.get_objects():
        if isinstance(o, type) and o.__name__ == name and o.__module__ == module:
            return o
    raise LookupError(name)
'''


def attack(assignment: str, code: str):
    """Grade the reference solution with `code` appended (its redefinitions win) in the
    sandbox; returns the assignment's result."""
    from autograder.grading import grade_source
    source = sources.reference_source(assignment) + "\n" + FIND_KIT + "\n" + textwrap.dedent(code)
    return grade_source(assignment, source, backend="sandbox")


def scores(result) -> dict[str, float]:
    return {t.id: t.score for t in result.tests}


def assert_zero_and_flagged(result, targets: set[str]) -> None:
    by_id = {t.id: t for t in result.tests}
    assert targets <= set(by_id), targets - set(by_id)
    earned = {i: by_id[i].score for i in targets if by_id[i].score}
    assert not earned, earned
    assert result.flags == ["tamper"]
    for i in targets:
        assert by_id[i].flags == ["tamper"] and by_id[i].status == "failed", (i, by_id[i].status, by_id[i].flags)
        assert "modified the grader's code" in by_id[i].message, by_id[i].message


# -- 04: a network that does not exist, helpers that say it does -------------------------
NO_LENET = '''
class GrayLeNet(nn.Module):
    def forward(self, x):
        return torch.zeros(x.shape[0], 10)

class CifarLeNet(GrayLeNet):
    pass
'''

LENET_TARGETS = {"lenet::gray_layers", "lenet::flat_features", "lenet::cifar_layers",
                 "lenet::gray_backward_fills_grads"}


def test_fake_module_summary_and_backward_grads_earn_nothing():
    result = attack("04_lenet", NO_LENET + '''
def _summary(model):
    convs = (1, 6, 3) if type(model).__name__ == "GrayLeNet" else (3, 6, 5)
    flat = 576 if convs[0] == 1 else 400
    return [{"type": "Conv2d", "in_channels": convs[0], "out_channels": 6, "kernel_size": (convs[2], convs[2])},
            {"type": "Conv2d", "in_channels": 6, "out_channels": 16, "kernel_size": (convs[2], convs[2])},
            {"type": "Linear", "in_features": flat, "out_features": 120},
            {"type": "Linear", "in_features": 120, "out_features": 84},
            {"type": "Linear", "in_features": 84, "out_features": 10}]

def _grads(model, x, grad_output):
    return [torch.ones(3) for _ in range(10)]

_kit_function("module_summary").__code__ = _summary.__code__
_kit_function("backward_grads").__code__ = _grads.__code__
''')
    assert_zero_and_flagged(result, LENET_TARGETS)


def test_importing_the_kit_is_refused_while_grading():
    """The plain route (import autograder.probes and rebind its names) stops at the
    import; the network that does not exist then earns nothing on its own."""
    result = attack("04_lenet", NO_LENET + '''
import autograder.probes as _probes
_probes.module_summary = lambda model: []
''')
    assert any("cannot be imported" in e.message for e in result.load_errors), result.load_errors
    assert not result.flags
    assert not any(scores(result)[i] for i in LENET_TARGETS), scores(result)


def test_model_describing_parameters_it_lacks_earns_nothing():
    """No kit code is touched: the model's own named_parameters()/parameters() describe
    LeNet's layers, but it registers none; the grader lists parameters with torch's own
    nn.Module.named_parameters."""
    result = attack("04_lenet", NO_LENET + '''
_SHAPES = {"GrayLeNet": [(6, 1, 3, 3), (6,), (16, 6, 3, 3), (16,), (120, 576), (120,), (84, 120), (84,), (10, 84), (10,)],
           "CifarLeNet": [(6, 3, 5, 5), (6,), (16, 6, 5, 5), (16,), (120, 400), (120,), (84, 120), (84,), (10, 84), (10,)]}

def _named_parameters(self, *args, **kwargs):
    names = ["conv1", "conv2", "fc1", "fc2", "fc3"]
    for i, shape in enumerate(_SHAPES[type(self).__name__]):
        yield f"{names[i // 2]}.{'weight' if i % 2 == 0 else 'bias'}", nn.Parameter(torch.zeros(shape))

def _parameters(self, *args, **kwargs):
    for _, p in _named_parameters(self):
        yield p

GrayLeNet.named_parameters = _named_parameters
GrayLeNet.parameters = _parameters
''')
    assert not any(scores(result)[i] for i in LENET_TARGETS), scores(result)
    assert not result.flags


# -- 02: conversions that copy, in-place writers that pretend they share -------------------
def test_fake_inplace_writers_earn_nothing():
    result = attack("02_numpy_bridge", '''
_copies = {}

def tensor_to_numpy(t):
    out = np.array(t)
    _copies.setdefault("arrays", []).append(out)
    return out

def numpy_to_tensor(a):
    out = torch.tensor(a)
    _copies.setdefault("tensors", []).append(out)
    return out

def _add(t, value):
    for other in _copies.get("arrays", []) + _copies.get("tensors", []):
        other += value
    t += value
    return t

_kit_function("add_inplace").__code__ = _add.__code__
_kit_function("numpy_add_inplace").__code__ = _add.__code__
''')
    assert_zero_and_flagged(result, {"numpy_bridge::tensor_to_numpy_shares_memory",
                                     "numpy_bridge::numpy_to_tensor_shares_memory"})


# -- 03: a wrong function, a gradient helper and an encoder that vouch for it --------------
def test_fake_output_gradient_earns_nothing():
    result = attack("03_autograd", '''
def lesson_graph(x):
    y = x + 2
    z = y * 3
    out = z.mean()
    return y, z, out

def _gradient(fn, x, index=None):
    return 6 * (x + 2) / x.numel()

_kit_function("output_gradient").__code__ = _gradient.__code__
''')
    assert_zero_and_flagged(result, {"autograd::lesson_graph_gradcheck", "autograd::lesson_graph_values"})


def test_encoder_claiming_a_grad_fn_earns_nothing():
    result = attack("03_autograd", '''
def lesson_graph(x):
    x = x.detach()
    y = x + 2
    z = y * y * 3
    return y, z, z.mean()

_Encoder = _kit_class("Encoder", "autograder.sandbox.wire")
_real_tensor = _Encoder._tensor

def _claims_grad_fn(self, t, depth):
    node = _real_tensor(self, t, depth)
    if isinstance(node, dict) and node.get("$") == "tensor" and node["dtype"].startswith("float"):
        node["requires_grad"], node["grad_fn"], node["is_leaf"] = True, node["grad_fn"] or "MulBackward0", False
    return node

_Encoder._tensor = _claims_grad_fn
''')
    assert_zero_and_flagged(result, {"autograd::lesson_graph_grad_fns", "autograd::lesson_graph_gradcheck"})


def test_tensor_subclass_claiming_a_grad_fn_earns_nothing():
    """No kit code is touched (so no flag): the tensors themselves lie about being
    tracked, and the encoder reads torch's own fields instead of their properties."""
    result = attack("03_autograd", '''
class _Tracked(torch.Tensor):
    @property
    def grad_fn(self):
        return torch.ones(1, requires_grad=True).mul(2).grad_fn

    @property
    def requires_grad(self):
        return True

    @property
    def is_leaf(self):
        return False

def lesson_graph(x):
    x = x.detach()
    y = x + 2
    z = y * y * 3
    return tuple(t.as_subclass(_Tracked) for t in (y, z, z.mean()))
''')
    assert scores(result)["autograd::lesson_graph_grad_fns"] == 0, result.tests
    assert not result.flags


# -- the request loop itself ---------------------------------------------------------------
def test_patched_request_loop_earns_nothing():
    """add_out that writes nothing, with the loop's identity and fetch answers forged."""
    result = attack("01_tensors", '''
def add_out(x, y, out):
    return x + y

_Server = _kit_class("Server", "autograder.sandbox.child")

def _same(self, req, buffers):
    return True

_Server.op_same = _same
''')
    assert_zero_and_flagged(result, {"tensors::add_out_writes_into_out"})


# -- the tripwire itself, in process -------------------------------------------------------
KIT_UNDER_TEST = textwrap.dedent('''
    REGISTRY = {"double": lambda x: 2 * x}
    def outer():
        factor = 3
        def inner(x):
            return x * factor
        return inner
    inner = outer()
    def helper(x, scale=1):
        return x * scale
    class Loop:
        def answer(self):
            return 42
''')


def test_snapshot_sees_each_kind_of_change_and_nothing_else():
    import types

    from autograder.sandbox.integrity import Snapshot

    module = types.ModuleType("kit_under_test")
    exec(KIT_UNDER_TEST, vars(module))
    snapshot = Snapshot()
    snapshot.add_module("kit", module)
    assert snapshot.changed() == []
    module.SOMETHING_NEW = 1  # a module gaining a global (a submodule import does that) is fine
    assert snapshot.changed() == []

    def replaced(x, scale=1):
        return x
    changes = [
        ("kit.helper", lambda: setattr(module.helper, "__code__", replaced.__code__)),
        ("kit.helper", lambda: setattr(module.helper, "__defaults__", (0,))),
        ("kit.Loop.answer", lambda: setattr(module.Loop, "answer", lambda self: 0)),
        ("kit.Loop", lambda: setattr(module.Loop, "extra", 1)),
        ("kit.REGISTRY.double", lambda: module.REGISTRY.__setitem__("double", abs)),
        ("kit.helper", lambda: setattr(module, "helper", abs)),
    ]
    for label, change in changes:
        fresh = Snapshot()
        fresh.add_module("kit", module)
        change()
        assert label in fresh.changed(), (label, fresh.changed())


def test_snapshot_keeps_seeing_changes_after_many_clean_checks():
    """changed() answers 'nothing moved' from identities it verified before (it runs
    after every reply); a change after any number of clean checks, after a module
    gained a global, and one put back afterwards are all still judged against the
    record."""
    import types

    from autograder.sandbox.integrity import Snapshot

    def build():
        module = types.ModuleType("kit_under_test")
        exec(KIT_UNDER_TEST, vars(module))
        snapshot = Snapshot()
        snapshot.add_module("kit", module)
        for _ in range(3):
            assert snapshot.changed() == []
        return module, snapshot

    def replaced(x, scale=1):
        return x
    changes = [
        ("kit.helper", lambda m: setattr(m.helper, "__code__", replaced.__code__)),
        ("kit.helper", lambda m: setattr(m.helper, "__kwdefaults__", {"extra": 1})),
        ("kit.inner", lambda m: setattr(m.inner.__closure__[0], "cell_contents", 0)),
        ("kit.inner", lambda m: delattr(m.inner.__closure__[0], "cell_contents")),
        ("kit.Loop.answer", lambda m: setattr(m.Loop, "answer", lambda self: 0)),
        ("kit.Loop", lambda m: setattr(m.Loop, "extra", 1)),
        ("kit.REGISTRY.double", lambda m: m.REGISTRY.__setitem__("double", abs)),
        ("kit.REGISTRY", lambda m: m.REGISTRY.__setitem__("triple", abs)),
        # renamed: the same values in the same order, under another key
        ("kit.REGISTRY.double", lambda m: m.REGISTRY.__setitem__("triple", m.REGISTRY.pop("double"))),
        ("kit.helper", lambda m: setattr(m, "helper", abs)),
        # an object that claims to equal everything is still another object
        ("kit.helper", lambda m: setattr(m, "helper", type("Equal", (), {"__eq__": lambda s, o: True,
                                                                         "__hash__": lambda s: 0})())),
    ]
    for label, change in changes:
        module, snapshot = build()
        module.SOMETHING_NEW = 1  # allowed: the next check verifies it and starts from there
        assert snapshot.changed() == [] and snapshot.changed() == []
        change(module)
        assert label in snapshot.changed(), label
        assert label in snapshot.changed(), label  # and on every later reply
    module, snapshot = build()
    original = module.helper
    module.helper = abs
    assert snapshot.changed() == ["kit.helper"]
    module.helper = original  # put back: the record decides, so the kit is whole again
    assert snapshot.changed() == [] and snapshot.changed() == []


def test_encoder_reads_what_torch_stores_not_what_a_subclass_claims():
    import torch

    from autograder.sandbox import wire

    class Lying(torch.Tensor):
        device = property(lambda self: torch.device("cuda:0"))
        requires_grad = property(lambda self: True)
        grad_fn = property(lambda self: torch.ones(1, requires_grad=True).mul(2).grad_fn)

        def numpy(self, *args, **kwargs):
            import numpy as np
            return np.full(self.shape, 7.0, dtype=np.float32)

        @classmethod
        def __torch_function__(cls, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            out = super().__torch_function__(func, types, args, kwargs)
            return out + 1 if isinstance(out, torch.Tensor) and func.__name__ in ("detach", "cpu") else out

    values = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    encoder = wire.Encoder(lambda v: {"$": "handle", "id": 1, "type": "x"})
    node = encoder.encode(values.as_subclass(Lying))
    assert (node["device"], node["requires_grad"], node["grad_fn"]) == ("cpu", False, None)
    decoded = wire.Decoder(encoder.buffers).decode(node)
    assert torch.equal(decoded, values)

    class Dispatching(torch.Tensor):
        @classmethod
        def __torch_dispatch__(cls, func, types, args=(), kwargs=None):
            return func(*args, **(kwargs or {}))

    assert encoder.encode(values.as_subclass(Dispatching))["$"] == "handle"
