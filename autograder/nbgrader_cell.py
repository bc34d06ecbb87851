"""What an nbgrader grade cell calls: grade this notebook's assignment, return the score.

A grade cell written by `autograder nbgrader init` is

    from autograder.nbgrader_cell import grade_cell
    grade_cell("03_autograd", points=15)

and nbgrader reads the cell's last expression as the partial credit. `grade_cell`:

1. finds the notebook nbgrader is executing: the kernel's working directory is the
   notebook's folder (nbconvert runs kernels there), so `<cwd>/<notebook from
   course.yaml>`; else the `__session__` path Jupyter gives interactive kernels; else,
   as a last resort, the cells this kernel has executed (IPython's `In`);
2. drops nbgrader's test cells (this cell and its siblings) from a copy, so only the
   student's cells are graded, exactly what `autograder grade` sees in the submitted file;
3. runs `autograder grade --format json` on that copy in a fresh, isolated Python
   process (`python -I`, a minimal environment, a scratch working directory). The
   student's code then runs in the kit's sandbox and the hidden tests in that grader
   process, never in this kernel, where the student's cells have already run and could
   have changed torch's defaults or patched modules. Same course.yaml, seed and device
   as `autograder grade`, so the score is the same;
4. prints a short student-facing summary (test names, status, messages) on stdout and
   returns the score as a plain float within [0, points]: nbgrader gives full credit for
   a non-number or a negative number and crashes on one above the points.

Reports are cached per (notebook content, assignment) in this kernel, so several grade
cells of one assignment (e.g. `only="autograd::*"` splits) grade once.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
from fnmatch import fnmatch
from pathlib import Path

import nbformat

# Environment passed to the grading process: enough to run Python and find the device;
# nothing the student's cells could have set to inject code (PYTHONPATH, LD_PRELOAD...).
ENV_KEEP = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "TZ",
            "TMPDIR", "CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER", "OMP_NUM_THREADS",
            "AUTOGRADER_COURSE")
GRADER_MODULE = "autograder.nbgrader_cell"
STATUS_MARK = {"passed": "PASS", "failed": "FAIL", "skipped": "SKIP"}

_reports: dict[tuple[str, str], dict] = {}


class GradeCellError(Exception):
    """Grading could not run (not the student's fault); the cell shows it as an error."""


def grade_cell(assignment: str, points: float, *, only: str | None = None,
               notebook: str | os.PathLike | None = None) -> float:
    """Grade `assignment` in the notebook being executed; return the score in [0, points].

    only: a glob over report test ids (`"autograd::grad_*"`): score just those tests.
    notebook: the notebook file to grade, when it is not found automatically.
    """
    course_path = course_file()
    notebook_name = _notebook_name(course_path, assignment)
    nb, origin = submitted_notebook(notebook_name, notebook)
    entry = grade_notebook(nb, assignment, course_path, notebook_name)
    tests = [t for t in entry.get("tests", []) if only is None or fnmatch(t["id"], only)]
    raw = entry.get("score", 0.0) if only is None else sum(t["score"] for t in tests)
    score = clamp_score(raw, points)
    print(summary(assignment, entry, tests, score, points, origin))
    return score


def clamp_score(value, points) -> float:
    """A plain float in [0, points]; NaN and non-numbers count as 0."""
    try:
        value, points = float(value), float(points)
    except (TypeError, ValueError):
        return 0.0
    if not math.isfinite(value) or not math.isfinite(points) or points <= 0:
        return 0.0
    return round(min(max(value, 0.0), points), 6) + 0.0


def course_file() -> Path:
    """course.yaml: AUTOGRADER_COURSE (nbgrader_config.py sets it), else searched upwards
    from the working directory, else the kit's own."""
    from autograder.course import CourseError, find_course_file
    try:
        path = find_course_file()
    except CourseError:
        path = Path(__file__).resolve().parent.parent / "course.yaml"
    if not path.is_file():
        raise GradeCellError(f"course.yaml not found at {path} (set AUTOGRADER_COURSE)")
    return path.resolve()


def _notebook_name(course_path: Path, assignment: str) -> str:
    from autograder.course import CourseError, load_course
    try:
        return load_course(course_path, check_notebooks=False).assignment(assignment).notebook
    except CourseError as exc:
        raise GradeCellError(str(exc)) from None


def submitted_notebook(notebook_name: str, explicit=None) -> tuple[nbformat.NotebookNode, str]:
    """(notebook, where it came from) for the notebook this kernel is executing."""
    for path in _candidate_paths(notebook_name, explicit):
        if path.is_file():
            try:
                return nbformat.read(path, as_version=4), str(path)
            except Exception as exc:  # nbformat raises several unrelated types
                raise GradeCellError(f"cannot read {path}: {type(exc).__name__}") from None
    nb = history_notebook()
    if nb is None:
        raise GradeCellError(f"{notebook_name} not found in {Path.cwd()} and no kernel history to grade")
    return nb, "the cells this kernel executed (notebook file not found)"


def _candidate_paths(notebook_name: str, explicit):
    if explicit:
        yield Path(explicit)
        return
    if os.environ.get("AUTOGRADER_NOTEBOOK"):
        yield Path(os.environ["AUTOGRADER_NOTEBOOK"])
    yield Path.cwd() / notebook_name
    session = _ipython_namespace().get("__session__") or os.environ.get("JPY_SESSION_NAME")
    if isinstance(session, str) and session.endswith(".ipynb"):
        yield Path(session)


def _ipython_namespace() -> dict:
    try:
        from IPython import get_ipython
    except ImportError:
        return {}
    shell = get_ipython()
    return shell.user_ns if shell is not None else {}


def history_notebook() -> nbformat.NotebookNode | None:
    """A notebook of the cells this kernel executed, grade cells left out."""
    inputs = [src for src in _ipython_namespace().get("In", [])[1:]
              if isinstance(src, str) and src.strip() and GRADER_MODULE not in src]
    if not inputs:
        return None
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in inputs]
    return nb


