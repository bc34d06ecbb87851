"""Grade one submission: find the student's files, open their code (sandbox or in
process), run the visible and hidden tests through the grading plugin, build the report.

Entry points: `grade_source` (one assignment from a source string, in process by
default: for unit tests of the test content), `grade_path` (a notebook, .py file or a
folder of them, in the sandbox) and the CLI handlers `run_grade` and `run_check`.
"""
from __future__ import annotations

import contextlib
import io
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import torch

import autograder
from autograder.course import Course, CourseError, load_course
from autograder.localize import N_
from autograder.mapping import VISIBLE_TESTS, GradingError, map_files, student_files, test_files
from autograder.plugin import GradingPlugin, SubmissionUnavailable, TestOutcome
from autograder.report import AssignmentResult, LoadError, Report, TestResult
from autograder.submission import InProcessSubmission, Submission, namespace_from_source

PACKAGE_DIR = Path(autograder.__file__).resolve().parent


def default_course() -> Course:
    """course.yaml found upwards from the working directory, else the repository's own.
    Grading needs no solution notebooks, so their presence is not checked."""
    try:
        return load_course(check_notebooks=False)
    except CourseError:
        return load_course(PACKAGE_DIR.parent / "course.yaml", check_notebooks=False)


def resolve_device(device: str | None, course: Course | None = None) -> torch.device:
    choice = device or (course.devices.default if course else "auto")
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if choice == "cuda" and not torch.cuda.is_available():
        raise GradingError("--device cuda: no CUDA device is visible (torch.cuda.is_available() is False)")
    return torch.device(choice)


def run_tests(course: Course, assignment_ids: list[str],
              open_submission: Callable[[str], Submission], *, seed: int, device: torch.device,
              files: dict[str, str] | None = None, check_points: bool = True,
              unavailable: dict | None = None, session=None) -> GradingPlugin:
    """Run the assignments' tests through the plugin; the outcomes are on the result.
    unavailable: {assignment id: SubmissionUnavailable} known before the run (no file):
    their tests get that outcome without running. session: a batch.session.SharedSession
    that has collected the files already (batch workers); without one, or where it has
    not, the run starts pytest itself."""
    if files is None:
        files = {}
        for a in assignment_ids:
            files.update(test_files(a))
    expected = {a: course.assignment(a).points for a in assignment_ids} if check_points else None
    plugin = GradingPlugin(files, open_submission, course=course, seed=seed, device=device,
                           cuda_policy=course.devices.without_gpu, expected_points=expected,
                           unavailable=unavailable)
    if files:
        try:
            if session is not None and session.serves(plugin):
                session.run(plugin)
            else:
                plugin.run()
        finally:
            plugin.close()
    elif expected:
        plugin.course_error = "; ".join(
            f"assignment {a}: no test files (expected tests_hidden/test_{a}.py or "
            f"selfcheck/tests/test_{a}.py)" for a in assignment_ids)
    if plugin.course_error:
        raise CourseError(plugin.course_error)
    if plugin.collection_errors:
        raise RuntimeError("the grader's tests could not be collected: " + "; ".join(plugin.collection_errors))
    return plugin


def to_test_result(o: TestOutcome) -> TestResult:
    return TestResult(id=o.id, name=o.name, category=o.category, score=o.score, max_score=o.max_score,
                      status=o.status, visibility=o.visibility, message=o.message,
                      duration_s=o.duration_s, exercise=o.exercise, flags=list(o.flags))


def assignment_result(course: Course, assignment_id: str, outcomes: list[TestOutcome]) -> AssignmentResult:
    info = course.assignment(assignment_id)
    return AssignmentResult(id=assignment_id, title=info.title, course_points=info.points,
                            tests=[to_test_result(o) for o in outcomes if o.assignment == assignment_id])


def cuda_summary(plugin: GradingPlugin) -> dict:
    """What happened to CUDA-only tests, for report.environment."""
    cuda_tests = [o for o in plugin.outcomes.values() if o.cuda]
    if not cuda_tests:
        checks = "none"
    elif plugin.cuda_available:
        checks = "ran"
    else:
        checks = {"exclude": "excluded", "award": "awarded", "fail": "failed"}[plugin.cuda_policy]
    return {"cuda_policy": plugin.cuda_policy, "cuda_checks": checks}


def environment(device: torch.device, seed: int, isolation: dict | None) -> dict:
    return {"python": platform.python_version(), "torch": torch.__version__.split("+")[0],
            "device": str(device), "cuda_available": torch.cuda.is_available(),
            "seed": seed, "isolation": isolation or {"backend": "none"},
            "platform": f"{platform.system()}-{platform.machine()}",
            "autograder": autograder.__version__}


