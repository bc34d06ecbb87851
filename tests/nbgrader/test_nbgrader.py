"""nbgrader integration: real nbgrader commands on a temporary course, grading in the sandbox.

One module-scoped course directory serves every test: `autograder nbgrader init` from the
repository's course.yaml, `nbgrader generate_assignment` for all six assignments, one
`nbgrader autograde "*"` (one process, so one warm sandbox factory) over: the reference
and the blank release of every assignment, and for 01_tensors a partial submission, one
with two grade cells deleted and an attacker; then `generate_feedback` and `export`.
Scores are read with nbgrader's Gradebook API and compared with `autograder grade`'s
(grade_path, the same function the CLI calls) on the same files.
"""
from __future__ import annotations

import csv
import hashlib
import html
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

pytest.importorskip("nbgrader")

from autograder import cli  # noqa: E402
from autograder.course import load_course  # noqa: E402
from autograder.nbgrader.autograde import kit_exercise  # noqa: E402
from autograder.nbgrader.cells import ExerciseGrade, clamp_score, grade_exercises, render, scrub  # noqa: E402
from autograder.nbgrader.course import GRADE_CELL_PREFIX, solution_ids  # noqa: E402
from autograder.nbgrader.exercises import ExerciseError, exercise_of  # noqa: E402
from autograder.report import AssignmentResult, TestResult  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
COURSE_FILE = REPO / "course.yaml"
COURSE = load_course(COURSE_FILE, check_notebooks=False)
ASSIGNMENTS = [a.id for a in COURSE.assignments]
POINTS = {a.id: float(a.points) for a in COURSE.assignments}
FIRST = "01_tensors"
NOTEBOOK = f"{FIRST}.ipynb"
HIDDEN_TESTS = REPO / "autograder" / "tests_hidden" / f"test_{FIRST}.py"
PARTIAL_SECOND_COLUMN = "def second_column(x):\n    return x[:, 0]  # the first column: wrong on purpose\n"
CUDA = "06_cuda"
PARTIAL_PICK_DEVICE = "def pick_device():\n    return torch.device('cpu')  # ignores the GPU: wrong on purpose\n"
# Every attempt that succeeds is recorded; make_empty only works when none did, so a
# breach also shows up as a lost point, and the 1 point proves the cell ran.
ATTACK_CELL = """\
import torch
breaches = []
def attempt(name, action):
    try:
        action()
        breaches.append(name)
    except Exception:
        pass
attempt("gradebook", lambda: open({gradebook!r}, "ab").write(b"ATTACKED"))
attempt("source read", lambda: open({source_nb!r}).read())
attempt("source write", lambda: open({source_dir!r} + "/attacked.txt", "w").write("x"))
try:  # the grader's own modules: even where importable, they are not the grader's copies
    import autograder.nbgrader.cells as kit
    kit.clamp_score = lambda value, points: points
    kit.grade_exercises = None
except Exception:
    pass
print("make_empty: 1 / 1 point")
print(10.0)
"""
ATTACK_MAKE_EMPTY = "def make_empty(rows, cols):\n    return torch.empty(rows, cols) if not breaches else None\n"

pytestmark = [pytest.mark.slow]


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


def is_solution(cell) -> bool:
    return bool(cell.get("metadata", {}).get("nbgrader", {}).get("solution"))


def filled_in(release_nb, solution_nb):
    """The release with every solution cell answered as in the reference notebook."""
    answers = {c.metadata["nbgrader"]["grade_id"]: c.source for c in solution_nb.cells if is_solution(c)}
    nb = nbformat.from_dict(release_nb)
    for cell in nb.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell.source = answers[grade_id]
    return nb


def answered(nb, grade_id: str, source: str):
    nb = nbformat.from_dict(nb)
    next(c for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id).source = source
    return nb


def position(nb, grade_id: str) -> int:
    return next(i for i, c in enumerate(nb.cells) if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id)


