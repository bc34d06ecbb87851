"""Students' self-check (issue 13.1): every exercise has a visible check, a blank
exercise says "not written yet" (never "is defined" or True), the reference passes every
check, and `check()` returns a readable result instead of a bare True."""
from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from autograder.course import load_course
from autograder.load import load_code
from autograder.release import student_notebook
from autograder.selfcheck import checker
from autograder.selfcheck.runner import SelfCheckResult, run_visible
from autograder.submission import InProcessSubmission, namespace_from_source

from submissions.sources import reference_source

REPO = Path(__file__).resolve().parents[2]
COURSE = load_course(REPO / "course.yaml", check_notebooks=False)
IDS = [a.id for a in COURSE.assignments]


def contract_exercises() -> dict[str, list[str]]:
    """Exercise names per assignment, from docs/EXERCISES.md's tables."""
    sections: dict[str, list[str]] = {}
    current = None
    for line in (REPO / "docs" / "EXERCISES.md").read_text().splitlines():
        heading = re.match(r"^## (\S+)", line)
        if heading:
            current = sections.setdefault(heading.group(1), [])
        row = re.match(r"^\| `(\w+)` \|", line)
        if row and current is not None:
            current.append(row.group(1))
    return sections


EXERCISES = contract_exercises()


def stub_namespace(assignment_id: str) -> dict:
    """The released notebook's graded code, untouched: every exercise still a stub."""
    import nbformat
    import tempfile
    nb = student_notebook(nbformat.read(REPO / "solutions" / assignment_id / f"{assignment_id}.ipynb",
                                        as_version=4))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{assignment_id}.ipynb"
        nbformat.write(nb, str(path))
        return namespace_from_source(load_code(path).source)


@pytest.mark.parametrize("assignment_id", IDS)
def test_every_exercise_has_a_visible_check(assignment_id):
    outcomes = run_visible(assignment_id, InProcessSubmission(stub_namespace(assignment_id), assignment_id))
    covered = {o.exercise for o in outcomes}
    missing = [name for name in EXERCISES[assignment_id] if name not in covered]
    assert not missing, f"{assignment_id}: no visible check for {missing}"


@pytest.mark.parametrize("assignment_id", IDS)
def test_an_untouched_release_is_not_written_yet_everywhere(assignment_id):
    outcomes = run_visible(assignment_id, InProcessSubmission(stub_namespace(assignment_id), assignment_id))
    wrong = [(o.name, o.status, o.message[:80]) for o in outcomes
             if o.status == "passed" or not o.message.startswith("not written yet")]
    assert not wrong, f"{assignment_id}: a stub's check did not say 'not written yet': {wrong}"
    result = SelfCheckResult(assignment_id, outcomes)
    assert not result and sorted(result.not_written) == sorted(EXERCISES[assignment_id])


@pytest.mark.parametrize("assignment_id", IDS)
def test_the_reference_passes_every_visible_check(assignment_id):
    namespace = namespace_from_source(reference_source(assignment_id))
    outcomes = run_visible(assignment_id, InProcessSubmission(namespace, assignment_id))
    bad = [(o.name, o.status, o.message) for o in outcomes if o.status not in ("passed", "skipped")]
    assert not bad, bad


@pytest.mark.parametrize("assignment_id", IDS)
def test_self_check_only_tests_score_nothing_and_are_not_graded(assignment_id):
    """They are practice: grading's test files never include them, and they carry 0 points,
    so adding them cannot move anyone's grade or course.yaml's totals."""
    from autograder.grading import test_files
    unscored = REPO / "autograder" / "selfcheck" / "tests" / "unscored" / f"test_{assignment_id}.py"
    assert str(unscored) not in test_files(assignment_id)
    outcomes = run_visible(assignment_id, InProcessSubmission(stub_namespace(assignment_id), assignment_id))
    assert all(o.points == 0 for o in outcomes if "unscored" in o.nodeid)


def run_in_main(monkeypatch, source: str, assignment_id: str, exercise: str | None, capsys):
    """check(...) reads the notebook's globals from __main__; stand in a module for it."""
    import types
    main = types.ModuleType("__main__")
    exec(compile(source, "<notebook>", "exec"), vars(main))
    monkeypatch.setitem(sys.modules, "__main__", main)
    result = checker(assignment_id)(exercise)
    return result, capsys.readouterr().out


def test_a_blank_exercise_says_not_written_yet(monkeypatch, capsys):
    source = 'def make_uniform(rows, cols):\n    """Doc."""\n    # YOUR CODE HERE\n    raise NotImplementedError()\n'
    result, out = run_in_main(monkeypatch, source, "01_tensors", "make_uniform", capsys)
    assert not result
    assert "not written yet" in out and "is defined" not in out
    assert "not written yet: make_uniform" in repr(result) and repr(result) != "True"


def test_a_written_exercise_reports_a_readable_summary(monkeypatch, capsys):
    source = "import torch\ndef make_uniform(rows, cols):\n    return torch.rand(rows, cols)\n"
    result, out = run_in_main(monkeypatch, source, "01_tensors", "make_uniform", capsys)
    assert result and "[PASS]" in out
    assert repr(result) == "self-check of make_uniform: 1 of 1 checks passed"


def test_an_undefined_name_is_not_defined_yet(monkeypatch, capsys):
    result, out = run_in_main(monkeypatch, "x = 1\n", "01_tensors", "no_such_exercise", capsys)
    assert not result and "`no_such_exercise` is not defined yet" in out


def test_a_stub_helper_without_tests_is_not_written_yet(monkeypatch, capsys, tmp_path):
    """An exercise name with no visible test at all (a course that adds one): a stub is
    recognised from its source, not called "defined"."""
    path = tmp_path / "nb_cell.py"
    path.write_text("def helper_of_mine():\n    raise NotImplementedError()\n")
    import importlib.util
    spec = importlib.util.spec_from_file_location("nb_cell", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    import types
    main = types.ModuleType("__main__")
    main.helper_of_mine = module.helper_of_mine
    monkeypatch.setitem(sys.modules, "__main__", main)
    result = checker("01_tensors")("helper_of_mine")
    out = capsys.readouterr().out
    assert not result and "not written yet" in out and "is defined" not in out