# -- one assignment from source (in process) ---------------------------------------------
def grade_source(assignment_id: str, source: str, backend: str = "inprocess",
                 course: Course | None = None, seed: int | None = None,
                 device: str | None = None, session=None) -> AssignmentResult:
    """Grade one assignment's source code (a string) with its visible and hidden tests
    (in a shared pytest session if one is given: see run_tests)."""
    course = course or default_course()
    course.assignment(assignment_id)  # an unknown id is a CourseError naming the known ones
    seed = course.seed if seed is None else int(seed)
    grading_device = resolve_device(device, course)
    if backend == "inprocess":
        def open_submission(aid: str) -> Submission:
            return open_in_process(source, aid)
        plugin = run_tests(course, [assignment_id], open_submission, seed=seed, device=grading_device,
                           session=session)
        return assignment_result(course, assignment_id, list(plugin.outcomes.values()))
    if backend == "sandbox":
        with tempfile.TemporaryDirectory(prefix="autograder-src-") as tmp:
            path = Path(tmp) / f"{assignment_id}.py"
            path.write_text(source, encoding="utf-8")
            report = grade_path(str(path), course, device=str(grading_device), seed=seed,
                                assignments=[assignment_id], session=session)
        return report.assignments[0]
    raise ValueError(f"backend must be 'inprocess' or 'sandbox', got {backend!r}")


def open_in_process(source: str, assignment_id: str, filename: str = "<submission>") -> Submission:
    """Run student source in this process (no isolation) and wrap its namespace; the
    code's own prints are swallowed so they cannot corrupt a JSON report on stdout."""
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            namespace = namespace_from_source(source, filename)
    except SyntaxError as exc:
        line, problem = exc.lineno, exc.msg
        raise SubmissionUnavailable(N_(f"the code has a syntax error at line {line}: {problem}")) from None
    except Exception as exc:  # student code raised at top level: the tests cannot use it
        error = f"{type(exc).__name__}: {exc}"
        raise SubmissionUnavailable(N_(f"the code raised while loading: {error}")) from None
    return InProcessSubmission(namespace, assignment_id)


# -- a path: notebook, .py file or a folder of them (sandbox) ---------------------------
class SubmissionOpener:
    """Opens each assignment's code lazily (when its first test asks): in a sandbox from
    one SandboxFactory per grade run, or in process (`backend="inprocess"`, for tests of
    the kit itself). Remembers what loading said, for the report."""

    def __init__(self, course: Course, files: dict[str, Path], device: torch.device, root: Path,
                 backend: str = "sandbox", factory=None):
        if backend not in ("sandbox", "inprocess"):
            raise ValueError(f"backend must be 'sandbox' or 'inprocess', got {backend!r}")
        self.files, self.root, self.backend = files, root, backend
        # A factory handed in (batch grading reuses one per worker) is the caller's to close.
        self.factory, self.owns_factory = factory, False
        if backend == "sandbox" and factory is None:
            from autograder.sandbox import SandboxFactory  # only grading paths needs the sandbox
            self.factory = SandboxFactory(course.limits, device=str(device), torch_threads=1)
            self.owns_factory = True
        self.loaded: dict[str, object] = {}
        self.failures: dict[str, tuple[str, str]] = {}

    def __call__(self, assignment_id: str) -> Submission:
        path = self.files.get(assignment_id)
        if path is None:
            where = self.root if self.root.is_dir() else self.root.parent
            message = N_(f"no file for {assignment_id} was found in {where} (expected a notebook named "
                         f"like {assignment_id}.ipynb or with autograder.assignment metadata)")
            self.failures[assignment_id] = ("missing", message)
            raise SubmissionUnavailable(message)
        from autograder.load import load_code
        try:
            code = load_code(str(path))
        except Exception as exc:  # an unreadable notebook loses only its own assignment
            name, problem = path.name, exc
            message = N_(f"could not read {name}: {problem}")
            self.failures[assignment_id] = ("unreadable", message)
            raise SubmissionUnavailable(message) from None
        try:
            if self.factory is None:
                sub = open_in_process(student_source(code), assignment_id, filename=str(path))
            else:
                sub = self.factory.open(code, assignment_id)
        except SubmissionUnavailable as exc:
            self.failures[assignment_id] = ("error", str(exc))
            raise
        except Exception as exc:
            status, name, problem = getattr(exc, "status", "error"), path.name, exc
            message = N_(f"the sandbox for {name} did not start: {problem}")
            self.failures[assignment_id] = (status, message)
            raise SubmissionUnavailable(message, status) from None
        self.loaded[assignment_id] = sub
        return sub

    def missing(self, assignment_ids: list[str]) -> dict[str, SubmissionUnavailable]:
        """The assignments without a file, decided before any test runs (and recorded
        for the report as if a test had asked for them)."""
        faults = {}
        for aid in assignment_ids:
            if aid not in self.files:
                try:
                    self(aid)
                except SubmissionUnavailable as fault:
                    faults[aid] = fault
        return faults

    def close(self) -> None:
        if self.owns_factory:
            self.factory.close()

    def annotate(self, result: AssignmentResult) -> None:
        path = self.files.get(result.id)
        result.source = str(path.relative_to(self.root)) if path and self.root.is_dir() else (
            path.name if path else None)
        if result.id in self.failures:
            result.status, message = self.failures[result.id]
            result.notes.append(message)
            return
        sub = self.loaded.get(result.id)
        if sub is None:
            return
        result.isolation = dict(getattr(sub, "isolation", {}) or {})
        load_status = getattr(sub, "load_status", "ok") or "ok"
        if load_status not in ("ok", "loaded", "graded"):
            result.status = load_status if load_status in ("error", "crashed", "timeout", "memory") else "error"
        if load_status == "timeout" and getattr(sub, "load_fault", None) is not None:
            from autograder.load_feedback import explain_load_timeout
            result.notes.append(explain_load_timeout(str(sub.load_fault)))
        errors = list(getattr(sub, "load_errors", None) or [])
        for err in errors[:MAX_LOAD_ERRORS]:
            result.load_errors.append(_explained(_load_error(err), path))
        if len(errors) > MAX_LOAD_ERRORS:
            more = len(errors) - MAX_LOAD_ERRORS
            result.notes.append(N_(f"{more} more load errors not shown"))


