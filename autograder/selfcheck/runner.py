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

from autograder.localize import N_, translator
from autograder.plugin import GradingPlugin, TestOutcome
from autograder.submission import Submission

TESTS_DIR = Path(__file__).resolve().parent / "tests"
UNSCORED_DIR = TESTS_DIR / "unscored"
# Self-check inputs use their own seed, so an answer tuned to them proves nothing at grading.
SELF_CHECK_SEED = 0
HIDDEN_REMINDER = N_("Hidden tests also run when your work is graded: a green self-check is a "
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


MARKS = {"passed": N_("PASS"), "failed": N_("FAIL"), "skipped": N_("SKIP")}
NOT_WRITTEN = "not written yet"


def is_not_written(outcome: TestOutcome) -> bool:
    """The test met the release's stub (the plugin's message for NotImplementedError)."""
    return outcome.status != "passed" and outcome.message.startswith(NOT_WRITTEN)


class SelfCheckResult:
    """What `check(...)` returns: true only when every check passed. Its repr is a one-line
    summary in the notebook's language, so a notebook shows a readable line instead of
    `Out: True`."""

    def __init__(self, scope: str, outcomes: list[TestOutcome], note: str = "", language: str | None = None):
        self.scope, self.outcomes, self.note, self.language = scope, list(outcomes), note, language
        self.passed = sum(o.status == "passed" for o in self.outcomes)
        self.not_written = sorted({o.exercise or o.name for o in self.outcomes if is_not_written(o)})

    def __bool__(self) -> bool:
        return bool(self.outcomes) and all(o.status in ("passed", "skipped") for o in self.outcomes)

    def __repr__(self) -> str:
        translate = translator(self.language)
        scope = self.scope
        if self.note:
            note = self.note
            return translate(N_(f"self-check of {scope}: {note}"))
        passed, total = self.passed, len(self.outcomes)
        if self.not_written:
            names = ", ".join(self.not_written)
            return translate(N_(f"self-check of {scope}: {passed} of {total} checks passed; "
                                f"not written yet: {names}"))
        return translate(N_(f"self-check of {scope}: {passed} of {total} checks passed"))


def format_results(assignment_id: str, outcomes: list[TestOutcome], exercise: str | None = None,
                   language: str | None = None) -> str:
    """What a student reads after check(): one line per check, what to fix, the totals;
    in `language` (the outcomes arrive in English and are translated here)."""
    translate = translator(language)
    scope = translate(N_(f"exercise {exercise}")) if exercise else assignment_id
    if not outcomes:
        return translate(N_(f"No self-check tests for {scope}.")) + "\n" + translate(HIDDEN_REMINDER)
    lines = [translate(N_(f"Self-check for {scope}:"))]
    for o in outcomes:
        name = translate(o.name)
        if is_not_written(o):
            # The plugin's message carries the stub's traceback: for a blank exercise the
            # one line that matters is what to do.
            lines.append(f"  [{translate(N_('TODO'))}] {name}")
            function = o.exercise
            lines.append("         " + (translate(N_(f"{function} is not written yet: replace "
                                                     f"`raise NotImplementedError()` with your code"))
                                       if function else
                                       translate(N_("this exercise is not written yet: replace "
                                                    "`raise NotImplementedError()` with your code"))))
            continue
        lines.append(f"  [{translate(MARKS.get(o.status, o.status.upper()))}] {name}")
        if o.status != "passed" and o.message:
            lines.extend(f"         {line}" for line in translate(o.message).splitlines())
    passed, total = sum(o.status == "passed" for o in outcomes), len(outcomes)
    counted = [o for o in outcomes if o.max_score > 0]
    score, points = f"{sum(o.score for o in counted):g}", f"{sum(o.max_score for o in counted):g}"
    lines.append(translate(N_(f"{passed} of {total} checks passed ({score}/{points} points from the visible "
                              f"tests that also count at grading).")))
    if passed == total:
        lines.append(translate(N_("All visible checks pass.")))
    lines.append(translate(HIDDEN_REMINDER))
    return "\n".join(lines)
