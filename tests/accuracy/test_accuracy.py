"""The accuracy check of 05_training on the offline dataset, against the committed
calibration: the reference clears the threshold on every seed, each broken training loop
falls below it, held-out images and labels never reach the student's space (the trained
weights come back and are evaluated grader-side), the held-out draw depends on a key
students cannot know, and the student's evaluate must agree with the grader's own
measurement."""
from __future__ import annotations

import dataclasses
import json
import multiprocessing
import os

import numpy as np

import pytest
import torch

from autograder.accuracy import measure as accuracy
from autograder.load import load_code
from autograder.submission import InProcessSubmission, namespace_from_source
from broken_loops import BROKEN_LOOPS, GOOD_LOOP, LOOP_TEMPLATE

SEEDS = list(range(10))


@pytest.fixture(scope="module", autouse=True)
def fixed_heldout_key():
    """One course secret for this module: the held-out draw (hence every accuracy here)
    repeats from run to run, as it does for a course that sets the secret."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(accuracy.HELDOUT_SECRET_ENV, "the kit's own tests")
        yield

@pytest.fixture(scope="module")
def reference_source(repo):
    return load_code(repo / "solutions" / "05_training" / "05_training.ipynb").source


def _measure(course, source, seed):
    submission = InProcessSubmission(namespace_from_source(source), "05_training")
    return accuracy.measure_accuracy(submission, course, seed, device="cpu")


def _measure_job(job):
    course, source, seed = job
    return _measure(course, source, seed)


def _measure_all(course, jobs: list[tuple[str, int]]) -> list:
    """Each (source, seed) measured, on as many processes as there are cores (two in CI):
    every training is one torch thread, so this divides the module's minutes by the cores.
    A spawned process trains exactly as this one does (same seed, one thread, the same
    held-out key through the environment)."""
    processes = min(len(jobs), len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 2)
    if processes < 2:
        return [_measure(course, source, seed) for source, seed in jobs]
    with multiprocessing.get_context("spawn").Pool(processes, initializer=torch.set_num_threads,
                                                   initargs=(1,)) as pool:
        return pool.map(_measure_job, [(course, source, seed) for source, seed in jobs], chunksize=1)


def _broken_source(reference_source, name):
    return reference_source + LOOP_TEMPLATE.format(**BROKEN_LOOPS[name])


class RecordingSubmission(InProcessSubmission):
    """Remembers every tensor the grader sends into the student's space."""

    def __init__(self, namespace):
        super().__init__(namespace, "05_training")
        self.sent: list[tuple[str, torch.Tensor]] = []

    def _record(self, name, args, kwargs):
        for value in (*args, *kwargs.values()):
            if isinstance(value, torch.Tensor):
                self.sent.append((name, value))

    def helper(self, name, *args, **kwargs):
        self._record(name, args, kwargs)
        return super().helper(name, *args, **kwargs)

    def call(self, target, *args, **kwargs):
        self._record(str(target), args, kwargs)
        return super().call(target, *args, **kwargs)

    call_keep = call


QUICK_SEEDS = SEEDS[:2]


@pytest.fixture(scope="module")
def first_results(course, reference_source, fixed_heldout_key):
    """The reference on every seed and each broken loop on the quick seeds, in one
    parallel round: {("reference" or a loop's name, seed): AccuracyResult}."""
    torch.set_num_threads(1)
    keys = [("reference", seed) for seed in SEEDS] + [(name, seed) for name in sorted(BROKEN_LOOPS)
                                                      for seed in QUICK_SEEDS]
    sources = {"reference": reference_source, **{n: _broken_source(reference_source, n) for n in BROKEN_LOOPS}}
    return dict(zip(keys, _measure_all(course, [(sources[name], seed) for name, seed in keys])))


@pytest.fixture(scope="module")
def reference_results(first_results):
    return {seed: first_results["reference", seed] for seed in SEEDS}


def test_reference_clears_the_threshold_on_every_seed(reference_results):
    """The reference solution passes on each of 10 seeds, and its evaluate agrees."""
    for seed, result in reference_results.items():
        assert result.passed, f"seed {seed}: {result.grader_accuracy:.3f} < {result.threshold:.3f}"
        assert result.evaluate_agrees, (seed, result.student_eval_accuracy, result.grader_validation_accuracy)
        assert result.calibration["dataset"] == "synthetic" and result.calibration["device_matches"]
        assert result.details["model"] == "lesson LeNet"  # 05 does not define CifarLeNet


