"""Time the 05_training accuracy check and print the figures behind docs/data.md.

    .venv/bin/python benchmarks/accuracy_check.py [--seeds N] [--threads T] [--table]

Prints the wall time of one accuracy check on the offline data: in process (torch
threads T) and through the sandbox as grading runs it (a fresh sandbox per check, its
start included, one torch thread in the child); then with --table the accuracy of the reference solution, of each broken training loop
and of a linear model over N seeds, next to the calibrated threshold.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "support"))

from autograder import data  # noqa: E402
from autograder.accuracy import measure as accuracy  # noqa: E402
from autograder.course import load_course  # noqa: E402
from autograder.load import load_code  # noqa: E402
from autograder.submission import InProcessSubmission, namespace_from_source  # noqa: E402

LINEAR = "\ndef CifarLeNet():\n    return nn.Sequential(nn.Flatten(), nn.Linear(3072, 10))\n"


def measure(course, source, seed):
    submission = InProcessSubmission(namespace_from_source(source), "05_training")
    return accuracy.measure_accuracy(submission, course, seed, device="cpu")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--table", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    course = load_course(REPO / "course.yaml")
    reference = load_code(REPO / "solutions" / "05_training" / "05_training.ipynb").source
    data.ensure_synthetic(course.data_root, course.data.synthetic_seed)  # not part of a check

    measure(course, reference, 0)  # warm-up: the first check also loads the splits
    times = []
    for seed in range(3):
        started = time.perf_counter()
        result = measure(course, reference, seed)
        times.append(time.perf_counter() - started)
    print(f"one accuracy check (in process, {args.threads} torch threads, {course.accuracy.train_size} "
          f"images x {course.accuracy.epochs} epochs): median {statistics.median(times):.2f} s, "
          f"max {max(times):.2f} s (training {result.train_seconds:.2f} s)")
    from autograder.sandbox.remote import SandboxFactory

    factory = SandboxFactory(course.limits, device="cpu", torch_threads=1)
    code = load_code(REPO / "solutions" / "05_training" / "05_training.ipynb")
    times = []
    try:
        for seed in range(3):
            started = time.perf_counter()
            submission = factory.open(code, "05_training")
            try:
                accuracy.measure_accuracy(submission, course, seed, device="cpu")
            finally:
                submission.close()
            times.append(time.perf_counter() - started)
    finally:
        factory.close()
    print(f"one accuracy check (sandbox, sandbox start included): median {statistics.median(times):.2f} s, "
          f"max {max(times):.2f} s")
    if not args.table:
        return 0

    from broken_loops import BROKEN_LOOPS, LOOP_TEMPLATE  # the loops the tests use

    rows = [("reference solution", reference), ("linear model (softmax regression)", reference + LINEAR)]
    rows += [(f"broken: {name}", reference + LOOP_TEMPLATE.format(**parts)) for name, parts in BROKEN_LOOPS.items()]
    threshold = accuracy.load_calibration(course, "synthetic", torch.device("cpu"))["threshold"]
    print(f"\n| training | mean accuracy | min | max | passes ({args.seeds} seeds) |\n|---|---|---|---|---|")
    for label, source in rows:
        accs = [measure(course, source, seed).grader_accuracy for seed in range(args.seeds)]
        passes = sum(a >= threshold for a in accs)
        print(f"| {label} | {statistics.mean(accs):.3f} | {min(accs):.3f} | {max(accs):.3f} | "
              f"{passes}/{args.seeds} |", flush=True)
    print(f"\nthreshold (calibration/synthetic-cpu.json): {threshold:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
