"""Grade the same class with `autograder batch` and with `nbgrader autograde`, side by side.

The class: the reference solution, the blank stubs and partial solutions (the stubs
with the first k exercises solved), at least 20 students, each submitting the chosen
assignments' notebooks in nbgrader's layout inside a course made by
`autograder nbgrader init`. Both tools grade that same `submitted/` folder. Printed:
seconds per submission, throughput, the ratio, and peak memory per worker (a worker
process plus everything it started, as proportional set size so pages the sandboxes
share with their warm template count once; sampled every 0.2 s).

    python benchmarks/batch_vs_nbgrader.py [--students 20] [--jobs 2] [--assignments 01_tensors 02_numpy_bridge]

Target (issue 7): batch >= 3x nbgrader's throughput on 2 cores, <= 1.5 GB per worker.
"""
from __future__ import annotations

import argparse
import copy
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import nbformat

from autograder.release import released_text

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def solution_cells(nb) -> dict[str, int]:
    """grade_id -> cell index of the nbgrader solution cells."""
    return {c.metadata["nbgrader"]["grade_id"]: i for i, c in enumerate(nb.cells)
            if c.metadata.get("nbgrader", {}).get("solution")}


def make_class(course, assignment_ids: list[str], students: int, submitted: Path) -> list[str]:
    names = []
    books = {}
    for aid in assignment_ids:
        a = course.assignment(aid)
        solved = nbformat.read(course.solution_notebook(a), as_version=4)
        stub = nbformat.reads(released_text(course, a), as_version=4)  # what `release` gives students
        books[aid] = (a.notebook, solved, stub, solution_cells(solved), solution_cells(stub))
    for n in range(students):
        student = "reference" if n == 0 else "blank" if n == 1 else f"partial{n:02d}"
        names.append(student)
        for aid, (notebook, solved, stub, solved_ids, stub_ids) in books.items():
            nb = copy.deepcopy(stub)
            shared = [g for g in stub_ids if g in solved_ids]
            k = len(shared) if n == 0 else 0 if n == 1 else 1 + (n - 2) % max(1, len(shared))
            for grade_id in shared[:k]:
                nb.cells[stub_ids[grade_id]] = copy.deepcopy(solved.cells[solved_ids[grade_id]])
            folder = submitted / student / aid
            folder.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, folder / notebook)
    return names


class PeakMemory:
    """Peak RSS of each direct child of `pid` together with its descendants."""

    def __init__(self, pid: int):
        import psutil
        self.psutil, self.root, self.peak_mb = psutil, psutil.Process(pid), 0.0
        self.whole_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _one(self, proc) -> int:
        # PSS, not RSS: sandboxes are forked from a warm template and share its pages
        # (torch's libraries alone are hundreds of MB); summing RSS would count them per child.
        try:
            return proc.memory_full_info().pss
        except (AttributeError, self.psutil.AccessDenied):
            return proc.memory_info().rss

    def _rss(self, proc) -> float:
        try:
            total = self._one(proc)
            for child in proc.children(recursive=True):
                try:
                    total += self._one(child)
                except self.psutil.Error:
                    pass
            return total / 2**20
        except self.psutil.Error:
            return 0.0

    def _sample(self):
        while not self._stop.is_set():
            try:
                workers = self.root.children()
            except self.psutil.Error:
                break
            for w in workers:
                self.peak_mb = max(self.peak_mb, self._rss(w))
            self.whole_mb = max(self.whole_mb, self._rss(self.root))
            time.sleep(0.2)

    def stop(self) -> "PeakMemory":
        self._stop.set()
        self._thread.join()
        return self


def timed(cmd: list[str], cwd: Path, env: dict) -> tuple[float, PeakMemory, subprocess.CompletedProcess]:
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    memory = PeakMemory(proc.pid)
    out, err = proc.communicate()
    memory.stop()
    return time.perf_counter() - start, memory, subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--assignments", nargs="+", default=["01_tensors", "03_autograd"])
    parser.add_argument("--keep", action="store_true", help="keep the temporary course folder")
    parser.add_argument("--batch-only", action="store_true", help="skip the (slow) nbgrader half")
    args = parser.parse_args()

    from autograder.course import CourseError, load_course
    try:
        course = load_course(REPO / "course.yaml")  # also checks that solutions/ exists
    except CourseError as exc:
        print(f"benchmark: skipped: {exc}")
        return 0
    try:
        import autograder.nbgrader_course  # noqa: F401 - `autograder nbgrader init` needs it
    except ImportError:
        print("benchmark: skipped: autograder/nbgrader_course.py has not landed (no `nbgrader init`)")
        return 0
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    env["PATH"] = f"{BIN}{os.pathsep}{env['PATH']}"
    work = Path(tempfile.mkdtemp(prefix="batch-vs-nbgrader-"))
    try:
        course_dir = work / "course"
        subprocess.run([str(BIN / "autograder"), "nbgrader", "init", str(course_dir)], check=True,
                       env=env, capture_output=True, cwd=REPO)
        students = make_class(course, args.assignments, args.students, course_dir / "submitted")
        n = len(students)
        print(f"class: {n} students x {len(args.assignments)} assignments ({', '.join(args.assignments)}), "
              f"{args.jobs} jobs, {os.cpu_count()} cores visible")

        batch_s, batch_mem, proc = timed(
            [str(BIN / "autograder"), "batch", str(course_dir / "submitted"), "--out", str(work / "batch-out"),
             "--jobs", str(args.jobs), *sum((["--assignment", a] for a in args.assignments), [])],
            REPO, env)
        if proc.returncode != 0:
            print(f"autograder batch failed:\n{proc.stderr[-2000:]}")
            return 1
        print(f"autograder batch : {batch_s:7.1f} s, {batch_s / n:5.2f} s/submission, "
              f"{3600 * n / batch_s:7.0f} submissions/hour, peak {batch_mem.peak_mb:6.0f} MB per worker")

        nbgrader = BIN / "nbgrader"
        if args.batch_only:
            return 0
        if not nbgrader.exists():
            print("nbgrader autograde: skipped: nbgrader is not installed in this environment")
            return 0
        for aid in args.assignments:
            subprocess.run([str(nbgrader), "generate_assignment", aid, "--force"], cwd=course_dir, env=env,
                           check=True, capture_output=True)
        nb_s, nb_mem = 0.0, 0.0
        for aid in args.assignments:
            seconds, memory, proc = timed([str(nbgrader), "autograde", aid, "--force"], course_dir, env)
            if proc.returncode != 0:
                print(f"nbgrader autograde {aid} failed:\n{proc.stderr[-2000:]}")
                return 1
            nb_s, nb_mem = nb_s + seconds, max(nb_mem, memory.whole_mb)
        print(f"nbgrader autograde: {nb_s:7.1f} s, {nb_s / n:5.2f} s/submission, "
              f"{3600 * n / nb_s:7.0f} submissions/hour, peak {nb_mem:6.0f} MB (one process tree)")
        ratio = nb_s / batch_s
        verdict = "meets" if ratio >= 3 and batch_mem.peak_mb <= 1536 else "misses"
        print(f"ratio: batch is {ratio:.1f}x nbgrader's throughput; {verdict} the target "
              f"(>= 3x, <= 1536 MB per worker)")
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
