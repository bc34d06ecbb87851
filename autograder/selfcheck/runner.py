"""Run an assignment's visible tests in process and describe the result to a student.

Shipped to students (see release.STUDENT_MODULES), so it imports only the plugin and the
submission interface: never the report model, the course file or anything hidden.
"""
from __future__ import annotations

from pathlib import Path

import torch

from autograder.plugin import GradingPlugin, TestOutcome
from autograder.submission import Submission

TESTS_DIR = Path(__file__).resolve().parent / "tests"
# Self-check inputs use their own seed, so an answer tuned to them proves nothing at grading.
SELF_CHECK_SEED = 0
HIDDEN_REMINDER = ("Hidden tests also run when your work is graded: a green self-check is a "
                   "good sign, not your final grade.")


def visible_tests(assignment_id: str) -> Path:
    path = TESTS_DIR / f"test_{assignment_id}.py"
    if not path.is_file():
        raise FileNotFoundError(f"no self-check tests for {assignment_id!r} (looked for {path})")
    return path


def run_visible(assignment_id: str, submission: Submission, *, exercise: str | None = None,
                seed: int = SELF_CHECK_SEED, device: torch.device | str | None = None,
                course=None) -> list[TestOutcome]:
    """The visible tests of one assignment (or of one exercise) against `submission`."""
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    plugin = GradingPlugin({str(visible_tests(assignment_id)): "visible"}, lambda _aid: submission,
                           course=course, seed=seed, device=device, exercise=exercise)
    outcomes = plugin.run()
    if plugin.course_error:
        raise RuntimeError(plugin.course_error)
    if plugin.collection_errors:
        raise RuntimeError("the self-check tests could not be loaded: " + "; ".join(plugin.collection_errors))
    return outcomes


MARKS = {"passed": "PASS", "failed": "FAIL", "skipped": "SKIP"}


def format_results(assignment_id: str, outcomes: list[TestOutcome], exercise: str | None = None) -> str:
    scope = f"exercise {exercise}" if exercise else assignment_id
    if not outcomes:
        return f"No self-check tests for {scope}.\n{HIDDEN_REMINDER}"
    lines = [f"Self-check for {scope}:"]
    for o in outcomes:
        mark = MARKS.get(o.status, o.status.upper())
        lines.append(f"  [{mark}] {o.name}")
        if o.status != "passed" and o.message:
            lines.extend(f"         {line}" for line in o.message.splitlines())
    passed = sum(o.status == "passed" for o in outcomes)
    counted = [o for o in outcomes if o.max_score > 0]
    score = sum(o.score for o in counted)
    total = sum(o.max_score for o in counted)
    lines.append(f"{passed} of {len(outcomes)} checks passed ({score:g}/{total:g} points of the visible tests).")
    if passed == len(outcomes):
        lines.append("All visible checks pass.")
    lines.append(HIDDEN_REMINDER)
    return "\n".join(lines)