@pytest.mark.parametrize("name", sorted(BROKEN_LOOPS))
def test_broken_loop_falls_below_the_threshold(first_results, reference_results, name):
    """Quick version: each broken loop on two seeds, far below the reference."""
    for seed in QUICK_SEEDS:
        result = first_results[name, seed]
        assert not result.passed, f"{name}, seed {seed}: {result.grader_accuracy:.3f} >= {result.threshold:.3f}"
        assert result.grader_accuracy < reference_results[seed].grader_accuracy - 0.3


@pytest.mark.slow
def test_every_broken_loop_fails_on_all_ten_seeds(course, reference_source, first_results):
    """The full proof: 7 loops x 10 seeds (the quick seeds measured once, for both tests;
    the other 56 trainings in parallel, about a minute on two cores)."""
    keys = [(name, seed) for name in sorted(BROKEN_LOOPS) for seed in SEEDS if seed not in QUICK_SEEDS]
    rest = _measure_all(course, [(_broken_source(reference_source, name), seed) for name, seed in keys])
    results = {**{k: v for k, v in first_results.items() if k[0] != "reference"}, **dict(zip(keys, rest))}
    assert sorted(results) == sorted((name, seed) for name in BROKEN_LOOPS for seed in SEEDS)
    passing = {key: r.grader_accuracy for key, r in results.items() if r.passed}
    assert not passing, passing


def test_the_correct_loop_template_itself_learns(course, reference_source, reference_results):
    """Guards the test above: the template with no mistake does clear the threshold."""
    result = _measure(course, reference_source + LOOP_TEMPLATE.format(**GOOD_LOOP), 0)
    assert result.passed and abs(result.grader_accuracy - reference_results[0].grader_accuracy) < 0.05


def test_a_model_that_is_not_the_lesson_lenet_scores_zero(course, reference_source):
    """The grader evaluates the trained weights in its own LeNet: softmax regression on the
    pixels has no such weights, so it scores 0 with a message saying why."""
    linear = reference_source + "\ndef CifarLeNet():\n    return nn.Sequential(nn.Flatten(), nn.Linear(3072, 10))\n"
    result = _measure(course, linear, 0)
    assert result.details["model"] == "submission's CifarLeNet"
    assert not result.passed and result.grader_accuracy == 0.0
    problem = result.details["model_problem"]
    assert "(10, 3072)" in problem and "own copy of the lesson's CIFAR LeNet" in problem


def test_held_out_images_and_labels_never_enter_the_student_space(course, reference_source):
    """Only the training images/labels and the validation set for evaluate are sent; the
    model is never asked for logits: its weights are fetched and evaluated here."""
    submission = RecordingSubmission(namespace_from_source(reference_source))
    accuracy.train_and_measure(submission, course, 7, device="cpu")
    subsets = accuracy.grader_subsets(course, 7, "synthetic")
    heldout_images, heldout_labels = subsets["heldout"]
    sent = [t for _, t in submission.sent]
    assert any(torch.equal(t, subsets["train"][0]) for t in sent if t.shape == subsets["train"][0].shape)
    assert not any(t.shape == heldout_images.shape and torch.equal(t, heldout_images) for t in sent)
    assert not any(t.shape == heldout_labels.shape and torch.equal(t, heldout_labels) for t in sent)
    assert not any(name == "predict_logits" for name, _ in submission.sent)


