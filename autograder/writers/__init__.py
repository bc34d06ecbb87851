"""Report writers: one module per output format, all reading the same `Report`.

`write(report, format)` returns the text of the report in that format; `FORMATS` lists
the names the CLI accepts (plus "csv", used by batch grading).
"""
from __future__ import annotations

import importlib

from autograder.report import Report

# format name -> module under autograder.writers; each module has `write(report) -> str`.
FORMATS = {
    "text": "text",
    "json": "json_report",
    "gradescope": "gradescope",
    "junit": "junit",
    "classroom": "classroom",
    "csv": "csv_gradebook",
}


def write(report: Report, format: str) -> str:  # noqa: A002 - the CLI's own word
    module = FORMATS.get(format)
    if module is None:
        raise ValueError(f"unknown report format {format!r} (known: {', '.join(FORMATS)})")
    return importlib.import_module(f"autograder.writers.{module}").write(report)


__all__ = ["FORMATS", "write"]
