"""`autograder gradescope build`: the Gradescope autograder zip.

Gradescope unpacks the zip into /autograder/source, runs setup.sh once to build its
image, then run_autograder for every submission. The zip holds the kit's package
(hidden tests included: a Gradescope autograder is visible to course staff only),
course.yaml, the calibration file, pyproject.toml and constraints.txt, and never
solutions/ or the kit's own test suite. The zip is reproducible: sorted entries, fixed
timestamps.
"""
from __future__ import annotations

import sys
import zipfile
from pathlib import Path

import autograder
from autograder.course import UsageError

TEMPLATES = ("setup.sh", "run_autograder")
PROJECT_FILES = ("pyproject.toml", "constraints.txt", "README.md")
PACKAGE_SUFFIXES = (".py", ".yaml", ".yml", ".json", ".txt", ".md", ".sh", ".cfg")
# Never shipped, whatever the package folder happens to hold.
FORBIDDEN_PARTS = {"solutions", "__pycache__", ".ipynb_checkpoints"}
EXECUTABLE, REGULAR = 0o100755 << 16, 0o100644 << 16
FIXED_TIME = (2020, 1, 1, 0, 0, 0)


def _templates_folder(course) -> Path:
    for base in (course.root, Path(autograder.__file__).resolve().parent.parent):
        folder = base / "ci" / "gradescope"
        if all((folder / t).is_file() for t in TEMPLATES):
            return folder
    raise UsageError(f"ci/gradescope/setup.sh and run_autograder not found next to {course.root / 'course.yaml'}")


def zip_entries(course, assignment_ids: list[str] | None) -> dict[str, bytes | Path]:
    """Name in the zip -> file on disk (or bytes)."""
    entries: dict[str, bytes | Path] = {}
    templates = _templates_folder(course)
    for name in TEMPLATES:
        entries[name] = templates / name
    for name in PROJECT_FILES:
        path = course.root / name
        if not path.is_file():
            raise UsageError(f"gradescope build needs {path} (installing the kit reads it)")
        entries[name] = path
    course_file = course.root / "course.yaml"
    entries["course.yaml"] = course_file
    calibration = course.resolve(course.accuracy.calibration)
    if calibration.is_file():
        try:
            entries[calibration.resolve().relative_to(course.root).as_posix()] = calibration
        except ValueError:
            raise UsageError(f"accuracy.calibration {calibration} is outside the course folder; "
                             f"move it under {course.root} so the zip can carry it") from None
    package = Path(autograder.__file__).resolve().parent
    for path in sorted(package.rglob("*")):
        rel = path.relative_to(package.parent)
        if path.is_file() and path.suffix in PACKAGE_SUFFIXES and not FORBIDDEN_PARTS & set(rel.parts):
            entries[rel.as_posix()] = path
    if assignment_ids:
        entries["assignments.txt"] = ("\n".join(assignment_ids) + "\n").encode()
    return entries


def build_zip(course, output: Path, assignment_ids: list[str] | None = None) -> list[str]:
    for aid in assignment_ids or []:
        course.assignment(aid)
    entries = zip_entries(course, assignment_ids)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f".{output.name}.tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(entries):
            source = entries[name]
            data = source if isinstance(source, bytes) else source.read_bytes()
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            info.external_attr = EXECUTABLE if name in TEMPLATES else REGULAR
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    tmp.replace(output)
    return sorted(entries)


def run_build(args, course) -> int:
    output = Path(args.output)
    names = build_zip(course, output, args.assignment)
    hidden = sum(1 for n in names if n.startswith("autograder/tests_hidden/"))
    print(f"gradescope: wrote {output} ({len(names)} files, {hidden} hidden-test files; "
          f"upload it as the assignment's autograder)", file=sys.stderr)
    return 0
