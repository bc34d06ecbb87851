"""nbgrader integration: real nbgrader commands on a temporary course with a real kernel.

One module-scoped course directory serves every test: `autograder nbgrader init`, then
`nbgrader generate_assignment`, one `nbgrader autograde` over six submissions of the
cheap 01_tensors assignment (reference, blank release, partial, deleted grade cell, an
endless loop, torch warnings), `generate_feedback` and `export`. Scores are read with
nbgrader's Gradebook API and compared with `autograder grade` on the same files.
"""
from __future__ import annotations

import csv
import html
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

pytest.importorskip("nbgrader")

from autograder import cli  # noqa: E402
from autograder.nbgrader_cell import clamp_score, is_test_cell, student_cells_only  # noqa: E402
from autograder.nbgrader_course import SHADOWING_NAMES, grade_cell_id  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
ASSIGNMENT = "01_tensors"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
POINTS = 10
HIDDEN_TESTS = REPO / "autograder" / "tests_hidden" / f"test_{ASSIGNMENT}.py"
SOLUTION = REPO / "solutions" / ASSIGNMENT / NOTEBOOK
# Small limits so the endless loop costs seconds: the loop cell is interrupted after
# cell_timeout_s, and the grade cell's sandbox gives up on it after submission_timeout_s.
COURSE_YAML = f"""\
course:
  id: nbgrader-test-course
  title: nbgrader integration test
seed: 2026
limits:
  test_timeout_s: 5
  submission_timeout_s: 12
  cpu_time_s: 120
  memory_mb: 4096
devices:
  default: cpu
nbgrader:
  kernel: python3
  cell_timeout_s: 30
assignments:
  - id: {ASSIGNMENT}
    title: Tensors
    notebook: {NOTEBOOK}
    points: {POINTS}
"""
PARTIAL_CELL = "def second_column(x):\n    return x[:, 0]  # the first column: wrong on purpose\n"
LOOP_CELL = "while True:\n    pass\n"
WARNINGS_CELL = """\
import warnings
import torch
torch.tensor(torch.ones(2))  # PyTorch's copy-construct UserWarning, on stderr
warnings.warn("a student's own warning", FutureWarning)
_item = to_python_number
def to_python_number(t):
    warnings.warn("still fine", UserWarning)
    return _item(t)
"""

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not SOLUTION.is_file(), reason=f"{SOLUTION.relative_to(REPO)} is not written yet"),
    pytest.mark.skipif(not HIDDEN_TESTS.is_file(), reason="the hidden tests are not written yet"),
]


