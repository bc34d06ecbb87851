"""Grade the same class with `autograder batch` and with plain `nbgrader autograde`, fairly.

Plain nbgrader means nbgrader as a course without the kit would use it: its default
autograde pipeline (a Jupyter kernel runs every cell of each notebook) and test cells
holding `assert`s. The notebooks are the kit's own, with each `check("<exercise>")`
self-check cell replaced by such an nbgrader test cell (PLAIN_TESTS below) and the
self-check setup cell removed: the same files for both tools (the kit's loader skips
nbgrader test cells). The class: the reference solution, the blank stubs and partial
solutions (the stubs with the first k exercises solved), in nbgrader's layout.
nbgrader runs one process per assignment, all in parallel (its fair best on the same
cores); batch runs with and without --assignment.

Printed per class size: wall time (batch: the median of --runs runs, with their range,
and the CPU time the virtual machine's host took meanwhile, "host steal"),
seconds per submission, the throughput ratio, and whole-process-tree peak memory
(proportional set size, so pages shared between forked processes count once; sampled
every 0.2 s); then each tool's fixed cost and per-student time (a line through the
3-student class and the largest; nbgrader's 3-student class is timed three times and
its median taken, its larger classes once), the memory of 2 workers against 1, and the
machine's load average before each class size.

Times come from runs nobody samples: reading a tree's PSS walks the page tables of every
process in it, and while it does the kernel holds off their forks; that slowed batch (a
tree of 400 MB processes forking sandboxes) by about 20 %. Peak memory comes from a
second, sampled run of each configuration (nbgrader's at the smallest measured class:
one kernel per assignment, whatever the class size).

    python benchmarks/batch_vs_nbgrader.py [--students 24 200] [--jobs 2] [--runs 3] [--nbgrader-max 24]

nbgrader is run for class sizes up to --nbgrader-max; above that its time is
extrapolated from its own line (fixed cost + per-student time), and the output says so.
Target (issue 25), with 2 jobs on 2 cores, with and without --assignment: batch >= 30x
nbgrader's throughput (seconds per student) at the largest class and >= 15x at the
smallest above 3, fixed cost under 3 s, the tree's memory within 1.5x of one worker's.
"""
from __future__ import annotations

import argparse
import copy
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat

from autograder.release import released_text

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SMALL_CLASS_RUNS = 3  # the 3-student class is timed this many times (median)


# One plain nbgrader test cell per exercise: what an instructor without the kit writes.
PLAIN_TESTS = {
    "01_tensors": {
        "make_empty": "t = make_empty(2, 3)\nassert t.shape == (2, 3) and t.dtype == torch.float32",
        "make_uniform": "t = make_uniform(40, 5)\nassert t.shape == (40, 5) and t.dtype == torch.float32\n"
                        "assert ((t >= 0) & (t < 1)).all() and t.std() > 0",
        "zeros_long": "t = zeros_long(2, 3)\nassert t.shape == (2, 3) and t.dtype == torch.long and (t == 0).all()",
        "from_list": "t = from_list([[5, 3.5]])\nassert t.shape == (1, 2) and t.tolist() == [[5.0, 3.5]]",
        "ones_double_like": "x = torch.zeros(2, 3)\nt = ones_double_like(x)\n"
                            "assert t.dtype == torch.float64 and t.shape == x.shape and (t == 1).all()",
        "randn_float_like": "x = torch.zeros(400, 2, dtype=torch.float64)\nt = randn_float_like(x)\n"
                            "assert t.dtype == torch.float32 and t.shape == x.shape and 0.8 < t.std() < 1.2",
        "add_out": "out = torch.empty(2)\nadd_out(torch.ones(2), torch.ones(2), out)\n"
                   "assert torch.equal(out, torch.full((2,), 2.0))",
        "add_inplace": "x, y = torch.ones(3), torch.zeros(3)\nr = add_inplace(x, y)\n"
                       "assert r is y and torch.equal(y, torch.ones(3))",
        "second_column": "x = torch.arange(6).view(3, 2)\nc = second_column(x)\n"
                         "assert c.tolist() == [1, 3, 5] and c.data_ptr() == x[:, 1].data_ptr()",
        "views_of": "x = torch.arange(16.0)\nflat, rows = views_of(x)\n"
                    "assert flat.shape == (16,) and rows.shape == (2, 8) and flat.data_ptr() == x.data_ptr()",
        "to_python_number": "assert to_python_number(torch.tensor([1.5])) == 1.5\n"
                            "assert type(to_python_number(torch.tensor(7))) is int",
    },
    "03_autograd": {
        "tracked_ones": "t = tracked_ones(2, 2)\nassert t.requires_grad and t.is_leaf and (t == 1).all()",
        "lesson_graph": "x = torch.ones(2, 2, requires_grad=True)\ny, z, out = lesson_graph(x)\n"
                        "assert float(out.detach()) == 27.0 and torch.equal(z, torch.full((2, 2), 27.0))",
        "lesson_gradient": "g = lesson_gradient(torch.ones(2, 2))\nassert torch.allclose(g, torch.full((2, 2), 4.5))",
        "vector_jacobian_product": "v = torch.tensor([0.1, 1.0, 0.001])\n"
                                   "j = vector_jacobian_product(lambda t: t * 2, torch.randn(3), v)\n"
                                   "assert torch.allclose(j, 2 * v)",
        "no_grad_double": "x = torch.ones(2, requires_grad=True)\nr = no_grad_double(x)\n"
                          "assert not r.requires_grad and torch.equal(r, torch.full((2,), 2.0))",
        "detached": "x = torch.ones(2, requires_grad=True)\nd = detached(x)\n"
                    "assert not d.requires_grad and d.data_ptr() == x.data_ptr()",
        "accumulated_grad": "x = torch.tensor([1.0, -2.0])\nassert torch.allclose(accumulated_grad(x, 3), 6 * x)",
    },
}
_CHECK_CALL = re.compile(r"""^check\(\s*["']([A-Za-z_]\w*)["']\s*\)\s*$""")