def test_heldout_draw_is_keyed_by_the_grader_secret(course, monkeypatch):
    """Same key, same held-out set; another key (or none: a per-process key) another one,
    and no held-out image is a copy of a public one (the offline test split)."""
    first = accuracy.grader_subsets(course, 3, "synthetic")["heldout"]
    again = accuracy.grader_subsets(course, 3, "synthetic")["heldout"]
    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])
    monkeypatch.setenv(accuracy.HELDOUT_SECRET_ENV, "another course")
    other = accuracy.grader_subsets(course, 3, "synthetic")["heldout"]
    assert not torch.equal(first[0], other[0])
    monkeypatch.delenv(accuracy.HELDOUT_SECRET_ENV)
    assert accuracy.heldout_key() == accuracy._PROCESS_KEY
    public = accuracy._split(course, "synthetic", False)
    public_rows = {row.tobytes() for row in np.asarray(public.data).reshape(len(public.data), -1)}
    ours = ((first[0].permute(0, 2, 3, 1) * 0.5 + 0.5) * 255).round().to(torch.uint8).numpy()
    assert not any(row.tobytes() in public_rows for row in ours.reshape(len(ours), -1))
    assert np.bincount(first[1].numpy()).tolist() == [len(first[1]) // 10] * 10  # balanced classes


def test_cifar10_heldout_images_are_perturbed_copies(course):
    """Real CIFAR-10 cannot be re-drawn: its test images are shifted, flipped and jittered
    with the grader's key, so no held-out image equals its public original."""
    public = np.asarray(accuracy._split(course, "synthetic", False).data)[:200]  # CIFAR-10's layout
    perturbed = accuracy.perturb_images(public, np.random.default_rng([accuracy.heldout_key(), 0]))
    assert perturbed.shape == public.shape and perturbed.dtype == np.uint8
    assert not any(np.array_equal(a, b) for a, b in zip(perturbed, public))
    mean_change = np.abs(perturbed.astype(int) - public.astype(int)).mean()
    assert 2 < mean_change < 60, mean_change  # changed, yet the same picture


def test_disagreeing_or_broken_evaluate_is_reported(course, reference_source):
    percent = reference_source + '''
_reference_evaluate = evaluate
def evaluate(model, loader, criterion, device):
    result = _reference_evaluate(model, loader, criterion, device)
    return {"loss": result["loss"], "accuracy": 100 * result["accuracy"]}
'''
    result = _measure(course, percent, 0)
    assert result.passed and not result.evaluate_agrees
    assert result.student_eval_accuracy == pytest.approx(100 * result.grader_validation_accuracy)
    raising = reference_source + "\ndef evaluate(model, loader, criterion, device):\n    raise ValueError('todo')\n"
    result = _measure(course, raising, 0)
    assert result.passed and not result.evaluate_agrees and result.student_eval_accuracy is None
    assert "ValueError: todo" in result.details["evaluate_problem"]


def _course_with_calibration(course, tmp_path, record):
    path = tmp_path / "cal.json"
    path.write_text(json.dumps(record) if isinstance(record, dict) else record)
    return dataclasses.replace(course, accuracy=dataclasses.replace(course.accuracy, calibration=str(path)))


def _committed(course):
    return json.loads(accuracy.calibration_path(course).read_text())


@pytest.mark.parametrize("change, message", [
    (None, "not found"),
    ("{not json", "unreadable"),
    ({"schema": "other"}, "not an autograder.calibration/1"),
    ({"dataset": "cifar10"}, "calibrated on 'cifar10' data but grading uses 'synthetic'"),
    ({"budget": {"train_size": 1}}, "accuracy.train_size = None but course.yaml has 4000"),
    ({"threshold": 7}, "threshold must be a number in [0, 1]"),
])
def test_calibration_problems_are_one_line_errors(course, tmp_path, change, message):
    """Checked before any training: a bad calibration file costs nothing."""
    record = _committed(course)
    if isinstance(change, dict):
        record.update(change)
        if "budget" in change:
            record["budget"] = {"epochs": 2}
    elif isinstance(change, str):
        record = change
    local = _course_with_calibration(course, tmp_path, record)
    if change is None:
        (tmp_path / "cal.json").unlink()
    submission = InProcessSubmission({}, "05_training")  # never reached: nothing defined
    with pytest.raises(accuracy.CalibrationError) as info:
        accuracy.measure_accuracy(submission, local, 0, device="cpu")
    text = str(info.value)
    assert message in text and "\n" not in text
    if change is None or isinstance(change, (str, dict)) and "threshold" not in str(change):
        assert "autograder calibrate" in text and "cal.json" in text


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_reference_clears_the_threshold_on_cuda(course, reference_source):
    submission = InProcessSubmission(namespace_from_source(reference_source), "05_training")
    result = accuracy.measure_accuracy(submission, course, 0, device="cuda")
    assert result.passed and result.details["device"].startswith("cuda")
