"""The grader's accuracy check for 05_training.

The student's own `train` fits the student's own `CifarLeNet` on a grader-chosen
training subset, with the budget from course.yaml (`accuracy:`). Then the trained
weights come back to the grader (fetched tensors: data) and the grader runs them in its
own LeNet, in this process, on held-out images that never enter the sandbox. Those
images are drawn with a key students cannot know (`heldout_key`): fresh renders of the
offline set's distribution, or for real CIFAR-10 its test images perturbed (shift, flip,
contrast, noise), so neither regenerating the offline set nor memorising CIFAR-10's
public test set is a way to pass. Finally the student's `evaluate` runs on a separate
labelled validation subset and must agree with the grader's own measurement there.

The pass mark comes from a calibration file (`autograder calibrate`, see calibration.py):
the reference solution's accuracy distribution under the same budget, dataset, device
and held-out procedure.
"""
from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from autograder.course import CourseError
from autograder.submission import StudentCodeError

CALIBRATION_SCHEMA = "autograder.calibration/1"
# The labelled images for the evaluate check; drawn from the test split, so not images
# the model trained on.
VALIDATION_SIZE = 500
GRADER_BATCH = 250
# Set it (a CI secret, never in course.yaml or a student bundle) to make the held-out
# draw repeatable across runs; unset, every grading process draws its own.
HELDOUT_SECRET_ENV = "AUTOGRADER_HELDOUT_SECRET"
_PROCESS_KEY = secrets.randbits(128)
# Largest shift, in pixels, of a perturbed CIFAR-10 held-out image.
MAX_SHIFT = 2
BUDGET_KEYS = ("train_size", "test_size", "epochs", "batch_size", "lr", "momentum")
# The lesson's CIFAR-10 LeNet, for submissions that do not define `CifarLeNet` themselves
# (05_training's exercises are the loop, not the model): built in the student's space
# from this description, with the same parameter order, hence the same seeded weights.
LESSON_LENET_SPEC = [["Conv2d", 3, 6, 5], ["ReLU"], ["MaxPool2d", 2, 2],
                     ["Conv2d", 6, 16, 5], ["ReLU"], ["MaxPool2d", 2, 2], ["Flatten"],
                     ["Linear", 400, 120], ["ReLU"], ["Linear", 120, 84], ["ReLU"], ["Linear", 84, 10]]


class CalibrationError(CourseError):
    """The calibration file is missing or does not fit this run; one-line message."""


@dataclass
class AccuracyResult:
    grader_accuracy: float                  # on the held-out images, measured by the grader
    student_eval_accuracy: float | None     # what the student's evaluate said (None: unusable)
    grader_validation_accuracy: float       # the grader's measurement on evaluate's images
    threshold: float | None                 # None while calibrating
    agreement: float                        # largest gap allowed between the two above
    calibration: dict = field(default_factory=dict)
    train_seconds: float = 0.0
    details: dict = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.threshold is not None and self.grader_accuracy >= self.threshold

    @property
    def evaluate_agrees(self) -> bool:
        return (self.student_eval_accuracy is not None
                and abs(self.student_eval_accuracy - self.grader_validation_accuracy) <= self.agreement)


def resolve_device(device=None, course=None) -> torch.device:
    """`device` (or course.yaml's devices.default) with "auto" made concrete."""
    if device is None:
        device = course.devices.default if course is not None else "auto"
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def budget_of(course) -> dict:
    return {key: getattr(course.accuracy, key) for key in BUDGET_KEYS}


def calibration_path(course) -> Path:
    return course.resolve(course.accuracy.calibration)


