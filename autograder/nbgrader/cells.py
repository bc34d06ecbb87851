"""What one nbgrader grade cell shows: an exercise's score and its tests, as wrapped text.

`autograder nbgrader init` gives every exercise of a notebook one grade cell worth the
points of that exercise's tests (autograder/nbgrader/exercises.py groups them). During
`nbgrader autograde`, autograder/nbgrader/autograde.py grades the notebook in the
sandbox and asks this module, for each of those cells, for the score nbgrader should
record and the text the student reads in the feedback.

nbgrader's maximum per cell is fixed when the assignment is generated, and so is the
kit's on every runner: a CUDA-only check that cannot run keeps its points in the maximum
and is scored by course.yaml's `devices.without_gpu` (plugin.GradingPlugin), so a cell's
score is the sum of its tests' scores, the very numbers `autograder grade` reports.
"""
from __future__ import annotations

import math
import re
import textwrap
from dataclasses import dataclass, field

from autograder.localize import N_, translator
from autograder.report import AssignmentResult, TestResult

WIDTH = 78
STATUS_MARK = {"passed": N_("PASS"), "failed": N_("FAIL"), "skipped": N_("SKIP")}
NOT_WRITTEN = "not written yet"
# Absolute paths under the usual top-level folders: the grader's machine layout is no
# business of the student's (temporary folders, the instructor's home, the venv).
SERVER_PATH = re.compile(r"(?<![\w.])/(?:home|tmp|work|usr|opt|srv|var|root|mnt|Users|private|nix)(?:/[^\s'\"():,]+)+")


@dataclass
class ExerciseGrade:
    exercise: str
    points: float                 # the cell's fixed maximum in nbgrader's gradebook
    tests: list[TestResult] = field(default_factory=list)
    score: float = 0.0            # what nbgrader records for the cell
    notes: list[str] = field(default_factory=list)  # notebook-level problems shown here

    @property
    def kit_score(self) -> float:
        return sum(t.score for t in self.tests)

    @property
    def not_written(self) -> bool:
        graded = [t for t in self.tests if t.max_score > 0 and t.status != "skipped"]  # CUDA policy: not the student's
        return bool(graded) and all(t.message.startswith(NOT_WRITTEN) for t in graded)  # English: translated at render


def clamp_score(value, points) -> float:
    """A plain float in [0, points]; NaN and non-numbers count as 0. nbgrader raises on a
    value above the cell's points and gives full credit for a negative one."""
    try:
        value, points = float(value), float(points)
    except (TypeError, ValueError):
        return 0.0
    if not math.isfinite(value) or not math.isfinite(points) or points <= 0:
        return 0.0
    return round(min(max(value, 0.0), points), 6) + 0.0


def grade_exercises(result: AssignmentResult, cell_points: dict[str, float], exercise_of) -> dict[str, ExerciseGrade]:
    """{exercise: grade} for the grade cells `cell_points` ({exercise: fixed points});
    exercise_of(test) -> exercise name. A cell scores its tests' scores (within its points)."""
    grades = {e: ExerciseGrade(e, float(p)) for e, p in cell_points.items()}
    for test in result.tests:
        grades[exercise_of(test)].tests.append(test)
    for grade in grades.values():
        grade.score = clamp_score(grade.kit_score, grade.points)
    return grades


def render(grade: ExerciseGrade, solution_cell: int | None = None, language: str | None = None) -> str:
    """The student-facing text of one grade cell in `language` (the report's names and
    messages arrive in English and are translated here), wrapped to WIDTH columns."""
    tr = translator(language)
    exercise, score, points = grade.exercise, f"{grade.score:g}", f"{grade.points:g}"
    lines = [tr(N_(f"{exercise}: {score} / {points} point") if grade.points == 1
                else N_(f"{exercise}: {score} / {points} points"))]
    for note in grade.notes:
        lines += _wrap(tr(note), "  ", "    ")
    if grade.not_written:
        cell = solution_cell
        lines += _wrap(tr(N_(f"not written yet: replace `raise NotImplementedError()` in cell {cell} with your code.")
                          if cell else N_("not written yet: replace `raise NotImplementedError()` with your code.")),
                       "  ", "  ")
    else:
        for test in grade.tests:
            mark = tr(STATUS_MARK.get(test.status, test.status.upper()))
            lines += _wrap(f"{mark:<5} {tr(test.name)} ({test.score:g}/{test.max_score:g})", "  ", "        ")
            if test.message and test.status != "passed":
                for paragraph in scrub(tr(test.message)).splitlines():
                    lines += _wrap(paragraph, "        ", "          ") if paragraph.strip() else []
    return "\n".join(lines)


def scrub(text: str, roots: tuple[str, ...] = ()) -> str:
    """`text` without the grader's file system paths: known roots first, then any
    absolute path under the usual top-level folders."""
    for root in sorted((r for r in roots if r and r != "/"), key=len, reverse=True):
        text = text.replace(root.rstrip("/") + "/", "").replace(root, "")
    return SERVER_PATH.sub("<path>", text)


def _wrap(text: str, first: str, rest: str) -> list[str]:
    return textwrap.wrap(text, WIDTH, initial_indent=first, subsequent_indent=rest,
                         break_long_words=False, break_on_hyphens=False) or [first.rstrip()]
