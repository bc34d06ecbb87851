"""solutions/ -> the student notebooks (assignments/, checked in).

The reference notebooks in solutions/ are the single source. Releasing one:
1. clears solution regions with nbgrader's ClearSolutions rules (a `### BEGIN SOLUTION`
   ... `### END SOLUTION` region becomes the stub at the region's indentation; a solution
   cell without a region becomes the stub entirely; a region outside a solution cell is
   an error), drops `### BEGIN HIDDEN TESTS` regions and clears outputs;
2. writes the course's install source and the notebook's language into its setup cell;
3. writes the student notebook to assignments/<id>/ (checked in, so a test can prove it
   has not drifted from solutions/). The bundles are bundles.py's.
"""
from __future__ import annotations

import re
from pathlib import Path

import nbformat

from autograder.course import Assignment, Course, CourseError
from autograder.i18n.notebooks import with_notebook_language, with_setup_constant

CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
TEXT_STUB = "YOUR ANSWER HERE"
BEGIN_SOLUTION, END_SOLUTION = "BEGIN SOLUTION", "END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"

class ReleaseError(CourseError):
    """A solution notebook breaks the release rules; the message names notebook and cell."""


def _replace_regions(source: str, begin: str, end: str, stub: str | None, where: str) -> tuple[str, bool]:
    """Replace each begin..end region with `stub` (indented like the begin line), or drop
    it when stub is None. Returns the new source and whether a region was found."""
    out, inside, found = [], False, False
    for line in source.split("\n"):
        if begin in line:
            if inside:
                raise ReleaseError(f"{where}: nested '{begin}'")
            inside = found = True
            if stub is not None:
                indent = re.match(r"\s*", line).group(0)
                out.extend(indent + s for s in stub.split("\n"))
        elif end in line:
            if not inside:
                raise ReleaseError(f"{where}: '{end}' without '{begin}'")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ReleaseError(f"{where}: '{begin}' without '{end}'")
    return "\n".join(out), found


def is_solution_cell(cell) -> bool:
    return bool(cell.get("metadata", {}).get("nbgrader", {}).get("solution", False))


def student_notebook(nb, name: str = "notebook"):
    """The student version of a reference notebook (a new notebook; `nb` is unchanged)."""
    nb = nbformat.from_dict(nb)  # a deep copy we may edit
    for index, cell in enumerate(nb.cells, start=1):
        where = f"{name}, cell {index}"
        stub = CODE_STUB if cell.cell_type == "code" else TEXT_STUB
        cell.source, replaced = _replace_regions(cell.source, BEGIN_SOLUTION, END_SOLUTION, stub, where)
        if replaced and not is_solution_cell(cell):
            raise ReleaseError(f"{where}: a solution region in a cell without nbgrader "
                               f"'solution: true' metadata")
        if is_solution_cell(cell) and not replaced:
            cell.source = stub
        cell.source, _ = _replace_regions(cell.source, BEGIN_HIDDEN, END_HIDDEN, None, where)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    nb.metadata.pop("celltoolbar", None)
    return nb


def notebook_text(nb) -> str:
    """Canonical serialisation, so a fresh release compares byte for byte."""
    text = nbformat.writes(nb, version=4)
    return text if text.endswith("\n") else text + "\n"


def read_notebook(path: Path):
    try:
        return nbformat.read(path, as_version=4)
    except FileNotFoundError:
        raise CourseError(f"notebook not found: {path}") from None
    except Exception as exc:  # nbformat raises several unrelated types for bad files
        raise CourseError(f"cannot read notebook {path}: {exc.__class__.__name__}: "
                          f"{str(exc).splitlines()[0] if str(exc) else ''}") from None


INSTALL_SOURCE_SHAPE = re.compile(r"^[A-Za-z0-9][\w.+:/@=<>!~,\[\]#%?&-]*$")
# The setup cell's constants the release writes (the solution notebooks carry the same lines).
INSTALL_SOURCE = "STUDENT_PACKAGE_SOURCE"
INSTALL_SOURCE_NOTE = "written by `autograder release` from course.yaml"


def student_package_source(course: Course) -> str:
    """course.yaml's release.student_package, checked: it is written into a code cell."""
    value = course.release.student_package
    if value and not INSTALL_SOURCE_SHAPE.match(value):
        raise ReleaseError(f"course.yaml: release.student_package: must be a URL or a pip requirement "
                           f"without spaces or quotes, got {value!r}")
    return value


def with_install_source(nb, source: str):
    """The course's install source in the setup cell (STUDENT_PACKAGE_SOURCE)."""
    return with_setup_constant(nb, INSTALL_SOURCE, source, INSTALL_SOURCE_NOTE)


def released_text(course: Course, assignment: Assignment) -> str:
    path = course.solution_notebook(assignment)
    nb = student_notebook(read_notebook(path), f"solutions/{assignment.id}/{assignment.notebook}")
    return notebook_text(with_notebook_language(with_install_source(nb, student_package_source(course)), "en"))


def stale_assignments(course: Course) -> list[str]:
    """Ids whose checked-in assignments/ notebook differs from a fresh release."""
    stale = []
    for a in course.assignments:
        target = course.student_notebook(a)
        if not target.is_file() or target.read_text(encoding="utf-8") != released_text(course, a):
            stale.append(a.id)
    return stale


def write_assignments(course: Course) -> list[Path]:
    """Regenerate assignments/<id>/<notebook> for every assignment."""
    written = []
    for a in course.assignments:
        target = course.student_notebook(a)
        target.parent.mkdir(parents=True, exist_ok=True)
        _write_atomic(target, released_text(course, a))
        written.append(target)
    return written


def _write_atomic(path: Path, content: str | bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    if isinstance(content, str):
        tmp.write_text(content, encoding="utf-8")
    else:
        tmp.write_bytes(content)
    tmp.replace(path)
