"""Write a graded report in every format from its JSON, so CI grades once (on the GPU)
and still publishes text, JUnit, Gradescope and GitHub Classroom reports:

    python -m autograder.batch.convert reports/report.json     # writes next to it
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from autograder.batch.grade import REPORT_FILES
from autograder.batch.outputs import write_atomic
from autograder.report import Report
from autograder.writers import write


def write_report_files(report: Report, folder: Path) -> list[Path]:
    written = []
    for name, fmt in REPORT_FILES.items():
        write_atomic(folder / name, write(report, fmt))
        written.append(folder / name)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.batch.convert", description=__doc__.splitlines()[0])
    parser.add_argument("report", help="a report written by `autograder grade --format json`")
    parser.add_argument("--out", default=None, help="folder for the files (default: the report's folder)")
    args = parser.parse_args(argv)
    path = Path(args.report)
    try:
        report = Report.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError) as exc:
        print(f"convert: error: cannot read {path} as an autograder report: {exc}", file=sys.stderr)
        return 2
    folder = Path(args.out) if args.out else path.parent
    names = [p.name for p in write_report_files(report, folder)]
    print(f"convert: wrote {', '.join(names)} in {folder}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
