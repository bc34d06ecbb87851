"""One pytest session for many gradings (autograder/batch/session.py, what batch workers
use): every grading in it comes out as it does in a pytest session of its own, in any
order, and a session that cannot be trusted any more is not used again."""
from __future__ import annotations

import textwrap

import pytest
import torch

from autograder.course import load_course
from autograder import grading
from autograder.grading import grade_path, grade_source
from autograder.plugin import GradingPlugin
from autograder.batch.session import serve_gradings
from autograder.submission import InProcessSubmission
from batch_helpers import REPO

import feedback_corpus

COURSE = load_course(REPO / "course.yaml", check_notebooks=False)


def _comparable(value):
    """A report as a dict without its timings (the only thing two gradings may differ in)."""
    if isinstance(value, dict):
        return {k: _comparable(v) for k, v in value.items() if k != "duration_s"}
    if isinstance(value, list):
        return [_comparable(v) for v in value]
    return value


def _every_test_file() -> list[str]:
    return [f for a in COURSE.assignments for f in grading.test_files(a.id)]


def _only_through_the_session(monkeypatch) -> None:
    """From here on a run that started a pytest session of its own (GradingPlugin.run,
    what run_tests falls back to when the shared session does not serve it) fails the
    test: the comparisons below must compare the shared session, not the fallback."""
    monkeypatch.setattr(GradingPlugin, "run", lambda self: pytest.fail("a run started pytest itself"))


def test_a_shared_session_grades_the_corpus_as_separate_sessions_do(monkeypatch):
    """The stubs, the references and every mutant of all six assignments, graded one
    after another in one session, get exactly the reports they get each in its own
    session; the first one graded again at the end (after 66 others) too."""
    torch.set_num_threads(1)
    corpus = feedback_corpus.in_process_sources()
    labels = [*corpus, next(iter(corpus))]

    def grade(label: str, session=None) -> dict:
        assignment, source = corpus[label]
        stand_in = feedback_corpus.failing_accuracy if label.startswith("mutant:") \
            else feedback_corpus.sources.stand_in_accuracy
        with feedback_corpus.accuracy_stand_in(stand_in):
            result = grade_source(assignment, source, course=COURSE, device="cpu", session=session)
        return _comparable(result.to_dict())

    alone = {label: grade(label) for label in corpus}
    used = []

    def body(session):
        used.append(session)
        _only_through_the_session(monkeypatch)
        return [(label, grade(label, session)) for label in labels]
    shared = serve_gradings(_every_test_file(), body)
    assert used[0] is not None and not used[0].broken
    assert len(shared) == len(alone) + 1
    for label, report in shared:
        assert report == alone[label], label


def test_a_students_folder_with_missing_assignments_grades_the_same(tmp_path, monkeypatch):
    """Missing and unreadable notebooks settle their assignments' tests without running
    them, in a session as alone; the submitted assignments' tests run."""
    folder = tmp_path / "student"
    folder.mkdir()
    (folder / "01_tensors.py").write_text(feedback_corpus.sources.reference_source("01_tensors"))
    (folder / "03_autograd.ipynb").write_text("not a notebook")

    def grade(session=None) -> dict:
        report = grade_path(str(folder), COURSE, device="cpu", backend="inprocess", session=session)
        return _comparable(report.to_dict())

    alone = grade()

    def body(session):
        _only_through_the_session(monkeypatch)
        return [grade(session), grade(session)]
    shared = serve_gradings(_every_test_file(), body)
    assert shared == [alone, alone]
    statuses = {a["id"]: a["status"] for a in alone["assignments"]}
    assert statuses["02_numpy_bridge"] == "missing" and statuses["03_autograd"] == "unreadable"
    assert next(a for a in alone["assignments"] if a["id"] == "01_tensors")["score"] == \
        COURSE.assignment("01_tensors").points


TOY_TESTS = '''
import pytest

EVENTS = []

@pytest.fixture(scope="module")
def per_module():
    EVENTS.append("set up")
    yield
    EVENTS.append("torn down")

@pytest.mark.points(1)
@pytest.mark.category("value")
def test_first(submission, per_module):
    """first"""
    if submission.get("STOP"):
        pytest.exit("a test stopped the session")
    assert submission.get("X") == 1, "X is not 1"

@pytest.mark.points(1)
@pytest.mark.category("value")
def test_second(submission, rng):
    """second"""
    assert submission.get("X") == 1, "X is not 1"
'''


def _toy_plugin(path, namespace: dict) -> GradingPlugin:
    values = {"STOP": False, **namespace}
    return GradingPlugin({str(path): "hidden"}, lambda aid: InProcessSubmission(dict(values), aid))


def _statuses(plugin: GradingPlugin) -> list[str]:
    return [o.status for o in plugin.outcomes.values()]


def test_each_run_ends_with_everything_torn_down(tmp_path):
    """A fixture wider than a test (module scope here; the kit's tests have none today)
    is set up and torn down within each run, never carried from one student's run into
    the next."""
    path = tmp_path / "test_99_toy.py"
    path.write_text(TOY_TESTS)

    def body(session):
        events = []
        for x in (1, 2, 1):
            plugin = _toy_plugin(path, {"X": x})
            session.run(plugin)
            events.append((_statuses(plugin), list(session.items[0].module.EVENTS)))
        return events
    assert serve_gradings([str(path)], body) == [
        (["passed", "passed"], ["set up", "torn down"]),
        (["failed", "failed"], ["set up", "torn down"] * 2),
        (["passed", "passed"], ["set up", "torn down"] * 3)]


def test_a_session_stopped_during_a_run_is_not_used_again(tmp_path):
    """pytest.exit in the middle of a run leaves pytest's setup state half torn down:
    that run's error stays its own, and the runs after it start pytest on their own."""
    path = tmp_path / "test_99_toy.py"
    path.write_text(TOY_TESTS)
    seen = []

    def body(session):
        first = _toy_plugin(path, {"X": 1})
        assert session.serves(first)
        session.run(first)
        seen.append(_statuses(first))
        stopping = _toy_plugin(path, {"X": 1, "STOP": True})
        with pytest.raises(pytest.exit.Exception):
            session.run(stopping)
        after = _toy_plugin(path, {"X": 2})
        seen.append(session.serves(after))
        after.run()  # what run_tests does when the session does not serve a run
        seen.append(_statuses(after))
    serve_gradings([str(path)], body)
    assert seen == [["passed", "passed"], False, ["failed", "failed"]]


def test_collection_errors_reach_every_run_as_they_do_alone(tmp_path):
    path = tmp_path / "test_99_toy.py"
    path.write_text(textwrap.dedent(TOY_TESTS) + "\ndef broken(:\n")
    alone = _toy_plugin(path, {"X": 1})
    alone.run()
    assert alone.collection_errors

    def body(session):
        runs = [_toy_plugin(path, {"X": 1}) for _ in range(2)]
        for plugin in runs:
            session.run(plugin)
        return [(p.collection_errors, _statuses(p)) for p in runs]
    assert serve_gradings([str(path)], body) == [(alone.collection_errors, _statuses(alone))] * 2
