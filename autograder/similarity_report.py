"""`autograder similarity DIR` (and `batch --similarity`): find the class the way batch
does, compare each assignment with autograder.similarity, and write per assignment
pairs.csv (every pair sharing code, ranked), report.html (the top pairs side by side,
matched lines highlighted) and distribution.png (all pairs' scores, log scale, so the few
high pairs stand out); and index.html over the assignments. Every page says that the
ranking proves nothing."""
from __future__ import annotations

import csv
import html
import io
import sys
from dataclasses import dataclass
from pathlib import Path

from autograder.cli import UsageError
from autograder.mapping import GradingError, map_files
from autograder.similarity import (DISCLAIMER, OTHER, REFERENCE, Entry, PairScore, Settings, Unit,
                                   _progress, all_kgrams, fingerprint_file, import_aliases,
                                   matched_line_numbers, rank_pairs, read_starter, subtract)

@dataclass
class AssignmentResult:
    assignment: str
    exercises: list[str]
    entries: list[Entry]
    pairs: list[PairScore]
    notes: list[str]

    @property
    def all_pairs(self) -> int:
        return len(self.entries) * (len(self.entries) - 1) // 2


def class_files(root: Path, course, assignment_id: str, include_reference: bool) -> tuple[list[tuple[str, Path]], list[str]]:
    """(student, file) for one assignment, found the way `autograder batch` finds them."""
    from autograder.batch.discover import discover
    _, submissions = discover(root, [a.id for a in course.assignments])
    files, notes = [], []
    for sub in submissions:
        try:
            mapped, _ = map_files(sub.path, course, [assignment_id])
        except GradingError as exc:
            notes.append(f"{sub.student}: skipped, {exc}")
            continue
        if assignment_id in mapped:
            files.append((sub.student, mapped[assignment_id]))
    if include_reference:
        reference = course.solution_notebook(course.assignment(assignment_id))
        if not reference.is_file():
            raise UsageError(f"--include-reference: no reference solution at {reference}")
        files.append((REFERENCE, reference))
    return files, notes


def compare_assignment(root: Path, course, assignment_id: str, settings: Settings = Settings(),
                       include_reference: bool = False, jobs: int = 1, progress: bool = False) -> AssignmentResult:
    assignment = course.assignment(assignment_id)
    starter_path = course.student_notebook(assignment)
    if not starter_path.is_file():
        raise UsageError(f"no starter notebook for {assignment_id} at {starter_path} (needed to subtract it)")
    starter = read_starter(starter_path)
    files, notes = class_files(root, course, assignment_id, include_reference)
    tasks = [(student, path, starter, settings) for student, path in files]
    if jobs > 1 and len(tasks) >= 40:
        from concurrent.futures import ProcessPoolExecutor
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            results = list(_progress(pool.map(fingerprint_file, tasks, chunksize=8), progress, "sub"))
    else:
        results = [fingerprint_file(t) for t in _progress(tasks, progress, "sub")]
    entries = [r for r in results if isinstance(r, Entry)]
    notes += [r for r in results if isinstance(r, str)]
    subtract(entries, all_kgrams(starter.sources, starter.exercises, import_aliases(starter.sources), settings))
    exercises = starter.exercises + [OTHER]
    return AssignmentResult(assignment_id, exercises, entries, rank_pairs(entries, exercises, settings, progress), notes)


def run_similarity(args, course) -> int:
    root = Path(args.path)
    if not root.is_dir():
        raise UsageError(f"similarity needs a folder of submissions; {root} "
                         f"{'is a file' if root.exists() else 'does not exist'}")
    ids = [course.assignment(args.assignment).id] if args.assignment else [a.id for a in course.assignments]
    if args.top < 1:
        raise UsageError(f"--top must be at least 1, got {args.top}")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a folder")
    results = [compare_assignment(root, course, aid, include_reference=args.include_reference,
                                  jobs=_cores(), progress=True) for aid in ids]
    results = [r for r in results if r.entries]
    if not results:
        raise UsageError(f"no submission under {root} maps to {', '.join(ids)}")
    out.mkdir(parents=True, exist_ok=True)
    for result in results:
        write_assignment_report(out / result.assignment, result, args.top)
        for note in result.notes:
            print(f"similarity: {result.assignment}: {note}", file=sys.stderr)
    write_index(out, results)
    print(f"similarity: {', '.join(f'{r.assignment} ({len(r.entries)} submissions, {len(r.pairs)} pairs share code)' for r in results)}"
          f"; open {out / 'index.html'}. It ranks pairs to review; it proves nothing and changes no grade.",
          file=sys.stderr)
    return 0


