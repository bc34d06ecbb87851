"""`autograder grade` and `autograder check`, end to end.

Most tests grade through the sandbox like the command does. Some grade the reference
code as .py submissions (extracted from solutions/ into a temporary folder, so the
notebooks stay the one source) in process, which exercises the same file mapping, plugin
and report path quickly.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import torch

from autograder import cli
from autograder.course import load_course
from autograder.grading import grade_path
from autograder.report import without_timings
from autograder.writers import write

from submissions.sources import reference_source

ROOT = Path(__file__).resolve().parents[2]
QUICK = ["01_tensors", "02_numpy_bridge"]
# course.yaml's points of those two: what their references score
POINTS = {a.id: a.points for a in load_course(ROOT / "course.yaml", check_notebooks=False).assignments}
TENSORS, BRIDGE = POINTS["01_tensors"], POINTS["02_numpy_bridge"]


@pytest.fixture(scope="module")
def course():
    return load_course(ROOT / "course.yaml", check_notebooks=False)


def autograder(*args, cwd=ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autograder", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=600)


def notebook_from(source: str, path: Path, assignment: str | None = None) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Exercises"), nbformat.v4.new_code_cell(source)]
    if assignment:
        nb.metadata["autograder"] = {"assignment": assignment}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


@pytest.fixture(scope="module")
def reference_dir(tmp_path_factory, course) -> Path:
    """A folder of <id>.py files holding the reference code of every assignment."""
    folder = tmp_path_factory.mktemp("reference")
    for a in course.assignments:
        (folder / f"{a.id}.py").write_text(reference_source(a.id))
    return folder


# -- usage errors: exit 2 with one line, before any grading ------------------------------
def run_cli(capsys, *args) -> tuple[int, str, str]:
    code = cli.main(["--course", str(ROOT / "course.yaml"), *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_missing_path_exits_2(capsys, tmp_path):
    code, out, err = run_cli(capsys, "grade", str(tmp_path / "nope.ipynb"))
    assert code == 2 and out == ""
    assert "nope.ipynb: no such file or folder" in err and len(err.strip().splitlines()) == 1


def test_unknown_assignment_exits_2(capsys, reference_dir):
    code, out, err = run_cli(capsys, "grade", str(reference_dir), "--assignment", "07_transformers")
    assert code == 2 and out == ""
    assert "no assignment '07_transformers'" in err


def test_unreadable_notebook_as_the_only_input_exits_2(capsys, tmp_path):
    broken = tmp_path / "01_tensors.ipynb"
    broken.write_text("{ this is not a notebook")
    code, out, err = run_cli(capsys, "grade", str(broken))
    assert code == 2 and out == ""
    assert "01_tensors.ipynb" in err and "cannot read" in err


def test_a_file_that_maps_to_no_assignment_exits_2(capsys, tmp_path):
    stray = tmp_path / "homework.py"
    stray.write_text("x = 1\n")
    code, _, err = run_cli(capsys, "grade", str(stray))
    assert code == 2 and "pass --assignment ID" in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="this runner has a CUDA device")
def test_require_cuda_without_a_gpu_exits_2_before_grading(capsys, monkeypatch, reference_dir):
    import autograder.grading as grading

    def must_not_run(*args, **kwargs):
        raise AssertionError("grading started although --require-cuda cannot be met")
    monkeypatch.setattr(grading, "run_tests", must_not_run)
    code, out, err = run_cli(capsys, "grade", str(reference_dir), "--require-cuda", "--format", "json")
    assert code == 2 and out == ""
    assert err.startswith("autograder: error: --require-cuda: no CUDA device is visible")
    assert len(err.strip().splitlines()) == 1


def test_an_internal_error_exits_3(capsys, monkeypatch, reference_dir):
    import autograder.grading as grading

    def broken(*args, **kwargs):
        raise RuntimeError("the grader itself broke")
    monkeypatch.setattr(grading, "grade_path", broken)
    code, out, err = run_cli(capsys, "grade", str(reference_dir))
    assert code == 3 and out == ""
    assert "internal error: RuntimeError: the grader itself broke" in err



def test_the_installed_command_returns_mains_code_and_skips_the_exit_collection(monkeypatch):
    """`autograder` (the console script and python -m autograder) is console_main: main's
    exit code, with the heap frozen so the interpreter's exit does not walk it again."""
    import gc
    pyproject = (Path(cli.__file__).parents[1] / "pyproject.toml").read_text()
    assert '\nautograder = "autograder.cli:console_main"\n' in pyproject  # tomllib: Python 3.11+
    assert "console_main()" in (Path(cli.__file__).parent / "__main__.py").read_text()
    monkeypatch.setattr(cli, "main", lambda argv=None: 3)
    gc.unfreeze()
    try:
        assert cli.console_main() == 3
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()

