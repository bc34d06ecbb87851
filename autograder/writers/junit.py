"""JUnit XML: one <testsuite> per assignment, one <testcase> per test.

failed -> <failure>; error/timeout/crashed/memory -> <error type="<status>">; skipped ->
<skipped>. Scores travel as <properties> of each suite (CI systems show them as-is).
"""
from __future__ import annotations

import xml.etree.ElementTree as ET

from autograder.report import FAULT_STATUSES, Report


def _seconds(x: float) -> str:
    return f"{x:.3f}"


def to_element(report: Report) -> ET.Element:
    root = ET.Element("testsuites", name=f"autograder: {report.submission}")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for a in report.assignments:
        suite = ET.SubElement(root, "testsuite", name=a.id)
        counts = {"tests": len(a.tests), "failures": 0, "errors": 0, "skipped": 0}
        props = ET.SubElement(suite, "properties")
        for key, value in (("score", f"{a.score:g}"), ("max_score", f"{a.max_score:g}"), ("status", a.status)):
            ET.SubElement(props, "property", name=key, value=value)
        for t in a.tests:
            case = ET.SubElement(suite, "testcase", classname=a.id, name=t.id, time=_seconds(t.duration_s))
            if t.status == "failed":
                counts["failures"] += 1
                ET.SubElement(case, "failure", message=t.message, type="failed").text = t.message
            elif t.status in FAULT_STATUSES:
                counts["errors"] += 1
                ET.SubElement(case, "error", message=t.message, type=t.status).text = t.message
            elif t.status == "skipped":
                counts["skipped"] += 1
                ET.SubElement(case, "skipped", message=t.message)
            ET.SubElement(case, "system-out").text = (
                f"{t.name}\nscore: {t.score:g}/{t.max_score:g} ({t.category}, {t.visibility})")
        suite.set("time", _seconds(sum(t.duration_s for t in a.tests)))
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", _seconds(report.duration_s))
    return root


def write(report: Report) -> str:
    root = to_element(report)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
