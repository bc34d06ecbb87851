"""Seconds to grade the complete reference submission (all six assignments).

    .venv/bin/python benchmarks/grade_reference.py [--path solutions/] [--backend sandbox|inprocess]

Defaults: solutions/ and the sandbox backend when autograder.sandbox is available. Prints one line per
assignment and the total wall time (target: well under a minute on 2 cores).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def default_path(course) -> Path:
    return ROOT / "solutions"


def default_backend() -> str:
    try:
        from autograder.sandbox import SandboxFactory  # noqa: F401
        return "sandbox"
    except ImportError:
        return "inprocess"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", default=None)
    parser.add_argument("--backend", choices=("sandbox", "inprocess"), default=None)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    from autograder.course import CourseError, load_course
    from autograder.grading import grade_path
    course = load_course(ROOT / "course.yaml", check_notebooks=False)
    path = Path(args.path) if args.path else default_path(course)
    backend = args.backend or default_backend()
    started = time.perf_counter()
    try:
        report = grade_path(str(path), course, device=args.device, backend=backend)
    except CourseError as exc:
        print(f"grade_reference: cannot grade yet: {exc}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - started
    for a in report.assignments:
        seconds = sum(t.duration_s for t in a.tests)
        print(f"{a.id:<18} {a.score:>5g}/{a.max_score:<5g} tests {seconds:6.2f} s  [{a.status}]")
    print(f"graded {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path} "
          f"({backend}, {os.cpu_count()} cores): {report.score:g}/{report.max_score:g} "
          f"in {elapsed:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
