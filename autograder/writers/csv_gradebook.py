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


def row(report: Report, student: str, assignment_ids: list[str] | None = None) -> list[str]:
    by_id = {a.id: a for a in report.assignments}
    ids = assignment_ids if assignment_ids is not None else list(by_id)
    scores = [f"{by_id[i].score:g}" if i in by_id else "" for i in ids]
    return [student, *scores, f"{report.score:g}", f"{report.max_score:g}", grading_status(report),
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
