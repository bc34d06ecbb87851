"""The grading pytest plugin: markers, fixtures and the outcome of every test.

Hidden and visible tests are ordinary pytest files named `test_<assignment id>.py`. This
plugin is handed to `pytest.main(..., plugins=[plugin])`; it never reads pytest's text
output. It records one `TestOutcome` per collected test from the hooks, with the
exception object in hand, so the status and message are exact:

* passed -> full points; AssertionError -> "failed" with the assertion's message only
  (pytest runs with --assert=plain, so no test source reaches the message);
* a `SubmissionFault` -> its own status (error/timeout/crashed/memory) and message;
* any other exception is a bug in the grader's test -> "error",
  "internal grader error: <type>", never the test's traceback;
* skips -> "skipped" with the reason; CUDA-only tests on a runner without a GPU follow
  course.yaml's `devices.without_gpu` policy.

This module is shipped to students with the self-check, so it imports nothing but pytest,
torch and `autograder.submission` (the course model is duck-typed).
"""
from __future__ import annotations

import contextlib
import copy
import functools
import hashlib
import io
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest
import torch

from autograder.localize import N_
from autograder.submission import StudentCodeError, Submission, SubmissionFault

CATEGORIES = ("shape", "gradient", "accuracy", "device", "value", "behaviour")
# Faults after which the student's process is gone: the next test needs a fresh one.
FATAL_STATUSES = frozenset({"crashed", "timeout", "memory"})
CUDA_POLICIES = ("exclude", "award", "fail")

MARKERS = (
    "points(n): points the test is worth (all-or-nothing)",
    f"category(name): what the test checks, one of {', '.join(CATEGORIES)}",
    "cuda: needs a real CUDA device; course.yaml devices.without_gpu decides otherwise",
    "exercise(name): the exercise function the test checks (students' check(name))",
)

PYTEST_ARGS = (
    "-q",
    "-p", "no:cacheprovider",
    # Plain asserts: the failure message is the assertion's own text, never test source.
    "--assert=plain",
    # No ini file: the repository's (or the student's) pytest config must not apply.
    "-c", os.devnull,
    # Test files are imported by path, so same-named files in two folders never clash.
    "--import-mode=importlib",
    "-W", "ignore::pytest.PytestAssertRewriteWarning",
    # Plugins that reorder tests would make two gradings of one submission differ.
    "-p", "no:randomly",
    # Its gc.collect() at the end of each session costs ~0.4 s with torch loaded, and a
    # test's stray unraisable exception is no grading outcome anyway.
    "-p", "no:unraisableexception",
    # pytest plugins grading has no use for, each paid once per student (a batch runs a
    # pytest session per submission): log capture adds and removes a handler on every
    # logger around every test phase (~70 ms a student); the others write files or
    # collect what our sessions never hold.
    "-p", "no:logging", "-p", "no:junitxml", "-p", "no:pastebin", "-p", "no:doctest", "-p", "no:stepwise",
)


class SubmissionUnavailable(SubmissionFault):
    """The assignment's code could not be opened at all (missing or unreadable file, or
    a sandbox that would not start); every test of it gets this status and 0 points."""

    def __init__(self, message: str, status: str = "error"):
        super().__init__(message)
        self.status = status


@dataclass
class TestOutcome:
    """What the plugin learned about one test; grading turns it into a report entry."""

    __test__ = False  # not a pytest test class

    nodeid: str
    assignment: str
    id: str
    name: str
    category: str
    points: float
    visibility: str
    exercise: str | None = None
    cuda: bool = False
    status: str = "pending"
    message: str = ""
    score: float = 0.0
    max_score: float = 0.0
    duration_s: float = 0.0
    # Markers for the instructor (e.g. "tamper"), set from the fault that ended the test.
    flags: list[str] = field(default_factory=list)
    # A CUDA-only check excluded on this runner (devices.without_gpu: exclude): scored in
    # proportion to the checks that ran (GradingPlugin._score_excluded).
    excluded: bool = False
    # Grader-side only (never in a report): the traceback of an internal grader error,
    # for whoever writes the tests. Set AUTOGRADER_DEBUG=1 to get it on stderr.
    detail: str = ""


@functools.lru_cache(maxsize=1024)
def real_path(path: str | Path) -> str:
    """The test file's resolved path, the key of every per-file table here. Cached: it
    is asked for each test of each student (a batch worker grades hundreds against the
    same few files), and resolving walks the file system every time."""
    return str(Path(path).resolve())