def nbgrader_env(home: Path) -> dict:
    """nbgrader (and alembic, which it runs) from this venv; no user-level Jupyter config."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["JUPYTER_CONFIG_DIR"] = str(home / "jupyter-config")
    env["IPYTHONDIR"] = str(home / "ipython")
    env["OMP_NUM_THREADS"] = "1"
    env.pop("AUTOGRADER_COURSE", None)
    env.pop("JUPYTER_PATH", None)
    return env


def nbgrader(course_dir: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(Path(sys.executable).parent / "nbgrader"), *args], cwd=course_dir, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def filled_in(release_nb, solution_nb):
    """The release with every solution cell answered as in the reference notebook."""
    answers = {c.metadata["nbgrader"]["grade_id"]: c.source for c in solution_nb.cells
               if c.get("metadata", {}).get("nbgrader", {}).get("solution")}
    nb = nbformat.from_dict(release_nb)
    for cell in nb.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell.source = answers[grade_id]
    return nb


def with_cell(nb, source: str):
    """`nb` with a student cell added just before the grade cell."""
    nb = nbformat.from_dict(nb)
    at = next(i for i, c in enumerate(nb.cells) if is_test_cell(c))
    nb.cells.insert(at, nbformat.v4.new_code_cell(source))
    return nb


def without_grade_cell(nb):
    nb = nbformat.from_dict(nb)
    nb.cells = [c for c in nb.cells if not is_test_cell(c)]
    return nb


class NbgraderCourse:
    def __init__(self, root: Path):
        self.root = root
        self.kit = root / "kit"
        self.dir = root / "nbcourse"
        self.env = nbgrader_env(root)
        self.submissions: dict[str, Path] = {}
        self.timings: dict[str, float] = {}

    def run(self, *args: str) -> subprocess.CompletedProcess:
        started = time.perf_counter()
        proc = nbgrader(self.dir, self.env, *args)
        self.timings[args[0]] = time.perf_counter() - started
        return proc

    def gradebook(self):
        from nbgrader.api import Gradebook
        return Gradebook(f"sqlite:///{self.dir / 'gradebook.db'}", course_id="nbgrader-test-course")

    def nbgrader_score(self, student: str) -> float:
        with self.gradebook() as gb:
            return gb.find_submission(ASSIGNMENT, student).score

    def autograded(self, student: str):
        return nbformat.read(self.dir / "autograded" / student / ASSIGNMENT / NOTEBOOK, as_version=4)


def grade_cell_id_str() -> str:
    from autograder.course import Assignment
    return grade_cell_id(Assignment(id=ASSIGNMENT, notebook=NOTEBOOK, points=POINTS))


@pytest.fixture(scope="module")
def nbcourse(tmp_path_factory) -> NbgraderCourse:
    course = NbgraderCourse(tmp_path_factory.mktemp("nbgrader"))
    (course.kit / "solutions" / ASSIGNMENT).mkdir(parents=True)
    shutil.copy(SOLUTION, course.kit / "solutions" / ASSIGNMENT / NOTEBOOK)
    (course.kit / "course.yaml").write_text(COURSE_YAML, encoding="utf-8")
    assert cli.main(["--course", str(course.kit / "course.yaml"), "nbgrader", "init", str(course.dir)]) == 0

    course.run("generate_assignment", ASSIGNMENT)
    release = nbformat.read(course.dir / "release" / ASSIGNMENT / NOTEBOOK, as_version=4)
    reference = filled_in(release, nbformat.read(SOLUTION, as_version=4))
    notebooks = {
        "reference": reference,
        "blank": release,
        "partial": with_cell(reference, PARTIAL_CELL),
        "deleted": without_grade_cell(reference),
        "loops": with_cell(reference, LOOP_CELL),
        "warnings": with_cell(reference, WARNINGS_CELL),
    }
    for student, nb in notebooks.items():
        folder = course.dir / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / NOTEBOOK)
        course.submissions[student] = folder / NOTEBOOK
    # A submitted copy of the kit's student bundle must not shadow the kit while grading.
    shadow = course.dir / "submitted" / "reference" / ASSIGNMENT / "autograder"
    shadow.mkdir()
    (shadow / "__init__.py").write_text("raise ImportError('the student bundle shadowed the kit')\n")

    course.run("autograde", ASSIGNMENT)
    course.run("generate_feedback", ASSIGNMENT)
    course.run("export")
    print("\nnbgrader timings (s): " + ", ".join(f"{k} {v:.1f}" for k, v in course.timings.items()))
    return course


@pytest.fixture(scope="module")
def autograder_scores(nbcourse) -> dict[str, float]:
    """`autograder grade`'s total for every submitted notebook (the CLI, JSON format)."""
    scores = {}
    for student, path in nbcourse.submissions.items():
        out = nbcourse.root / f"{student}.json"
        code = cli.main(["--course", str(nbcourse.kit / "course.yaml"), "grade", str(path),
                         "--format", "json", "--output", str(out)])
        assert code == 0
        scores[student] = json.loads(out.read_text())["score"]
    return scores


# -- init ---------------------------------------------------------------------------------------
def test_source_has_one_grade_cell_worth_the_course_points_and_no_test_code(nbcourse):
    nb = nbformat.read(nbcourse.dir / "source" / ASSIGNMENT / NOTEBOOK, as_version=4)
    grade_cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert [c.metadata.nbgrader.points for c in grade_cells] == [POINTS]
    assert f'grade_cell({ASSIGNMENT!r}, points={POINTS})' in grade_cells[0].source
    hidden = HIDDEN_TESTS.read_text()
    for name in re.findall(r"^def (test_\w+)", hidden, re.M):
        assert name not in nbformat.writes(nb)


