"""Attacks on 05_training and 06_cuda, written as a student who knows the kit's design
would write them (issue 10), each graded through the real sandbox: none may earn the
points it targets.

* A `train` that does nothing but write what the old recording objects reported
  (forward records, step counters, loss calls) and a plausible history.
* Tensors of a subclass that claims to be on the wanted device, parameters swapped for
  such tensors, and the kit's device helpers replaced wherever the submission can find
  them (the module, the sandbox's helper table).
* A "model" that looks the held-out images up in the offline test split, regenerated in
  the sandbox from the generator every student bundle ships.
"""
from __future__ import annotations

import inspect
import os
import textwrap

import pytest


from submissions import sources

pytestmark = [pytest.mark.skipif(not hasattr(os, "fork"), reason="the sandbox needs os.fork"),
              pytest.mark.slow]

TRAIN_BEHAVIOUR = {"training::train_zeroes_grads", "training::train_calls_step", "training::train_mode",
                   "training::train_history", "training::train_loss_decreasing"}
ACCURACY = {"training::accuracy_above_threshold", "training::evaluate_agrees"}

FORGED_RECORDS = '''
def train(model, loader, criterion, optimizer, device, epochs=2):
    batches = list(loader)
    # What RecordingClassifier / RecordingCrossEntropy / RecordingSGD used to report for a
    # correct loop, written straight into the objects; nothing is trained.
    params = [p.detach().clone() for p in model.parameters()]
    model.forwards = [{"training": True, "grad_enabled": True, "device": "cpu", "inputs": x,
                       "params": params} for _ in range(epochs) for x, _ in batches]
    model.backwards = {}
    model.training = True
    criterion.calls = [{"labels": y, "label_device": "cpu", "output_device": "cpu",
                        "predicted": y, "loss": 0.5} for _ in range(epochs) for _, y in batches]
    optimizer.steps = optimizer.zero_grads = epochs * len(batches)
    return {"loss": [1.0 / (e + 1) for e in range(epochs)], "accuracy": [0.5] * epochs}
'''

LYING_DEVICES = '''
import gc

_WANTED = ["meta"]


class LyingTensor(torch.Tensor):
    """A CPU tensor that says it is wherever it was asked to be."""

    @property
    def device(self):
        return torch.device(_WANTED[0])

    @property
    def is_cuda(self):
        return _WANTED[0].startswith("cuda")

    @property
    def is_meta(self):
        return _WANTED[0] == "meta"


def _liar(t, device):
    _WANTED[0] = str(device)
    return t.as_subclass(LyingTensor)


def _fake_facts(value, *args, **kwargs):
    return {"exact": True, "is_tensor": True, "type": "torch.Tensor", "device": _WANTED[0],
            "shape": list(value.shape), "dtype": "float32", "requires_grad": False}


def _fake_module_facts(model, *args, **kwargs):
    tensors = [_fake_facts(t) for t in model.parameters()]
    return {"module": True, "is_module": True, "parameters": tensors, "buffers": [_fake_facts(b) for b in model.buffers()]}


def _fake_device_log(model, criterion):
    entry = {"input_on_model_device": True, "labels_on_output_device": True,
             "input": _fake_facts(torch.zeros(1)), "labels": _fake_facts(torch.zeros(1)),
             "outputs": _fake_facts(torch.zeros(1))}
    return {"model": [entry, entry], "criterion": [entry, entry],
            "input_devices": [_WANTED[0]] * 2, "criterion_calls": [{"label_device": _WANTED[0]}] * 2}


def _fake_with_cuda_available(flag, fn, *args, **kwargs):
    return torch.device("cuda:0" if flag else "cpu")


_FAKES = {"tensor_facts": _fake_facts, "describe_tensor": _fake_facts, "module_tensor_facts": _fake_module_facts,
          "describe_module": _fake_module_facts, "device_log": _fake_device_log, "device_records": _fake_device_log,
          "with_cuda_available": _fake_with_cuda_available}

try:  # the kit's own module, if it can still be imported
    import autograder.probes as _kit
    for _name, _fake in _FAKES.items():
        setattr(_kit, _name, _fake)
except ImportError:
    pass
gc.unfreeze()  # what the template imported is frozen, so hidden from get_objects() until then
for _table in [o for o in gc.get_objects() if isinstance(o, dict) and "tensor_facts" in o]:
    _table.update(_FAKES)  # the sandbox's helper table, or the module's namespace


def pick_device():
    return torch.device("cpu")


def ones_on(x, device):
    return _liar(torch.ones_like(x), device)


def add_on_device(x, device):
    return _liar(x + 1, device)


def move_model(model, device):
    _WANTED[0] = str(device)
    for module in model.modules():
        for table in (module._parameters, module._buffers):
            for name, value in list(table.items()):
                if value is not None:
                    table[name] = value.detach().as_subclass(LyingTensor)
    return model


def train_step_on_device(model, batch, criterion, optimizer):
    inputs, labels = (_liar(t, "meta") for t in batch)
    optimizer.zero_grad()
    loss = criterion(model(inputs), labels)
    loss.backward()
    optimizer.step()
    return float(loss.detach().sum()) if loss.device.type != "meta" else 0.0
'''