class NbgraderCourse:
    def __init__(self, root: Path):
        self.root = root
        self.dir = root / "nbcourse"
        self.env = nbgrader_env(root)
        self.submissions: dict[tuple[str, str], Path] = {}
        self.logs: dict[str, str] = {}

    def run(self, *args: str) -> None:
        proc = subprocess.run([str(Path(sys.executable).parent / "nbgrader"), *args], cwd=self.dir, env=self.env,
                              capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        self.logs[args[0]] = self.logs.get(args[0], "") + proc.stdout + proc.stderr

    def gradebook(self):
        from nbgrader.api import Gradebook
        return Gradebook(f"sqlite:///{self.dir / 'gradebook.db'}", course_id=COURSE.course.id)

    def score(self, student: str, assignment: str) -> float:
        with self.gradebook() as gb:
            return gb.find_submission(assignment, student).score

    def cell_scores(self, student: str, assignment: str = FIRST) -> dict[str, float]:
        with self.gradebook() as gb:
            nb = gb.find_submission_notebook(assignment, assignment, student)
            return {g.name[len(GRADE_CELL_PREFIX):]: g.score for g in nb.grades if g.name.startswith(GRADE_CELL_PREFIX)}

    def autograded(self, student: str, assignment: str = FIRST):
        return nbformat.read(self.dir / "autograded" / student / assignment / f"{assignment}.ipynb", as_version=4)

    def feedback_text(self, student: str, assignment: str = FIRST) -> str:
        page = self.dir / "feedback" / student / assignment / f"{assignment}.html"
        return html.unescape(re.sub(r"<[^>]+>", "", page.read_text(encoding="utf-8")))

    def submit(self, student: str, assignment: str, nb) -> None:
        folder = self.dir / "submitted" / student / assignment
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / f"{assignment}.ipynb")
        self.submissions[(student, assignment)] = folder / f"{assignment}.ipynb"


