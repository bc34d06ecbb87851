"""`autograder release`: solutions/ -> assignments/ and the student bundles.

- notebooks.py: a reference notebook -> the student notebook (solutions cleared);
- bundles.py: the bundle per assignment and the allow-list of what students receive;
- wheel.py: the student package (self-check and demo data) as a wheel;
- translated.py: the same release in another language (`--language vi`).
"""
from __future__ import annotations

from pathlib import Path

from autograder.course import Course
from autograder.release.bundles import (STUDENT_MODULES, STUDENT_REQUIREMENTS, build_bundles, bundle_files,
                                        student_package_files, student_readme, student_wheel_bytes,
                                        visible_test_paths)
from autograder.release.notebooks import (ReleaseError, notebook_text, read_notebook, released_text,
                                          stale_assignments, student_notebook, student_package_source,
                                          with_install_source, with_notebook_language, write_assignments)

__all__ = ["STUDENT_MODULES", "STUDENT_REQUIREMENTS", "ReleaseError", "build_bundles", "bundle_files",
           "notebook_text", "read_notebook", "released_text", "run_release", "stale_assignments",
           "student_notebook", "student_package_files", "student_package_source", "student_readme",
           "student_wheel_bytes", "visible_test_paths", "with_install_source", "with_notebook_language",
           "write_assignments"]


def run_release(args, course: Course) -> int:
    language = getattr(args, "language", None) or course.language
    if language != "en":  # assignments/ stays English; the translation goes to build/release-<lang>
        from autograder.release.translated import run_localized_release
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