def as_plain_nbgrader(nb, assignment_id: str):
    """The notebook as a plain nbgrader course has it: each `check("<exercise>")` cell
    becomes that exercise's assert test cell (1 point), other self-check cells go."""
    tests = PLAIN_TESTS.get(assignment_id)
    if tests is None:
        raise SystemExit(f"benchmark: no plain nbgrader test cells written for {assignment_id}; "
                         f"choose among {', '.join(PLAIN_TESTS)}")
    cells = []
    for cell in nb.cells:
        if "selfcheck" not in cell.get("metadata", {}).get("tags", []):
            cells.append(cell)
            continue
        match = _CHECK_CALL.match(cell.source.strip())
        if match and match.group(1) in tests:
            test = nbformat.v4.new_code_cell(tests[match.group(1)])
            test.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True, "points": 1,
                                         "grade_id": f"test_{match.group(1)}", "schema_version": 3}
            cells.append(test)
    missing = set(tests) - {c.metadata.get("nbgrader", {}).get("grade_id", "")[5:] for c in cells}
    if missing:
        raise SystemExit(f"benchmark: {assignment_id} has no check cell for {', '.join(sorted(missing))}")
    nb = copy.copy(nb)
    nb.cells = cells
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def solution_cells(nb) -> dict[str, int]:
    """grade_id -> cell index of the nbgrader solution cells."""
    return {c.metadata["nbgrader"]["grade_id"]: i for i, c in enumerate(nb.cells)
            if c.metadata.get("nbgrader", {}).get("solution")}


def make_class(course, assignment_ids: list[str], students: int, submitted: Path,
               plain_nbgrader: bool = False) -> list[str]:
    """The class's notebooks under submitted/<student>/<assignment>/; with plain_nbgrader,
    as a plain nbgrader course has them (as_plain_nbgrader)."""
    names = []
    books = {}
    for aid in assignment_ids:
        a = course.assignment(aid)
        solved = nbformat.read(course.solution_notebook(a), as_version=4)
        stub = nbformat.reads(released_text(course, a), as_version=4)  # what `release` gives students
        if plain_nbgrader:
            solved, stub = as_plain_nbgrader(solved, aid), as_plain_nbgrader(stub, aid)
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


