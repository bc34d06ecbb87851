"""The `autograder` command. Subcommands follow the instructor's workflow (release,
check, grade, batch, ...); each one only parses arguments and hands them to the module
that does the work, through a function named `run_<command>(args, course) -> int`.

Exit codes: 0 the work completed (a graded submission exits 0 whatever its score),
2 a usage or course error (one line on stderr), 3 an internal error.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from autograder import __version__
from autograder.course import CHOICES, UsageError  # noqa: F401  (UsageError: raised by the handlers)

EXIT_OK, EXIT_USAGE, EXIT_INTERNAL = 0, 2, 3
NEEDS_SOLUTIONS = {"release", "accuracy.calibration", "nbgrader.course"}


def _language_option(p: argparse.ArgumentParser, help_text: str) -> None:
    p.add_argument("--language", default=None, choices=CHOICES["language"], help=help_text)


def _grade_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default=None,
                   help="where student code runs (default: course.yaml devices.default)")
    p.add_argument("--require-cuda", action="store_true",
                   help="stop with an error instead of grading when no CUDA device is visible")
    p.add_argument("--seed", type=int, default=None, help="seed for grader inputs (default: course.yaml seed)")
    p.add_argument("--assignment", action="append", default=None, metavar="ID",
                   help="grade only this assignment (repeatable)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="autograder", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"autograder {__version__}")
    parser.add_argument("--course", default=None, help="path to course.yaml (default: search upwards from here)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("release", help="regenerate assignments/ from solutions/ and build student bundles")
    p.add_argument("--out", default=None, help="where student bundles go (default: build/release)")
    p.add_argument("--check", action="store_true", help="only report whether assignments/ is up to date")
    _language_option(p, "language of the student bundles (default: course.yaml language; see docs/i18n.md)")
    p.set_defaults(module="release", func="run_release")

    p = sub.add_parser("check", help="students: run the visible self-check tests on a notebook, in process")
    p.add_argument("path", help="a notebook or .py file")
    p.add_argument("--assignment", default=None, help="assignment id (default: from the file name)")
    _language_option(p, "language of the feedback (default: the notebook's, else English)")
    p.set_defaults(module="grading", func="run_check")

    p = sub.add_parser("grade", help="grade one submission (notebook, .py file or folder) in the sandbox")
    p.add_argument("path")
    p.add_argument("--format", default="text", choices=("text", "json", "gradescope", "junit", "classroom"))
    p.add_argument("--output", default=None, help="write the report here instead of stdout")
    _language_option(p, "language of test names, messages and headings (default: course.yaml language)")
    _grade_options(p)
    p.set_defaults(module="grading", func="run_grade")

    p = sub.add_parser("batch", help="grade every submission under a folder (a whole class)")
    p.add_argument("path")
    p.add_argument("--out", default="grading-output", help="results folder (reports, gradebook, summary)")
    p.add_argument("--jobs", type=int, default=None, help="parallel workers (default: from the cores)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted batch in --out")
    p.add_argument("--shard", default=None, metavar="K/N", help="grade only slice K of N (1-based)")
    p.add_argument("--similarity", action="store_true",
                   help="also write the class similarity report to OUT/similarity (see `autograder similarity`)")
    _language_option(p, "language of the students' report files (default: course.yaml language)")
    _grade_options(p)
    p.set_defaults(module="batch", func="run_batch")

    p = sub.add_parser("similarity", help="rank pairs of submissions sharing code beyond the starter "
                       "(for review; proves nothing, changes no grade)")
    p.add_argument("path", help="a class folder, laid out as for batch")
    p.add_argument("--out", default="similarity-report", help="where pairs.csv, report.html and plots go")
    p.add_argument("--assignment", default=None, metavar="ID", help="compare only this assignment")
    p.add_argument("--include-reference", action="store_true",
                   help="add the reference solution from solutions/ as a pseudo-student")
    p.add_argument("--top", type=int, default=25, help="pairs shown side by side in report.html")
    p.set_defaults(module="similarity.report", func="run_similarity")

    p = sub.add_parser("merge", help="combine the results of batch shards into one gradebook")
    p.add_argument("shards", nargs="+", help="the --out folders of the shards")
    p.add_argument("--out", default="grading-output", help="where the merged gradebook goes")
    p.set_defaults(module="batch", func="run_merge")

    p = sub.add_parser("data", help="datasets: prepare the offline default, show where CIFAR-10 is looked for")
    data_sub = p.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    q = data_sub.add_parser("prepare", help="generate (or verify) the offline dataset and report CIFAR-10's location")
    q.add_argument("--seed", type=int, default=None, help="synthetic dataset seed (default: course.yaml)")
    q.set_defaults(module="data", func="run_prepare")

    p = sub.add_parser("calibrate", help="train the reference solution over many seeds and write the accuracy threshold")
    p.add_argument("--seeds", type=int, default=10, help="number of seeds (at least 10)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--output", default=None, help="calibration file (default: course.yaml accuracy.calibration)")
    p.set_defaults(module="accuracy.calibration", func="run_calibrate")

    p = sub.add_parser("nbgrader", help="run this course under nbgrader")
    nb_sub = p.add_subparsers(dest="nbgrader_command", required=True, metavar="ACTION")
    q = nb_sub.add_parser("init", help="create an nbgrader course directory from course.yaml and solutions/")
    q.add_argument("directory")
    q.add_argument("--force", action="store_true", help="overwrite generated files in an existing directory")
    q.set_defaults(module="nbgrader.course", func="run_init")

    p = sub.add_parser("gradescope", help="Gradescope integration")
    gs_sub = p.add_subparsers(dest="gradescope_command", required=True, metavar="ACTION")
    q = gs_sub.add_parser("build", help="build the Gradescope autograder zip")
    q.add_argument("--output", default="build/gradescope-autograder.zip")
    q.add_argument("--assignment", action="append", default=None, metavar="ID",
                   help="grade only this assignment on Gradescope (repeatable; default: all)")
    q.set_defaults(module="gradescope.build", func="run_build")
    return parser


def _infer_assignment(args, course) -> None:
    """Grade only the assignment a folder holds when every student file in it is that
    one assignment, and say so (else every student is "incomplete" for the others)."""
    from pathlib import Path

    from autograder.mapping import single_assignment
    root = Path(args.path)
    if not root.is_dir() or root.resolve().name in {a.id for a in course.assignments}:
        return  # one file, or a folder named for its assignment: grading maps those itself
    found = single_assignment(root, course)
    if found is not None:
        args.assignment = [found]
        print(f"autograder: grading {found} only: it is the one assignment in {args.path} "
              f"(pass --assignment to choose)", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    zygote = None
    if args.command == "batch":  # its torch import starts now, beside loading the course
        from autograder.batch.siblings import zygote_for_command
        zygote = args.zygote = zygote_for_command(args.jobs)
    try:
        return _run(args)
    finally:
        if zygote is not None:
            zygote.close(wait=False)  # the batch closed it already, or stopped before its pool


def _run(args) -> int:
    from autograder.course import CourseError, load_course

    try:
        # Only these commands read solutions/; graders (Gradescope, CI runners) and students
        # get the kit without it, so the others must not insist on the solution notebooks.
        if args.command == "check" and args.course is None:
            # Students run this on their own notebook, anywhere: no course file needed.
            course = None
        else:
            course = load_course(args.course, check_notebooks=args.module in NEEDS_SOLUTIONS)
        if args.command in ("grade", "batch") and not args.assignment:
            _infer_assignment(args, course)
        if args.command == "batch" and args.similarity:
            # batch then the similarity report: composed here, so batch never imports similarity
            args.module, args.func = "similarity.report", "run_batch_with_similarity"
        handler = getattr(importlib.import_module(f"autograder.{args.module}"), args.func)
        return int(handler(args, course) or EXIT_OK)
    except (CourseError, UsageError) as exc:
        print(f"autograder: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("autograder: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # an internal error: one line, then the details for a bug report
        import traceback
        print(f"autograder: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        traceback.print_exc(file=sys.stderr)
        return EXIT_INTERNAL


def console_main() -> int:
    """The `autograder` command (and `python -m autograder`): main(), then an exit that
    skips the interpreter's last full garbage collection. What is left is about to be
    freed by the exit anyway, and a batch leaves matplotlib, the store and its reports in
    memory: that collection was 110 ms of the end of every batch. Files are closed by
    the commands themselves (`with` blocks), so nothing waits on it."""
    code = main()
    import gc
    gc.freeze()
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(console_main())
