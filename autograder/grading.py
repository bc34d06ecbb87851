"""Grade one submission: find the student's files, open their code (sandbox or in
process), run the visible and hidden tests through the grading plugin, build the report.

Entry points: `grade_source` (one assignment from a source string, in process by
default: for unit tests of the test content), `grade_path` (a notebook, .py file or a
folder of them, in the sandbox) and the CLI handlers `run_grade` and `run_check`.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import torch

import autograder
from autograder.course import Course, CourseError, load_course
from autograder.plugin import GradingPlugin, SubmissionUnavailable, TestOutcome
from autograder.report import AssignmentResult, LoadError, Report, TestResult
from autograder.submission import InProcessSubmission, Submission, namespace_from_source

PACKAGE_DIR = Path(autograder.__file__).resolve().parent
VISIBLE_TESTS = PACKAGE_DIR / "selfcheck" / "tests"
HIDDEN_TESTS = PACKAGE_DIR / "tests_hidden"
STUDENT_SUFFIXES = (".ipynb", ".py")
SKIPPED_FOLDERS = {".ipynb_checkpoints", "__pycache__", ".git", ".venv", "node_modules"}


class GradingError(Exception):
    """Grading could not start (bad input); the CLI turns it into exit code 2."""


def default_course() -> Course:
    """course.yaml found upwards from the working directory, else the repository's own.
    Grading needs no solution notebooks, so their presence is not checked."""
    try:
        return load_course(check_notebooks=False)
    except CourseError:
        return load_course(PACKAGE_DIR.parent / "course.yaml", check_notebooks=False)


def test_files(assignment_id: str, visible_only: bool = False) -> dict[str, str]:
    """{path: visibility} of the assignment's test files that exist, visible first."""
    files = {}
    for folder, visibility in ((VISIBLE_TESTS, "visible"), (HIDDEN_TESTS, "hidden")):
        if visible_only and visibility == "hidden":
            continue
        path = folder / f"test_{assignment_id}.py"
        if path.is_file():
            files[str(path)] = visibility
    return files


def resolve_device(device: str | None, course: Course | None = None) -> torch.device:
    choice = device or (course.devices.default if course else "auto")
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if choice == "cuda" and not torch.cuda.is_available():
        raise GradingError("--device cuda: no CUDA device is visible (torch.cuda.is_available() is False)")
    return torch.device(choice)


def run_tests(course: Course, assignment_ids: list[str],
              open_submission: Callable[[str], Submission], *, seed: int, device: torch.device,
              files: dict[str, str] | None = None, check_points: bool = True) -> GradingPlugin:
    """Run the assignments' tests through the plugin; the outcomes are on the result."""
    if files is None:
        files = {}
        for a in assignment_ids:
            files.update(test_files(a))
    expected = {a: course.assignment(a).points for a in assignment_ids} if check_points else None
    plugin = GradingPlugin(files, open_submission, course=course, seed=seed, device=device,
                           cuda_policy=course.devices.without_gpu, expected_points=expected)
    if files:
        try:
            plugin.run()
        finally:
            plugin.close()
    elif expected:
        plugin.course_error = "; ".join(
            f"assignment {a}: no test files (expected tests_hidden/test_{a}.py or "
            f"selfcheck/tests/test_{a}.py)" for a in assignment_ids)
    if plugin.course_error:
        raise CourseError(plugin.course_error)
    if plugin.collection_errors:
        raise RuntimeError("the grader's tests could not be collected: " + "; ".join(plugin.collection_errors))
    return plugin


def to_test_result(o: TestOutcome) -> TestResult:
    return TestResult(id=o.id, name=o.name, category=o.category, score=o.score, max_score=o.max_score,
                      status=o.status, visibility=o.visibility, message=o.message,
                      duration_s=o.duration_s, exercise=o.exercise)


def assignment_result(course: Course, assignment_id: str, outcomes: list[TestOutcome]) -> AssignmentResult:
    info = course.assignment(assignment_id)
    return AssignmentResult(id=assignment_id, title=info.title, course_points=info.points,
                            tests=[to_test_result(o) for o in outcomes if o.assignment == assignment_id])


def cuda_summary(plugin: GradingPlugin) -> dict:
    """What happened to CUDA-only tests, for report.environment."""
    cuda_tests = [o for o in plugin.outcomes.values() if o.cuda]
    if not cuda_tests:
        checks = "none"
    elif plugin.cuda_available:
        checks = "ran"
    else:
        checks = {"exclude": "excluded", "award": "awarded", "fail": "failed"}[plugin.cuda_policy]
    return {"cuda_policy": plugin.cuda_policy, "cuda_checks": checks}


def environment(device: torch.device, seed: int, isolation: dict | None) -> dict:
    return {"python": platform.python_version(), "torch": torch.__version__.split("+")[0],
            "device": str(device), "cuda_available": torch.cuda.is_available(),
            "seed": seed, "isolation": isolation or {"backend": "none"},
            "platform": f"{platform.system()}-{platform.machine()}",
            "autograder": autograder.__version__}


# -- one assignment from source (in process) ---------------------------------------------
def grade_source(assignment_id: str, source: str, backend: str = "inprocess",
                 course: Course | None = None, seed: int | None = None,
                 device: str | None = None) -> AssignmentResult:
    """Grade one assignment's source code (a string) with its visible and hidden tests."""
    course = course or default_course()
    course.assignment(assignment_id)  # an unknown id is a CourseError naming the known ones
    seed = course.seed if seed is None else int(seed)
    grading_device = resolve_device(device, course)
    if backend == "inprocess":
        def open_submission(aid: str) -> Submission:
            return open_in_process(source, aid)
        plugin = run_tests(course, [assignment_id], open_submission, seed=seed, device=grading_device)
        return assignment_result(course, assignment_id, list(plugin.outcomes.values()))
    if backend == "sandbox":
        with tempfile.TemporaryDirectory(prefix="autograder-src-") as tmp:
            path = Path(tmp) / f"{assignment_id}.py"
            path.write_text(source, encoding="utf-8")
            report = grade_path(str(path), course, device=str(grading_device), seed=seed,
                                assignments=[assignment_id])
        return report.assignments[0]
    raise ValueError(f"backend must be 'inprocess' or 'sandbox', got {backend!r}")


def open_in_process(source: str, assignment_id: str, filename: str = "<submission>") -> Submission:
    """Run student source in this process (no isolation) and wrap its namespace; the
    code's own prints are swallowed so they cannot corrupt a JSON report on stdout."""
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            namespace = namespace_from_source(source, filename)
    except SyntaxError as exc:
        raise SubmissionUnavailable(f"the code has a syntax error at line {exc.lineno}: {exc.msg}") from None
    except Exception as exc:  # student code raised at top level: the tests cannot use it
        raise SubmissionUnavailable(f"the code raised while loading: {type(exc).__name__}: {exc}") from None
    return InProcessSubmission(namespace, assignment_id)


