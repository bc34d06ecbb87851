"""Which of a student's files is which assignment.

A submission is a notebook, a .py file, or a folder of them. A file maps to an
assignment by its notebook metadata (`autograder.assignment`), else by the assignment id
(or notebook name) in its own name or in a folder name on its path, else by
`--assignment`. `student_files` is the one definition of the files grading reads: batch
hashes exactly these to know when a submission changed. An assignment's test files are
`test_<id>.py` in the kit's visible and hidden test folders (`test_files`).
"""
from __future__ import annotations

import json
from pathlib import Path

from autograder.course import Course
from autograder.localize import N_

STUDENT_SUFFIXES = (".ipynb", ".py")
VISIBLE_TESTS = Path(__file__).resolve().parent / "selfcheck" / "tests"
HIDDEN_TESTS = Path(__file__).resolve().parent / "tests_hidden"
# Editors, Jupyter, git and Python leave these next to real work; they are never graded.
SKIPPED_FOLDERS = {".ipynb_checkpoints", "__pycache__", ".git", ".venv", "node_modules"}


class GradingError(Exception):
    """Grading could not start (bad input); the CLI turns it into exit code 2."""


def test_files(assignment_id: str, visible_only: bool = False) -> dict[str, str]:
    """{path: visibility} of the assignment's test files that exist, visible first."""
    files = {}
    for folder, visibility in ((VISIBLE_TESTS, "visible"), (HIDDEN_TESTS, "hidden")):
        if visible_only and visibility == "hidden":
            continue
        path = folder / f"test_{assignment_id}.py"
        if path.is_file():
            files[str(path)] = visibility
    return files


def student_files(path: Path) -> list[Path]:
    """The notebooks and .py files under a folder (or the file itself), sorted."""
    if path.is_file():
        return [path]
    return [file for file in sorted(path.rglob("*"))
            if file.is_file() and file.suffix in STUDENT_SUFFIXES
            and not any(part in SKIPPED_FOLDERS or part.startswith(".")
                        for part in file.relative_to(path).parts)]


def notebook_assignment(path: Path) -> str | None:
    """The `autograder.assignment` id in a notebook's metadata, if any (unreadable -> None)."""
    try:
        with open(path, encoding="utf-8") as f:
            meta = json.load(f).get("metadata", {})
        value = meta.get("autograder", {}).get("assignment")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def _name_match(path: Path, course: Course, root: Path) -> str | None:
    """The assignment whose id (or notebook name) appears in the file's name, or else in
    the name of a folder between `root` and the file."""
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        parts = (path.name,)
    for part in reversed(parts or (path.name,)):
        lowered = part.lower()
        for a in course.assignments:
            if a.id.lower() in lowered or lowered == a.notebook.lower():
                return a.id
    return None


def map_files(path: Path, course: Course, wanted: list[str] | None) -> tuple[dict[str, Path], list[str]]:
    """{assignment id: the student's file for it} under PATH, and notes about files that
    were ignored. A single file maps by metadata, its name, or `wanted` (--assignment)."""
    notes: list[str] = []
    if path.is_file():
        if path.suffix not in STUDENT_SUFFIXES:
            raise GradingError(f"{path}: not a notebook (.ipynb) or Python file (.py)")
        if wanted:
            if len(wanted) > 1:
                raise GradingError(f"{path} is one file; pass a single --assignment for it")
            return {wanted[0]: path}, notes
        found = (notebook_assignment(path) if path.suffix == ".ipynb" else None) \
            or _name_match(path, course, path.parent)
        if found is None:
            known = ", ".join(a.id for a in course.assignments)
            raise GradingError(f"cannot tell which assignment {path.name} is (no autograder.assignment "
                               f"metadata, no assignment id in its name); pass --assignment ID ({known})")
        return {found: path}, notes
    candidates: dict[str, list[tuple[int, Path]]] = {}
    for file in student_files(path):
        meta = notebook_assignment(file) if file.suffix == ".ipynb" else None
        aid = meta or _name_match(file, course, path)
        if aid is None or (meta and not any(a.id == meta for a in course.assignments)):
            ignored = file.relative_to(path)
            notes.append(N_(f"ignored {ignored}: not mapped to an assignment"))
            continue
        # Preference: metadata over name, notebooks over .py, then the shortest path.
        rank = (0 if meta else 2) + (0 if file.suffix == ".ipynb" else 1)
        candidates.setdefault(aid, []).append((rank, file))
    chosen = {}
    for aid, files in candidates.items():
        files.sort(key=lambda rf: (rf[0], len(rf[1].parts), str(rf[1])))
        chosen[aid] = files[0][1]
        graded = chosen[aid].relative_to(path)
        for _, other in files[1:]:
            ignored = other.relative_to(path)
            notes.append(N_(f"ignored {ignored}: {graded} was graded for {aid}"))
    if wanted:
        chosen = {a: p for a, p in chosen.items() if a in wanted}
    return chosen, notes


def single_assignment(path: Path, course: Course) -> str | None:
    """The one assignment every student file under PATH maps to, if there is exactly one
    (a class's submissions of one weekly assignment); None when files map to several
    assignments or to none. Lets `grade` and `batch` grade that assignment alone instead
    of reporting five missing notebooks per student."""
    found = set()
    for file in student_files(path):
        meta = notebook_assignment(file) if file.suffix == ".ipynb" else None
        aid = meta if meta in {a.id for a in course.assignments} else _name_match(file, course, path)
        if aid is not None:
            found.add(aid)
        if len(found) > 1:
            return None
    return found.pop() if found else None