def is_test_cell(cell) -> bool:
    """nbgrader's autograded test cells (grade, not solution) and anything calling us."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return bool(meta.get("grade") and not meta.get("solution")) or GRADER_MODULE in cell.get("source", "")


def student_cells_only(nb) -> nbformat.NotebookNode:
    nb = nbformat.from_dict(nb)
    nb.cells = [c for c in nb.cells if not (c.cell_type == "code" and is_test_cell(c))]
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return nb


def grade_notebook(nb, assignment: str, course_path: Path, notebook_name: str) -> dict:
    """The assignment's entry of `autograder grade`'s JSON report, cached per content."""
    text = nbformat.writes(student_cells_only(nb), version=4)
    key = (hashlib.sha256(text.encode("utf-8")).hexdigest(), assignment)
    if key not in _reports:
        _reports[key] = _run_grader(text, assignment, course_path, notebook_name)
    return _reports[key]


def grader_env() -> dict:
    env = {k: os.environ[k] for k in ENV_KEEP if k in os.environ}
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # ignored under -I; harmless
    return env


def _run_grader(notebook_text: str, assignment: str, course_path: Path, notebook_name: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="autograder-nbgrader-") as tmp:
        nb_path = Path(tmp) / notebook_name
        nb_path.write_text(notebook_text, encoding="utf-8")
        report_path = Path(tmp) / "report.json"
        cmd = [sys.executable, "-I", "-m", "autograder", "--course", str(course_path), "grade",
               str(nb_path), "--format", "json", "--output", str(report_path), "--assignment", assignment]
        # Own process group: when nbgrader interrupts this cell (its timeout), the grader
        # and its sandbox go down with it instead of running on as orphans.
        proc = subprocess.Popen(cmd, cwd=tmp, env=grader_env(), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        try:
            _, err = proc.communicate()
        except BaseException:
            _kill_group(proc)
            raise
        if proc.returncode != 0 or not report_path.is_file():
            raise GradeCellError(f"`autograder grade` failed (exit {proc.returncode}): {_first_error(err)}")
        report = json.loads(report_path.read_text(encoding="utf-8"))
    for entry in report.get("assignments", []):
        if entry.get("id") == assignment:
            return entry
    raise GradeCellError(f"`autograder grade` returned no result for {assignment}")


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def _first_error(stderr: bytes) -> str:
    # The CLI's own one-line message; never echo more (a traceback may quote grader code).
    for line in stderr.decode("utf-8", "replace").splitlines():
        if line.startswith("autograder:"):
            return line[len("autograder:"):].strip()
    return "no message"


def summary(assignment: str, entry: dict, tests: list[dict], score: float, points: float,
            origin: str) -> str:
    lines = [f"{assignment}: {score:g} / {float(points):g} points (graded from {origin})"]
    if entry.get("status", "graded") != "graded":
        lines.append(f"  the notebook could not be graded: {entry['status']}")
    for err in entry.get("load_errors", []):
        where = ", ".join(f"{k} {err[k]}" for k in ("cell", "line") if err.get(k) is not None)
        lines.append(f"  while running your notebook{' (' + where + ')' if where else ''}: {err.get('message', '')}")
    for note in entry.get("notes", []):
        lines.append(f"  note: {note}")
    for t in tests:
        mark = STATUS_MARK.get(t["status"], t["status"].upper())
        line = f"  {mark:<5} {t['name']} ({t['score']:g}/{t['max_score']:g})"
        if t.get("message") and t["status"] != "passed":
            line += f": {t['message']}"
        lines.append(line)
    return "\n".join(lines)