def test_init_refuses_to_overwrite_without_force_and_keeps_local_config(nbcourse, tmp_path, capsys):
    target = tmp_path / "again"
    args = ["--course", str(nbcourse.kit / "course.yaml"), "nbgrader", "init", str(target)]
    assert cli.main(args) == 0
    config = target / "nbgrader_config.py"
    config.write_text(config.read_text() + "c.Exchange.root = '/srv/exchange'\n")
    capsys.readouterr()
    assert cli.main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "already has" in err and "--force" in err
    assert cli.main([*args, "--force"]) == 0
    text = config.read_text()
    assert text.count("c.Exchange.root = '/srv/exchange'") == 1 and "c.Execute.timeout = 30" in text


def test_config_sets_the_traps_off(nbcourse):
    from traitlets.config.loader import PyFileConfigLoader
    config = PyFileConfigLoader("nbgrader_config.py", path=str(nbcourse.dir)).load_config()
    assert config.CourseDirectory.course_id == "nbgrader-test-course"
    assert config.Execute.timeout == 30 and config.Execute.kernel_name == "python3"
    assert config.IgnorePattern.enabled is True
    assert re.search(config.IgnorePattern.pattern, "x.py:3: UserWarning: To copy construct from a tensor")
    assert not re.search(config.IgnorePattern.pattern, "Traceback (most recent call last):")
    assert config.OverwriteCells.add_missing_cells is True
    assert set(SHADOWING_NAMES) <= set(config.CourseDirectory.ignore)