class TreeMemory:
    """Peak of the summed PSS of one or more process trees, sampled together."""

    def __init__(self, pids: list[int]):
        import psutil
        self.psutil, self.roots = psutil, [psutil.Process(p) for p in pids]
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _one(self, proc) -> int:
        try:
            return proc.memory_full_info().pss
        except (AttributeError, self.psutil.AccessDenied):
            return proc.memory_info().rss

    def _total(self) -> float:
        total = 0
        for root in self.roots:
            try:
                procs = [root, *root.children(recursive=True)]
            except self.psutil.Error:
                continue
            for proc in procs:
                try:
                    total += self._one(proc)
                except self.psutil.Error:
                    pass
        return total / 2**20

    def _sample(self):
        while not self._stop.is_set():
            self.peak_mb = max(self.peak_mb, self._total())
            time.sleep(0.2)

    def stop(self) -> "TreeMemory":
        self._stop.set()
        self._thread.join()
        return self


@dataclass
class Run:
    seconds: float
    peak_mb: float
    steal_s: float = float("nan")  # CPU time the virtual machine's host took meanwhile


def stolen_seconds() -> float:
    """All cores' steal time so far (Linux /proc/stat; NaN elsewhere): time a virtual
    machine's host gave to others while this one had work. It is why the same run on
    the same code can take 25 or 33 s here; printed so a reader can tell."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
        return int(fields[8]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def timed_parallel(cmds: list[list[str]], cwd: Path, env: dict, sample_memory: bool = False) -> Run:
    """Run the commands in parallel; the wall time, and the tree's peak memory when
    sample_memory (NaN otherwise: sampling slows what it samples)."""
    stolen = stolen_seconds()
    start = time.perf_counter()
    procs = [subprocess.Popen(c, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for c in cmds]
    memory = TreeMemory([p.pid for p in procs]) if sample_memory else None
    outputs = [p.communicate() for p in procs]
    if memory is not None:
        memory.stop()
    seconds = time.perf_counter() - start
    for cmd, proc, (_, err) in zip(cmds, procs, outputs):
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd[:3])} failed:\n{err[-2000:]}")
    return Run(seconds, memory.peak_mb if memory is not None else float("nan"), stolen_seconds() - stolen)


def median_run(runs: list[Run]) -> Run:
    return sorted(runs, key=lambda r: r.seconds)[len(runs) // 2]


def line_through(small: tuple[int, float], large: tuple[int, float]) -> tuple[float, float]:
    """(fixed seconds, seconds per student) of the line through two (students, seconds)."""
    (n1, t1), (n2, t2) = small, large
    per = (t2 - t1) / (n2 - n1)
    return t1 - per * n1, per


def load_average() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, nargs="+", default=[24, 200])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3, help="batch runs per class size and configuration (median)")
    parser.add_argument("--assignments", nargs="+", default=["01_tensors", "03_autograd"])
    parser.add_argument("--nbgrader-max", type=int, default=24,
                        help="largest class nbgrader really grades; larger ones are extrapolated")
    parser.add_argument("--keep", action="store_true", help="keep the temporary course folders")
    args = parser.parse_args()

    from autograder.course import CourseError, load_course
    try:
        course = load_course(REPO / "course.yaml")  # also checks that solutions/ exists
    except CourseError as exc:
        print(f"benchmark: skipped: {exc}")
        return 0
    nbgrader = BIN / "nbgrader"
    if not nbgrader.exists():
        print("benchmark: skipped: nbgrader is not installed in this environment")
        return 0
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    env["PATH"] = f"{BIN}{os.pathsep}{env['PATH']}"
    sizes = sorted(set(args.students))
    if not any(3 < n <= args.nbgrader_max for n in sizes):
        parser.error("--nbgrader-max must let nbgrader grade one of --students above 3: its line needs two sizes")
    print(f"machine: {os.cpu_count()} cores visible, load average {load_average()} (1/5/15 min) at start; "
          f"{args.jobs} batch jobs; assignments {', '.join(args.assignments)}")
    work = Path(tempfile.mkdtemp(prefix="batch-vs-nbgrader-"))
    only = sum((["--assignment", a] for a in args.assignments), [])

    def make_course(n: int) -> Path:
        """A plain nbgrader course (nbgrader's default pipeline) holding the class."""
        course_dir = work / f"course{n}"
        course_dir.mkdir()
        (course_dir / "nbgrader_config.py").write_text(
            'c = get_config()  # noqa: F821\nc.CourseDirectory.course_id = "bench"\n'
            'c.CourseDirectory.root = __import__("os").path.dirname(__import__("os").path.abspath(__file__))\n')
        for aid in args.assignments:
            a = course.assignment(aid)
            source = course_dir / "source" / aid
            source.mkdir(parents=True)
            nbformat.write(as_plain_nbgrader(nbformat.read(course.solution_notebook(a), as_version=4), aid),
                           source / a.notebook)
            subprocess.run([str(nbgrader), "generate_assignment", aid, "--force"], cwd=course_dir, env=env,
                           check=True, capture_output=True)
        make_class(course, args.assignments, n, course_dir / "submitted", plain_nbgrader=True)
        return course_dir

    def batch(course_dir: Path, name: str, extra: list[str], jobs: int, sample_memory: bool = False) -> Run:
        out = work / f"{course_dir.name}-{name}{'-sampled' if sample_memory else ''}"  # a new folder: no resume
        return timed_parallel([[str(BIN / "autograder"), "batch", str(course_dir / "submitted"),
                                "--out", str(out), "--jobs", str(jobs), *extra]], REPO, env, sample_memory)

    def nbgrader_scores(course_dir: Path) -> dict[str, float]:
        from nbgrader.api import Gradebook
        with Gradebook(f"sqlite:///{course_dir / 'gradebook.db'}", course_id="bench") as gb:
            return {s.student.id: sum(sub.score for a in args.assignments
                                      for sub in [gb.find_submission(a, s.student.id)])
                    for s in gb.find_assignment(args.assignments[0]).submissions}

    def nbgrade(course_dir: Path, sample_memory: bool = False) -> Run:
        return timed_parallel([[str(nbgrader), "autograde", aid, "--force"] for aid in args.assignments],
                              course_dir, env, sample_memory)

    try:
        courses = {n: make_course(n) for n in sorted({3, *sizes})}
        # One untimed round of each tool first: the first run after the class is written
        # pays for cold file caches, and neither tool should be charged for that.
        batch(courses[3], "warm-up", only, args.jobs)
        nbgrade(courses[3])
        runs: dict[tuple[str, int], Run] = {}
        in_order: dict[tuple[str, int], list[float]] = {}  # each run's seconds, in the order run
        for n in sorted({3, *sizes}):
            print(f"{n} students: load average {load_average()} before", flush=True)
            for tool, extra in (("batch --assignment", only), ("batch (whole course)", [])):
                # alternating would mix the two configurations' caches; each is run --runs
                # times in a row and its median taken (a single run moves with the machine)
                timed = [batch(courses[n], f"{'only' if extra else 'all'}{i}", extra, args.jobs)
                         for i in range(args.runs)]
                runs[tool, n] = median_run(timed)
                in_order[tool, n] = [r.seconds for r in timed]
            if n <= args.nbgrader_max:
                # nbgrader's 3-student class sets its fixed cost: the median of three
                repeat = SMALL_CLASS_RUNS if n == 3 else 1
                runs["nbgrader", n] = median_run([nbgrade(courses[n]) for _ in range(repeat)])
        # Peak memory: a second, sampled run of each configuration (see the docstring).
        peak: dict[tuple[str, int], float] = {}
        for n in sizes:
            peak["batch --assignment", n] = batch(courses[n], "only", only, args.jobs, sample_memory=True).peak_mb
            peak["batch (whole course)", n] = batch(courses[n], "all", [], args.jobs, sample_memory=True).peak_mb
        nb_sampled_at = max(n for n in courses if n <= args.nbgrader_max)
        peak["nbgrader", nb_sampled_at] = nbgrade(courses[nb_sampled_at], sample_memory=True).peak_mb
        single = batch(courses[min(sizes)], "one-job", only, 1, sample_memory=True)
        # The plain test cells must grade: the reference full marks, the blank stubs none.
        scores = nbgrader_scores(courses[3])
        full = sum(len(PLAIN_TESTS[a]) for a in args.assignments)
        print(f"plain nbgrader scores of the 3-student class: {scores} (maximum {full})")
        if scores.get("reference") != full or scores.get("blank") != 0:
            raise SystemExit("benchmark: the plain nbgrader test cells do not grade the reference and the stubs "
                             "as expected; the comparison would be meaningless")

        nb_sizes = sorted(n for (tool, n) in runs if tool == "nbgrader")
        nb_fixed, nb_per = line_through((nb_sizes[0], runs["nbgrader", nb_sizes[0]].seconds),
                                        (nb_sizes[-1], runs["nbgrader", nb_sizes[-1]].seconds))
        print(f"nbgrader: {len(args.assignments)} `nbgrader autograde` processes in parallel (one per assignment)")
        # The 3-student class sets each tool's fixed cost: its runs too, so a reader can
        # tell a slow first run (cold caches after the tool before it) from a slow median.
        print(f"\n3 students (the fixed cost's end of the line)\n  nbgrader (measured    ): "
              f"{runs['nbgrader', 3].seconds:7.2f} s (median of {SMALL_CLASS_RUNS})")
        for tool in ("batch --assignment", "batch (whole course)"):
            print(f"  {tool:23s}: {runs[tool, 3].seconds:7.2f} s (median of "
                  f"{', '.join(f'{t:.2f}' for t in in_order[tool, 3])} s, in the order run), "
                  f"host steal {runs[tool, 3].steal_s:.1f} s")
        for n in sizes:
            nb_peak = f"peak {peak['nbgrader', nb_sampled_at]:6.0f} MB" + \
                ("" if n == nb_sampled_at else f" (sampled at {nb_sampled_at} students)")
            if ("nbgrader", n) in runs:
                nb, how = runs["nbgrader", n], "measured"
                nb_text = f"{nb.seconds:7.1f} s, {nb.seconds / n:5.2f} s/student, {nb_peak}, host steal {nb.steal_s:.1f} s"
            else:
                nb, how = Run(nb_fixed + nb_per * n, float("nan")), "EXTRAPOLATED"
                nb_text = f"{nb.seconds:7.1f} s, {nb.seconds / n:5.2f} s/student (extrapolated from " \
                          f"{nb_sizes[0]} and {nb_sizes[-1]} students: not run at {n})"
            print(f"\n{n} students x {len(args.assignments)} assignments")
            print(f"  nbgrader ({how:12s}): {nb_text}")
            for tool in ("batch --assignment", "batch (whole course)"):
                r, low, high = runs[tool, n], min(in_order[tool, n]), max(in_order[tool, n])
                print(f"  {tool:23s}: {r.seconds:7.1f} s (median of {args.runs}: {low:.1f}-{high:.1f}), "
                      f"{r.seconds / n:5.3f} s/student, peak {peak[tool, n]:6.0f} MB, host steal "
                      f"{r.steal_s:.1f} s -> {nb.seconds / r.seconds:5.1f}x nbgrader's throughput")
        print()
        for tool in ("batch --assignment", "batch (whole course)"):
            fixed, per = line_through((3, runs[tool, 3].seconds), (sizes[-1], runs[tool, sizes[-1]].seconds))
            print(f"{tool}: fixed cost {fixed:4.2f} s, {per:5.3f} s per student (line through 3 and "
                  f"{sizes[-1]} students)")
        print(f"nbgrader: fixed cost {nb_fixed:4.2f} s, {nb_per:5.3f} s per student")
        two = peak["batch --assignment", min(sizes)]
        print(f"memory: {args.jobs} workers' tree {two:.0f} MB vs 1 worker's tree {single.peak_mb:.0f} MB "
              f"({two / single.peak_mb:.2f}x; target <= 1.5x)")
        big, small = sizes[-1], min(n for n in sizes if n > 3) if any(n > 3 for n in sizes) else sizes[-1]

        def nb_seconds(n: int) -> float:
            return runs["nbgrader", n].seconds if ("nbgrader", n) in runs else nb_fixed + nb_per * n
        met = two <= 1.5 * single.peak_mb
        for tool in ("batch --assignment", "batch (whole course)"):
            ratio_big = nb_seconds(big) / runs[tool, big].seconds
            ratio_small = nb_seconds(small) / runs[tool, small].seconds
            fixed, _ = line_through((3, runs[tool, 3].seconds), (big, runs[tool, big].seconds))
            ok = ratio_big >= 30 and ratio_small >= 15 and fixed < 3
            met = met and ok
            print(f"{tool}: {ratio_big:.1f}x at {big} students (target >= 30x), {ratio_small:.1f}x at {small} "
                  f"(>= 15x), fixed cost {fixed:.2f} s (< 3 s): {'meets' if ok else 'misses'}")
        print(f"verdict: {'meets' if met else 'misses'} the target (issue 25; memory {two / single.peak_mb:.2f}x, "
              f"<= 1.5x)")
        print(f"load average at the end: {load_average()}")
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
