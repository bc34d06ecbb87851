"""The Submission interface over the sandbox: handles, pass-by-value, keep/fetch,
helpers, type names, and agreement with the in-process backend on a sample submission."""
from __future__ import annotations

import os

import pytest
import torch

from autograder.course import Limits
from hugepages import anon_huge_mb, huge_pages_possible
from autograder.load import StudentCode
from autograder.submission import (InProcessSubmission, MissingName, StudentCodeError, device_of,
                                   grad_fn_name, is_leaf, namespace_from_source)

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the sandbox needs os.fork")

LIMITS = Limits(test_timeout_s=20, submission_timeout_s=120, cpu_time_s=120, memory_mb=2048,
                max_file_mb=8, max_processes=32)

SAMPLE = '''
import torch
from torch import nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 3)
        self.fc2 = nn.Linear(3, 2)
    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))

def add_inplace(a, b):
    a.add_(b)
    return a

def autograd_demo():
    x = torch.ones(2, 2, requires_grad=True)
    out = ((x + 2) * (x + 2) * 3).mean()
    out.backward()
    return x, out

def numbers():
    return {"size": torch.Size([2, 3]), "dtype": torch.float64, "t": (1, 2.5, "s", None, True)}

def countdown(n):
    while n > 0:
        yield n
        n -= 1

def view_of(t):
    return t.view(-1)

def count_params(model):
    return sum(p.numel() for p in model.parameters())
'''


@pytest.fixture(scope="module")
def factory():
    from autograder.sandbox import SandboxFactory
    torch.set_num_threads(1)
    f = SandboxFactory(LIMITS, device="cpu")
    yield f
    f.close()


@pytest.fixture(scope="module")
def sandboxed(factory):
    sub = factory.open(StudentCode.from_source(SAMPLE), "sample")
    assert sub.load_status == "ok" and not sub.load_errors
    yield sub
    sub.close()


@pytest.fixture(scope="module")
def in_process():
    return InProcessSubmission(namespace_from_source(SAMPLE), "sample")


def test_arguments_are_passed_by_value_and_keep_fetch_see_in_place_changes(sandboxed):
    mine = torch.zeros(3)
    returned = sandboxed.call("add_inplace", mine, torch.ones(3))
    assert torch.equal(mine, torch.zeros(3)) and torch.equal(returned, torch.ones(3))
    kept = sandboxed.keep(torch.zeros(3))
    sandboxed.call("add_inplace", kept, torch.ones(3))
    assert torch.equal(sandboxed.fetch(kept), torch.ones(3))


def test_memory_sharing_is_observable_through_handles(sandboxed):
    kept = sandboxed.keep(torch.zeros(2, 2))
    view = sandboxed.call_keep("view_of", kept)
    assert torch.equal(sandboxed.fetch(view), torch.zeros(4))
    sandboxed.call("add_inplace", view, torch.ones(4))  # write through the view...
    assert torch.equal(sandboxed.fetch(kept), torch.ones(2, 2))  # ...and the base sees it
    assert sandboxed.same_object(sandboxed.call_keep("add_inplace", kept, torch.ones(2, 2)), kept)
    assert not sandboxed.same_object(view, kept)


def test_module_handle_attributes_calls_and_iteration(sandboxed):
    from autograder.sandbox import Handle
    torch.manual_seed(0)
    net = sandboxed.call("Net")
    assert isinstance(net, Handle) and "Net" in repr(net)
    assert sandboxed.type_names(net)[:2] == ["__submission__.Net", "torch.nn.modules.module.Module"]
    params = list(net.parameters())  # a generator handle, iterated by requests
    assert [tuple(p.shape) for p in params] == [(3, 4), (3,), (2, 3), (2,)]
    assert all(p.requires_grad and is_leaf(p) for p in params)
    fc1 = net.fc1
    assert isinstance(fc1, Handle) and fc1.in_features == 4 and len(list(net.children())) == 2
    out = net(torch.ones(1, 4))
    assert out.shape == (1, 2) and grad_fn_name(out) == "AddmmBackward0" and not is_leaf(out)
    net.training = False
    assert net.training is False
    assert "in_features=4" in str(net)
    state = net.state_dict()
    assert set(state) == {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}


