"""The student bundles: one folder and zip per assignment (build/release/<id>/), holding
the student notebook, the few kit modules the self-check needs, that assignment's
visible tests, the compiled feedback catalogs and the student package (wheel.py: a wheel
of the same modules) for a notebook opened alone, e.g. on Colab. Nothing else from the
package is copied: STUDENT_MODULES is the whole student surface.
"""
from __future__ import annotations

import io
import shutil
import zipfile
from pathlib import Path

from autograder.course import Assignment, Course
from autograder.i18n import feedback as i18n_feedback
from autograder.release import wheel as student_wheel
from autograder.release.notebooks import _write_atomic, released_text, student_package_source

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # the autograder package

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
    """The student package (see wheel.py): every assignment's visible tests."""
    tests = [rel for a in course.assignments for rel in visible_test_paths(a.id)]
    return student_wheel.build_wheel(student_package_files(tests))


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
    another language's bundle contents, see translated.py)."""
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
