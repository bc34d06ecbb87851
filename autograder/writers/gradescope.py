"""Gradescope's results.json (the "Autograder Specifications" format).

Top level: score, execution_time, output, visibility, stdout_visibility, tests[]. Each
test: name, number, score, max_score, status ("passed" | "failed"), output, tags,
visibility. Hidden tests are shown only once grades are published (HIDDEN_VISIBILITY).
A test worth nothing here (max_score 0) is listed in the top-level output instead of as
a 0/0 test.
"""
from __future__ import annotations

import json

from autograder.report import Report

HIDDEN_VISIBILITY = "after_published"
GRADESCOPE_VISIBILITIES = ("hidden", "after_due_date", "after_published", "visible")


def results(report: Report, hidden_visibility: str = HIDDEN_VISIBILITY) -> dict:
    if hidden_visibility not in GRADESCOPE_VISIBILITIES:
        raise ValueError(f"hidden_visibility must be one of {', '.join(GRADESCOPE_VISIBILITIES)}")
    tests, excluded = [], []
    for a_index, a in enumerate(report.assignments, start=1):
        for t_index, t in enumerate(a.tests, start=1):
            if t.max_score == 0 and t.status == "skipped":
                excluded.append(f"{a.id}: {t.name}: {t.message}")
                continue
            output = t.message if t.status != "passed" else ""
            if t.status not in ("passed", "failed", "skipped") and output:
                output = f"[{t.status}] {output}"
            tests.append({
                "name": f"{a.id}: {t.name}",
                "number": f"{a_index}.{t_index}",
                "score": t.score,
                "max_score": t.max_score,
                "status": "passed" if t.score >= t.max_score else "failed",
                "output": output,
                "tags": [a.id, t.category],
                "visibility": "visible" if t.visibility == "visible" else hidden_visibility,
            })
    summary = [f"{a.id}: {a.score:g}/{a.max_score:g}" + ("" if a.status == "graded" else f" ({a.status})")
               for a in report.assignments]
    for a in report.assignments:
        summary.extend(f"{a.id}: {note}" for note in a.notes)
        summary.extend(f"{a.id}: load error ({e.where() or 'while loading'}): {e.message}" for e in a.load_errors)
    if excluded:
        summary.append("Not graded on this runner:")
        summary.extend(excluded)
    return {
        "score": report.score,
        "execution_time": int(round(report.duration_s)),
        "output": "\n".join(summary),
        "output_format": "text",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
        "extra_data": {"schema": report.schema, "max_score": report.max_score,
                       "environment": report.environment},
    }


def write(report: Report) -> str:
    return json.dumps(results(report), indent=2, ensure_ascii=False) + "\n"
