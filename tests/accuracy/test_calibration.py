"""`autograder calibrate`: the record it writes, the threshold rule, its input checks, and
the committed calibration file matching course.yaml."""
from __future__ import annotations

import argparse
import dataclasses
import json

import numpy as np
import pytest
import torch

from autograder.accuracy import calibration
from autograder.accuracy import measure as accuracy
from autograder.course import UsageError
from autograder.course import CourseError
from autograder.load import load_code


@pytest.fixture(scope="module")
def tiny_course(course):
    """A budget small enough to calibrate in seconds (the rule, not the numbers, is tested)."""
    small = dataclasses.replace(course.accuracy, train_size=300, test_size=200, epochs=1)
    return dataclasses.replace(course, accuracy=small)


def test_calibrate_record_and_threshold_rule(tiny_course, repo, tmp_path):
    torch.set_num_threads(1)
    source = load_code(repo / "solutions" / "05_training" / "05_training.ipynb").source
    record = calibration.calibrate(tiny_course, source, [0, 1, 2], device="cpu")
    assert record["schema"] == accuracy.CALIBRATION_SCHEMA and record["dataset"] == "synthetic"
    assert record["device"] == "cpu" and record["torch"] == torch.__version__
    assert record["seeds"] == [0, 1, 2] and len(record["accuracies"]) == 3
    assert all(0.0 <= a <= 1.0 for a in record["accuracies"])
    expected = max(np.quantile(record["accuracies"], calibration.QUANTILE) - calibration.MARGIN, 0.0)
    assert record["threshold"] == pytest.approx(expected, abs=1e-4)
    assert record["budget"] == accuracy.budget_of(tiny_course)
    # Same seeds, same accuracies: the calibration is reproducible on one machine.
    assert calibration.calibrate(tiny_course, source, [1], device="cpu")["accuracies"] == record["accuracies"][1:2]
    path = tmp_path / "sub" / "cal.json"
    calibration.write_calibration(record, path)
    local = dataclasses.replace(tiny_course, accuracy=dataclasses.replace(tiny_course.accuracy, calibration=str(path)))
    loaded = accuracy.load_calibration(local, "synthetic", torch.device("cpu"))
    assert loaded["threshold"] == record["threshold"] and loaded["device_matches"]
    assert not accuracy.load_calibration(local, "synthetic", torch.device("cuda"))["device_matches"]
    assert [p.name for p in path.parent.iterdir()] == ["cal.json"]  # no temporary left over


def test_committed_calibration_fits_course_yaml(course):
    """calibration/synthetic-cpu.json was made with course.yaml's budget, on >= 10 seeds,
    and its threshold follows the rule from its own accuracies."""
    loaded = accuracy.load_calibration(course, "synthetic", torch.device("cpu"))
    record = json.loads(accuracy.calibration_path(course).read_text())
    assert len(record["seeds"]) >= calibration.MIN_SEEDS == 10
    assert len(set(record["seeds"])) == len(record["accuracies"]) == len(record["seeds"])
    low = np.quantile(record["accuracies"], record["quantile"])
    assert record["threshold"] == pytest.approx(low - record["margin"], abs=1e-4)
    assert 0.3 < loaded["threshold"] < min(record["accuracies"])  # far above chance, below every seed


def test_calibrate_needs_ten_seeds(course):
    with pytest.raises(UsageError, match="at least 10"):
        calibration.run_calibrate(argparse.Namespace(seeds=3, device="cpu", output=None), course)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without CUDA")
def test_calibrate_on_cuda_without_a_gpu_is_a_usage_error(course):
    with pytest.raises(UsageError, match="no CUDA device"):
        calibration.run_calibrate(argparse.Namespace(seeds=10, device="cuda", output=None), course)


def test_calibrate_without_the_reference_notebook_is_a_course_error(course, tmp_path):
    elsewhere = dataclasses.replace(course, root=tmp_path)
    with pytest.raises(CourseError, match="without the reference solution"):
        calibration.reference_source(elsewhere)
