"""solutions/ -> assignments/ and the student bundles.

The reference notebooks in solutions/ are the single source. Releasing one:
1. clears solution regions with nbgrader's ClearSolutions rules (a `### BEGIN SOLUTION`
   ... `### END SOLUTION` region becomes the stub at the region's indentation; a solution
   cell without a region becomes the stub entirely; a region outside a solution cell is
   an error), drops `### BEGIN HIDDEN TESTS` regions and clears outputs;
2. writes the student notebook to assignments/<id>/ (checked in, so a test can prove it
   has not drifted from solutions/);
3. builds a bundle per assignment (build/release/<id>/ and a zip): the notebook plus the
   few kit modules the self-check needs and that assignment's visible tests, and the
   student package (a wheel of the same modules, student_wheel.py) for a notebook opened
   alone, e.g. on Colab. Nothing else from the package is copied: the allow-list below is
   the whole student surface.
"""
from __future__ import annotations

import io
import json
import re
import shutil
import zipfile
from pathlib import Path

import nbformat

from autograder import i18n_feedback, student_wheel
from autograder.course import Assignment, Course, CourseError

PACKAGE_DIR = Path(__file__).resolve().parent
CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
TEXT_STUB = "YOUR ANSWER HERE"
BEGIN_SOLUTION, END_SOLUTION = "BEGIN SOLUTION", "END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"

# The kit modules a student's self-check imports (relative to the package folder).
# Keep this list short and secret-free: a test scans every bundle for hidden tests and
# solution code, and the sandbox's file rules mirror it.
STUDENT_MODULES = (
    "__init__.py",
    "localize.py",
    "submission.py",
    "expect.py",
    "probes.py",
    "data.py",
    "plugin.py",
    "selfcheck/__init__.py",
    "selfcheck/runner.py",
)
STUDENT_README = """\
# {title}

## On your computer
1. Install the course requirements once: `pip install -r requirements.txt`
   (or use the environment your course provides).
2. Open `{notebook}` in Jupyter **from this folder**, read each section and complete the
   functions marked `# YOUR CODE HERE`.
3. Run the `check(...)` cells: they run the visible self-check tests on your code.
   Hidden tests also run when your work is graded, so a green self-check is a good sign,
   not the final grade. From a terminal: `autograder check {notebook}` where the course
   kit is installed.

## On Google Colab (or with the notebook in any other folder)
The notebook's first code cell needs the course's student package (the self-check and
the demo data), `{wheel}`, which is in this folder:
1. Upload `{notebook}` to Colab (File > Upload notebook).
2. Upload `{wheel}` with the Files panel (the folder icon on the left), next to the notebook.
3. Run the first code cell: it installs the package with pip and says what to do if it
   cannot (offline, or the .whl missing).{online}
"""
STUDENT_REQUIREMENTS = "torch>=2.3\ntorchvision>=0.18\nnumpy>=1.24\npytest>=7.4\nmatplotlib>=3.7\ntqdm>=4.65\n"


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
NOTEBOOK_LANGUAGE = "NOTEBOOK_LANGUAGE"
NOTEBOOK_LANGUAGE_NOTE = "the self-check's language, written by `autograder release`"


def student_package_source(course: Course) -> str:
    """course.yaml's release.student_package, checked: it is written into a code cell."""
    value = course.release.student_package
    if value and not INSTALL_SOURCE_SHAPE.match(value):
        raise ReleaseError(f"course.yaml: release.student_package: must be a URL or a pip requirement "
                           f"without spaces or quotes, got {value!r}")
    return value


def with_setup_constant(nb, name: str, value: str, note: str):
    """Write `name = "value"  # note` over the `name = ...` line of the first code cell that
    has one (the setup cell); a notebook without that line is returned as it was."""
    line = re.compile(rf"^{re.escape(name)} = .*$", re.MULTILINE)
    for cell in nb.cells:
        if cell.cell_type == "code" and line.search(cell.source):
            cell.source = line.sub(lambda m: f"{name} = {json.dumps(value)}  # {note}", cell.source, count=1)
            break
    return nb


def with_install_source(nb, source: str):
    """The course's install source in the setup cell (STUDENT_PACKAGE_SOURCE)."""
    return with_setup_constant(nb, INSTALL_SOURCE, source, INSTALL_SOURCE_NOTE)


def with_notebook_language(nb, language: str):
    """The notebook's language in the setup cell (NOTEBOOK_LANGUAGE, which it passes to
    `checker`) and in its metadata; "en" for assignments/, the translation's otherwise."""
    nb.metadata["autograder"] = {**nb.metadata.get("autograder", {}), "language": language}
    return with_setup_constant(nb, NOTEBOOK_LANGUAGE, language, NOTEBOOK_LANGUAGE_NOTE)