def _lookup_attack() -> str:
    """A LeNet-shaped CifarLeNet whose forward answers from the offline test split,
    regenerated in the sandbox with the shipped generator (copied, as a student would:
    the kit cannot be imported while grading); its train does nothing."""
    from autograder import data
    generator = "\n\n".join(textwrap.dedent(inspect.getsource(f))
                            for f in (data._shape_distance, data.render_images, data._balanced_labels))
    return f'''
import numpy as np
CIFAR10_CLASSES = {data.CIFAR10_CLASSES!r}
IMAGE_SIZE = {data.IMAGE_SIZE}

{generator}


def _public_test_split():
    rng = np.random.default_rng([0, 1, 0, {data.GENERATOR_VERSION}])  # synthetic_seed 0, test file
    labels = _balanced_labels({data.SYNTHETIC_TEST_SIZE}, rng)
    return render_images(labels, rng), labels


class CifarLeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(3, 6, 5), nn.Conv2d(6, 16, 5)
        self.fc1, self.fc2, self.fc3 = nn.Linear(400, 120), nn.Linear(120, 84), nn.Linear(84, 10)
        images, labels = _public_test_split()
        self.table = {{image.tobytes(): int(label) for image, label in zip(images, labels)}}

    def forward(self, x):
        pixels = ((x.detach().cpu() * 0.5 + 0.5) * 255).round().clamp(0, 255).to(torch.uint8)
        logits = torch.zeros(len(x), 10)
        for i, image in enumerate(pixels.permute(0, 2, 3, 1).numpy()):
            logits[i, self.table.get(image.tobytes(), 0)] = 10.0
        return logits + 0 * self.fc3.bias  # attached to the parameters, so backward still works


def train(model, loader, criterion, optimizer, device, epochs=2):
    return {{"loss": [1.0] * epochs, "accuracy": [1.0] * epochs}}
'''


def _grade(assignment: str, code: str):
    from autograder.grading import grade_source
    source = sources.reference_source(assignment) + "\n\n# --- attack\n" + textwrap.dedent(code)
    return grade_source(assignment, source, backend="sandbox")


def _scores(result, ids) -> dict:
    found = {t.id: t.score for t in result.tests if t.id in ids}
    assert set(found) == set(ids), f"tests not run: {sorted(set(ids) - set(found))}"
    return found


@pytest.fixture(scope="module")
def forged_records():
    return _grade("05_training", FORGED_RECORDS)


@pytest.fixture(scope="module")
def lying_devices():
    return _grade("06_cuda", LYING_DEVICES)


def test_forged_recording_objects_earn_no_training_loop_points(forged_records):
    scores = _scores(forged_records, TRAIN_BEHAVIOUR | {"training::accuracy_above_threshold"})
    assert not any(scores.values()), scores
    # the exercises it did not touch keep their points: the run itself was graded normally
    assert any(t.score > 0 for t in forged_records.tests if t.id == "training::evaluate_loss")


def test_lying_tensor_subclass_and_replaced_helpers_earn_no_device_points(lying_devices):
    """The tensor-device checks read the device through the channel (the encoder's C
    accessors), so the subclass and the replaced helpers earn none of their 7 points."""
    tensor_checks = {"cuda::ones_on_device", "cuda::add_on_device_device", "cuda::move_model_moves_everything",
                     "cuda::train_step_moves_inputs", "cuda::train_step_moves_labels"}
    scores = _scores(lying_devices, tensor_checks)
    assert not any(scores.values()), scores


def test_hard_coded_pick_device_earns_nothing_whatever_the_kit_helpers_say(lying_devices):
    """The attack rewrites the sandbox's helper table through gc (unflagged: the tripwire's
    copies are reachable too) and fakes a cuda-availability helper; pick_device's check no
    longer goes through any helper: each answer of is_available is set in a fresh sandbox
    before the student's code loads."""
    scores = _scores(lying_devices, {"cuda::pick_device_follows_cuda_available"})
    assert not any(scores.values()), scores


def test_honest_06_submission_is_not_flagged():
    """Guards the test above: the kit's own device-checking parts change no kit state the
    tamper check watches, so the reference is neither flagged nor docked."""
    result = _grade("06_cuda", "")
    assert not result.flags and all(t.score == t.max_score for t in result.tests if t.status != "skipped")


def test_lookup_of_regenerated_heldout_images_earns_no_accuracy_points():
    result = _grade("05_training", _lookup_attack())
    scores = _scores(result, ACCURACY)
    assert not any(scores.values()), [(t.id, t.message) for t in result.tests if t.id in ACCURACY]