# -- generate_assignment ------------------------------------------------------------------------
def test_release_has_no_solutions_and_no_hidden_test_text(nbcourse):
    text = (nbcourse.dir / "release" / ASSIGNMENT / NOTEBOOK).read_text()
    solution = nbformat.read(SOLUTION, as_version=4)
    for cell in solution.cells:
        for region in re.findall(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", cell.source, re.S):
            for line in region.strip().splitlines():
                if len(line.strip()) > 12:
                    assert json.dumps(line.strip())[1:-1] not in text, f"solution line leaked: {line.strip()}"
    for marker in ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS", "grade_cell(", "nbgrader_cell"):
        assert marker not in text
    for name in re.findall(r"^def (test_\w+)", HIDDEN_TESTS.read_text(), re.M):
        assert name not in text


# -- autograde ----------------------------------------------------------------------------------
def test_reference_gets_full_marks(nbcourse):
    assert nbcourse.nbgrader_score("reference") == pytest.approx(POINTS)


def test_blank_release_gets_zero(nbcourse):
    assert nbcourse.nbgrader_score("blank") == 0


def test_partial_submission_gets_the_partial_score(nbcourse, autograder_scores):
    score = nbcourse.nbgrader_score("partial")
    assert 0 < score < POINTS
    assert score == pytest.approx(autograder_scores["partial"])
    summary = _grade_cell_stdout(nbcourse.autograded("partial"))
    assert "FAIL" in summary and "PASS" in summary


def test_deleted_grade_cell_is_restored_and_scored(nbcourse):
    nb = nbcourse.autograded("deleted")
    assert [c.metadata.nbgrader.grade_id for c in nb.cells if is_test_cell(c)] == [grade_cell_id_str()]
    assert nbcourse.nbgrader_score("deleted") == pytest.approx(POINTS)


def test_endless_loop_is_interrupted_and_scores_zero(nbcourse):
    nb = nbcourse.autograded("loops")
    loop_cell = next(c for c in nb.cells if c.source.strip() == LOOP_CELL.strip())
    assert any(o.output_type == "error" for o in loop_cell.outputs), "the loop cell was not interrupted"
    assert nbcourse.nbgrader_score("loops") == 0
    # the students graded after it were graded normally
    assert nbcourse.nbgrader_score("warnings") == pytest.approx(POINTS)


def test_torch_warnings_do_not_zero_the_grade_cell(nbcourse):
    nb = nbcourse.autograded("warnings")
    grade = next(c for c in nb.cells if is_test_cell(c))
    assert not [o for o in grade.outputs if o.output_type == "stream" and o.name == "stderr"]
    assert nbcourse.nbgrader_score("warnings") == pytest.approx(POINTS)


def test_a_submitted_autograder_folder_does_not_shadow_the_kit(nbcourse):
    assert not (nbcourse.dir / "autograded" / "reference" / ASSIGNMENT / "autograder").exists()


def test_grade_cell_output_is_a_plain_float_within_points(nbcourse):
    for student in nbcourse.submissions:
        grade = next(c for c in nbcourse.autograded(student).cells if is_test_cell(c))
        results = [o for o in grade.outputs if o.output_type == "execute_result"]
        assert len(results) == 1, f"{student}: {grade.outputs}"
        value = float(results[0].data["text/plain"])
        assert 0 <= value <= POINTS


def test_nbgrader_total_equals_autograder_grade_for_every_submission(nbcourse, autograder_scores):
    totals = {s: nbcourse.nbgrader_score(s) for s in nbcourse.submissions}
    # The deleted-cell notebook is graded by `autograder grade` as submitted (no cell to
    # delete there); nbgrader restores the cell, so both see the same student code.
    assert totals == pytest.approx(autograder_scores)


# -- feedback and export ------------------------------------------------------------------------
def test_feedback_exists_and_has_no_hidden_test_text(nbcourse):
    hidden = HIDDEN_TESTS.read_text()
    secret_lines = [ln.strip() for ln in hidden.splitlines()
                    if ln.strip().startswith(("assert", "def ", "return", "expected")) and len(ln.strip()) > 15]
    assert secret_lines
    for student in nbcourse.submissions:
        page = nbcourse.dir / "feedback" / student / ASSIGNMENT / f"{ASSIGNMENT}.html"
        assert page.is_file(), f"no feedback for {student}"
        text = html.unescape(re.sub(r"<[^>]+>", "", page.read_text()))
        for line in secret_lines:
            assert line not in text, f"{student}'s feedback shows hidden-test text: {line}"
        assert "BEGIN HIDDEN TESTS" not in text and "grade_cell(" not in text
    summary = html.unescape(re.sub(r"<[^>]+>", "", (nbcourse.dir / "feedback" / "partial" / ASSIGNMENT /
                                                       f"{ASSIGNMENT}.html").read_text()))
    assert "FAIL" in summary


def test_export_csv_has_the_expected_totals(nbcourse, autograder_scores):
    with open(nbcourse.dir / "grades.csv", newline="") as f:
        rows = {r["student_id"]: r for r in csv.DictReader(f)}
    assert set(rows) == set(nbcourse.submissions)
    for student, expected in autograder_scores.items():
        assert float(rows[student]["score"]) == pytest.approx(expected)
        assert float(rows[student]["max_score"]) == pytest.approx(POINTS)


# -- the grade cell's helpers (no kernel) -------------------------------------------------------
@pytest.mark.parametrize("value,expected", [
    (7.5, 7.5), (-1, 0.0), (11, 10.0), (math.nan, 0.0), (math.inf, 0.0), ("x", 0.0), (None, 0.0),
])
def test_clamp_score_is_a_plain_float_within_points(value, expected):
    out = clamp_score(value, 10)
    assert type(out) is float and out == expected


def test_student_cells_only_drops_grade_cells_and_outputs():
    nb = nbformat.v4.new_notebook()
    graded = nbformat.v4.new_code_cell("# restored\nfrom autograder.nbgrader_cell import grade_cell")
    graded.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": "g", "points": 1}
    answer = nbformat.v4.new_code_cell("x = 1")
    answer.outputs = [nbformat.v4.new_output("stream", text="hi")]
    nb.cells = [answer, graded]
    out = student_cells_only(nb)
    assert [c.source for c in out.cells] == ["x = 1"] and out.cells[0].outputs == []


def _grade_cell_stdout(nb) -> str:
    grade = next(c for c in nb.cells if is_test_cell(c))
    return "".join(o.text for o in grade.outputs if o.output_type == "stream" and o.name == "stdout")
