"""What a batch leaves in its output folder, always rebuilt from the result store:
per-student report files, the CSV gradebook, the text summary and the histogram PNG.

Rebuilding everything from the store is what makes a kill -9 harmless: a resumed batch
rewrites any file the kill left half-written or never wrote. Every file is written to a
temporary name and renamed. A running batch writes each student's report files as the
result arrives, once the store holds it (write_student_reports), so the end rewrites
only the others: the results of earlier runs, for --resume and merge.
"""
from __future__ import annotations

import io
import os
import shutil
import statistics
from collections import Counter
from pathlib import Path

from autograder.batch.grade import STATUSES
from autograder.batch.store import Result
from autograder.writers import csv_gradebook

GRADEBOOK, SUMMARY, HISTOGRAM, REPORTS = "gradebook.csv", "summary.txt", "histogram.png", "reports"
BINS = 10


def write_atomic(path: Path, data: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        f.write(data.encode("utf-8") if isinstance(data, str) else data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_outputs(out: Path, results: list[Result], points: list[tuple[str, float]], info: dict,
                  written: frozenset[str] = frozenset()) -> None:
    """Everything from these results (the store's); `written`: students whose report
    files this process wrote from the same stored result (write_student_reports)."""
    write_reports(out, results, written)
    reports = [_report(r) for r in results]  # each report.json parsed once for all three
    maxima = Maxima(results, points, reports)
    write_atomic(out / GRADEBOOK, gradebook_csv(results, [a for a, _ in points], reports))
    write_atomic(out / SUMMARY, summary_text(results, points, info, maxima))
    write_atomic(out / HISTOGRAM, histogram_png(results, info, maxima))


def write_student_reports(out: Path, r: Result) -> None:
    folder = out / REPORTS / r.student
    for name, text in r.reports.items():
        write_atomic(folder / name, text)
    for stale in folder.iterdir():  # a regraded error row must not keep an old report
        if stale.name not in r.reports and not stale.name.startswith("."):
            stale.unlink() if stale.is_file() else shutil.rmtree(stale)


def write_reports(out: Path, results: list[Result], written: frozenset[str] = frozenset()) -> None:
    root = out / REPORTS
    for r in results:
        if r.student not in written:
            write_student_reports(out, r)
    keep = {r.student for r in results}
    if root.is_dir():
        for folder in root.iterdir():
            if folder.is_dir() and folder.name not in keep:
                shutil.rmtree(folder)


def gradebook_csv(results: list[Result], assignment_ids: list[str], reports: list[dict] | None = None) -> str:
    """The CSV gradebook writer's columns (student, a score per assignment, total,
    max_score, status), one row per student sorted by id and no timings, so equal
    gradings give identical files."""
    if reports is None:
        reports = [_report(r) for r in results]
    rows = [[r.student, *(csv_gradebook.number(r.assignment_scores.get(a, 0.0)) for a in assignment_ids),
             csv_gradebook.number(r.score), csv_gradebook.number(r.max_score), r.status, _flags(report)]
            for r, report in sorted(zip(results, reports), key=lambda pair: pair[0].student)]
    return csv_gradebook.write_rows(rows, assignment_ids)


def _flags(report: dict) -> str:
    """The report's flags (e.g. "tamper")."""
    flags = report.get("flags") or []
    return " ".join(flags) if isinstance(flags, list) and all(isinstance(f, str) for f in flags) else ""


def _report(r: Result) -> dict:
    import json
    try:
        data = json.loads(r.reports.get("report.json") or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


class Maxima:
    """The maximum scores the reports of this batch award (course.yaml's points: every CUDA
    policy keeps CUDA-only checks in the maximum; read from the reports all the same, so a
    report says what it was graded out of), and what happened to the CUDA-only checks, for
    the summary and the histogram."""

    def __init__(self, results: list[Result], points: list[tuple[str, float]], parsed: list[dict] | None = None):
        """parsed: each result's report (_report), when the caller has them already."""
        self.course = {aid: float(p) for aid, p in points}
        if parsed is None:
            parsed = [_report(r) for r in results]
        reports = [rep for r, rep in zip(results, parsed) if r.status == "graded" and rep] or \
            [rep for rep in parsed if rep]
        totals = Counter(round(float(rep.get("max_score", 0.0)), 6) for rep in reports)
        self.total = totals.most_common(1)[0][0] if totals else float(sum(self.course.values()))
        self.assignment = dict(self.course)
        for aid in self.course:
            seen = Counter(round(float(a.get("max_score", 0.0)), 6) for rep in reports
                           for a in rep.get("assignments", []) if a.get("id") == aid)
            if seen:
                self.assignment[aid] = seen.most_common(1)[0][0]
        environments = [rep.get("environment", {}) for rep in reports]
        self.cuda = Counter((env.get("cuda_checks"), env.get("cuda_policy")) for env in environments
                            if env.get("cuda_checks")).most_common(1)

    def cuda_line(self) -> str:
        if not self.cuda:
            return "CUDA policy: no report recorded it"
        (checks, policy), _ = self.cuda[0]
        if checks in ("none", "ran"):
            what = "ran on a GPU" if checks == "ran" else "none in the graded assignments"
            return f"CUDA-only checks: {what} (devices.without_gpu: {policy})"
        course_total = sum(self.course.values())
        effect = (f"; the maximum is {self.total:g} instead of course.yaml's {course_total:g}"
                  if abs(self.total - course_total) > 1e-9 else "")
        how = {"excluded": "; their points follow each student's score on the checks that ran",
               "awarded": "; their points are given to every student",
               "failed": "; they score 0"}.get(checks, "")
        return (f"CUDA-only checks: {checks} on this runner, which has no GPU "
                f"(devices.without_gpu: {policy}){how}{effect}")


def percent(r: Result, maximum: float) -> float:
    return 100.0 * r.score / maximum if maximum else 0.0


def histogram_counts(results: list[Result], maximum: float) -> list[int]:
    counts = [0] * BINS
    for r in results:
        counts[max(0, min(BINS - 1, int(percent(r, maximum) // (100 / BINS))))] += 1
    return counts


def summary_text(results: list[Result], points: list[tuple[str, float]], info: dict,
                 maxima: Maxima | None = None) -> str:
    maxima = maxima or Maxima(results, points)
    lines = [f"Batch summary: {len(results)} submissions from {info.get('source', '?')} "
             f"(shard {info.get('shard', '1/1')}), grading key {info.get('grading_key', '?')}"]
    counts = Counter(r.status for r in results)
    lines.append("Statuses: " + ", ".join(f"{s} {counts[s]}" for s in STATUSES if counts[s]))
    lines.append(maxima.cuda_line())
    totals = [r.score for r in results]
    if totals:
        full = sum(1 for t in totals if t >= maxima.total - 1e-9)
        lines.append(f"Total (out of {maxima.total:g}): mean {statistics.mean(totals):.2f}, "
                     f"median {statistics.median(totals):.2f}, min {min(totals):g}, max {max(totals):g}, "
                     f"full marks {full}")
    for aid, _ in points:
        scores = [r.assignment_scores.get(aid, 0.0) for r in results]
        top = maxima.assignment[aid]
        if scores:
            full = sum(1 for s in scores if s >= top - 1e-9) if top > 0 else 0
            lines.append(f"  {aid}: mean {statistics.mean(scores):.2f} of {top:g}, full marks {full}")
    lines.append(f"Grade histogram (percent of the maximum, {maxima.total:g}):")
    bins = histogram_counts(results, maxima.total)
    width = 100 // BINS
    for i, n in enumerate(bins):
        upper = "100" if i == BINS - 1 else f"{(i + 1) * width:3d}"
        lines.append(f"  {i * width:3d}-{upper}% | {'#' * n} {n}")
    graded_time = sum(r.duration_s for r in results)
    if results:
        lines.append(f"Grading time: {graded_time:.1f} s of worker time, "
                     f"{graded_time / len(results):.1f} s per submission")
    problems = [r for r in results if r.status != "graded"]
    if problems:
        lines.append("Not cleanly graded:")
        lines += [f"  {r.student}: {r.status}: {r.message}" for r in problems]
    return "\n".join(lines) + "\n"


def preload_plotting() -> None:
    """Import what histogram_png needs (about half a second). The batch calls this on a
    thread while its zygote imports torch on the other core, so the histogram at the end
    costs only its drawing."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: F401
        from matplotlib.figure import Figure  # noqa: F401
    except Exception:  # noqa: BLE001 - histogram_png reports any real problem itself
        pass


def histogram_png(results: list[Result], info: dict, maxima: Maxima | None = None) -> bytes:
    # The object-oriented API (no pyplot) keeps matplotlib free of global state and
    # needs no display: the Agg canvas renders straight to PNG bytes.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    maximum = (maxima or Maxima(results, [(a, p) for a, p in info.get("points") or []])).total
    counts = histogram_counts(results, maximum)
    width = 100 / BINS
    fig = Figure(figsize=(6, 3.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.bar([i * width for i in range(BINS)], counts, width=width * 0.9, align="edge", color="#4C72B0")
    ax.set_xlim(0, 100)
    ax.set_xlabel(f"score (% of the maximum, {maximum:g})")
    ax.set_ylabel("students")
    ax.set_title(f"Grade distribution ({len(results)} submissions)")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()
