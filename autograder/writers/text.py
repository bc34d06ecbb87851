"""The human-readable report: a table per assignment, totals, then what to fix."""
from __future__ import annotations

import re

from autograder.localize import N_, translator
from autograder.report import AssignmentResult, Report

# The frame of the report is the kit's text like any other: each word goes through the
# feedback catalog (a report's language is set by localize.localized_report).
MARKS = {"passed": N_("ok"), "failed": N_("FAIL"), "error": N_("ERROR"), "timeout": N_("TIMEOUT"),
         "crashed": N_("CRASH"), "memory": N_("MEMORY"), "skipped": N_("skip")}
STATUS_WORDS = {"passed": N_("passed"), "failed": N_("failed"), "error": N_("error"), "timeout": N_("timeout"),
                "crashed": N_("crashed"), "memory": N_("memory"), "skipped": N_("skipped"),
                "graded": N_("graded"), "missing": N_("missing"), "unreadable": N_("unreadable")}
CATEGORY_WORDS = {"shape": N_("shape"), "gradient": N_("gradient"), "accuracy": N_("accuracy"),
                  "device": N_("device"), "value": N_("value"), "behaviour": N_("behaviour")}
CUDA_CHECKS = {"excluded": N_("excluded"), "awarded": N_("awarded"), "failed": N_("failed")}
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


def _assignment_block(a: AssignmentResult, tr) -> list[str]:
    score, top = _points(a.score), _points(a.max_score)
    title = f" ({a.title})" if a.title else ""
    status = "" if a.status == "graded" else f"  [{tr(STATUS_WORDS.get(a.status, a.status))}]"
    status += _flag_marks(a.flags)
    lines = [f"{a.id}{title}: {score}/{top}{status}"]
    if a.source:
        source = _inline(a.source)
        lines.append("  " + tr(N_(f"file: {source}")))
    for note in a.notes:
        text = _inline(note)
        lines.append("  " + tr(N_("note:")) + " " + text)
    for err in a.load_errors:
        where, message = err.where(), _inline(err.message)
        lines.append("  " + (tr(N_(f"load error ({where}):")) if where else tr(N_("load error:"))) + " " + message)
    lines.extend("  " + tr(N_("warning:")) + " " + _inline(w) for w in (a.isolation or {}).get("warnings", []) or [])
    if a.tests:
        lines.append(f"  {tr(N_('result')):<8} {tr(N_('test')):<{NAME_WIDTH}} {tr(N_('category')):<12} "
                     f"{tr(N_('points')):>9}")
    for t in a.tests:
        name = t.name if len(t.name) <= NAME_WIDTH else t.name[:NAME_WIDTH - 3] + "..."
        hidden = " (" + tr(N_("hidden")) + ")" if t.visibility == "hidden" else ""
        category = tr(CATEGORY_WORDS.get(t.category, t.category))
        lines.append(f"  {tr(MARKS.get(t.status, t.status)):<8} {name:<{NAME_WIDTH}} {category:<12} "
                     f"{_points(t.score) + '/' + _points(t.max_score):>9}{hidden}{_flag_marks(t.flags)}")
    return lines


def _flag_marks(flags) -> str:
    """Review flags (e.g. "tamper": kit code in the sandbox was altered while this ran), as
    the JSON report's "flags" has them: ids, the same in every language."""
    return "".join(f"  [{flag}]" for flag in flags)


def _isolation_warnings(isolation: dict | None, tr) -> list[str]:
    if not isolation:
        return []
    warning = tr(N_("warning:"))
    lines = [f"{warning} {_inline(w)}" for w in isolation.get("warnings", []) or []]
    level, backend = isolation.get("level"), isolation.get("backend", "unknown")
    if level == "none":
        lines.append(f"{warning} " + tr(N_(f"student code ran without isolation (backend: {backend})")))
    elif level in ("partial", "weak"):
        lines.append(f"{warning} " + tr(N_(f"student code ran with {level} isolation (backend: {backend})")))
    return lines


def _problems(report: Report, tr) -> list[str]:
    lines = []
    for a, t in report.tests():
        if t.status in ("passed",) or (t.status == "skipped" and not t.message):
            continue
        lines.append(f"- {a.id} / {t.name} [{tr(STATUS_WORDS.get(t.status, t.status))}]")
        lines.extend(f"    {line}" for line in _untrusted(t.message or tr(N_("(no message)")), indent=""))
    return lines


def write(report: Report) -> str:
    env = report.environment
    # Names and messages arrive translated already (localize.localized_report); the
    # frame is translated here, piece by piece.
    tr = translator(report.language)
    submission = _inline(report.submission)
    device, seed, torch_version, python = (env.get(k, "?") for k in ("device", "seed", "torch", "python"))
    lines = [tr(N_(f"Grading report for {submission}")),
             tr(N_(f"device: {device}   seed: {seed}   torch: {torch_version}   python: {python}"))]
    if env.get("cuda_checks") not in (None, "none", "ran"):
        checks, policy = CUDA_CHECKS.get(env["cuda_checks"], env["cuda_checks"]), env.get("cuda_policy")  # translated inside the sentence
        lines.append(tr(N_(f"CUDA-only checks: {checks} (devices.without_gpu: {policy})")))
    if report.flags:
        flags = ", ".join(report.flags)
        lines.append(tr(N_(f"flags: {flags}")))
    lines.extend(_isolation_warnings(env.get("isolation"), tr))
    lines.append("")
    for a in report.assignments:
        lines.extend(_assignment_block(a, tr))
        lines.append("")
    score, top = _points(report.score), _points(report.max_score)
    lines.append(tr(N_(f"Total: {score}/{top}")))
    problems = _problems(report, tr)
    if problems:
        lines.extend(["", tr(N_("What to look at:")), *problems])
    return "\n".join(lines) + "\n"
