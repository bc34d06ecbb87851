"""Correct solutions written differently from the reference get full marks.

Each alternative (tests/submissions/alternatives.py) rewrites several exercises in a style
a student could choose: nn.Sequential LeNets built by functions, x.view/nn.Flatten/
torch.flatten, nn.ReLU modules, an iter/next training loop with zero_grad(set_to_none=True)
after the forward pass, torch.inference_mode, per-class accuracy with bincount,
np.asarray / numpy(force=False) / torch.as_tensor, torch.autograd.grad instead of backward.
The tests check behaviour, so none of these may lose a point. The one that rewrites the
training loop is graded with the real accuracy check (it trains a LeNet).
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

SUBMISSIONS = Path(__file__).resolve().parent / "submissions"
if str(SUBMISSIONS) not in sys.path:
    sys.path.insert(0, str(SUBMISSIONS))

import sources  # noqa: E402  (tests/submissions, put on the path just above)
from alternatives import ALTERNATIVES  # noqa: E402

# Alternatives that change what the accuracy check runs (train, evaluate, CifarLeNet).
REAL_ACCURACY = {"training_loop_variant"}


def passing_accuracy(*args, **kwargs):
    from autograder.accuracy import AccuracyResult
    return AccuracyResult(grader_accuracy=0.9, student_eval_accuracy=0.9, grader_validation_accuracy=0.9,
                          threshold=0.5, agreement=0.02)


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_enough_alternatives():
    assert len(ALTERNATIVES) >= 6
    assert len({a.assignment for a in ALTERNATIVES.values()}) == 6


@pytest.mark.parametrize("name", list(ALTERNATIVES))
def test_alternative_gets_full_marks(name, monkeypatch):
    from autograder.accuracy import calibration_path
    from autograder.grading import default_course, grade_source
    alternative = ALTERNATIVES[name]
    if alternative.assignment == "05_training" and name not in REAL_ACCURACY:
        monkeypatch.setattr("autograder.accuracy.measure_accuracy", passing_accuracy)
    if name in REAL_ACCURACY and not calibration_path(default_course()).is_file():
        pytest.skip("no accuracy calibration file yet (autograder calibrate)")
    result = grade_source(alternative.assignment, sources.variant_source(alternative), backend="inprocess")
    lost = [f"{t.id} [{t.status}] {t.message[:200]}" for t in result.tests
            if t.score < t.max_score and t.status != "skipped"]
    assert result.tests and not lost, f"{name} ({alternative.what}) lost points: {lost}"