def assignment_of(path: str | Path) -> str:
    """`.../test_03_autograd.py` -> `03_autograd`."""
    stem = Path(path).stem
    return stem[len("test_"):] if stem.startswith("test_") else stem


def topic_of(assignment: str) -> str:
    """`03_autograd` -> `autograd`: the prefix of report test ids."""
    return re.sub(r"^\d+_", "", assignment)


def stable_seed(seed: int, test_id: str) -> int:
    """Seed for one test's generator: stable across runs and Python processes
    (Python's hash() of a str is salted per process, so it is not used)."""
    digest = hashlib.sha256(test_id.encode("utf-8")).digest()
    return (int(seed) * 1_000_003 + int.from_bytes(digest[:6], "big")) % (2 ** 63)


def classify(exc: BaseException) -> tuple[str, str]:
    """(status, message) for an exception raised in a test's setup, call or teardown."""
    if isinstance(exc, pytest.skip.Exception):
        return "skipped", exc.msg or N_("skipped")
    if isinstance(exc, StudentCodeError) and exc.exc_type == "NotImplementedError":
        # The release's stub: say what to do, not just the exception's name.
        trace = exc.traceback_text
        if trace:
            return exc.status, N_(f"not written yet: the exercise still raises NotImplementedError; "
                                  f"replace `raise NotImplementedError()` with your code\n{trace}")
        return exc.status, N_("not written yet: the exercise still raises NotImplementedError; "
                              "replace `raise NotImplementedError()` with your code")
    if isinstance(exc, SubmissionFault):
        status = exc.status
        return exc.status, str(exc) or N_(f"the submission's code failed ({status})")
    if isinstance(exc, AssertionError):
        return "failed", str(exc) or N_("the check failed (the test gave no details)")
    if isinstance(exc, pytest.fail.Exception):
        return "failed", exc.msg or N_("the check failed (the test gave no details)")
    kind = type(exc).__name__
    return "error", N_(f"internal grader error: {kind}")


def _docstring_name(function) -> str:
    doc = (getattr(function, "__doc__", None) or "").strip()
    if doc:
        return doc.splitlines()[0].strip()
    return getattr(function, "__name__", "test").removeprefix("test_").replace("_", " ")


def _forget_modules(files: list[str]) -> None:
    """Drop our test modules from sys.modules: pytest's importlib mode reuses a cached
    module of the same name, which would run another folder's tests of that name."""
    wanted = set(files)
    # Any import mode names a test module after its file (pkg.test_01_tensors): a cheap
    # test on the name first, since sys.modules holds thousands of torch's modules and
    # this runs twice per student.
    stems = {os.path.splitext(os.path.basename(f))[0] for f in files}
    for name, module in list(sys.modules.items()):
        if name.rpartition(".")[2] not in stems:
            continue
        # the module's own dict, not getattr: a lazy module's __getattr__ may import things
        path = getattr(module, "__dict__", {}).get("__file__")
        if path and os.path.realpath(path) in wanted:
            del sys.modules[name]


@contextlib.contextmanager
def _without_plugin_autoload():
    """Grading sessions load no third-party pytest plugin: one installed on the grading
    machine (pytest-randomly, pytest-cov, anyio's ...) could reorder or change how our
    tests run, and loading them again for every student costs time."""
    previous = os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
        else:
            os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = previous


@contextlib.contextmanager
def _without_assertion_rewriting():
    """An enclosing pytest session (the kit's own test suite, say) leaves its assertion
    rewriting import hook installed; it would rewrite our test files and put their source
    into failure messages. Take such hooks out while our tests are imported."""
    hooks = [h for h in sys.meta_path if type(h).__name__ == "AssertionRewritingHook"]
    for hook in hooks:
        sys.meta_path.remove(hook)
    try:
        yield
    finally:
        sys.meta_path[:0] = hooks