# -- file mapping and broken files (in process: fast) -------------------------------------
def test_folder_maps_by_metadata_subfolder_and_file_name(tmp_path, course):
    notebook_from(reference_source("01_tensors"), tmp_path / "homework.ipynb", assignment="01_tensors")
    notebook_from(reference_source("02_numpy_bridge"), tmp_path / "02_numpy_bridge" / "notebook.ipynb")
    report = grade_path(str(tmp_path), course, device="cpu", assignments=QUICK, backend="inprocess")
    assert [(a.id, a.score, a.max_score, a.status) for a in report.assignments] == [
        ("01_tensors", TENSORS, TENSORS, "graded"), ("02_numpy_bridge", BRIDGE, BRIDGE, "graded")]
    assert report.assignments[1].source == "02_numpy_bridge/notebook.ipynb"


def test_a_broken_notebook_loses_only_its_own_assignment(tmp_path, course):
    notebook_from(reference_source("01_tensors"), tmp_path / "01_tensors.ipynb")
    (tmp_path / "02_numpy_bridge.ipynb").write_text("{ truncated")
    report = grade_path(str(tmp_path), course, device="cpu", assignments=QUICK, backend="inprocess")
    tensors, bridge = report.assignments
    assert tensors.score == tensors.max_score == TENSORS
    assert bridge.status == "unreadable" and bridge.score == 0 and bridge.max_score == BRIDGE
    assert all(t.status == "error" and "could not read 02_numpy_bridge.ipynb" in t.message for t in bridge.tests)


def test_a_missing_assignment_is_reported_not_fatal(tmp_path, course):
    notebook_from(reference_source("01_tensors"), tmp_path / "01_tensors.ipynb")
    report = grade_path(str(tmp_path), course, device="cpu", assignments=QUICK, backend="inprocess")
    bridge = report.assignments[1]
    assert bridge.status == "missing" and bridge.score == 0
    assert "no file for 02_numpy_bridge was found" in bridge.tests[0].message


def test_a_single_file_with_assignment_option(tmp_path, course):
    path = tmp_path / "mine.py"
    path.write_text(reference_source("02_numpy_bridge"))
    report = grade_path(str(path), course, device="cpu", assignments=["02_numpy_bridge"], backend="inprocess")
    assert [a.id for a in report.assignments] == ["02_numpy_bridge"]
    assert report.score == report.max_score == BRIDGE
    assert report.environment["seed"] == course.seed and report.submission == str(path)


def test_seed_is_recorded_and_grading_is_deterministic(course, reference_dir):
    first = grade_path(str(reference_dir), course, device="cpu", seed=11, assignments=QUICK, backend="inprocess")
    second = grade_path(str(reference_dir), course, device="cpu", seed=11, assignments=QUICK, backend="inprocess")
    assert first.environment["seed"] == 11
    a, b = (without_timings(json.loads(write(r, "json"))) for r in (first, second))
    assert a == b


def test_check_prints_a_friendly_summary_and_the_hidden_tests_reminder(capsys, tmp_path):
    path = notebook_from(reference_source("01_tensors"), tmp_path / "01_tensors.ipynb")
    code, out, _ = run_cli(capsys, "check", str(path))
    assert code == 0
    assert "Self-check for 01_tensors:" in out and "[PASS]" in out and "[FAIL]" not in out
    assert "Hidden tests also run when your work is graded" in out


def test_check_shows_what_to_fix(capsys, tmp_path):
    wrong = reference_source("01_tensors").replace("dtype=torch.long", "dtype=torch.float")
    assert wrong != reference_source("01_tensors")
    path = tmp_path / "01_tensors.py"
    path.write_text(wrong)
    code, out, _ = run_cli(capsys, "check", str(path))
    assert code == 0 and "[FAIL]" in out and "torch.int64" in out


# -- the real thing: the sandbox and the course notebooks ----------------------------------
def test_json_on_stdout_is_only_the_report(tmp_path, reference_dir):
    shutil.copy(reference_dir / "01_tensors.py", tmp_path / "01_tensors.py")
    done = autograder("grade", str(tmp_path / "01_tensors.py"), "--format", "json", "--seed", "5")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["score"] == data["max_score"] == TENSORS and data["environment"]["seed"] == 5


