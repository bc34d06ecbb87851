"""`autograder similarity` on realistic classes: does it rank copies above honest pairs,
and how long does a class of 500 take?

The classes come from tests/support/similarity_realistic.py (honest students who converge on the
lesson's code, copiers at three disguise levels; see its docstring), generated from a seed.
First the test suite's class (24 honest students, 3 copies per level, seed 0), then the
same over more seeds, then one class of 500 timed (both assignments).

    .venv/bin/python benchmarks/similarity_bench.py [--seeds 5] [--students 500] [--jobs N]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "support"))

import similarity_realistic as realistic  # noqa: E402


def ranking(root: Path, course, assignment: str, planted, jobs: int = 1):
    from autograder.similarity.report import compare_assignment
    start = time.perf_counter()
    result = compare_assignment(root, course, assignment, jobs=jobs, show_progress=True)
    return result, time.perf_counter() - start, realistic.copies_above_honest(result.pairs, planted)


def show_class(course, seed: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        planted = realistic.write_class(Path(tmp), seed=seed)
        copy_pairs = {frozenset((p.copier, p.original)): p.level for p in planted}
        print(f"realistic class, seed {seed}: 24 honest students, {len(planted)} copiers "
              f"({len(planted) // len(realistic.LEVELS)} per disguise level)")
        for assignment in realistic.ASSIGNMENTS:
            result, seconds, found = ranking(Path(tmp), course, assignment, planted)
            honest = [p for p in result.pairs if frozenset((p.a.student, p.b.student)) not in copy_pairs]
            best = (f"{honest[0].review:.1f} ({honest[0].a.student} & {honest[0].b.student})"
                    if honest and honest[0].review > 0 else "0 (none above 0)")
            print(f"  {assignment}: {len(result.scored)} of {result.all_pairs} pairs score above 0; "
                  f"highest honest pair {best}")
            for level in realistic.LEVELS:
                scores = sorted((p.review for p in result.pairs
                                 if copy_pairs.get(frozenset((p.a.student, p.b.student))) == level), reverse=True)
                print(f"    {level:22s} {sum(found[level])}/{len(found[level])} copies above every honest pair "
                      f"(copy scores {', '.join(f'{s:.1f}' for s in scores)})")


def over_seeds(course, seeds: int) -> None:
    totals: dict[tuple[str, str], list[bool]] = {}
    for seed in range(seeds):
        with tempfile.TemporaryDirectory() as tmp:
            planted = realistic.write_class(Path(tmp), seed=seed)
            for assignment in realistic.ASSIGNMENTS:
                _, _, found = ranking(Path(tmp), course, assignment, planted)
                for level, hits in found.items():
                    totals.setdefault((assignment, level), []).extend(hits)
    print(f"over seeds 0-{seeds - 1} (classes of the same make, drawn again): copies above every honest pair")
    for (assignment, level), hits in totals.items():
        print(f"  {assignment:12s} {level:22s} {sum(hits)}/{len(hits)}")


def large_class(course, students: int, jobs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        planted = realistic.write_class(Path(tmp), honest=students - 15, copies_per_level=5, seed=1)
        for assignment in realistic.ASSIGNMENTS:
            result, seconds, found = ranking(Path(tmp), course, assignment, planted, jobs)
            copies = ", ".join(f"{level} {sum(h)}/{len(h)}" for level, h in found.items())
            rank = {frozenset((p.a.student, p.b.student)): n for n, p in enumerate(result.pairs, 1)}
            ranks = sorted(rank.get(frozenset((p.copier, p.original)), len(rank) + 1) for p in planted)
            print(f"{students} students, {assignment}: {result.all_pairs} pairs scored in {seconds:.1f} s with {jobs} "
                  f"process(es), {len(result.scored)} above 0; copies above every honest pair: {copies}; "
                  f"ranks of the {len(planted)} copies: {', '.join(map(str, ranks))}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="classes drawn for the summary over seeds")
    parser.add_argument("--students", type=int, default=500, help="size of the timed class (0: skip)")
    parser.add_argument("--jobs", type=int, default=None, help="worker processes (default: the cores)")
    args = parser.parse_args()
    from autograder.batch.runner import available_cores
    from autograder.course import load_course

    course = load_course(REPO / "course.yaml")
    show_class(course, 0)
    if args.seeds > 1:
        over_seeds(course, args.seeds)
    if args.students:
        large_class(course, args.students, args.jobs or available_cores())


if __name__ == "__main__":
    main()