def test_generator_handle_and_len_and_indexing(sandboxed):
    gen = sandboxed.call("countdown", 3)
    assert list(gen) == [3, 2, 1]
    net_class = sandboxed.get("Net")
    assert net_class().fc1.weight.shape == (3, 4)
    seq = sandboxed.keep([10, 20, 30])
    assert len(seq) == 3 and seq[1] == 20 and seq[-2:] == [20, 30]
    seq[0] = 5
    assert sandboxed.fetch(seq) == [5, 20, 30]


def test_handles_pass_back_by_reference(sandboxed):
    net, other = sandboxed.call("Net"), sandboxed.call("Net")
    assert sandboxed.call("count_params", net) == 4 * 3 + 3 + 3 * 2 + 2
    assert sandboxed.same_object(net, net) and not sandboxed.same_object(net, other)
    fc1 = net.fc1
    assert sandboxed.same_object(fc1, net.fc1)


def test_helper_builds_kit_objects_in_the_sandbox(sandboxed):
    probes = pytest.importorskip("autograder.probes")
    if not hasattr(probes, "tensor_loader"):
        pytest.skip("autograder.probes has no tensor_loader yet")
    loader = sandboxed.helper("tensor_loader", torch.arange(10.0).reshape(5, 2), torch.arange(5),
                              batch_size=2)
    batches = list(loader)
    assert [tuple(b[0].shape) for b in batches] == [(2, 2), (2, 2), (1, 2)]
    assert "DataLoader" in sandboxed.type_name(loader)


def test_missing_names_and_student_errors(sandboxed):
    assert sandboxed.has("Net") and not sandboxed.has("nope")
    with pytest.raises(MissingName, match="`nope` is not defined"):
        sandboxed.call("nope")
    with pytest.raises(StudentCodeError, match="TypeError"):
        sandboxed.call("add_inplace", torch.zeros(2))


def test_grader_objects_cannot_be_sent(sandboxed):
    with pytest.raises(TypeError, match="cannot pass a"):
        sandboxed.call("add_inplace", object(), 1)


@pytest.mark.parametrize("name", ["autograd_demo", "numbers"])
def test_in_process_and_sandbox_backends_agree(sandboxed, in_process, name):
    def normal(value):
        if isinstance(value, torch.Tensor):
            return ("tensor", value.detach().tolist(), value.requires_grad, is_leaf(value), grad_fn_name(value),
                    str(device_of(value)), None if not is_leaf(value) or value.grad is None else value.grad.tolist())
        if isinstance(value, (list, tuple)):
            return (type(value).__name__, [normal(v) for v in value])
        if isinstance(value, dict):
            return {k: normal(v) for k, v in value.items()}
        return (type(value).__name__, value)
    assert normal(sandboxed.call(name)) == normal(in_process.call(name))


def test_backends_agree_on_type_names_and_missing_names(sandboxed, in_process):
    net_s, net_i = sandboxed.call("Net"), in_process.call("Net")
    assert sandboxed.type_names(net_s) == in_process.type_names(net_i)
    assert sandboxed.type_names(torch.ones(1)) == in_process.type_names(torch.ones(1))
    for sub in (sandboxed, in_process):
        with pytest.raises(MissingName):
            sub.get("nope")


@pytest.mark.gpu
def test_cuda_tensor_from_student_records_its_device():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device on this runner")
    from autograder.sandbox import SandboxFactory
    with SandboxFactory(LIMITS, device="cuda") as f:
        sub = f.open(StudentCode.from_source(
            "import torch\ndef on_gpu(x):\n    return (x * 2).cuda(), x.device.type\n"
            "def big():\n    return torch.ones(256, 256, device='cuda', requires_grad=True).sum()\n"), "cuda")
        assert sub.load_status == "ok", sub.load_errors
        assert "address-space limit off on CUDA" in " ".join(sub.isolation["warnings"])
        result, arrived_on = sub.call("on_gpu", torch.ones(3, device="cuda"))
        assert arrived_on == "cuda"  # a CUDA tensor sent by the grader arrives on CUDA
        assert device_of(result).type == "cuda" and result.device.type == "cpu"
        assert torch.equal(result, torch.full((3,), 2.0))
        total = sub.call("big")
        assert device_of(total).type == "cuda" and grad_fn_name(total) == "SumBackward0"
        sub.close()