def _explained(error: LoadError, path: Path | None) -> LoadError:
    """The load error in words a student can act on, where load_feedback knows better."""
    from autograder.load_feedback import explain_load_error
    better = explain_load_error(error.message, error.where() or N_("a cell"), _line_of(path, error))
    if better is None:
        return error
    return LoadError(message=better, cell=error.cell, line=error.line, kind=error.kind)


def _line_of(path: Path | None, error: LoadError) -> str:
    """The student's source line a load error points at ("" when unknown)."""
    if path is None or error.line is None:
        return ""
    from autograder.load import load_code
    try:
        code = load_code(str(path))
    except Exception:  # unreadable now: the error keeps the sandbox's own words
        return ""
    cell = next((c for c in code.cells if error.cell is None or c.index == error.cell), None)
    lines = cell.source.splitlines() if cell else []
    return lines[error.line - 1] if 0 < error.line <= len(lines) else ""


# A student controls how many cells raise and what their messages say: a report stays readable.
MAX_LOAD_ERRORS, MAX_LOAD_ERROR_CHARS = 20, 2000


def _truncated(text: str) -> str:
    if len(text) <= MAX_LOAD_ERROR_CHARS:
        return text
    more = len(text) - MAX_LOAD_ERROR_CHARS
    return text[:MAX_LOAD_ERROR_CHARS] + " ... " + N_(f"({more} more characters not shown)")


def _load_error(err) -> LoadError:
    if isinstance(err, LoadError):
        error = err
    elif isinstance(err, dict):
        error = LoadError.from_dict(err)
    elif isinstance(err, str):
        error = LoadError(message=err)
    else:
        error = LoadError(message=str(getattr(err, "message", err)), cell=getattr(err, "cell", None),
                          line=getattr(err, "line", None), kind=str(getattr(err, "kind", "error")))
    error.message = _truncated(str(error.message))
    return error


def grade_path(path: str, course: Course, device: str = "auto", seed: int | None = None,
               assignments: list[str] | None = None, require_cuda: bool = False,
               backend: str = "sandbox", factory=None, session=None) -> Report:
    """Grade a notebook, a .py file or a folder of a student's files in the sandbox.
    `factory`: a SandboxFactory to reuse and `session`: a shared pytest session (batch
    workers); `backend="inprocess"` runs the code in this process, for the kit's own
    tests only."""
    started = time.perf_counter()
    if require_cuda and not torch.cuda.is_available():
        raise GradingError("--require-cuda: no CUDA device is visible on this runner "
                           "(torch.cuda.is_available() is False); not grading")
    for aid in assignments or []:
        course.assignment(aid)
    root = Path(path)
    if not root.exists():
        raise GradingError(f"{path}: no such file or folder")
    seed = course.seed if seed is None else int(seed)
    grading_device = resolve_device(device, course)
    if root.is_file():
        _check_readable(root)  # the only input: unreadable is a usage error, not a 0 score
    elif not student_files(root):
        # The same one-line usage error `batch` gives, not a full report of zeros.
        raise GradingError(f"no submissions in {root} (expected notebooks (.ipynb) or .py files "
                           f"in the folder or its subfolders)")
    files, notes = map_files(root, course, assignments)
    if root.is_file():
        ids = list(files)
    elif assignments:
        ids = list(assignments)
    elif root.resolve().name in {a.id for a in course.assignments}:
        # A folder named for one assignment (solutions/03_autograd/, a student's
        # 03_autograd/ folder) is that assignment's submission, not a whole course's
        # with five assignments missing.
        ids = [root.resolve().name]
    else:
        ids = [a.id for a in course.assignments]
    opener = SubmissionOpener(course, files, grading_device, root, backend, factory)
    try:
        plugin = run_tests(course, ids, opener, seed=seed, device=grading_device,
                           unavailable=opener.missing(ids), session=session)
    finally:
        opener.close()
    outcomes = list(plugin.outcomes.values())
    results = []
    for aid in ids:
        result = assignment_result(course, aid, outcomes)
        opener.annotate(result)
        results.append(result)
    if results and notes:
        results[0].notes.extend(notes)
    isolation = next((r.isolation for r in results if r.isolation), None)
    env = {**environment(grading_device, seed, isolation), **cuda_summary(plugin)}
    return Report(submission=path, assignments=results, environment=env,
                  duration_s=time.perf_counter() - started)


