"""GitHub Classroom runner output, as read by classroom-resources/autograding-grading-reporter.

The payload is base64 of JSON {"version": 1, "status": "pass"|"fail"|"error",
"max_score": N, "tests": [{"name", "status", "message", "execution_time", "score"}]}.
The reporter computes two things from it: the total it sends to Classroom (the sum of
the tests' `score`) and its console table (passed tests / all tests * max_score). Those
agree with our score only if every test entry is worth the same, so each test is split
into equal point units (the greatest common divisor of the tests' points): a 3-point
test becomes three entries of 1 point, each carrying a third of the test's score (a
partial score only comes from an excluded CUDA check, scored in proportion by policy).
"""
from __future__ import annotations

import base64
import json
import math
from fractions import Fraction

from autograder.report import FAULT_STATUSES, Report

# Past this many entries the console listing is unreadable; fall back to one entry per test.
MAX_ENTRIES = 1000


def point_unit(values: list[float]) -> Fraction | None:
    """The largest amount every value is a whole multiple of (None if there is none small enough)."""
    fractions = [Fraction(v).limit_denominator(1000) for v in values if v > 0]
    if not fractions:
        return None
    denominator = math.lcm(*(f.denominator for f in fractions))
    numerators = [int(f * denominator) for f in fractions]
    return Fraction(math.gcd(*numerators), denominator)


def payload(report: Report) -> dict:
    graded = [(a, t) for a, t in report.tests() if t.max_score > 0]
    unit = point_unit([t.max_score for _, t in graded])
    units = {id(t): int(Fraction(t.max_score).limit_denominator(1000) / unit) for _, t in graded} if unit else {}
    split = unit is not None and sum(units.values()) <= MAX_ENTRIES
    tests = []
    for a, t in graded:
        status = "pass" if t.score >= t.max_score else ("error" if t.status in FAULT_STATUSES else "fail")
        count = units[id(t)] if split else 1
        # A test's score split evenly over its units: the reporter's total (the sum of the
        # scores) is the report's, partial scores included (an excluded CUDA check).
        share = t.score / count
        for i in range(count):
            suffix = f" [{i + 1}/{count}]" if count > 1 else ""
            tests.append({
                "name": f"{a.id}: {t.name}{suffix}",
                "status": status,
                "message": "" if status == "pass" else (t.message or t.status),
                "execution_time": f"{t.duration_s / count:.2f}s",
                "score": round(share, 6),
            })
    if not tests:
        status = "error"
    else:
        status = "pass" if all(t["status"] == "pass" for t in tests) else "fail"
    return {"version": 1, "status": status, "max_score": report.max_score, "tests": tests}


def write(report: Report) -> str:
    data = json.dumps(payload(report), ensure_ascii=False, separators=(",", ":"))
    return base64.b64encode(data.encode("utf-8")).decode("ascii") + "\n"