def run_after_batch(args, course, out: Path) -> None:
    """`autograder batch --similarity`: the same report, under the batch's --out."""
    from types import SimpleNamespace
    assignment = args.assignment[0] if args.assignment and len(args.assignment) == 1 else None
    run_similarity(SimpleNamespace(path=args.path, out=str(out / "similarity"), assignment=assignment,
                                   include_reference=False, top=25), course)


def _cores() -> int:
    from autograder.batch.runner import available_cores
    return available_cores()


CSV_FIELDS = ["rank", "assignment", "student_a", "student_b", "review_score", "overall",
              "matched_lines_a", "matched_lines_b", "file_a", "file_b"]
_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
.disclaimer { background: #fff6d5; border: 1px solid #e0c060; padding: .6em 1em; }
table.scores { border-collapse: collapse; margin: .5em 0; }
table.scores td, table.scores th { border: 1px solid #ccc; padding: .2em .6em; text-align: left; }
section.pair { border-top: 2px solid #888; margin-top: 2em; }
.side-by-side { display: flex; gap: 1em; }
.side { flex: 1; min-width: 0; }
pre { background: #f7f7f7; padding: .5em; overflow-x: auto; font-size: 90%; }
.line { display: block; white-space: pre; }
.line::before { content: attr(data-n); display: inline-block; width: 3em; color: #999; }
mark.match { background: #ffb3b3; display: block; white-space: pre; }
"""


def write_assignment_report(folder: Path, result: AssignmentResult, top: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pairs.csv").write_text(pairs_csv(result), encoding="utf-8")
    (folder / "distribution.png").write_bytes(distribution_png(result, top))
    (folder / "report.html").write_text(report_html(result, top), encoding="utf-8")


def pairs_csv(result: AssignmentResult) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_FIELDS + [f"exercise:{e}" for e in result.exercises])
    for rank, pair in enumerate(result.pairs, 1):
        writer.writerow([rank, result.assignment, pair.a.student, pair.b.student, _r(pair.review),
                         _r(pair.overall), *pair.matched_lines, pair.a.path, pair.b.path]
                        + [_r(pair.exercises[e]) for e in result.exercises])
    return buffer.getvalue()


def _r(x: float) -> str:
    return f"{x:.3f}"


def distribution_png(result: AssignmentResult, top: int) -> bytes:
    # The object-oriented API (no pyplot): no global state, no display, Agg straight to PNG.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    scores = [p.review for p in result.pairs]
    zeros = result.all_pairs - len(scores)
    shown = {id(p) for p in result.pairs[:top]}
    fig = Figure(figsize=(7, 3.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    bins = [i / 50 for i in range(51)]
    rest = [p.review for p in result.pairs if id(p) not in shown] + [0.0] * zeros
    ax.hist([rest, [p.review for p in result.pairs[:top]]], bins=bins, stacked=True,
            color=["#9db4cc", "#d9534f"], label=["other pairs", f"top {min(top, len(scores))} (in report.html)"])
    ax.set_yscale("log")
    ax.set_xlim(0, 1)
    ax.set_xlabel("review score (shared code beyond the starter, 0..1)")
    ax.set_ylabel("pairs (log scale)")
    ax.set_title(f"{result.assignment}: {result.all_pairs} pairs of {len(result.entries)} submissions")
    ax.legend(loc="upper right")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def report_html(result: AssignmentResult, top: int) -> str:
    e = html.escape
    shown = result.pairs[:top]
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
             f"<title>Similarity: {e(result.assignment)}</title><style>{_STYLE}</style></head><body>",
             f"<h1>Similarity: {e(result.assignment)}</h1>",
             f"<p class='disclaimer'>{e(DISCLAIMER)}</p>",
             f"<p>{len(result.entries)} submissions, {result.all_pairs} pairs; {len(result.pairs)} share code "
             f"beyond the starter notebook (all others score 0). The top {len(shown)} follow; every pair is in "
             f"<a href='pairs.csv'>pairs.csv</a>. Code is compared per exercise after removing the starter code, "
             f"comments, docstrings and names the student chose; passages found in many submissions are ignored.</p>",
             "<img src='distribution.png' alt='distribution of pair scores'>"]
    if result.notes:
        parts.append("<details><summary>skipped files</summary><ul>"
                     + "".join(f"<li>{e(n)}</li>" for n in result.notes) + "</ul></details>")
    parts.append("<table class='scores' id='ranking'><tr><th>#</th><th>pair</th><th>review score</th>"
                 "<th>overall</th><th>matched lines</th></tr>")
    for rank, pair in enumerate(shown, 1):
        parts.append(f"<tr><td>{rank}</td><td><a href='#pair-{rank}'>{e(pair.a.student)} &amp; "
                     f"{e(pair.b.student)}</a></td><td>{_r(pair.review)}</td><td>{_r(pair.overall)}</td>"
                     f"<td>{pair.matched_lines[0]} / {pair.matched_lines[1]}</td></tr>")
    parts.append("</table>")
    parts += [_pair_section(rank, pair, result.exercises) for rank, pair in enumerate(shown, 1)]
    parts.append("</body></html>")
    return "\n".join(parts)


def _pair_section(rank: int, pair: PairScore, exercises: list[str]) -> str:
    e = html.escape
    rows = "".join(f"<tr><td>{e(x)}</td><td>{_r(pair.exercises[x])}</td></tr>" for x in exercises)
    parts = [f"<section class='pair' id='pair-{rank}' data-a='{e(pair.a.student)}' data-b='{e(pair.b.student)}'>",
             f"<h2>#{rank}: {e(pair.a.student)} &amp; {e(pair.b.student)} (review score {_r(pair.review)}, "
             f"overall {_r(pair.overall)})</h2>",
             f"<table class='scores'><tr><th>exercise</th><th>similarity</th></tr>{rows}</table>"]
    for exercise in exercises:
        hashes = pair.shared.get(exercise)
        if not hashes:
            continue
        parts.append(f"<h3 class='exercise'>{e(exercise)}: {_r(pair.exercises[exercise])}</h3>"
                     "<div class='side-by-side'>")
        for entry in (pair.a, pair.b):
            parts.append(f"<div class='side'><h4>{e(entry.student)} <small>{e(entry.path)}</small></h4>"
                         f"{_code(entry.units[exercise], hashes)}</div>")
        parts.append("</div>")
    parts.append("</section>")
    return "\n".join(parts)


def _code(unit: Unit, hashes: set[int]) -> str:
    matched = matched_line_numbers(unit, hashes)
    lines = []
    for number, line in enumerate(unit.source.split("\n"), 1):
        text = html.escape(line) or " "
        tag = "mark class='match line'" if number in matched else "span class='line'"
        lines.append(f"<{tag} data-n='{number}'>{text}</{tag.split()[0]}>")
    return "<pre><code>" + "".join(lines) + "</code></pre>"


def write_index(out: Path, results: list[AssignmentResult]) -> None:
    e = html.escape
    rows = "".join(
        f"<tr><td><a href='{e(r.assignment)}/report.html'>{e(r.assignment)}</a></td><td>{len(r.entries)}</td>"
        f"<td>{len(r.pairs)}</td><td>{_r(r.pairs[0].review) if r.pairs else '0.000'}</td>"
        f"<td><a href='{e(r.assignment)}/pairs.csv'>pairs.csv</a></td></tr>" for r in results)
    (out / "index.html").write_text(
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Similarity report</title>"
        f"<style>{_STYLE}</style></head><body><h1>Similarity report</h1>"
        f"<p class='disclaimer'>{e(DISCLAIMER)}</p><table class='scores'><tr><th>assignment</th>"
        f"<th>submissions</th><th>pairs sharing code</th><th>highest review score</th><th>all pairs</th></tr>"
        f"{rows}</table></body></html>", encoding="utf-8")