def load_calibration(course, dataset_kind: str, device: torch.device) -> dict:
    """The calibration file course.yaml names, checked against this run: same dataset and
    the same budget, or the threshold would mean nothing. A different device is allowed
    (SGD behaves the same in distribution) but recorded."""
    path = calibration_path(course)
    hint = "run `autograder calibrate` and point accuracy.calibration in course.yaml at the result"
    try:
        calibration = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CalibrationError(f"calibration file {path} not found: {hint}") from None
    except (OSError, ValueError) as exc:
        raise CalibrationError(f"calibration file {path} is unreadable ({exc}): {hint}") from None
    if not isinstance(calibration, dict) or calibration.get("schema") != CALIBRATION_SCHEMA:
        raise CalibrationError(f"{path} is not an {CALIBRATION_SCHEMA} calibration file: {hint}")
    threshold = calibration.get("threshold")
    if not isinstance(threshold, (int, float)) or not 0.0 <= threshold <= 1.0:
        raise CalibrationError(f"{path}: threshold must be a number in [0, 1], got {threshold!r}")
    if calibration.get("dataset") != dataset_kind:
        raise CalibrationError(f"{path} was calibrated on {calibration.get('dataset')!r} data but grading "
                               f"uses {dataset_kind!r}: {hint}")
    budget = calibration.get("budget") or {}
    for key, value in budget_of(course).items():
        if budget.get(key) != value:
            raise CalibrationError(f"{path} was calibrated with accuracy.{key} = {budget.get(key)!r} but "
                                   f"course.yaml has {value!r}: {hint}")
    info = {key: calibration.get(key) for key in ("dataset", "device", "torch", "quantile", "margin",
                                                   "threshold", "created")}
    info["file"] = str(path)
    info["device_matches"] = calibration.get("device") == device.type
    return info


class _Datasets:
    """autograder.data, imported on first use: it imports torchvision, and torch._dynamo
    with it (2 s), which a batch worker grading assignments that build no dataset never
    needs (the hidden tests of every assignment import this module for CIFAR_SHAPES and
    lenet_forward)."""

    def __getattr__(self, name: str):
        from autograder import data as module
        return getattr(module, name)


data = _Datasets()

# The loaded splits (uint8 arrays) per dataset and split: calibration and the kit's tests
# measure many times in one process.
_split_cache: dict[tuple, object] = {}


def _split(course, kind: str, train: bool):
    key = (kind, str(course.data_root), course.data.synthetic_seed, train)
    if key not in _split_cache:
        try:
            _split_cache[key] = data.course_dataset(course, train=train)
        except data.DatasetNotFound as exc:
            raise CourseError(str(exc)) from None
    return _split_cache[key]


def heldout_key() -> int:
    """The grader-side secret the held-out draw mixes in: the course secret from
    $AUTOGRADER_HELDOUT_SECRET when set, else this process's own random key. Nothing
    shipped to students (data.py, the seeds) determines it."""
    text = os.environ.get(HELDOUT_SECRET_ENV, "")
    if text:
        return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:16], "big")
    return _PROCESS_KEY