# -- huge pages: what keeps a sandbox's three forks cheap (issue 16) ----------------------
FOLD_PROBE = """
import mmap, sys
from autograder.sandbox.template import fold_into_huge_pages
block = mmap.mmap(-1, 64 << 20, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
block.write(b"x" * (64 << 20))  # 16384 pages of 4 KiB, all touched
folded = fold_into_huge_pages(float(sys.argv[1]))
huge = sum(int(line.split()[1]) for line in open("/proc/self/smaps") if line.startswith("AnonHugePages:"))
assert block[:1] == b"x" and block[-1:] == b"x"  # the contents survive the fold
print(folded >> 20, huge >> 10)
"""


@pytest.mark.skipif(not huge_pages_possible(), reason="no MADV_COLLAPSE or transparent huge pages off")
def test_folding_backs_written_anonymous_memory_with_huge_pages():
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-c", FOLD_PROBE, "30"], capture_output=True, text=True, check=True)
    folded_mb, huge_mb = (int(x) for x in out.stdout.split())
    assert folded_mb >= 62 and huge_mb >= 62, out.stdout  # all of the block but its unaligned ends
    # out of time before it starts: nothing is folded (an optimisation must not hold up a batch)
    out = subprocess.run([sys.executable, "-c", FOLD_PROBE, "-1"], capture_output=True, text=True, check=True)
    assert out.stdout.split()[0] == "0", out.stdout


@pytest.mark.skipif(not huge_pages_possible(), reason="no MADV_COLLAPSE or transparent huge pages off")
def test_a_template_folds_its_memory_once_it_has_served_enough_sandboxes():
    from autograder.sandbox import SandboxFactory
    from autograder.sandbox.template import FOLD_AFTER_FORKS
    factory = SandboxFactory(LIMITS, device="cpu")
    code = StudentCode.from_source("def one():\n    return 1\n")
    try:
        sizes = []
        for _ in range(FOLD_AFTER_FORKS + 1):
            sub = factory.open(code, "fold")
            assert sub.call("one") == 1  # a sandbox forked from a folded template works
            sub.close()
            sizes.append(anon_huge_mb(factory.template.proc.pid))
        # the template folds once it has forked FOLD_AFTER_FORKS sandboxes (while the last
        # of them runs) and has finished before it forks the next: so not after one fewer,
        # and all of it after one more. The heap is partly in huge pages from the start
        # (glibc's malloc is asked for them) and khugepaged may add some in the background.
        assert sizes[-1] - sizes[FOLD_AFTER_FORKS - 2] >= 100, sizes
    finally:
        factory.close()


def test_every_sandbox_starts_the_students_generators_at_the_same_seed(factory):
    """A model the student's code builds must get the same initial weights in every
    grading (checks on those weights give the same verdict every run), whatever the
    template or an earlier sandbox drew before."""
    source = ("import random, numpy, torch\n"
              "DRAWN = (torch.rand(3).tolist(), numpy.random.rand(2).tolist(), random.random(),\n"
              "         torch.nn.Linear(2, 2).weight.flatten().tolist())\n")
    drawn = []
    for _ in range(2):
        sub = factory.open(StudentCode.from_source(source), "seeded")
        try:
            assert sub.load_status == "ok", sub.load_errors
            drawn.append(sub.get("DRAWN"))
        finally:
            sub.close()
    assert drawn[0] == drawn[1]
    assert drawn[0][0] == torch.rand(3, generator=torch.Generator().manual_seed(0)).tolist()


def test_a_sandboxs_garbage_collections_leave_the_templates_objects_alone(factory):
    """The template freezes what it imported (gc.freeze) before it forks: a full
    collection in the sandbox walks only the student's objects, so it neither copies
    the pages it shares with the template nor takes a quarter of a second. The
    student's own cycles are still collected, and collections are on: the template
    turned them off only while it imported."""
    source = ("import gc, torch\n"
              "def collect():\n"
              "    class Cycle:\n"
              "        pass\n"
              "    a, b = Cycle(), Cycle()\n"
              "    a.other, b.other = b, a\n"
              "    del a, b\n"
              "    return gc.collect(), len(gc.get_objects()), gc.get_freeze_count(), gc.isenabled()\n")
    sub = factory.open(StudentCode.from_source(source), "gc")
    try:
        found, walked, frozen, enabled = sub.call("collect")
    finally:
        sub.close()
    assert found >= 2  # the two objects of the cycle (and their __dict__s)
    assert frozen > 100_000 and walked < frozen // 4, (walked, frozen)
    assert enabled
