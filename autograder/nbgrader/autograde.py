"""nbgrader's Execute step, replaced: grade the notebook in the kit's sandbox and write
each exercise's result into its grade cell, for nbgrader's SaveAutoGrades and feedback.

The nbgrader_config.py written by `autograder nbgrader init` puts `GradeInSandbox` where
`Execute` was in `Autograde.autograde_preprocessors`; the rest of nbgrader's pipeline is
unchanged. No Jupyter kernel starts: the student's cells run only in the sandbox, exactly
as `autograder grade` runs them (autograder.grading.grade_path: same course.yaml, seed,
device and CUDA policy), and the hidden tests run here, in nbgrader's process. One warm
SandboxFactory serves every notebook of the nbgrader process (one autograde run); the
nbgrader course folder (gradebook.db, source/, submitted/) is among its secret paths.

What the autograded notebook (and so the feedback) gets:
* each kit grade cell: its exercise's tests as wrapped text on stdout and the score as
  the cell's result, which nbgrader's `determine_grade` reads as partial credit;
* a kit grade cell the student deleted is put back after the exercise's check cell;
* every code cell's prompt number is its position in the submitted notebook, the cell
  number the results quote (`cell 12`); no student cell has outputs.
"""
from __future__ import annotations

import atexit
import os
import tempfile
import time
from pathlib import Path

import nbformat
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Unicode

from autograder.localize import N_
from autograder.nbgrader.cells import ExerciseGrade, grade_exercises, render, scrub
from autograder.nbgrader.course import GRADE_CELL_PREFIX, grade_cell_position
from autograder.nbgrader.exercises import exercise_of

_factory = None
_factory_key = None


class AutogradeError(Exception):
    """The kit cannot grade this notebook (not the student's doing); one line. nbgrader
    then records no score for the student and reports the failure."""


def shared_factory(course, device: str, secrets: list[str]):
    """One warm sandbox factory for the whole nbgrader process, closed at exit."""
    global _factory, _factory_key
    key = (repr(course.limits), device, tuple(secrets))
    if _factory is not None and _factory_key != key:
        close_factory()
    if _factory is None:
        from autograder.sandbox import SandboxFactory
        _factory = SandboxFactory(course.limits, device=device, torch_threads=1, secret_paths=secrets)
        _factory_key = key
    return _factory


@atexit.register
def close_factory() -> None:
    global _factory
    if _factory is not None:
        _factory.close()
        _factory = None


