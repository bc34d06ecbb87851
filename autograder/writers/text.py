"""The human-readable report: a table per assignment, totals, then what to fix."""
from __future__ import annotations

import re

from autograder.i18n_feedback import translator
from autograder.report import AssignmentResult, Report

MARKS = {"passed": "ok", "failed": "FAIL", "error": "ERROR", "timeout": "TIMEOUT",
         "crashed": "CRASH", "memory": "MEMORY", "skipped": "skip"}
NAME_WIDTH = 52
MESSAGE_CHARS = 4000
# Anything that could start a new line or move the cursor on a terminal (\r, \v, \f,
# \x1c-\x1e, \x85, \u2028, \u2029, escape sequences): a student's text must never look
# like a line the grader wrote, such as "Total: 10/10".
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def _escaped(line: str) -> str:
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], line)


def _untrusted(text: str, indent: str = "    | ") -> list[str]:
    """Student-controlled text as report lines: cut to MESSAGE_CHARS, control characters
    shown escaped, and every line after the first behind `indent`, so none of it can
    start a line of the report."""
    text = str(text)
    if len(text) > MESSAGE_CHARS:
        text = text[:MESSAGE_CHARS] + f" ... ({len(text) - MESSAGE_CHARS} more characters not shown)"
    lines = [_escaped(line) for line in text.replace("\r\n", "\n").split("\n")]
    return [lines[0], *(indent + line for line in lines[1:])]


def _inline(text: str) -> str:
    return "\n".join(_untrusted(text))


def _points(x: float) -> str:
    return f"{x:g}"


def _assignment_block(a: AssignmentResult, heading=str) -> list[str]:
    title = f" ({a.title})" if a.title else ""
    status = "" if a.status == "graded" else f"  [{a.status}]"
    status += _flag_marks(a.flags)
    lines = [f"{a.id}{title}: {_points(a.score)}/{_points(a.max_score)}{status}"]
    if a.source:
        lines.append(f"  file: {_inline(a.source)}")
    for note in a.notes:
        lines.append(f"  note: {_inline(note)}")
    for err in a.load_errors:
        where = err.where()
        lines.append(f"  load error{' (' + where + ')' if where else ''}: {_inline(err.message)}")
    lines.extend(f"  warning: {_inline(w)}" for w in (a.isolation or {}).get("warnings", []) or [])
    if a.tests:
        lines.append(f"  {heading('result'):<8} {heading('test'):<{NAME_WIDTH}} {heading('category'):<10} "
                     f"{heading('points'):>9}")
    for t in a.tests:
        name = t.name if len(t.name) <= NAME_WIDTH else t.name[:NAME_WIDTH - 3] + "..."
        hidden = " (" + heading("hidden") + ")" if t.visibility == "hidden" else ""
        lines.append(f"  {MARKS.get(t.status, t.status):<8} {name:<{NAME_WIDTH}} {t.category:<10} "
                     f"{_points(t.score) + '/' + _points(t.max_score):>9}{hidden}{_flag_marks(t.flags)}")
    return lines


def _flag_marks(flags) -> str:
    """Review flags (e.g. "tamper": kit code in the sandbox was altered while this ran), as
    the JSON report's "flags" has them: ids, the same in every language."""
    return "".join(f"  [{flag}]" for flag in flags)


def _isolation_warnings(isolation: dict | None) -> list[str]:
    if not isolation:
        return []
    lines = [f"warning: {_inline(w)}" for w in isolation.get("warnings", []) or []]
    level = isolation.get("level")
    if level == "none":
        lines.append(f"warning: student code ran without isolation (backend: {isolation.get('backend', 'unknown')})")
    elif level in ("partial", "weak"):
        lines.append(f"warning: student code ran with {level} isolation "
                     f"(backend: {isolation.get('backend', 'unknown')})")
    return lines


def _problems(report: Report, heading=str) -> list[str]:
    lines = []
    for a, t in report.tests():
        if t.status in ("passed",) or (t.status == "skipped" and not t.message):
            continue
        lines.append(f"- {a.id} / {t.name} [{t.status}]")
        lines.extend(f"    {line}" for line in _untrusted(t.message or heading("(no message)"), indent=""))
    return lines


def write(report: Report) -> str:
    env = report.environment
    heading = translator(report.language)  # names and messages arrive translated already
    lines = [heading(f"Grading report for {_inline(report.submission)}"),
             f"device: {env.get('device', '?')}   seed: {env.get('seed', '?')}   "
             f"torch: {env.get('torch', '?')}   python: {env.get('python', '?')}"]
    if env.get("cuda_checks") not in (None, "none", "ran"):
        lines.append(f"CUDA-only checks: {env['cuda_checks']} (devices.without_gpu: {env.get('cuda_policy')})")
    if report.flags:
        lines.append(f"flags: {', '.join(report.flags)}")
    lines.extend(_isolation_warnings(env.get("isolation")))
    lines.append("")
    for a in report.assignments:
        lines.extend(_assignment_block(a, heading))
        lines.append("")
    lines.append(heading(f"Total: {_points(report.score)}/{_points(report.max_score)}"))
    problems = _problems(report, heading)
    if problems:
        lines.extend(["", heading("What to look at:"), *problems])
    return "\n".join(lines) + "\n"
