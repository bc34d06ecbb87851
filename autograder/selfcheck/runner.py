"""Run an assignment's visible tests in process and describe the result to a student.

Two kinds of visible test run here: the scored ones (tests/test_<id>.py, which grading
runs too) and the self-check-only ones (tests/unscored/test_<id>.py, worth no points,
never run at grading), which give every exercise at least one cheap check so a blank
exercise never looks fine.

Shipped to students (see release.STUDENT_MODULES), so it imports only the plugin and the
submission interface: never the report model, the course file or anything hidden.
"""
from __future__ import annotations

from pathlib import Path

import torch

from autograder.plugin import GradingPlugin, TestOutcome
from autograder.submission import Submission

TESTS_DIR = Path(__file__).resolve().parent / "tests"
UNSCORED_DIR = TESTS_DIR / "unscored"
# Self-check inputs use their own seed, so an answer tuned to them proves nothing at grading.
SELF_CHECK_SEED = 0
HIDDEN_REMINDER = ("Hidden tests also run when your work is graded: a green self-check is a "
                   "good sign, not your final grade.")


def visible_test_files(assignment_id: str) -> dict[str, str]:
    """{path: "visible"} of the assignment's scored and self-check-only test files."""
    paths = [folder / f"test_{assignment_id}.py" for folder in (TESTS_DIR, UNSCORED_DIR)]
    files = {str(p): "visible" for p in paths if p.is_file()}
    if not files:
        raise FileNotFoundError(f"no self-check tests for {assignment_id!r} (looked in {TESTS_DIR})")
    return files


def run_visible(assignment_id: str, submission: Submission, *, exercise: str | None = None,
                seed: int = SELF_CHECK_SEED, device: torch.device | str | None = None,
                course=None) -> list[TestOutcome]:
    """The visible tests of one assignment (or of one exercise) against `submission`."""
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    plugin = GradingPlugin(visible_test_files(assignment_id), lambda _aid: submission,
                           course=course, seed=seed, device=device, exercise=exercise)
    outcomes = plugin.run()
    if plugin.course_error:
        raise RuntimeError(plugin.course_error)
    if plugin.collection_errors:
        raise RuntimeError("the self-check tests could not be loaded: " + "; ".join(plugin.collection_errors))
    return outcomes


MARKS = {"passed": "PASS", "failed": "FAIL", "skipped": "SKIP"}
NOT_WRITTEN = "not written yet"


def is_not_written(outcome: TestOutcome) -> bool:
    """The test met the release's stub (the plugin's message for NotImplementedError)."""
    return outcome.status != "passed" and outcome.message.startswith(NOT_WRITTEN)


class SelfCheckResult:
    """What `check(...)` returns: true only when every check passed. Its repr is a one-line
    summary, so a notebook shows a readable line instead of `Out: True`."""

    def __init__(self, scope: str, outcomes: list[TestOutcome], note: str = ""):
        self.scope, self.outcomes, self.note = scope, list(outcomes), note
        self.passed = sum(o.status == "passed" for o in self.outcomes)
        self.not_written = sorted({o.exercise or o.name for o in self.outcomes if is_not_written(o)})

    def __bool__(self) -> bool:
        return bool(self.outcomes) and all(o.status in ("passed", "skipped") for o in self.outcomes)

    def __repr__(self) -> str:
        if self.note:
            return f"self-check of {self.scope}: {self.note}"
        text = f"self-check of {self.scope}: {self.passed} of {len(self.outcomes)} checks passed"
        if self.not_written:
            text += f"; not written yet: {', '.join(self.not_written)}"
        return text


def format_results(assignment_id: str, outcomes: list[TestOutcome], exercise: str | None = None) -> str:
    scope = f"exercise {exercise}" if exercise else assignment_id
    if not outcomes:
        return f"No self-check tests for {scope}.\n{HIDDEN_REMINDER}"
    lines = [f"Self-check for {scope}:"]
    for o in outcomes:
        if is_not_written(o):
            # The plugin's message carries the stub's traceback: for a blank exercise the
            # one line that matters is what to do.
            lines.append(f"  [TODO] {o.name}")
            lines.append(f"         {o.exercise or 'this exercise'} is not written yet: replace "
                         f"`raise NotImplementedError()` with your code")
            continue
        mark = MARKS.get(o.status, o.status.upper())
        lines.append(f"  [{mark}] {o.name}")
        if o.status != "passed" and o.message:
            lines.extend(f"         {line}" for line in o.message.splitlines())
    passed = sum(o.status == "passed" for o in outcomes)
    counted = [o for o in outcomes if o.max_score > 0]
    score = sum(o.score for o in counted)
    total = sum(o.max_score for o in counted)
    lines.append(f"{passed} of {len(outcomes)} checks passed ({score:g}/{total:g} points from the visible "
                 f"tests that also count at grading).")
    if passed == len(outcomes):
        lines.append("All visible checks pass.")
    lines.append(HIDDEN_REMINDER)
    return "\n".join(lines)