class ShortFailureReports:
    """Our tests' failures get a one-line pytest report instead of a formatted traceback:
    nothing reads it (each outcome comes from the exception itself, in
    GradingPlugin.pytest_runtest_makereport), and formatting tracebacks through torch
    frames was over half of a batch's time per student. Skips and xfails keep pytest's
    own report. A separate plugin object: one object holds one implementation per hook."""

    def __init__(self, outcomes: Callable[[], dict]):
        self.outcomes = outcomes  # the outcomes of the grading run now (a batch worker's shared session swaps runs)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_makereport(self, item, call):
        excinfo = call.excinfo
        if excinfo is None or item.nodeid not in self.outcomes():
            return None
        if isinstance(excinfo.value, (pytest.skip.Exception, pytest.xfail.Exception)):
            return None
        status, message = classify(excinfo.value)
        short = copy.copy(call)
        short.excinfo = f"{status}: {message}"  # a str is taken as the report's text as it is
        return pytest.TestReport.from_item_and_call(item, short)


# What collection said of each test file's tests, kept for the life of the process: a
# batch worker grades hundreds of students against the same files, and an assignment a
# student has no file for needs its tests' descriptions, not its module imported and
# collected again (about 50 ms a student for a whole course's missing assignments).
# Keyed by everything a description depends on: the file and its stamp, its visibility,
# the rootdir its node ids are relative to.
_DESCRIBED: dict[tuple, tuple[TestOutcome, ...]] = {}


def _description_key(path: str, visibility: str, rootdir: str) -> tuple | None:
    try:
        st = os.stat(path)
    except OSError:
        return None  # never stored: collection will report the file's problem
    return (path, st.st_ino, st.st_mtime_ns, st.st_size, visibility, rootdir)


class PerTestHooks:
    """The hooks and fixtures every test meets, acting on the grading run `grading()`
    returns: the GradingPlugin itself, or the run that a batch worker's shared session
    (batch/session.py) serves at the moment."""

    # The test being set up: the fixtures below read it here rather than from pytest's
    # `request`, for which pytest builds a fixture definition (with a signature
    # inspection) each time a fixture asks for it, several times a test.
    _item = None

    def grading(self) -> "GradingPlugin":
        raise NotImplementedError

    def pytest_configure(self, config):
        for line in MARKERS:
            config.addinivalue_line("markers", line)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item):
        self._item = item  # before its fixtures, which pytest sets up after this hook
        self.grading().before_test(item)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        yield
        self.grading().record_report(item, call)

    @pytest.fixture
    def submission(self) -> Submission:
        return self.grading().submission_for(assignment_of(self._item.path))

    @pytest.fixture
    def course(self):
        return self.grading().course_model

    @pytest.fixture
    def seed(self) -> int:
        return self.grading().grading_seed

    @pytest.fixture
    def rng(self) -> torch.Generator:
        grading = self.grading()
        nodeid = self._item.nodeid
        outcome = grading.outcomes.get(nodeid)
        test_id = outcome.id if outcome else nodeid
        return torch.Generator().manual_seed(stable_seed(grading.grading_seed, test_id))

    @pytest.fixture
    def device(self) -> torch.device:
        return self.grading().grading_device


