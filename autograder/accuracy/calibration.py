"""`autograder calibrate`: the accuracy threshold of 05_training, measured, not guessed.

The reference solution (solutions/05_training) goes through exactly the accuracy check
students get (measure.train_and_measure) over many seeds, on the dataset and device of
this machine. The threshold is a low quantile of those accuracies minus a margin, so a
correct training loop clears it on essentially every seed while a loop that does not
learn (chance is 10 %) stays far below. The result is a JSON file course.yaml points at.
"""
from __future__ import annotations

import datetime
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from autograder import data
from autograder.accuracy import measure
from autograder.course import CourseError

MIN_SEEDS = 10
QUANTILE = 0.05
# Accuracy points under the low quantile: room for correct loops written differently
# from the reference (other batching of the loss, set_to_none, ...) and for seeds the
# calibration did not see.
MARGIN = 0.10
REFERENCE_ASSIGNMENT = "05_training"


def reference_source(course) -> tuple[str, Path]:
    """The reference solution's graded code (demo and selfcheck cells left out)."""
    from autograder.load import LoadError, load_code

    path = course.solution_notebook(course.assignment(REFERENCE_ASSIGNMENT))
    try:
        return load_code(path).source, path
    except LoadError as exc:
        raise CourseError(f"cannot calibrate without the reference solution: {exc}") from None


def calibrate(course, source: str, seeds: list[int], device=None, progress: bool = False,
              margin: float = MARGIN, quantile: float = QUANTILE) -> dict:
    """Run the accuracy check on `source` for every seed; the calibration record."""
    from tqdm import tqdm

    from autograder.submission import InProcessSubmission, namespace_from_source

    device = measure.resolve_device(device, course)
    kind = data.course_dataset_kind(course)
    accuracies, seconds = [], []
    for seed in tqdm(seeds, desc=f"calibrating on {kind}/{device.type}", unit="seed",
                     file=sys.stderr, disable=not progress):
        submission = InProcessSubmission(namespace_from_source(source, "<reference>"), REFERENCE_ASSIGNMENT)
        result = measure.train_and_measure(submission, course, seed, device, dataset_kind=kind)
        accuracies.append(round(result.grader_accuracy, 4))
        seconds.append(result.train_seconds)
    low = float(np.quantile(accuracies, quantile))
    return {
        "schema": measure.CALIBRATION_SCHEMA,
        "dataset": kind,
        "device": device.type,
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "seeds": [int(s) for s in seeds],
        "accuracies": accuracies,
        "mean": round(float(np.mean(accuracies)), 4),
        "min": round(float(np.min(accuracies)), 4),
        "quantile": quantile,
        "margin": margin,
        "threshold": round(max(low - margin, 0.0), 4),
        "budget": measure.budget_of(course),
        "mean_train_seconds": round(float(np.mean(seconds)), 2),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def write_calibration(record: dict, path: Path) -> None:
    """Write atomically: a grader reading the file mid-write sees the old or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(record, f, indent=2)
        f.write("\n")
    os.replace(temporary, path)


def run_calibrate(args, course) -> int:
    from autograder.course import UsageError

    if args.seeds < MIN_SEEDS:
        raise UsageError(f"--seeds must be at least {MIN_SEEDS}, got {args.seeds}")
    device = measure.resolve_device(args.device, course)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is visible on this machine")
    if device.type == "cpu":
        # LeNet on 16-image batches gains nothing from threads, and on a busy machine
        # OpenMP's spinning threads slow each step down many times over.
        torch.set_num_threads(1)
    source, reference = reference_source(course)
    seeds = [course.seed + i for i in range(args.seeds)]
    record = calibrate(course, source, seeds, device, progress=True)
    record["reference"] = str(reference.relative_to(course.root)) if reference.is_relative_to(course.root) \
        else str(reference)
    output = course.resolve(args.output) if args.output else measure.calibration_path(course)
    write_calibration(record, output)
    print(f"reference accuracy on {record['dataset']}/{record['device']} over {len(seeds)} seeds: "
          f"mean {record['mean']:.3f}, min {record['min']:.3f}; threshold {record['threshold']:.3f} "
          f"(quantile {QUANTILE} minus {record['margin']})")
    print(f"wrote {output}")
    if output != measure.calibration_path(course):
        print(f"point course.yaml at it: accuracy.calibration: {args.output}")
    if record["threshold"] <= 1.5 / len(data.CIFAR10_CLASSES):
        print("warning: the threshold is close to chance (10 %); a loop that does not learn might pass. "
              "Raise the training budget in course.yaml (accuracy:) and calibrate again.", file=sys.stderr)
    return 0