def test_output_file_is_written_and_stdout_stays_empty(tmp_path, reference_dir):
    shutil.copy(reference_dir / "01_tensors.py", tmp_path / "01_tensors.py")
    out = tmp_path / "out" / "results.json"
    done = autograder("grade", str(tmp_path / "01_tensors.py"), "--format", "gradescope", "--output", str(out))
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and json.loads(out.read_text())["score"] == TENSORS


@pytest.mark.slow
def test_solutions_get_full_marks_on_every_assignment(graded_solutions):
    """`autograder grade solutions/` (graded once per session: conftest.graded_solutions)."""
    assert graded_solutions["returncode"] == 0, graded_solutions["stderr"]
    data = json.loads(graded_solutions["stdout"])
    assert len(data["assignments"]) == 6
    for a in data["assignments"]:
        lost = [(t["id"], t["status"], t["message"]) for t in a["tests"] if t["score"] < t["max_score"]]
        assert a["score"] == a["max_score"] > 0, (a["id"], lost)


@pytest.mark.slow
def test_a_folder_named_for_an_assignment_grades_only_that_assignment():
    done = autograder("grade", "solutions/01_tensors/", "--format", "json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert [a["id"] for a in data["assignments"]] == ["01_tensors"]
    assert data["score"] == data["max_score"] == TENSORS


def test_a_student_folder_counts_missing_assignments(tmp_path, reference_dir):
    # Two assignments (one alone would be inferred as the assignment being graded).
    for name in ("01_tensors.py", "02_numpy_bridge.py"):
        shutil.copy(reference_dir / name, tmp_path / name)
    done = autograder("grade", str(tmp_path), "--format", "json")
    data = json.loads(done.stdout)
    assert len(data["assignments"]) == 6
    assert data["score"] == TENSORS + BRIDGE < data["max_score"]


def test_a_class_folder_of_one_assignment_grades_that_assignment_and_says_so(tmp_path, reference_dir):
    for student in ("alice", "bob"):
        (tmp_path / "class" / student).mkdir(parents=True)
        shutil.copy(reference_dir / "02_numpy_bridge.py", tmp_path / "class" / student / "02_numpy_bridge.py")
    done = autograder("grade", str(tmp_path / "class" / "alice"), "--format", "json")
    assert done.returncode == 0, done.stderr
    assert "grading 02_numpy_bridge only" in done.stderr
    data = json.loads(done.stdout)
    assert [a["id"] for a in data["assignments"]] == ["02_numpy_bridge"]
    assert data["score"] == data["max_score"] == BRIDGE


def test_one_assignment_is_inferred_only_when_every_file_agrees(tmp_path, course):
    from autograder.mapping import single_assignment
    for student, name in (("alice", "02_numpy_bridge.ipynb"), ("bob", "02_numpy_bridge.py")):
        (tmp_path / student).mkdir()
        (tmp_path / student / name).write_text("{}" if name.endswith("ipynb") else "x = 1\n")
    assert single_assignment(tmp_path, course) == "02_numpy_bridge"
    (tmp_path / "carol").mkdir()
    (tmp_path / "carol" / "03_autograd.py").write_text("x = 1\n")
    assert single_assignment(tmp_path, course) is None
    empty = tmp_path / "empty"
    empty.mkdir()
    assert single_assignment(empty, course) is None


@pytest.mark.parametrize("command", ["grade", "batch"])
def test_an_empty_folder_is_a_one_line_usage_error(capsys, tmp_path, command):
    code, out, err = run_cli(capsys, command, str(tmp_path), *(["--out", str(tmp_path / "o")] if command == "batch" else []))
    assert code == 2 and out == ""
    assert f"no submissions in {tmp_path}" in err and len(err.strip().splitlines()) == 1


def test_check_needs_no_course_file_outside_the_repository(tmp_path, reference_dir):
    """Students run `autograder check` on their notebook wherever it is: no course.yaml there."""
    path = notebook_from(reference_source("01_tensors"), tmp_path / "my.ipynb", assignment="01_tensors")
    env = {k: v for k, v in os.environ.items() if k != "AUTOGRADER_COURSE"}
    done = subprocess.run([sys.executable, "-m", "autograder", "check", str(path)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert not any((folder / "course.yaml").exists() for folder in (tmp_path, *tmp_path.parents))
    assert done.returncode == 0, done.stderr
    assert "Self-check for 01_tensors:" in done.stdout and "[FAIL]" not in done.stdout
    unnamed = notebook_from("x = 1", tmp_path / "mine.ipynb")
    done = subprocess.run([sys.executable, "-m", "autograder", "check", str(unnamed)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "pass --assignment ID" in done.stderr


@pytest.mark.slow
def test_the_stubs_get_zero():
    done = autograder("grade", "assignments/", "--format", "json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["score"] == 0 and data["max_score"] > 0


@pytest.mark.slow
def test_grading_twice_gives_identical_json_apart_from_timings(course):
    reports = [grade_path("solutions/03_autograd/03_autograd.ipynb", course, device="cpu") for _ in range(2)]
    a, b = (without_timings(json.loads(write(r, "json"))) for r in reports)
    assert a == b


def test_a_whole_course_grades_the_same_when_missing_assignments_were_described_before(tmp_path, course):
    """A batch worker describes a missing assignment's tests once and reuses that for
    every later student: the report must not tell the two apart."""
    from autograder import plugin
    student = tmp_path / "student"
    shutil.copytree(ROOT / "solutions" / "03_autograd", student / "03_autograd")
    plugin._DESCRIBED.clear()
    reports = [without_timings(json.loads(write(grade_path(str(student), course, device="cpu",
                                                           backend="inprocess"), "json")))
               for _ in range(2)]
    assert reports[0] == reports[1]
    by_id = {a["id"]: a for a in reports[0]["assignments"]}
    autograd = by_id.pop("03_autograd")
    assert len(autograd["tests"]) > 5 and {t["status"] for t in autograd["tests"]} == {"passed"}
    assert sorted(by_id) == sorted(a.id for a in course.assignments if a.id != "03_autograd")
    for missing in by_id.values():
        assert missing["status"] == "missing" and missing["score"] == 0 and missing["max_score"] > 0
        assert missing["tests"] and {t["status"] for t in missing["tests"]} == {"error"}


@pytest.mark.slow
def test_a_folder_with_one_broken_notebook_still_grades_the_others(tmp_path, course):
    for aid in QUICK:
        shutil.copytree(ROOT / "solutions" / aid, tmp_path / aid)
    (tmp_path / "02_numpy_bridge" / "02_numpy_bridge.ipynb").write_text('{"cells": [')
    report = grade_path(str(tmp_path), course, device="cpu", assignments=QUICK)
    tensors, bridge = report.assignments
    assert tensors.score == tensors.max_score == TENSORS
    assert bridge.status == "unreadable" and bridge.score == 0


# -- the students' self-check, as shipped ---------------------------------------------------
SELF_CHECK_SCRIPT = """
import sys, os, __main__
sys.path.insert(0, os.getcwd())  # the bundle's copy, ahead of the kit's editable install
exec(open(sys.argv[1]).read(), vars(__main__))
from autograder.selfcheck import checker
check = checker("01_tensors")
ok_one = check("zeros_long")
ok_all = check()
loaded = sorted(m for m in sys.modules if m == "autograder" or m.startswith("autograder."))
import autograder
print("FROM", os.path.dirname(autograder.__file__))
print("RESULT", bool(ok_one), bool(ok_all), " ".join(loaded))
"""


def test_self_check_runs_from_the_shipped_modules_alone(tmp_path, reference_dir):
    # Only what release ships: if the runner needed anything else it would fail to import here.
    from autograder.release import STUDENT_MODULES
    package = ROOT / "autograder"
    for module in STUDENT_MODULES:
        if (package / module).is_file():
            (tmp_path / "autograder" / module).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(package / module, tmp_path / "autograder" / module)
    tests = tmp_path / "autograder" / "selfcheck" / "tests"
    tests.mkdir(parents=True, exist_ok=True)
    (tests / "__init__.py").write_text("")
    shutil.copy(package / "selfcheck" / "tests" / "test_01_tensors.py", tests)
    (tests / "unscored").mkdir()
    shutil.copy(package / "selfcheck" / "tests" / "unscored" / "test_01_tensors.py", tests / "unscored")
    script = tmp_path / "run.py"
    script.write_text(SELF_CHECK_SCRIPT)
    done = subprocess.run([sys.executable, "-I", str(script), str(reference_dir / "01_tensors.py")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"FROM {tmp_path / 'autograder'}" in done.stdout
    assert "Hidden tests also run when your work is graded" in done.stdout
    result = next(line for line in done.stdout.splitlines() if line.startswith("RESULT"))
    _, ok_one, ok_all, *modules = result.split()
    assert (ok_one, ok_all) == ("True", "True")
    allowed = {"autograder", "autograder.localize", "autograder.submission", "autograder.expect", "autograder.probes",
               "autograder.data", "autograder.plugin", "autograder.selfcheck", "autograder.selfcheck.runner",
               "autograder.selfcheck.tests", "autograder.selfcheck.tests.test_01_tensors",
               "autograder.selfcheck.tests.unscored.test_01_tensors"}
    assert set(modules) <= allowed, set(modules) - allowed