def _check_readable(path: Path) -> None:
    from autograder.load import load_code
    try:
        load_code(str(path))
    except Exception as exc:
        raise GradingError(f"{path}: {exc}" if str(path) not in str(exc) else str(exc)) from None


# -- the CLI ---------------------------------------------------------------------------
def write_atomic(path: str, text: str) -> None:
    """Write via a temporary file in the same folder, so a reader never sees half a report."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def run_grade(args, course: Course) -> int:
    from autograder.course import UsageError
    from autograder.writers import write
    try:
        report = grade_path(args.path, course, device=args.device or course.devices.default,
                            seed=args.seed, assignments=args.assignment, require_cuda=args.require_cuda)
    except GradingError as exc:
        raise UsageError(str(exc)) from None
    from autograder.localize import localized_report
    language = getattr(args, "language", None) or course.language
    report = localized_report(report, language, course.titles(language))
    text = write(report, args.format)
    if args.output:
        write_atomic(args.output, text)
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        sys.stdout.flush()
    return 0


def run_check(args, course: Course | None) -> int:
    """Students: the visible tests, in process, with a friendly summary. Needs no course
    file: the assignment comes from the notebook's metadata, its name or --assignment."""
    from autograder.course import UsageError
    from autograder.selfcheck.runner import format_results, run_visible
    path = Path(args.path)
    if not path.is_file():
        raise UsageError(f"{args.path}: no such file")
    assignment_id = check_assignment_id(path, args.assignment)
    from autograder.load import load_code
    try:
        source = student_source(load_code(str(path)))
    except Exception as exc:
        raise UsageError(f"could not read {path.name}: {exc}") from None
    from autograder.localize import notebook_language, translator
    # --language, else the notebook's own (a vi release says so in its metadata), else English.
    language = getattr(args, "language", None) or notebook_language(path)
    try:
        submission = open_in_process(source, assignment_id, filename=str(path))
    except SubmissionUnavailable as exc:
        name, problem = path.name, str(exc)
        print(translator(language)(N_(f"Your code in {name} could not run, so no check ran: {problem}")))
        return 0
    # The self-check's own seed, as in the notebook: the same checks wherever they run.
    outcomes = run_visible(assignment_id, submission, device=resolve_device("auto"))
    print(format_results(assignment_id, outcomes, language=language))
    return 0


def self_checked_assignments() -> list[str]:
    """Assignment ids that have visible tests (what a student's `check` can run)."""
    return sorted(p.stem.removeprefix("test_") for p in VISIBLE_TESTS.glob("test_*.py"))


def check_assignment_id(path: Path, wanted: str | None) -> str:
    """Which assignment a student's file is, for `autograder check`."""
    from autograder.course import UsageError
    from autograder.mapping import STUDENT_SUFFIXES, notebook_assignment
    known = self_checked_assignments()
    if path.suffix not in STUDENT_SUFFIXES:
        raise UsageError(f"{path}: not a notebook (.ipynb) or Python file (.py)")
    found = wanted or (notebook_assignment(path) if path.suffix == ".ipynb" else None) \
        or next((a for a in known if a.lower() in path.name.lower()), None)
    if found is None:
        raise UsageError(f"cannot tell which assignment {path.name} is (no autograder.assignment metadata, "
                         f"no assignment id in its name); pass --assignment ID ({', '.join(known)})")
    if found not in known:
        raise UsageError(f"no self-check tests for assignment {found!r} (known: {', '.join(known)})")
    return found


def student_source(code) -> str:
    """The runnable source of a `load_code` result (its attribute name is the loader's)."""
    for attr in ("source", "code", "text"):
        value = getattr(code, attr, None)
        if isinstance(value, str):
            return value
    if isinstance(code, str):
        return code
    raise TypeError(f"load_code returned {type(code).__name__} without a source")
