"""`autograder similarity DIR` (and `batch --similarity`): find the class the way batch
does, compare each assignment with autograder.similarity, and write per assignment
pairs.csv (every pair sharing code, ranked), report.html (the top pairs side by side,
shared lines shaded by how distinctive they are) and distribution.png (all pairs'
scores, so the few high pairs stand out); and index.html over the assignments. Every page
says that the ranking proves nothing. The summary goes to stdout, notes about skipped
files to stderr, and a progress bar only to a terminal."""
from __future__ import annotations

import csv
import html
import io
import sys
from dataclasses import dataclass, field
from pathlib import Path

from autograder.course import UsageError
from autograder.mapping import GradingError, map_files
from autograder.similarity.scores import (DISCLAIMER, OTHER, REFERENCE, Entry, PairScore, Settings, Unit, all_kgrams,
                                   fingerprint_file, progress, rank_pairs, read_starter,
                                   shared_lines, subtract)


@dataclass
class AssignmentResult:
    assignment: str
    exercises: list[str]
    entries: list[Entry]
    pairs: list[PairScore]
    notes: list[str]
    weights: dict[int, float] = field(default_factory=dict)   # fingerprint -> its weight when shared, 0..1

    @property
    def all_pairs(self) -> int:
        return len(self.entries) * (len(self.entries) - 1) // 2

    @property
    def scored(self) -> list[PairScore]:
        """The pairs with a positive review score (the others are listed for one exercise)."""
        return [p for p in self.pairs if p.review > 0]


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
                       include_reference: bool = False, jobs: int = 1,
                       show_progress: bool = False) -> AssignmentResult:
    assignment = course.assignment(assignment_id)
    starter_path = course.student_notebook(assignment)
    if not starter_path.is_file():
        raise UsageError(f"no starter notebook for {assignment_id} at {starter_path} (needed to subtract it)")
    starter = read_starter(starter_path)
    files, notes = class_files(root, course, assignment_id, include_reference)
    aliases = starter.aliases
    tasks = [(student, path, starter, aliases, settings) for student, path in files]
    if jobs > 1 and len(tasks) >= 40:
        from concurrent.futures import ProcessPoolExecutor
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            results = list(progress(pool.map(fingerprint_file, tasks, chunksize=8), show_progress, "sub"))
    else:
        results = [fingerprint_file(t) for t in progress(tasks, show_progress, "sub")]
    entries = [r for r in results if isinstance(r, Entry)]
    notes += [r for r in results if isinstance(r, str)]
    subtract(entries, all_kgrams(starter.sources, starter.exercises, aliases, settings))
    exercises = starter.exercises + [OTHER]
    pairs, weights = rank_pairs(entries, exercises)
    return AssignmentResult(assignment_id, exercises, entries, pairs, notes, weights)


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
                                  jobs=_cores(), show_progress=True) for aid in ids]
    results = [r for r in results if r.entries]
    if not results:
        raise UsageError(f"no submission under {root} maps to {', '.join(ids)}")
    out.mkdir(parents=True, exist_ok=True)
    for result in results:
        write_assignment_report(out / result.assignment, result, args.top)
        for note in result.notes:
            print(f"similarity: {result.assignment}: {note}", file=sys.stderr)
    write_index(out, results)
    for result in results:
        print(f"similarity: {summary_line(result)}")
    print(f"similarity: report in {out / 'index.html'}. It ranks pairs for a person to review; "
          "it proves nothing and changes no grade.")
    return 0


def summary_line(result: AssignmentResult) -> str:
    scored = result.scored
    top = f" (highest {scored[0].review:.1f}: {scored[0].a.student} & {scored[0].b.student})" if scored else ""
    return (f"{result.assignment}: {_count(len(result.entries), 'submission')}, {_count(result.all_pairs, 'pair')}; "
            f"{len(scored)} {'scores' if len(scored) == 1 else 'score'} above 0{top}")


def _count(number: int, one: str, many: str | None = None) -> str:
    return f"{number} {one if number == 1 else many or one + 's'}"


