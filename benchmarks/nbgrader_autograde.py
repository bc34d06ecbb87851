"""`nbgrader autograde` of one class, before and after issue 12, next to `autograder batch`.

before: the grade cells of the kit as of BEFORE_COMMIT (one grade cell per assignment;
        nbgrader's Execute runs every cell in a Jupyter kernel, then the grade cell starts
        a cold `autograder grade` process). Its two modules are taken from git and
        loaded under other names, so the rest of the kit is today's.
after:  today's `autograder nbgrader init` (GradeInSandbox instead of Execute; one warm
        sandbox for the run).
batch:  `autograder batch` on the same submitted/ folder.

The class comes from benchmarks/batch_vs_nbgrader.py (reference, blank, partial
solutions). Printed: seconds, seconds per submission, the ratios, and the total score of
each run (the two nbgrader runs differ only where CUDA points are excluded).

    python benchmarks/nbgrader_autograde.py [--students 20] [--assignments 01_tensors]

Target (issue 12): after >= 5x faster than before, and within 2x of batch.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
BEFORE_COMMIT = "f3c2dbb~1"  # the last commit with kernel-run grade cells
sys.path.insert(0, str(Path(__file__).resolve().parent))

from batch_vs_nbgrader import make_class  # noqa: E402


def legacy_modules(folder: Path) -> None:
    """The kernel-based init and grade cell of BEFORE_COMMIT as legacy_nbgrader_*.py."""
    folder.mkdir(parents=True)
    for name in ("nbgrader_course", "nbgrader_cell"):
        text = subprocess.run(["git", "show", f"{BEFORE_COMMIT}:autograder/{name}.py"], cwd=REPO, check=True,
                              capture_output=True, text=True).stdout
        text = text.replace("from autograder.nbgrader_cell import", "from legacy_nbgrader_cell import")
        text = text.replace('GRADER_MODULE = "autograder.nbgrader_cell"', 'GRADER_MODULE = "legacy_nbgrader_cell"')
        (folder / f"legacy_{name}.py").write_text(text, encoding="utf-8")


def run(cmd: list[str], cwd: Path, env: dict) -> float:
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:3])} failed:\n{proc.stdout[-1500:]}\n{proc.stderr[-1500:]}")
    return time.perf_counter() - started


def total_score(course_dir: Path, course_id: str, assignments: list[str]) -> float:
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{course_dir / 'gradebook.db'}", course_id=course_id) as gb:
        return sum(s.score for a in assignments for s in gb.find_assignment(a).submissions)


def autograde(course_dir: Path, assignments: list[str], env: dict) -> float:
    for aid in assignments:
        run([str(BIN / "nbgrader"), "generate_assignment", aid, "--force"], course_dir, env)
    return sum(run([str(BIN / "nbgrader"), "autograde", aid, "--force"], course_dir, env) for aid in assignments)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=20)
    parser.add_argument("--assignments", nargs="+", default=["01_tensors"])
    parser.add_argument("--jobs", type=int, default=2, help="autograder batch workers")
    parser.add_argument("--skip-before", action="store_true", help="skip the slow kernel-based run")
    args = parser.parse_args()

    from autograder.course import load_course
    from autograder.nbgrader.course import write_course_dir
    course = load_course(REPO / "course.yaml")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    env["PATH"] = f"{BIN}{os.pathsep}{env['PATH']}"
    env.pop("AUTOGRADER_COURSE", None)
    work = Path(tempfile.mkdtemp(prefix="nbgrader-autograde-bench-"))
    try:
        after_dir, before_dir = work / "after", work / "before"
        write_course_dir(course, after_dir)
        students = make_class(course, args.assignments, args.students, after_dir / "submitted")
        n = len(students) * len(args.assignments)
        print(f"class: {len(students)} students x {len(args.assignments)} assignment(s) "
              f"({', '.join(args.assignments)}) = {n} notebooks, {os.cpu_count()} cores visible")

        after_s = autograde(after_dir, args.assignments, env)
        after_total = total_score(after_dir, course.course.id, args.assignments)
        batch_s = run([str(BIN / "autograder"), "batch", str(after_dir / "submitted"), "--out", str(work / "batch"),
                       "--jobs", str(args.jobs), *sum((["--assignment", a] for a in args.assignments), [])],
                      REPO, env)
        rows = [("nbgrader autograde, after (sandbox)", after_s, after_total), ("autograder batch", batch_s, None)]
        if not args.skip_before:
            legacy_modules(work / "legacy")
            sys.path.insert(0, str(work / "legacy"))
            import legacy_nbgrader_course
            legacy_nbgrader_course.write_course_dir(course, before_dir)
            shutil.copytree(after_dir / "submitted", before_dir / "submitted")
            before_env = {**env, "PYTHONPATH": str(work / "legacy")}  # the kernels import the legacy cell
            before_s = autograde(before_dir, args.assignments, before_env)
            rows.insert(0, ("nbgrader autograde, before (kernel)", before_s,
                            total_score(before_dir, course.course.id, args.assignments)))
        for label, seconds, total in rows:
            score = f", total score {total:g}" if total is not None else ""
            print(f"{label:<38} {seconds:7.1f} s, {seconds / n:5.2f} s/notebook{score}")
        if not args.skip_before:
            print(f"after is {before_s / after_s:.1f}x faster than before (target >= 5x)")
        print(f"after takes {after_s / batch_s:.2f}x batch's time (target <= 2x)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