def perturb_images(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each uint8 HWC image shifted by up to MAX_SHIFT pixels (edges repeated), flipped
    left-right half the time, with its contrast, brightness and noise jittered: the same
    class to a person, never byte-equal to the public original."""
    n, height, width = images.shape[:3]
    pad = MAX_SHIFT
    padded = np.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="edge")
    dy, dx = rng.integers(0, 2 * pad + 1, (2, n))
    shifted = np.stack([padded[i, dy[i]:dy[i] + height, dx[i]:dx[i] + width] for i in range(n)])
    flip = rng.random(n) < 0.5
    shifted[flip] = shifted[flip, :, ::-1]
    out = shifted.astype(np.float32)
    mean = out.mean(axis=(1, 2, 3), keepdims=True)
    contrast = rng.uniform(0.85, 1.15, (n, 1, 1, 1)).astype(np.float32)
    brightness = rng.uniform(-10, 10, (n, 1, 1, 1)).astype(np.float32)
    out = (out - mean) * contrast + mean + brightness
    out += rng.standard_normal(out.shape, dtype=np.float32) * 4.0
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def heldout_images(course, seed: int, kind: str, test_split, test_indices) -> tuple[torch.Tensor, torch.Tensor]:
    """The held-out set for this seed under the grader's key (see the module docstring)."""
    rng = np.random.default_rng([heldout_key(), int(seed), 2])
    count = course.accuracy.test_size
    if kind == "synthetic":
        images, labels = data.fresh_synthetic_split(count, rng)
    else:
        indices = np.asarray(test_indices, dtype=np.int64)
        images = perturb_images(np.asarray(test_split.data)[indices], rng)
        labels = np.asarray(test_split.targets, dtype=np.int64)[indices]
    return data.preprocess_images(images), torch.as_tensor(labels)


def grader_subsets(course, seed: int, kind: str) -> dict:
    """The seed's training subset, held-out set and validation set, as preprocessed
    tensors: {"train": (images, labels), "heldout": ..., "validation": ...}."""
    settings = course.accuracy
    train_split, test_split = _split(course, kind, True), _split(course, kind, False)
    if settings.train_size > len(train_split):
        raise CourseError(f"accuracy.train_size is {settings.train_size} but the {kind} training split "
                          f"has {len(train_split)} images")
    needed = settings.test_size + VALIDATION_SIZE
    if needed > len(test_split):
        raise CourseError(f"accuracy.test_size is {settings.test_size}: with {VALIDATION_SIZE} images for "
                          f"the evaluate check that needs {needed} test images, the {kind} test split "
                          f"has {len(test_split)}")
    train_order = np.random.default_rng([int(seed), 0]).permutation(len(train_split))
    test_order = np.random.default_rng([int(seed), 1]).permutation(len(test_split))
    return {
        "train": data.dataset_tensors(train_split, train_order[:settings.train_size]),
        "heldout": heldout_images(course, seed, kind, test_split, test_order[:settings.test_size]),
        "validation": data.dataset_tensors(test_split, test_order[settings.test_size:needed]),
    }


# The lesson's CIFAR LeNet, the grader's own copy: parameters() shapes and forward (both
# LeNets share the forward; 04_lenet's hidden tests use it too).
CIFAR_SHAPES = [(6, 3, 5, 5), (6,), (16, 6, 5, 5), (16,), (120, 400), (120,), (84, 120), (84,), (10, 84), (10,)]


def lenet_forward(params, x: torch.Tensor) -> torch.Tensor:
    """Both LeNets: (conv, ReLU, 2x2 max-pool) twice, flatten, Linear-ReLU-Linear-ReLU-Linear.
    The weights are the student's own, in parameters() order."""
    w1, b1, w2, b2, w3, b3, w4, b4, w5, b5 = params
    h = F.max_pool2d(F.relu(F.conv2d(x, w1, b1)), 2)
    h = F.max_pool2d(F.relu(F.conv2d(h, w2, b2)), 2)
    h = torch.flatten(h, 1)
    h = F.relu(F.linear(h, w3, b3))
    h = F.relu(F.linear(h, w4, b4))
    return F.linear(h, w5, b5)


def trained_lenet_weights(submission, model) -> tuple[list | None, str]:
    """The trained model's parameters, fetched as data, if they fit the lesson's CIFAR
    LeNet (else None and why): the grader evaluates them in its own LeNet."""
    params = submission.fetch(submission.helper("parameters_of", model))
    shapes = [tuple(p.shape) if isinstance(p, torch.Tensor) else type(p).__name__
              for p in (params if isinstance(params, (list, tuple)) else [])]
    if shapes != CIFAR_SHAPES or not all(p.is_floating_point() for p in params):
        return None, (f"the trained model's parameters have shapes {shapes}; the grader evaluates the "
                      f"weights in its own copy of the lesson's CIFAR LeNet, whose parameters() are "
                      f"{CIFAR_SHAPES} (conv 3->6 k5, conv 6->16 k5, Linear 400->120->84->10)")
    return [p.detach().float() for p in params], ""


def grader_accuracy(weights, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Accuracy of the lesson's LeNet with these weights, computed in this process."""
    correct = 0
    with torch.no_grad():
        for start in range(0, len(labels), GRADER_BATCH):
            logits = lenet_forward(weights, images[start:start + GRADER_BATCH])
            correct += int((logits.argmax(dim=1) == labels[start:start + GRADER_BATCH]).sum())
    return correct / len(labels)


def _reported_accuracy(result) -> float | None:
    if isinstance(result, dict) and isinstance(result.get("accuracy"), (int, float, torch.Tensor)):
        value = float(result["accuracy"])
        return value if np.isfinite(value) else None
    return None


def train_and_measure(submission, course, seed: int, device=None, dataset_kind: str | None = None) -> AccuracyResult:
    """Train the student's model with the student's train, then measure it (no pass mark)."""
    device = resolve_device(device, course)
    kind = dataset_kind or data.course_dataset_kind(course)
    settings = course.accuracy
    subsets = grader_subsets(course, seed, kind)
    train_images, train_labels = subsets["train"]

    # Same seed, same initial weights for every submission: differences come from the loop.
    submission.helper("seed_everything", seed)
    if submission.has("CifarLeNet"):
        model, model_source = submission.call_keep("CifarLeNet"), "submission's CifarLeNet"
    else:
        model, model_source = submission.helper("sequential_from_spec", LESSON_LENET_SPEC), "lesson LeNet"
    submission.call(model.to, device)
    loader = submission.helper("tensor_loader", train_images, train_labels,
                               batch_size=settings.batch_size, shuffle=True, seed=seed)
    criterion = submission.helper("cross_entropy")
    optimizer = submission.helper("sgd", model, settings.lr, settings.momentum)
    started = time.perf_counter()
    history = submission.call("train", model, loader, criterion, optimizer, device, settings.epochs)
    train_seconds = time.perf_counter() - started

    weights, model_problem = trained_lenet_weights(submission, model)
    validation_images, validation_labels = subsets["validation"]
    heldout_accuracy = grader_accuracy(weights, *subsets["heldout"]) if weights else 0.0
    validation_accuracy = grader_accuracy(weights, validation_images, validation_labels) if weights else 0.0
    details = {"dataset": kind, "device": str(device), "seed": int(seed), "budget": budget_of(course),
               "model": model_source, "heldout": "fresh renders" if kind == "synthetic" else "perturbed test images",
               "train_history": history if isinstance(history, dict) else None}
    if model_problem:
        details["model_problem"] = model_problem
    student_accuracy = None
    try:
        validation_loader = submission.helper("tensor_loader", validation_images, validation_labels,
                                              batch_size=settings.batch_size, shuffle=False)
        reported = submission.call("evaluate", model, validation_loader, criterion, device)
        student_accuracy = _reported_accuracy(reported)
        if student_accuracy is None:
            details["evaluate_problem"] = (f"evaluate returned {type(reported).__name__}, not a dict with "
                                           f"a numeric 'accuracy'")
    except StudentCodeError as exc:  # the threshold check stands on its own
        details["evaluate_problem"] = f"evaluate raised {exc}"
    return AccuracyResult(grader_accuracy=heldout_accuracy, student_eval_accuracy=student_accuracy,
                          grader_validation_accuracy=validation_accuracy, threshold=None,
                          agreement=settings.agreement, train_seconds=train_seconds, details=details)


def measure_accuracy(submission, course, seed: int, device=None) -> AccuracyResult:
    """The accuracy check: train, measure, and compare with the calibrated threshold."""
    device = resolve_device(device, course)
    kind = data.course_dataset_kind(course)
    calibration = load_calibration(course, kind, device)  # before training: fail fast
    result = train_and_measure(submission, course, seed, device, dataset_kind=kind)
    result.threshold = float(calibration["threshold"])
    result.calibration = calibration
    return result
