"""course.yaml validation: every bad input is one line naming the key (and line)."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.course import CourseError, load_course

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture()
def course_dir(tmp_path):
    """A copy of the real course (course.yaml + solutions/) to break in place."""
    shutil.copy(REPO / "course.yaml", tmp_path / "course.yaml")
    shutil.copytree(REPO / "solutions", tmp_path / "solutions")
    return tmp_path


def edit(course_dir: Path, old: str, new: str) -> Path:
    path = course_dir / "course.yaml"
    text = path.read_text()
    assert old in text, f"fixture drift: {old!r} not in course.yaml"
    path.write_text(text.replace(old, new, 1))
    return path


def error_of(path) -> str:
    with pytest.raises(CourseError) as info:
        load_course(path)
    message = str(info.value)
    assert "\n" not in message, "course errors must be one line"
    return message


def test_the_real_course_loads():
    course = load_course(REPO / "course.yaml")
    assert [a.id for a in course.assignments] == [
        "01_tensors", "02_numpy_bridge", "03_autograd", "04_lenet", "05_training", "06_cuda"]
    assert course.max_score == sum(a.points for a in course.assignments) > 0
    assert course.limits.test_timeout_s > 0 and course.devices.without_gpu in ("exclude", "award", "fail")
    # a title per language: English by default, the translation where one is given
    tensors = course.assignment("01_tensors")
    assert tensors.title == "Tensors" and course.titles("vi")["01_tensors"] == "Tensor"
    assert course.titles("en")["01_tensors"] == "Tensors" == course.titles(None)["01_tensors"]


@pytest.mark.parametrize("old,new,expected", [
    # unknown key, with its line number
    ("  memory_mb: 4096", "  memory_mb: 4096\n  memroy_mb: 10", "course.yaml:15: limits.memroy_mb: unknown key"),
    # wrong type
    ("  download: false", "  download: sometimes", "data.download: must be true or false, got 'sometimes'"),
    # non-numeric points
    ("    points: 15\n  - id: 04_lenet", "    points: fifteen\n  - id: 04_lenet",
     "assignments[2].points: must be a number, got 'fifteen'"),
    # negative points
    ("    points: 10.5\n  - id: 02", "    points: -3\n  - id: 02", "assignments[0].points: must be a number >= 0, got '-3'"),
    # duplicate ids
    ("  - id: 02_numpy_bridge", "  - id: 01_tensors", "assignments[1].id: duplicate id '01_tensors'"),
    # missing notebook
    ("notebook: 04_lenet.ipynb", "notebook: 04_lenet_old.ipynb", "solutions/04_lenet/04_lenet_old.ipynb does not exist"),
    # a value outside its choices
    ("  without_gpu: exclude", "  without_gpu: ignore", "devices.without_gpu: must be one of exclude, award, fail"),
    # zero where only positive numbers make sense
    ("  test_timeout_s: 60", "  test_timeout_s: 0", "limits.test_timeout_s: must be a number > 0"),
    # a section of the wrong shape
    ("limits:\n", "limits: 5\nold_limits:\n", "limits: must be a mapping"),
    # a required key missing
    ("  id: pytorch-blitz-lesson1\n", "", "course.id: is required"),
    # the same key twice
    ("seed: 2026", "seed: 2026\nseed: 7", "seed: appears twice"),
    # a whole number expected
    ("seed: 2026", "seed: 20.5", "seed: must be a whole number"),
    # a title per language: known languages only, English required, no lists
    ('      vi: "Tensor"', '      fr: "Tenseurs"', "assignments[0].title.fr: unknown language (allowed: en, vi)"),
    ("      en: Tensors\n", "", "assignments[0].title.en: is required"),
    ('    title:\n      en: Tensors\n      vi: "Tensor"', "    title: [Tensors]",
     "assignments[0].title: must be a string or a mapping of language to string (en, vi), got a list"),
])
def test_bad_course_yaml_is_one_line_naming_the_key(course_dir, old, new, expected):
    message = error_of(edit(course_dir, old, new))
    assert expected in message, message


def test_invalid_yaml_names_the_line(course_dir):
    message = error_of(edit(course_dir, "seed: 2026", "seed: [2026"))
    assert message.startswith("course.yaml:") and "not valid YAML" in message


def test_missing_course_file_is_a_clear_error(tmp_path):
    message = error_of(tmp_path / "nope.yaml")
    assert "cannot read" in message and "nope.yaml" in message


def test_cli_prints_one_line_and_exits_2(course_dir):
    edit(course_dir, "  download: false", "  downlaod: false")
    result = subprocess.run([sys.executable, "-m", "autograder", "--course", str(course_dir / "course.yaml"),
                             "release", "--check"], capture_output=True, text=True)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "data.downlaod: unknown key" in lines[0], result.stderr
    assert "Traceback" not in result.stderr