def tree_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        digest.update(str(path.relative_to(folder)).encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def nbcourse(tmp_path_factory) -> NbgraderCourse:
    course = NbgraderCourse(tmp_path_factory.mktemp("nbgrader"))
    assert cli.main(["--course", str(COURSE_FILE), "nbgrader", "init", str(course.dir)]) == 0
    releases = {}
    course.run("generate_assignment", "*")  # every assignment in one nbgrader process
    for aid in ASSIGNMENTS:
        releases[aid] = nbformat.read(course.dir / "release" / aid / f"{aid}.ipynb", as_version=4)
        solution = nbformat.read(REPO / "solutions" / aid / f"{aid}.ipynb", as_version=4)
        course.submit("reference", aid, filled_in(releases[aid], solution))
        course.submit("blank", aid, releases[aid])
    reference = nbformat.read(course.submissions[("reference", FIRST)], as_version=4)
    partial = answered(answered(reference, "second_column", PARTIAL_SECOND_COLUMN), "make_uniform",
                       releases[FIRST].cells[position(releases[FIRST], "make_uniform")].source)
    course.submit("partial", FIRST, partial)
    # a CUDA notebook with one mistake: on a CPU runner its CUDA-only checks are scored by
    # the course's policy from a share that is neither 0 nor 1
    reference_cuda = nbformat.read(course.submissions[("reference", CUDA)], as_version=4)
    course.submit("partial", CUDA, answered(reference_cuda, "pick_device", PARTIAL_PICK_DEVICE))
    deleted = nbformat.from_dict(reference)
    deleted.cells = [c for c in deleted.cells if kit_exercise(c) not in ("make_empty", "to_python_number")]
    course.submit("deleted", FIRST, deleted)
    gradebook, source_dir = course.dir / "gradebook.db", course.dir / "source" / FIRST
    attack = nbformat.from_dict(answered(releases[FIRST], "make_empty", ATTACK_MAKE_EMPTY))
    attack.cells.insert(position(attack, "make_empty"), nbformat.v4.new_code_cell(ATTACK_CELL.format(
        gradebook=str(gradebook), source_nb=str(source_dir / NOTEBOOK), source_dir=str(source_dir))))
    course.submit("attacker", FIRST, attack)

    course.source_digest = tree_digest(course.dir / "source")
    course.run("autograde", "*")
    course.gradebook_bytes = gradebook.read_bytes()
    course.run("generate_feedback", "*")
    course.run("export")
    return course


@pytest.fixture(scope="module")
def kit_results(nbcourse) -> dict[tuple[str, str], AssignmentResult]:
    """`autograder grade`'s result for every submitted notebook (grade_path, as the CLI)."""
    from autograder.grading import grade_path, resolve_device
    from autograder.sandbox import SandboxFactory
    device = str(resolve_device(None, COURSE))
    with SandboxFactory(COURSE.limits, device=device, torch_threads=1) as factory:
        return {key: grade_path(str(path), COURSE, device=device, assignments=[key[1]], factory=factory).assignments[0]
                for key, path in nbcourse.submissions.items()}


# -- init ---------------------------------------------------------------------------------------
def test_source_has_one_grade_cell_per_exercise_after_its_check_cell(nbcourse):
    for aid in ASSIGNMENTS:
        nb = nbformat.read(nbcourse.dir / "source" / aid / f"{aid}.ipynb", as_version=4)
        grade_cells = [(i, c) for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade")]
        assert [kit_exercise(c) for _, c in grade_cells] == solution_ids(nb), aid
        assert sum(c.metadata.nbgrader.points for _, c in grade_cells) == pytest.approx(POINTS[aid])
        for i, cell in grade_cells:
            exercise = kit_exercise(cell)
            assert re.search(rf"""check\(["']{exercise}["']\)""", nb.cells[i - 1].source), (aid, exercise)
            assert not [line for line in cell.source.splitlines() if not line.startswith("#")], "code in a grade cell"


def test_every_test_maps_to_one_exercise_of_its_notebook():
    exercises = ["train", "training_step", "evaluate"]
    assert exercise_of("training::training_step_loss", None, exercises) == "training_step"
    assert exercise_of("training::train_history", None, exercises) == "train"
    assert exercise_of("training::anything", "evaluate", exercises) == "evaluate"
    with pytest.raises(ExerciseError, match="nbgrader/exercises.py"):
        exercise_of("training::trainer_x", None, exercises)


def test_config_replaces_execute_with_the_sandbox(nbcourse):
    from traitlets.config.loader import PyFileConfigLoader
    config = PyFileConfigLoader("nbgrader_config.py", path=str(nbcourse.dir)).load_config()
    steps = [s if isinstance(s, str) else s.__name__ for s in config.Autograde.autograde_preprocessors]
    assert steps[0] == "autograder.nbgrader.autograde.GradeInSandbox"
    assert "Execute" not in steps and "SaveAutoGrades" in steps
    assert config.GradeInSandbox.course_file == str(COURSE_FILE)
    assert config.OverwriteCells.add_missing_cells is False


def test_init_refuses_to_overwrite_without_force_and_keeps_local_config(tmp_path, capsys):
    target = tmp_path / "again"
    args = ["--course", str(COURSE_FILE), "nbgrader", "init", str(target)]
    assert cli.main(args) == 0
    config = target / "nbgrader_config.py"
    config.write_text(config.read_text() + "c.Exchange.root = '/srv/exchange'\n")
    capsys.readouterr()
    assert cli.main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "already has" in err and "--force" in err
    assert cli.main([*args, "--force"]) == 0
    text = config.read_text()
    assert text.count("c.Exchange.root = '/srv/exchange'") == 1 and "GradeInSandbox" in text


def test_release_has_no_solutions_and_no_hidden_test_text(nbcourse):
    text = (nbcourse.dir / "release" / FIRST / NOTEBOOK).read_text()
    solution = nbformat.read(REPO / "solutions" / FIRST / NOTEBOOK, as_version=4)
    for cell in solution.cells:
        for region in re.findall(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", cell.source, re.S):
            for line in region.strip().splitlines():
                if len(line.strip()) > 12:
                    assert json_escaped(line.strip()) not in text, f"solution line leaked: {line.strip()}"
    for name in re.findall(r"^def (test_\w+)", HIDDEN_TESTS.read_text(), re.M):
        assert name not in text


# -- autograde ----------------------------------------------------------------------------------
def test_reference_gets_full_marks_and_blank_zero_for_every_assignment(nbcourse):
    for aid in ASSIGNMENTS:
        assert nbcourse.score("reference", aid) == pytest.approx(POINTS[aid]), aid
        assert nbcourse.score("blank", aid) == 0, aid


def test_gradebook_equals_autograder_grade_for_every_submission(nbcourse, kit_results):
    """One CUDA policy for every path: the kit's maximum is course.yaml's points on any
    runner, so nbgrader's gradebook holds the very numbers `autograder grade` reports."""
    for (student, aid), result in kit_results.items():
        assert result.status == "graded", (student, aid, result.notes)
        assert result.max_score == pytest.approx(POINTS[aid]), (student, aid)
        assert nbcourse.score(student, aid) == pytest.approx(result.score), (student, aid)
    partial = kit_results[("partial", CUDA)]
    assert 0 < partial.score < POINTS[CUDA]


def test_export_csv_has_the_gradebook_totals(nbcourse, kit_results):
    with open(nbcourse.dir / "grades.csv", newline="") as f:
        rows = {(r["student_id"], r["assignment"]): r for r in csv.DictReader(f)}
    for key, result in kit_results.items():
        assert float(rows[key]["score"]) == pytest.approx(result.score), key
        assert float(rows[key]["max_score"]) == pytest.approx(POINTS[key[1]])


def test_every_path_gives_the_same_totals_and_maxima(nbcourse, kit_results, tmp_path):
    """The same submitted notebooks graded by `autograder batch` (whose reports are the
    JSON, Gradescope and Classroom outputs of `autograder grade`), by grade_path and by
    nbgrader: every assignment's score and maximum agree, CUDA-only checks included (this
    runner decides them by course.yaml's devices.without_gpu)."""
    import base64
    import json

    out = tmp_path / "batch"
    proc = subprocess.run([sys.executable, "-m", "autograder", "--course", str(COURSE_FILE), "batch",
                           str(nbcourse.dir), "--out", str(out), "--jobs", "2"],
                          capture_output=True, text=True, timeout=1500, env=nbcourse.env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(out / "gradebook.csv", newline="") as f:
        rows = {r["student"]: r for r in csv.DictReader(f)}
    course_max = sum(POINTS.values())
    for student in {s for s, _ in nbcourse.submissions}:
        row = rows[student]
        report = json.loads((out / "reports" / student / "report.json").read_text())
        gradescope = json.loads((out / "reports" / student / "gradescope.json").read_text())
        classroom = json.loads(base64.b64decode((out / "reports" / student / "classroom.txt").read_text()))
        total = float(row["total"])
        assert float(row["max_score"]) == report["max_score"] == pytest.approx(course_max), student
        assert report["score"] == pytest.approx(total) == gradescope["score"], student
        assert sum(t["max_score"] for t in gradescope["tests"]) == pytest.approx(course_max), student
        assert classroom["max_score"] == pytest.approx(course_max), student
        assert sum(t["score"] for t in classroom["tests"]) == pytest.approx(total, abs=1e-4), student
        by_id = {a["id"]: a for a in report["assignments"]}
        for (who, aid), result in kit_results.items():
            if who != student:
                continue
            assert float(row[aid]) == pytest.approx(result.score, abs=1e-6), (student, aid)
            assert by_id[aid]["max_score"] == pytest.approx(result.max_score) == pytest.approx(POINTS[aid])
            assert nbcourse.score(student, aid) == pytest.approx(result.score), (student, aid)


def test_partial_submission_gets_partial_credit_per_exercise(nbcourse):
    scores = nbcourse.cell_scores("partial")
    assert scores["make_uniform"] == 0 and scores["second_column"] == 0
    assert scores["make_empty"] == 1 and scores["views_of"] == 1
    assert nbcourse.score("partial", FIRST) == pytest.approx(POINTS[FIRST] - 2)
    texts = grade_cell_texts(nbcourse.autograded("partial"))
    assert texts["make_uniform"].count("not written yet") == 1
    assert "FAIL" in texts["second_column"] and "second_column" in texts["second_column"]
    assert "PASS" in texts["make_empty"]


def test_deleted_grade_cells_are_put_back_after_their_check_cells_and_scored(nbcourse):
    nb = nbcourse.autograded("deleted")
    for exercise in ("make_empty", "to_python_number"):
        at = next(i for i, c in enumerate(nb.cells) if kit_exercise(c) == exercise)
        assert f'check("{exercise}")' in nb.cells[at - 1].source
    assert nbcourse.score("deleted", FIRST) == pytest.approx(POINTS[FIRST])


def test_attacks_from_a_student_cell_change_nothing(nbcourse):
    scores = nbcourse.cell_scores("attacker")
    # make_empty passes only if the attack cell ran and every attempt failed.
    assert scores["make_empty"] == 1
    assert sum(scores.values()) == 1
    assert b"ATTACKED" not in nbcourse.gradebook_bytes
    assert tree_digest(nbcourse.dir / "source") == nbcourse.source_digest
    feedback = nbcourse.feedback_text("attacker")
    # the kit's grade cell says this line once; the attacker's printed copy of it is not shown as output
    assert "BEGIN SOLUTION" not in feedback and feedback.replace("\r", "").count("make_empty: 1 / 1 point\n") == 1


def test_blank_exercises_say_not_written_yet_once_with_the_right_cell(nbcourse):
    nb = nbcourse.autograded("blank")
    texts = grade_cell_texts(nb)
    for exercise, text in texts.items():
        cell = position(nb, exercise) + 1
        assert text.count("not written yet") == 1, text
        assert f"in cell {cell} " in re.sub(r"\s+", " ", text), (exercise, cell, text)


# -- feedback -----------------------------------------------------------------------------------
def test_no_output_but_the_grade_cells_and_prompts_are_cell_positions(nbcourse):
    for student in ("reference", "blank", "partial", "attacker"):
        nb = nbcourse.autograded(student)
        for index, cell in enumerate(nb.cells, 1):
            if cell.cell_type != "code":
                continue
            assert cell.execution_count == index, (student, index)
            if kit_exercise(cell) is None:
                assert cell.outputs == [], (student, index, cell.outputs)


def test_feedback_shows_no_server_path_no_true_and_no_hidden_tests(nbcourse):
    hidden = HIDDEN_TESTS.read_text()
    secret_lines = [ln.strip() for ln in hidden.splitlines()
                    if ln.strip().startswith(("assert", "def ", "return", "expected")) and len(ln.strip()) > 15]
    private = [str(nbcourse.root), str(REPO), sys.prefix, "/tmp/"]
    for (student, aid) in nbcourse.submissions:
        text = nbcourse.feedback_text(student, aid)
        for line in secret_lines if aid == FIRST else []:
            assert line not in text, f"{student}'s feedback shows hidden-test text: {line}"
        # the student's own code is theirs to see (the attacker's cells name the course's paths)
        own = nbformat.read(nbcourse.submissions[(student, aid)], as_version=4)
        for line in {ln.strip() for c in own.cells for ln in c.source.splitlines() if ln.strip()}:
            text = text.replace(line, "")
        for path in private:
            assert path not in text, f"{student}/{aid} feedback shows {path}"
        assert not re.search(r"Out\[\d*\]:\s*True", text), f"{student}/{aid}: a check cell's Out: True"


def test_autograde_logs_no_warning(nbcourse):
    log = nbcourse.logs["autograde"]
    assert "graded in the sandbox" in log
    assert "WARNING]" not in log, [ln for ln in log.splitlines() if "WARNING]" in ln]
    assert "Warning:" not in log, [ln for ln in log.splitlines() if "Warning:" in ln]


# -- the grade cell's helpers (no nbgrader run) -------------------------------------------------
@pytest.mark.parametrize("value,expected", [
    (7.5, 7.5), (-1, 0.0), (11, 10.0), (math.nan, 0.0), (math.inf, 0.0), ("x", 0.0), (None, 0.0),
])
def test_clamp_score_is_a_plain_float_within_points(value, expected):
    out = clamp_score(value, 10)
    assert type(out) is float and out == expected


def test_a_grade_cell_scores_its_tests_as_the_report_does():
    """A cell's score is the sum of its tests' scores (an excluded CUDA check arrives
    scored by the policy, skipped with its points), within the cell's points."""
    def test(tid, score, max_score, status="passed", message=""):
        return TestResult(id=tid, name=tid, category="device", score=score, max_score=max_score,
                          status=status, visibility="hidden", message=message)
    policy = ("no CUDA device on this runner; excluded by course policy (devices.without_gpu: exclude): its points "
              "follow your score on the checks of this assignment that ran (50%)")
    result = AssignmentResult(id=CUDA, tests=[
        test("cuda::a_one", 2, 2), test("cuda::a_cuda", 0.5, 1, "skipped", policy),
        test("cuda::b_one", 0, 2, "failed", "wrong"), test("cuda::c_cuda", 0.5, 1, "skipped", policy)])
    grades = grade_exercises(result, {"a": 3.0, "b": 2.0, "c": 1.0}, lambda t: t.id.split("::")[1][0])
    assert {e: g.score for e, g in grades.items()} == {"a": 2.5, "b": 0.0, "c": 0.5}
    assert sum(g.score for g in grades.values()) == pytest.approx(result.score)
    text = render(grades["c"]).replace("\n  ", " ")
    assert "devices.without_gpu: exclude" in text and "(0.5/1)" in text and not grades["c"].not_written


def test_render_wraps_long_messages_and_scrub_hides_paths():
    message = "expected " + " ".join(["a long explanation"] * 20) + " see /home/teacher/course/x.py"
    grade = ExerciseGrade("views_of", 1.0, [TestResult(id="t::views_of_x", name="views", category="shape",
                                                       score=0, max_score=1, status="failed",
                                                       visibility="hidden", message=message)])
    text = scrub(render(grade))
    assert max(len(line) for line in text.splitlines()) <= 78
    assert "/home/teacher" not in text and "<path>" in text
    assert scrub("at /srv/nb/course/source/x.ipynb", ("/srv/nb/course",)) == "at source/x.ipynb"


def grade_cell_texts(nb) -> dict[str, str]:
    return {kit_exercise(c): "".join(o.text for o in c.outputs if o.output_type == "stream")
            for c in nb.cells if kit_exercise(c)}


def json_escaped(text: str) -> str:
    import json
    return json.dumps(text)[1:-1]
