"""The human-readable report: a table per assignment, totals, then what to fix."""
from __future__ import annotations

from autograder.report import AssignmentResult, Report

MARKS = {"passed": "ok", "failed": "FAIL", "error": "ERROR", "timeout": "TIMEOUT",
         "crashed": "CRASH", "memory": "MEMORY", "skipped": "skip"}
NAME_WIDTH = 52


def _points(x: float) -> str:
    return f"{x:g}"


def _assignment_block(a: AssignmentResult) -> list[str]:
    title = f" ({a.title})" if a.title else ""
    status = "" if a.status == "graded" else f"  [{a.status}]"
    lines = [f"{a.id}{title}: {_points(a.score)}/{_points(a.max_score)}{status}"]
    if a.source:
        lines.append(f"  file: {a.source}")
    for note in a.notes:
        lines.append(f"  note: {note}")
    for err in a.load_errors:
        where = err.where()
        lines.append(f"  load error{' (' + where + ')' if where else ''}: {err.message}")
    lines.extend(f"  warning: {w}" for w in (a.isolation or {}).get("warnings", []) or [])
    if a.tests:
        lines.append(f"  {'result':<8} {'test':<{NAME_WIDTH}} {'category':<10} {'points':>9}")
    for t in a.tests:
        name = t.name if len(t.name) <= NAME_WIDTH else t.name[:NAME_WIDTH - 3] + "..."
        hidden = " (hidden)" if t.visibility == "hidden" else ""
        lines.append(f"  {MARKS.get(t.status, t.status):<8} {name:<{NAME_WIDTH}} {t.category:<10} "
                     f"{_points(t.score) + '/' + _points(t.max_score):>9}{hidden}")
    return lines


def _isolation_warnings(isolation: dict | None) -> list[str]:
    if not isolation:
        return []
    lines = [f"warning: {w}" for w in isolation.get("warnings", []) or []]
    level = isolation.get("level")
    if level == "none":
        lines.append(f"warning: student code ran without isolation (backend: {isolation.get('backend', 'unknown')})")
    elif level in ("partial", "weak"):
        lines.append(f"warning: student code ran with {level} isolation "
                     f"(backend: {isolation.get('backend', 'unknown')})")
    return lines


def _problems(report: Report) -> list[str]:
    lines = []
    for a, t in report.tests():
        if t.status in ("passed",) or (t.status == "skipped" and not t.message):
            continue
        lines.append(f"- {a.id} / {t.name} [{t.status}]")
        lines.extend(f"    {line}" for line in (t.message or "(no message)").splitlines())
    return lines


def write(report: Report) -> str:
    env = report.environment
    lines = [f"Grading report for {report.submission}",
             f"device: {env.get('device', '?')}   seed: {env.get('seed', '?')}   "
             f"torch: {env.get('torch', '?')}   python: {env.get('python', '?')}"]
    if env.get("cuda_checks") not in (None, "none", "ran"):
        lines.append(f"CUDA-only checks: {env['cuda_checks']} (devices.without_gpu: {env.get('cuda_policy')})")
    lines.extend(_isolation_warnings(env.get("isolation")))
    lines.append("")
    for a in report.assignments:
        lines.extend(_assignment_block(a))
        lines.append("")
    lines.append(f"Total: {_points(report.score)}/{_points(report.max_score)}")
    problems = _problems(report)
    if problems:
        lines.extend(["", "What to look at:", *problems])
    return "\n".join(lines) + "\n"
