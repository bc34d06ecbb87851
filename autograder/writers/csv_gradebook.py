"""Gradebook CSV: one row per student: student, a score per assignment, total, status,
flags (e.g. "tamper": filter on it to find submissions that modified the grader's code).

Batch grading writes the header once and a row per submission (`header`, `row`,
`write_rows`); `write(report)` gives a one-student gradebook.
"""
from __future__ import annotations

import csv
import io

from autograder.report import Report


def header(assignment_ids: list[str]) -> list[str]:
    return ["student", *assignment_ids, "total", "max_score", "status", "flags"]


def grading_status(report: Report) -> str:
    """'graded' when every assignment's tests ran; else the problems, e.g.
    'missing: 04_lenet; crashed: 06_cuda'."""
    problems: dict[str, list[str]] = {}
    for a in report.assignments:
        if a.status != "graded":
            problems.setdefault(a.status, []).append(a.id)
    if not problems:
        return "graded"
    return "; ".join(f"{status}: {' '.join(ids)}" for status, ids in problems.items())


def number(value: float) -> str:
    """A score as the report has it (rounded to 6 decimals), without trailing zeros: a
    proportional CUDA score such as 19.090909 keeps its digits (:g would keep 6 in all)."""
    text = f"{round(float(value), 6):.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def row(report: Report, student: str, assignment_ids: list[str] | None = None) -> list[str]:
    by_id = {a.id: a for a in report.assignments}
    ids = assignment_ids if assignment_ids is not None else list(by_id)
    scores = [number(by_id[i].score) if i in by_id else "" for i in ids]
    return [student, *scores, number(report.score), number(report.max_score), grading_status(report),
            " ".join(report.flags)]


def write_rows(rows: list[list[str]], assignment_ids: list[str]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header(assignment_ids))
    writer.writerows(rows)
    return buffer.getvalue()


def write(report: Report) -> str:
    ids = [a.id for a in report.assignments]
    return write_rows([row(report, report.submission, ids)], ids)
