"""`autograder gradescope build`: the zip is built, unpacked into a fake /autograder root,
and its own run_autograder grades a sample submission into a results.json that follows
Gradescope's specification."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from batch_helpers import ASSIGNMENT, FULL_MARKS, REPO, env, run_cli, source

VISIBILITIES = {"hidden", "after_due_date", "after_published", "visible"}


@pytest.fixture(scope="module")
def autograder_zip(tmp_path_factory) -> Path:
    output = tmp_path_factory.mktemp("build") / "autograder.zip"
    proc = run_cli(REPO / "course.yaml", "gradescope", "build", "--output", str(output),
                   "--assignment", ASSIGNMENT)
    assert proc.returncode == 0, proc.stderr
    return output


def test_zip_has_the_kit_and_hidden_tests_but_no_solutions(autograder_zip):
    with zipfile.ZipFile(autograder_zip) as zf:
        names = zf.namelist()
        modes = {i.filename: (i.external_attr >> 16) & 0o777 for i in zf.infolist()}
        assignments = zf.read("assignments.txt").decode().split()
    # Gradescope looks for both scripts at the root of the zip.
    assert {"setup.sh", "run_autograder", "course.yaml", "constraints.txt", "pyproject.toml"} <= set(names)
    assert modes["run_autograder"] & 0o111 and modes["setup.sh"] & 0o111
    hidden = sorted(n for n in names if n.startswith("autograder/tests_hidden/test_"))
    assert hidden == sorted(f"autograder/tests_hidden/{p.name}"
                            for p in (REPO / "autograder" / "tests_hidden").glob("test_*.py"))
    assert hidden, "the hidden tests must travel with a staff-only autograder"
    assert not [n for n in names if n.startswith(("solutions/", "tests/", "assignments/")) or "/solutions/" in n]
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert assignments == [ASSIGNMENT]


def test_zip_is_reproducible(autograder_zip, tmp_path):
    again = tmp_path / "again.zip"
    proc = run_cli(REPO / "course.yaml", "gradescope", "build", "--output", str(again), "--assignment", ASSIGNMENT)
    assert proc.returncode == 0, proc.stderr
    assert again.read_bytes() == autograder_zip.read_bytes()


def test_setup_script_installs_with_the_pinned_constraints(autograder_zip, tmp_path):
    with zipfile.ZipFile(autograder_zip) as zf:
        setup = zf.read("setup.sh").decode()
        constraints = zf.read("constraints.txt").decode()
    assert subprocess.run(["bash", "-n", "-c", setup]).returncode == 0
    assert "--constraint constraints.txt" in setup and "torch torchvision" in setup
    assert "torch==" in constraints


def _unpack(autograder_zip: Path, root: Path) -> Path:
    with zipfile.ZipFile(autograder_zip) as zf:
        zf.extractall(root / "source")
    for info in zipfile.ZipFile(autograder_zip).infolist():  # extractall drops the modes
        os.chmod(root / "source" / info.filename, (info.external_attr >> 16) & 0o777)
    (root / "submission").mkdir()
    return root


def _run_autograder(root: Path) -> dict:
    script = root / "source" / "run_autograder"
    e = {**env(), "AUTOGRADER_ROOT": str(root), "AUTOGRADER_PYTHON": sys.executable}
    proc = subprocess.run([str(script)], env=e, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return json.loads((root / "results" / "results.json").read_text())


def _check_gradescope_spec(results: dict) -> None:
    assert isinstance(results["execution_time"], (int, float))
    assert isinstance(results.get("output", ""), str)
    assert results.get("visibility", "visible") in VISIBILITIES
    assert results.get("stdout_visibility", "hidden") in VISIBILITIES
    numbers = set()
    for test in results["tests"]:
        assert isinstance(test["name"], str) and test["name"]
        assert isinstance(test["number"], str) and test["number"] not in numbers
        numbers.add(test["number"])
        assert isinstance(test["score"], (int, float)) and isinstance(test["max_score"], (int, float))
        assert 0 <= test["score"] <= test["max_score"]
        assert test["status"] in ("passed", "failed")
        assert isinstance(test["output"], str)
        assert isinstance(test["tags"], list) and all(isinstance(t, str) for t in test["tags"])
        assert test["visibility"] in VISIBILITIES
    assert results["score"] == pytest.approx(sum(t["score"] for t in results["tests"]))


def test_run_autograder_grades_the_submission(autograder_zip, tmp_path):
    root = _unpack(autograder_zip, tmp_path / "autograder")
    (root / "submission" / f"{ASSIGNMENT}.py").write_text(source())
    results = _run_autograder(root)
    _check_gradescope_spec(results)
    assert results["score"] == FULL_MARKS
    assert sum(t["max_score"] for t in results["tests"]) == FULL_MARKS
    assert {t["tags"][0] for t in results["tests"]} == {ASSIGNMENT}
    assert any(t["visibility"] == "visible" for t in results["tests"]) or \
        not (REPO / "autograder" / "selfcheck" / "tests" / f"test_{ASSIGNMENT}.py").exists()


def test_run_autograder_grades_a_partial_submission_with_feedback(autograder_zip, tmp_path):
    root = _unpack(autograder_zip, tmp_path / "autograder")
    (root / "submission" / f"{ASSIGNMENT}.py").write_text(source({"make_empty", "zeros_long"}))
    results = _run_autograder(root)
    _check_gradescope_spec(results)
    assert 0 < results["score"] < 10
    failed = [t for t in results["tests"] if t["status"] == "failed"]
    assert failed and all(t["output"] for t in failed)


def test_run_autograder_explains_an_empty_submission(autograder_zip, tmp_path):
    root = _unpack(autograder_zip, tmp_path / "autograder")
    results = _run_autograder(root)  # nothing uploaded
    _check_gradescope_spec(results)
    assert results["score"] == 0
    assert results["output"]


def test_run_autograder_grades_with_the_zips_own_kit(autograder_zip, tmp_path):
    """The unpacked kit, not whatever else is installed, does the grading: without its
    hidden tests the points no longer add up and grading refuses to start."""
    root = _unpack(autograder_zip, tmp_path / "autograder")
    (root / "submission" / f"{ASSIGNMENT}.py").write_text(source())
    (root / "source" / "autograder" / "tests_hidden" / f"test_{ASSIGNMENT}.py").unlink()
    results = _run_autograder(root)
    _check_gradescope_spec(results)
    assert results["score"] == 0 and results["tests"] == []
    assert "could not grade this submission (exit code 2)" in results["output"]
