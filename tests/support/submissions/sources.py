"""Submissions for the kit's own tests of the grading tests: the reference code, and
variants of it made by appending redefinitions (a later `def` replaces an earlier one), so
a variant never depends on how the reference notebook happens to be written.

The reference is the solution notebook (solutions/<id>/<id>.ipynb, code cells minus demo
and selfcheck cells, as the grader loads them).
"""
from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class Variant:
    assignment: str
    what: str       # the mistake (mutants) or the different style (alternatives), in words
    code: str       # appended to the reference source


def variant(assignment: str, what: str, code: str) -> Variant:
    return Variant(assignment, what, textwrap.dedent(code).strip() + "\n")


def reference_source(assignment: str) -> str:
    from autograder.load import load_code
    return load_code(ROOT / "solutions" / assignment / f"{assignment}.ipynb").source


def variant_source(v: Variant) -> str:
    return reference_source(v.assignment) + "\n\n# --- variant: " + v.what + "\n" + v.code


def stand_in_accuracy(*args, **kwargs):
    """A passing accuracy result, patched over `measure_accuracy` for variants whose
    change cannot affect training: the real check trains a LeNet (seconds each)."""
    from autograder.accuracy import AccuracyResult
    return AccuracyResult(grader_accuracy=0.9, student_eval_accuracy=0.9, grader_validation_accuracy=0.9,
                          threshold=0.5, agreement=0.02)


def points_lost(result) -> list:
    """The tests of an AssignmentResult that lost points (skips excluded)."""
    return [t for t in result.tests if t.score < t.max_score and t.status != "skipped"]
