"""Time `autograder similarity` on a generated class of 500 (04_lenet).

Each generated student takes, per exercise, one of the test class's seven honest
solutions, renames its names at random and sprinkles in statements of their own; a few
students copy a classmate outright. So most pairs share some code (the hard case for the
prefilter) and a few are planted copies, which the run must rank first.

    .venv/bin/python benchmarks/similarity_bench.py [--students 500] [--jobs N]
"""
from __future__ import annotations

import argparse
import ast
import random
import re
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

import similarity_class as klass  # noqa: E402

NAMES = ["x", "h", "out", "pooled", "flat", "features", "y", "result", "total", "n", "size"]
FILLERS = ["{v} = {a} * {b}", "{v} = max({a}, {b})", "assert {a} >= 0", "{v} = [{a}] * {b}",
           "if {a} > {b}:\n{ind}    pass", "{v} = ({a}, {b}, {a} + {b})"]


def student_code(rng: random.Random) -> str:
    exercises = {}
    for name in klass.ORDER:
        code = rng.choice(list(klass.HONEST.values()))[name]
        for old in NAMES:
            code = re.sub(rf"\b{old}\b", f"{old}_{rng.randrange(99)}", code)
        lines = code.split("\n")
        # A statement of the student's own goes before a `return`, where it always parses.
        returns = [i for i, line in enumerate(lines) if line.strip().startswith("return")]
        for at in sorted(rng.sample(returns, k=rng.randrange(len(returns) + 1)), reverse=True):
            indent = re.match(r"\s*", lines[at]).group()
            filler = rng.choice(FILLERS).format(v=f"tmp{rng.randrange(999)}", a=rng.randrange(1000),
                                                b=rng.randrange(1000), ind=indent)
            lines.insert(at, indent + filler)
        exercises[name] = "\n".join(lines)
    text = klass.module(exercises)
    ast.parse(text)  # a generated class that does not parse would measure the fallback, not the method
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=500)
    parser.add_argument("--jobs", type=int, default=None, help="worker processes (default: the cores)")
    args = parser.parse_args()
    from autograder.batch.runner import available_cores
    from autograder.course import load_course
    from autograder.similarity_report import compare_assignment

    rng = random.Random(14)
    course = load_course(REPO / "course.yaml")
    jobs = args.jobs or available_cores()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        codes = [student_code(rng) for _ in range(args.students)]
        planted = {}
        for copy in range(0, args.students, 100):  # every 100th student copies a classmate
            original = (copy + 37) % args.students
            codes[copy] = codes[original].replace("\n\n\n", "\n\n")  # reformatted a little
            planted[f"s{copy:04d}"] = f"s{original:04d}"
        for number, code in enumerate(codes):
            (root / f"s{number:04d}").mkdir()
            (root / f"s{number:04d}" / "04_lenet.py").write_text(code)
        start = time.perf_counter()
        result = compare_assignment(root, course, "04_lenet", jobs=jobs, progress=True)
        seconds = time.perf_counter() - start
    top = {frozenset((p.a.student, p.b.student)) for p in result.pairs[:len(planted)]}
    found = sum(frozenset(item) in top for item in planted.items())
    print(f"similarity: {len(result.entries)} submissions of 04_lenet, {result.all_pairs} pairs, "
          f"{len(result.pairs)} scored after the fingerprint prefilter, in {seconds:.1f} s with {jobs} "
          f"process(es); planted copies in the top {len(planted)}: {found}/{len(planted)}")


if __name__ == "__main__":
    main()