def released_text(course: Course, assignment: Assignment) -> str:
    path = course.solution_notebook(assignment)
    nb = student_notebook(read_notebook(path), f"solutions/{assignment.id}/{assignment.notebook}")
    return notebook_text(with_notebook_language(with_install_source(nb, student_package_source(course)), "en"))


def student_package_files(tests: list[str]) -> dict[str, bytes]:
    """The `autograder/...` files a student receives, in a bundle or in the wheel: the
    student modules, the visible tests `tests` and the feedback catalogs compiled for
    exactly those files (locale/<language>.json: a self-check in the notebook's language,
    with no entry that only a hidden test uses)."""
    files = student_wheel.package_files(STUDENT_MODULES, tests, PACKAGE_DIR)
    for rel, data in i18n_feedback.compiled_student_catalogs([*STUDENT_MODULES, *tests]).items():
        files[f"autograder/{rel}"] = data
    return files


def student_wheel_bytes(course: Course) -> bytes:
    """The student package (see student_wheel.py): every assignment's visible tests."""
    tests = [rel for a in course.assignments for rel in visible_test_paths(a.id)]
    return student_wheel.build_wheel(student_package_files(tests))


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


def bundle_files(course: Course, assignment: Assignment) -> dict[str, bytes]:
    """Every file a student receives for one assignment: relative path -> content."""
    files = {
        assignment.notebook: released_text(course, assignment).encode(),
        "README.md": student_readme(course, assignment).encode(),
        student_wheel.wheel_name(): student_wheel_bytes(course),
        "requirements.txt": STUDENT_REQUIREMENTS.encode(),
    }
    files.update(student_package_files(visible_test_paths(assignment.id)))
    return files


def student_readme(course: Course, assignment: Assignment) -> str:
    source = student_package_source(course)
    online = (f"\n   Without the .whl it installs from `{source}` (needs internet)." if source else "")
    return STUDENT_README.format(title=assignment.title or assignment.id, notebook=assignment.notebook,
                                 wheel=student_wheel.wheel_name(), online=online)


def visible_test_paths(assignment_id: str) -> list[str]:
    """The assignment's visible test files (scored and self-check-only), relative to the
    package folder; empty when it has none."""
    found = [rel for rel in (f"selfcheck/tests/test_{assignment_id}.py",
                             f"selfcheck/tests/unscored/test_{assignment_id}.py")
             if (PACKAGE_DIR / rel).is_file()]
    return found


def build_bundles(course: Course, out: Path, files_of=bundle_files) -> list[Path]:
    """build/release/<id>/ folders and <id>.zip files, one per assignment (`files_of`:
    another language's bundle contents, see i18n_release.py)."""
    out.mkdir(parents=True, exist_ok=True)
    zips = []
    for a in course.assignments:
        files = files_of(course, a)
        folder = out / a.id
        if folder.exists():
            shutil.rmtree(folder)
        for rel, data in files.items():
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_bytes(data)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
            for rel in sorted(files):
                info = zipfile.ZipInfo(f"{a.id}/{rel}", date_time=(2020, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, files[rel])
        zip_path = out / f"{a.id}.zip"
        _write_atomic(zip_path, buffer.getvalue())
        zips.append(zip_path)
    # The wheel on its own too, for instructors who publish it (release.student_package).
    wheel = out / student_wheel.wheel_name()
    _write_atomic(wheel, student_wheel_bytes(course))
    return [*zips, wheel]


def _write_atomic(path: Path, content: str | bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    if isinstance(content, str):
        tmp.write_text(content, encoding="utf-8")
    else:
        tmp.write_bytes(content)
    tmp.replace(path)


def run_release(args, course: Course) -> int:
    language = getattr(args, "language", None) or course.language
    if language != "en":  # assignments/ stays English; the translation goes to build/release-<lang>
        from autograder.i18n_release import run_localized_release
        return run_localized_release(args, course, language)
    if args.check:
        stale = stale_assignments(course)
        if stale:
            print("assignments/ is out of date for: " + ", ".join(stale) + " (run `autograder release`)")
            return 1
        print("assignments/ matches solutions/")
        return 0
    for path in write_assignments(course):
        print(f"wrote {path.relative_to(course.root)}")
    out = Path(args.out) if args.out else course.root / "build" / "release"
    for path in build_bundles(course, out):
        print(f"wrote {path}")
    return 0