class GradeInSandbox(NbGraderPreprocessor):
    """Grades the notebook through the kit's sandbox instead of executing it."""

    course_file = Unicode("", help="The course.yaml to grade with (points, limits, seed, devices).").tag(config=True)

    def preprocess(self, nb, resources):
        started = time.perf_counter()
        info = resources["nbgrader"]
        course = self._course()
        from autograder.course import CourseError
        try:
            assignment = course.assignment(info["assignment"])
        except CourseError as exc:
            raise AutogradeError(str(exc)) from None
        cell_points, source_cells = self._kit_grade_cells(info)
        self._check_points(assignment, cell_points)

        number_cells(nb)
        solution_cells = {c.metadata["nbgrader"]["grade_id"]: i for i, c in enumerate(nb.cells, 1)
                          if c.get("metadata", {}).get("nbgrader", {}).get("solution")}
        result = self._grade(nb, course, assignment, info)
        exercises = list(cell_points)
        grades = grade_exercises(result, cell_points, lambda t: exercise_of(t.id, t.exercise, exercises))
        self._attach_notes(result, grades, solution_cells)
        restored = restore_missing(nb, cell_points, source_cells)
        roots = self._private_roots(info)
        for cell in nb.cells:
            exercise = kit_exercise(cell)
            if exercise is None:
                if is_other_test_cell(cell):
                    fail_unsupported(cell)
                continue
            grade = grades.get(exercise)
            if grade is None:
                continue
            if exercise in restored:
                grade.notes.insert(0, N_("This grade cell was missing from your notebook; it was put back."))
            text = scrub(render(grade, solution_cells.get(exercise), course.language), roots)
            write_result(cell, text, grade.score)
        total = sum(g.score for g in grades.values())
        self.log.info("%s/%s: %g of %g points (kit: %g of %g) in %.1f s, graded in the sandbox",
                      info["student"], assignment.id, total, sum(cell_points.values()),
                      result.score, result.max_score, time.perf_counter() - started)
        return nb, resources

    # -- steps -------------------------------------------------------------------------
    def _course(self):
        from autograder.course import CourseError, load_course
        if not self.course_file:
            raise AutogradeError("GradeInSandbox.course_file is not set in nbgrader_config.py "
                                 "(rerun `autograder nbgrader init --force`)")
        try:
            return load_course(Path(self.course_file), check_notebooks=False)
        except CourseError as exc:
            raise AutogradeError(str(exc)) from None

    def _kit_grade_cells(self, info) -> tuple[dict[str, float], dict[str, object]]:
        """({exercise: points}, {exercise: source cell}) of the kit's grade cells, from the
        gradebook (the points fixed by generate_assignment, not the student's copy)."""
        from nbgrader.api import Gradebook, MissingEntry
        with Gradebook(info["db_url"]) as gb:
            try:
                notebook = gb.find_notebook(info["notebook"], info["assignment"])
            except MissingEntry:
                raise AutogradeError(f"{info['notebook']} of {info['assignment']} is not in the gradebook "
                                     f"(run nbgrader generate_assignment)") from None
            sources = {c.name: c for c in notebook.source_cells}
            points, cells = {}, {}
            for cell in notebook.grade_cells:
                if cell.name.startswith(GRADE_CELL_PREFIX) and cell.cell_type == "code":
                    exercise = cell.name[len(GRADE_CELL_PREFIX):]
                    points[exercise] = float(cell.max_score)
                    source = sources[cell.name]
                    cells[exercise] = {"name": source.name, "source": source.source,
                                       "checksum": source.checksum, "points": float(cell.max_score)}
        if not points:
            raise AutogradeError(f"{info['notebook']} has no kit grade cells in the gradebook "
                                 f"(rerun `autograder nbgrader init --force` and generate_assignment --force)")
        return points, cells

    def _check_points(self, assignment, cell_points: dict[str, float]) -> None:
        total = sum(cell_points.values())
        if abs(total - float(assignment.points)) > 1e-6:
            raise AutogradeError(
                f"the gradebook gives {assignment.id} {total:g} points but course.yaml {float(assignment.points):g}; "
                f"rerun `autograder nbgrader init --force` and `nbgrader generate_assignment {assignment.id} --force`")

    def _grade(self, nb, course, assignment, info):
        from autograder.grading import grade_path, resolve_device
        from autograder.mapping import GradingError
        device = str(resolve_device(None, course))
        factory = shared_factory(course, device, self._private_roots(info))
        with tempfile.TemporaryDirectory(prefix="autograder-nbgrader-") as tmp:
            path = Path(tmp) / assignment.notebook
            nbformat.write(nb, str(path))
            try:
                report = grade_path(str(path), course, device=device, assignments=[assignment.id],
                                    factory=factory)
            except GradingError as exc:
                raise AutogradeError(str(exc)) from None
        return report.assignments[0]

    def _private_roots(self, info) -> list[str]:
        """The nbgrader course folder (gradebook, source/, everyone's submissions): no
        sandbox may read it, and no feedback may name it."""
        roots = []
        root = self.config.get("CourseDirectory", {}).get("root")
        if isinstance(root, str) and root:
            roots.append(os.path.realpath(root))
        db = str(info.get("db_url", ""))
        if db.startswith("sqlite:///"):
            roots.append(os.path.realpath(os.path.dirname(db[len("sqlite:///"):]) or "."))
        return sorted(set(roots))

    @staticmethod
    def _attach_notes(result, grades: dict[str, ExerciseGrade], solution_cells: dict[str, int]) -> None:
        """Notebook-level problems go to the exercise whose cell they name, else the first."""
        first = next(iter(grades.values()))
        if result.status != "graded":
            status = result.status
            first.notes.append(N_(f"your notebook could not be graded ({status}); every check scores 0"))
        for note in result.notes:
            first.notes.append(note)
        by_cell = {cell: grades[e] for e, cell in solution_cells.items() if e in grades}
        for err in result.load_errors:
            where, message = err.where(), err.message
            text = N_(f"while running your notebook ({where}): {message}") if where else \
                N_(f"while running your notebook: {message}")
            by_cell.get(err.cell, first).notes.append(text)


# -- the notebook ----------------------------------------------------------------------
def kit_exercise(cell) -> str | None:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    grade_id = meta.get("grade_id") or ""
    if cell.get("cell_type") == "code" and meta.get("grade") and grade_id.startswith(GRADE_CELL_PREFIX):
        return grade_id[len(GRADE_CELL_PREFIX):]
    return None


def is_other_test_cell(cell) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return cell.get("cell_type") == "code" and bool(meta.get("grade")) and not meta.get("solution")


def fail_unsupported(cell) -> None:
    """A test cell the kit did not write would get full credit unexecuted: give it 0."""
    cell.outputs = [nbformat.v4.new_output(
        "error", ename="NotGraded", evalue="only the kit's grade cells are graded under sandboxed autograde",
        traceback=["NotGraded: only the kit's grade cells are graded under sandboxed autograde"])]


def number_cells(nb) -> None:
    """Prompt numbers = positions in the submitted notebook (what `cell N` refers to)."""
    for index, cell in enumerate(nb.cells, 1):
        if cell.cell_type == "code":
            cell.execution_count = index
            cell.outputs = []


def restore_missing(nb, cell_points: dict[str, float], source_cells: dict[str, dict]) -> set[str]:
    """Put back the kit grade cells the student deleted; returns their exercises."""
    present = {kit_exercise(c) for c in nb.cells}
    restored = set()
    for exercise, points in cell_points.items():
        if exercise in present:
            continue
        src = source_cells[exercise]
        cell = nbformat.v4.new_code_cell(src["source"])
        cell.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True, "points": points,
                                     "grade_id": src["name"], "checksum": src["checksum"],
                                     "cell_type": "code", "schema_version": 3}
        cell.metadata["editable"] = cell.metadata["deletable"] = False
        nb.cells.insert(grade_cell_position(nb, exercise), cell)
        restored.add(exercise)
    return restored


def write_result(cell, text: str, score: float) -> None:
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text=text + "\n"),
        nbformat.v4.new_output("execute_result", data={"text/plain": repr(float(score))},
                               execution_count=cell.get("execution_count")),
    ]