def run_batch_with_similarity(args, course) -> int:
    """`autograder batch --similarity`: the batch, then this report under its --out."""
    from autograder.batch.runner import run_batch
    status = run_batch(args, course)
    if status == 0:
        run_after_batch(args, course, Path(args.out))
    return status


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
mark.match { display: block; white-space: pre; }
"""
_ABOUT_SCORE = ("The review score is the evidence, in nats, that one submission copied the other rather "
                "than both being written independently: each fingerprint (a winnowed run of about one line of "
                "normalised code) of one side that the other also holds adds log(q / p), p being the share of "
                "the class holding it, so code only these two wrote alike adds about log(2N) and the "
                "lesson's idiom, which many write alike, adds almost nothing; each fingerprint the other side "
                "lacks subtracts log((1 - q) / (1 - p)) (q = 0.99). It grows with the amount of distinctive "
                "code in common, and a whole copied notebook outscores a shared passage among code that "
                "differs. The exercise columns give the same evidence for one exercise at a time; overall "
                "is the share of one side's distinctive code the other holds (the larger way round). Before "
                "comparing, "
                "the starter notebook's code is removed and names, layout, comments, prints, asserts, "
                "unused temporaries, split expressions, loops rewritten as while loops, constants moved "
                "into variables and statement order are normalised away (docs/similarity.md).")


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

    fig = Figure(figsize=(7, 3.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.set_title(f"{result.assignment}: {_count(result.all_pairs, 'pair')} of "
                 f"{_count(len(result.entries), 'submission')}")
    ax.set_xlabel("review score (IDF-weighted shared fingerprints)")
    if not result.all_pairs:  # one submission: nothing to draw, and a log axis of nothing warns
        ax.text(0.5, 0.5, "no pairs to compare", ha="center", va="center", transform=ax.transAxes)
        ax.set_yticks([])
    else:
        shown = result.pairs[:top]
        rest = [p.review for p in result.pairs[top:]] + [0.0] * (result.all_pairs - len(result.pairs))
        highest = max([p.review for p in result.pairs] + [1.0])
        bins = [highest * i / 60 for i in range(61)]
        ax.hist([rest, [p.review for p in shown]], bins=bins, stacked=True, color=["#9db4cc", "#d9534f"],
                label=["other pairs", f"top {len(shown)} (in report.html)"])
        ax.set_yscale("log")
        ax.set_xlim(0, highest * 1.02)
        ax.set_ylabel("pairs (log scale)")
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
             f"<p>{_count(len(result.entries), 'submission')}, {_count(result.all_pairs, 'pair')}; "
             f"{len(result.scored)} {'scores' if len(result.scored) == 1 else 'score'} above 0 (all others score 0). "
             f"The top {len(shown)} follow; <a href='pairs.csv'>pairs.csv</a> lists every pair above 0 and the "
             f"pairs most alike in a single exercise.</p>",
             f"<p>{e(_ABOUT_SCORE)} Shared lines are shaded by the weight of their rarest fingerprint: "
             f"pale is the lesson's idiom, deep red is code only these two wrote alike.</p>",
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
    parts.append(_single_exercises(result))
    parts += [_pair_section(rank, pair, result) for rank, pair in enumerate(shown, 1)]
    parts.append("</body></html>")
    return "\n".join(parts)


def _single_exercises(result: AssignmentResult, rows: int = 10) -> str:
    """The pairs most alike in one exercise: a copied exercise among code of one's own
    scores low overall but shows here."""
    best = sorted(((max(p.exercises.items(), key=lambda kv: kv[1]), p) for p in result.pairs if p.exercises),
                  key=lambda item: -item[0][1])
    best = [(exercise, value, p) for (exercise, value), p in best if value > 0][:rows]
    if not best:
        return ""
    e = html.escape
    return ("<h2>Most alike in a single exercise</h2><table class='scores' id='single-exercise'><tr><th>pair</th>"
            "<th>exercise</th><th>evidence there</th><th>review score</th></tr>"
            + "".join(f"<tr><td>{e(p.a.student)} &amp; {e(p.b.student)}</td><td>{e(x)}</td><td>{_r(v)}</td>"
                      f"<td>{_r(p.review)}</td></tr>" for x, v, p in best) + "</table>")


def _pair_section(rank: int, pair: PairScore, result: AssignmentResult) -> str:
    e = html.escape
    rows = "".join(f"<tr><td>{e(x)}</td><td>{_r(pair.exercises[x])}</td></tr>" for x in result.exercises)
    parts = [f"<section class='pair' id='pair-{rank}' data-a='{e(pair.a.student)}' data-b='{e(pair.b.student)}'>",
             f"<h2>#{rank}: {e(pair.a.student)} &amp; {e(pair.b.student)} (review score {_r(pair.review)}, "
             f"overall {_r(pair.overall)})</h2>",
             f"<table class='scores'><tr><th>exercise</th><th>evidence</th></tr>{rows}</table>"]
    for exercise, marks in shared_lines(pair, result.weights).items():
        parts.append(f"<h3 class='exercise'>{e(exercise)}: {_r(pair.exercises.get(exercise, 0.0))}</h3>"
                     "<div class='side-by-side'>")
        for entry, lines in zip((pair.a, pair.b), marks):
            unit = entry.units.get(exercise) or Unit("")
            parts.append(f"<div class='side'><h4>{e(entry.student)} <small>{e(entry.path)}</small></h4>"
                         f"{_code(unit, lines)}</div>")
        parts.append("</div>")
    parts.append("</section>")
    return "\n".join(parts)


def _code(unit: Unit, marks: dict[int, float]) -> str:
    lines = []
    for number, line in enumerate(unit.source.split("\n"), 1):
        text = html.escape(line) or " "
        if number in marks:
            shade = f"background: rgba(217, 83, 79, {0.12 + 0.6 * marks[number]:.2f})"
            lines.append(f"<mark class='match line' data-n='{number}' data-weight='{marks[number]:.2f}' "
                         f"style='{shade}'>{text}</mark>")
        else:
            lines.append(f"<span class='line' data-n='{number}'>{text}</span>")
    return "<pre><code>" + "".join(lines) + "</code></pre>"


def write_index(out: Path, results: list[AssignmentResult]) -> None:
    e = html.escape
    rows = "".join(
        f"<tr><td><a href='{e(r.assignment)}/report.html'>{e(r.assignment)}</a></td><td>{len(r.entries)}</td>"
        f"<td>{len(r.scored)}</td><td>{_r(r.scored[0].review) if r.scored else '0.000'}</td>"
        f"<td><a href='{e(r.assignment)}/pairs.csv'>pairs.csv</a></td></tr>" for r in results)
    (out / "index.html").write_text(
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Similarity report</title>"
        f"<style>{_STYLE}</style></head><body><h1>Similarity report</h1>"
        f"<p class='disclaimer'>{e(DISCLAIMER)}</p><table class='scores'><tr><th>assignment</th>"
        f"<th>submissions</th><th>pairs above 0</th><th>highest review score</th><th>all pairs</th></tr>"
        f"{rows}</table></body></html>", encoding="utf-8")