class GradingPlugin(PerTestHooks):
    """Pass an instance to `pytest.main(plugins=[...])`; read `outcomes` afterwards.

    test_files: {path: "visible" | "hidden"}, in the order tests should run.
    open_submission: assignment id -> Submission (called once per assignment per run;
        may raise a SubmissionFault, e.g. SubmissionUnavailable).
    expected_points: {assignment id: points in course.yaml}; when given, collection
        checks that the tests' points add up and records `course_error` otherwise.
    """

    def __init__(self, test_files: dict[str, str], open_submission: Callable[[str], Submission], *,
                 course=None, seed: int = 0, device: torch.device | str = "cpu",
                 cuda_policy: str = "exclude", expected_points: dict[str, float] | None = None,
                 exercise: str | None = None, unavailable: dict[str, SubmissionFault] | None = None):
        if cuda_policy not in CUDA_POLICIES:
            raise ValueError(f"cuda_policy must be one of {', '.join(CUDA_POLICIES)}, got {cuda_policy!r}")
        self.test_files = {real_path(p): v for p, v in test_files.items()}
        self.open_submission = open_submission
        self.course_model = course
        self.grading_seed = int(seed)
        self.grading_device = torch.device(device)
        self.cuda_policy = cuda_policy
        self.expected_points = expected_points
        self.exercise = exercise
        self.outcomes: dict[str, TestOutcome] = {}
        self.course_error: str | None = None
        self.collection_errors: list[str] = []
        self.submissions: dict[str, Submission] = {}
        self.unavailable: dict[str, SubmissionFault] = dict(unavailable or {})
        # Known before the run (a missing file): their tests are settled at collection,
        # not run, so grading a whole course costs what grading the submitted part does.
        self.known_unavailable = frozenset(self.unavailable)
        self._needs_restart: set[str] = set()
        self.cuda_tests_seen = 0
        # Set by run(): the files handed to pytest; the others were described before
        # (their assignment is known to be unavailable, so none of their tests runs).
        self.files_collected: list[str] = []
        self._described_before: dict[str, tuple[TestOutcome, ...]] = {}
        self._description_keys: dict[str, tuple] = {}
        # {node id: (visibility, description)} kept by a shared session across its runs
        # (batch/session.py): a test's markers are read once per worker, not per student.
        self.descriptions: dict[str, tuple[str, TestOutcome]] | None = None

    # -- running ---------------------------------------------------------------------
    def run(self) -> list[TestOutcome]:
        """Run pytest over the test files with this plugin; pytest's own output is
        captured (stdout may have to carry nothing but a JSON report)."""
        files = list(self.test_files)
        # The rootdir of every file, collected or not: node ids are relative to it.
        rootdir = os.path.commonpath([os.path.dirname(f) for f in files]) if files else os.getcwd()
        # Stamped before collection: a file changed meanwhile is described again next time.
        self._description_keys = {f: _description_key(f, self.test_files[f], rootdir) for f in files}
        self._described_before = {
            f: _DESCRIBED[key] for f, key in self._description_keys.items()
            if assignment_of(f) in self.known_unavailable and key in _DESCRIBED}
        self.files_collected = [f for f in files if f not in self._described_before]
        self.pytest_output = io.StringIO()
        if not self.files_collected:  # nothing submitted: no test would run, no module is needed
            self.exit_code = pytest.ExitCode.NO_TESTS_COLLECTED
            self._record([])
        else:
            args = [*PYTEST_ARGS, "--rootdir", rootdir, *self.files_collected]
            _forget_modules(files)
            with contextlib.redirect_stdout(self.pytest_output), contextlib.redirect_stderr(self.pytest_output), \
                    _without_assertion_rewriting(), _without_plugin_autoload():
                self.exit_code = pytest.main(args, plugins=[self, ShortFailureReports(lambda: self.outcomes)])
            _forget_modules(files)
        return self.finish()

    def finish(self) -> list[TestOutcome]:
        """Settle what the run left open; the outcomes, in order."""
        for outcome in self.outcomes.values():
            if outcome.status == "pending":  # collected but never reached (e.g. interrupted)
                outcome.status, outcome.message = "error", N_("the test did not run")
        self._score_excluded()
        return list(self.outcomes.values())

    def grading(self) -> "GradingPlugin":
        return self

    def close(self) -> None:
        for sub in self.submissions.values():
            with contextlib.suppress(Exception):
                sub.close()
        self.submissions.clear()

    @property
    def cuda_available(self) -> bool:
        return self.grading_device.type == "cuda"

    # -- hooks (the per-test ones are PerTestHooks') ----------------------------------
    def pytest_collectreport(self, report):
        if report.failed:
            last = (report.longreprtext or "").strip().splitlines()[-1:] or ["unknown error"]
            self.collection_errors.append(f"{report.nodeid}: {last[0]}")

    def pytest_collection_modifyitems(self, session, config, items):
        kept = self._record(items)
        deselected = [i for i in items if i not in kept]
        if deselected:
            config.hook.pytest_deselected(items=deselected)
        items[:] = kept

    def _record(self, items: list) -> list:
        """Describe the collected items and the files described before instead of
        collected, in the order of the test files; settle the tests of assignments known
        to be unavailable. Returns the items still to run."""
        problems: list[str] = []
        collected: dict[str, list] = {}
        for item in items:
            outcome = self._describe(item, problems)
            if outcome is not None:
                collected.setdefault(real_path(item.path), []).append((item, outcome))
        if not problems:
            for path, pairs in collected.items():
                key = self._description_keys.get(path)
                if key is not None:  # copies made before anything below settles an outcome
                    _DESCRIBED[key] = tuple(copy.deepcopy(outcome) for _item, outcome in pairs)
        kept = []
        for path in self.test_files:
            before = self._described_before.get(path)
            pairs = [(None, copy.deepcopy(o)) for o in before] if before is not None else collected.get(path, [])
            for item, outcome in pairs:
                if self.exercise is not None and outcome.exercise != self.exercise:
                    continue
                self.outcomes[outcome.nodeid] = outcome
                if item is not None:
                    kept.append(item)
        if self.expected_points is not None and self.exercise is None:
            problems.extend(self._points_problems())
        if problems:
            self.course_error = problems[0] if len(problems) == 1 else "; ".join(problems)
            self.outcomes.clear()
            return []
        for outcome in self.outcomes.values():
            if outcome.assignment in self.known_unavailable:
                # as the test's setup would have: the fault's status and message, the
                # CUDA policy's maximum
                self._settle(outcome, *classify(self.unavailable[outcome.assignment]))
        return [item for item in kept if self.outcomes[item.nodeid].assignment not in self.known_unavailable]

    def _describe(self, item, problems: list[str]) -> TestOutcome | None:
        path = real_path(item.path)
        visibility = self.test_files.get(path)
        if visibility is None:
            return None
        known = self.descriptions.get(item.nodeid) if self.descriptions is not None else None
        if known is not None and known[0] == visibility:
            outcome = copy.copy(known[1])
            outcome.flags = []
            return outcome
        outcome = self._read_markers(item, path, visibility, problems)
        if outcome is not None and self.descriptions is not None:
            self.descriptions[item.nodeid] = (visibility, copy.copy(outcome))
        return outcome

    def _read_markers(self, item, path: str, visibility: str, problems: list[str]) -> TestOutcome | None:
        assignment = assignment_of(path)
        where = f"{Path(path).parent.name}/{Path(path).name}::{item.name}"
        points_marker = item.get_closest_marker("points")
        category_marker = item.get_closest_marker("category")
        exercise_marker = item.get_closest_marker("exercise")
        points = points_marker.args[0] if points_marker and points_marker.args else None
        if isinstance(points, bool) or not isinstance(points, (int, float)) or points < 0:
            problems.append(f"{where}: needs @pytest.mark.points(n) with a number >= 0, got {points!r}")
            return None
        category = category_marker.args[0] if category_marker and category_marker.args else None
        if category not in CATEGORIES:
            problems.append(f"{where}: @pytest.mark.category must be one of {', '.join(CATEGORIES)}, "
                            f"got {category!r}")
            return None
        function = getattr(item, "function", None)
        base = getattr(item, "originalname", None) or item.name
        suffix = item.name[len(base):]  # the parametrisation, e.g. "[4]"
        return TestOutcome(
            nodeid=item.nodeid, assignment=assignment,
            id=f"{topic_of(assignment)}::{base.removeprefix('test_')}{suffix}",
            name=_docstring_name(function) + suffix, category=category, points=float(points),
            visibility=visibility,
            exercise=exercise_marker.args[0] if exercise_marker and exercise_marker.args else None,
            cuda=item.get_closest_marker("cuda") is not None, max_score=float(points))

    def _points_problems(self) -> list[str]:
        sums: dict[str, float] = {a: 0.0 for a in self.expected_points}
        for o in self.outcomes.values():
            sums[o.assignment] = sums.get(o.assignment, 0.0) + o.points
        return [f"assignment {a}: the points of its tests add up to {sums.get(a, 0.0):g}, "
                f"but course.yaml gives it {float(expected):g}"
                for a, expected in self.expected_points.items()
                if abs(sums.get(a, 0.0) - float(expected)) > 1e-9]

    def before_test(self, item) -> None:
        """A test's setup, before its fixtures: the assignment's known fault, or the
        CUDA policy's skip."""
        outcome = self.outcomes.get(item.nodeid)
        if outcome is None:
            return
        if outcome.assignment in self.unavailable:
            raise self.unavailable[outcome.assignment]
        if outcome.cuda:
            self.cuda_tests_seen += 1
            if not self.cuda_available:
                pytest.skip(self.cuda_policy_message())

    def cuda_policy_message(self) -> str:
        # Whole sentences, one per policy, so each is one catalog entry in every language.
        return {"exclude": N_("no CUDA device on this runner; excluded by course policy "
                              "(devices.without_gpu: exclude)"),
                "award": N_("no CUDA device on this runner; awarded by course policy "
                            "(devices.without_gpu: award)"),
                "fail": N_("no CUDA device on this runner; counted as failed by course policy "
                           "(devices.without_gpu: fail)")}[self.cuda_policy]

    def record_report(self, item, call) -> None:
        """The outcome of one phase (setup, call, teardown) of a test, from the
        exception in hand."""
        outcome = self.outcomes.get(item.nodeid)
        if outcome is None:
            return
        outcome.duration_s += float(getattr(call, "duration", 0.0) or 0.0)
        if call.excinfo is None:
            if call.when == "call" and outcome.status == "pending":
                self._settle(outcome, "passed", "")
            return
        status, message = classify(call.excinfo.value)
        flag = getattr(call.excinfo.value, "flag", None)
        if isinstance(call.excinfo.value, SubmissionFault) and isinstance(flag, str) and flag not in outcome.flags:
            outcome.flags.append(flag)
        if outcome.status not in ("pending", "passed"):
            return  # the first problem is the one the student needs to see
        if message.startswith("internal grader error"):
            outcome.detail = str(call.excinfo.getrepr(style="short"))
            if os.environ.get("AUTOGRADER_DEBUG"):
                print(f"{outcome.nodeid}: {outcome.detail}", file=sys.__stderr__)
        if status in FATAL_STATUSES:
            self._needs_restart.add(outcome.assignment)
        if status == "skipped" and outcome.cuda and not self.cuda_available:
            self._settle_cuda_policy(outcome)
        else:
            self._settle(outcome, status, message)

    def _settle(self, outcome: TestOutcome, status: str, message: str) -> None:
        outcome.status, outcome.message = status, message
        outcome.max_score = outcome.points  # every test keeps its points in the maximum, on every runner
        outcome.score = outcome.points if status == "passed" else 0.0
        # An excluded CUDA check is scored from the others whatever else happened (a
        # missing notebook too), once they are all known (_score_excluded).
        outcome.excluded = outcome.cuda and not self.cuda_available and self.cuda_policy == "exclude"

    def _settle_cuda_policy(self, outcome: TestOutcome) -> None:
        """A CUDA-only check on a runner without a GPU, by devices.without_gpu. Every
        policy keeps the check's points in the maximum, so the same work has the same
        total and maximum on any runner and through every output (JSON, batch,
        Gradescope, Classroom, nbgrader, whose gradebook maximum is fixed)."""
        outcome.message = self.cuda_policy_message()
        outcome.max_score = outcome.points
        if self.cuda_policy == "exclude":
            outcome.status, outcome.score, outcome.excluded = "skipped", 0.0, True  # see _score_excluded
        elif self.cuda_policy == "award":
            outcome.status, outcome.score = "skipped", outcome.points
        else:
            outcome.status, outcome.score = "failed", 0.0

    def _score_excluded(self) -> None:
        """Excluded CUDA checks (policy exclude) earn their points in proportion to the
        student's score on the checks of the same assignment that ran: the percentage is
        the one the checks that ran give, and the maximum is course.yaml's points."""
        for assignment in {o.assignment for o in self.outcomes.values() if o.excluded}:
            tests = [o for o in self.outcomes.values() if o.assignment == assignment]
            ran = [o for o in tests if not o.excluded]
            top = sum(o.max_score for o in ran)
            share = sum(o.score for o in ran) / top if top > 0 else 0.0
            percent = f"{share:.0%}"
            for o in tests:
                if o.excluded:
                    o.score = round(o.points * share, 6) + 0.0
                if o.excluded and o.status == "skipped":  # a fault (missing file, ...) keeps its own message
                    o.message = N_(f"no CUDA device on this runner; excluded by course policy "
                                   f"(devices.without_gpu: exclude): its points follow your score on the "
                                   f"checks of this assignment that ran ({percent})")

    # -- the submission the fixtures hand out -----------------------------------------
    def submission_for(self, assignment: str) -> Submission:
        if assignment in self.unavailable:
            raise self.unavailable[assignment]
        sub = self.submissions.get(assignment)
        if sub is None:
            try:
                sub = self.open_submission(assignment)
            except SubmissionFault as fault:
                self.unavailable[assignment] = fault
                raise
            self.submissions[assignment] = sub
        elif assignment in self._needs_restart:
            self._needs_restart.discard(assignment)
            restart = getattr(sub, "restart", None)
            if restart is not None:
                restart()
        return sub
