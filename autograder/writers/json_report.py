"""The JSON report: DESIGN.md's report contract, exactly (`Report.to_dict`)."""
from __future__ import annotations

import json

from autograder.report import Report


def write(report: Report) -> str:
    # Keys keep the contract's order (not sorted) so the file reads top-down like the spec.
    return json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n"
