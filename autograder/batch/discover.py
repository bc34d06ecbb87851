"""Find the students' submissions under a batch folder.

Two layouts are recognised:

* the documented default: ``DIR/<student>/`` (a folder of that student's notebooks and
  .py files) or ``DIR/<student>.ipynb`` / ``DIR/<student>.py`` (one file per student);
* nbgrader's exchange layout: ``submitted/<student>/<assignment>/<notebook>.ipynb``,
  either ``DIR`` being the ``submitted`` folder itself or an nbgrader course folder that
  holds one.

Each submission carries a content hash of the files grading reads, so a resumed batch
regrades exactly the submissions whose files changed.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from autograder.course import UsageError
from autograder.mapping import STUDENT_SUFFIXES, student_files

LAYOUT_DEFAULT, LAYOUT_NBGRADER = "default", "nbgrader"


@dataclass(frozen=True)
class StudentSubmission:
    student: str
    path: Path            # what grading is given: the student's folder or file
    content_hash: str


def _ignored(path: Path) -> bool:
    # Editors, Jupyter and Python leave these next to real work; they are never graded.
    return path.name.startswith((".", "_")) or path.name == "__pycache__"


def content_hash(path: Path) -> str:
    """sha256 over the relative names and bytes of the files grading reads (the same
    walk as grading's own, so any change grading would see makes a regrade)."""
    digest = hashlib.sha256()
    base = path if path.is_dir() else path.parent
    for f in student_files(path):
        name = f.relative_to(base).as_posix().encode()
        data = f.read_bytes()
        digest.update(len(name).to_bytes(8, "big") + name + len(data).to_bytes(8, "big") + data)
    return digest.hexdigest()


def detect_layout(root: Path, assignment_ids: list[str]) -> tuple[str, Path]:
    """The layout of `root` and the folder that holds one entry per student."""
    if (root / "submitted").is_dir() and root.name != "submitted":
        root = root / "submitted"
    known = set(assignment_ids)
    student_dirs = [p for p in root.iterdir() if p.is_dir() and not _ignored(p)]
    nbgrader_like = [d for d in student_dirs
                     if any(c.is_dir() and c.name in known for c in d.iterdir())]
    if root.name == "submitted" or (student_dirs and len(nbgrader_like) == len(student_dirs)):
        return LAYOUT_NBGRADER, root
    return LAYOUT_DEFAULT, root


def discover(root: str | Path, assignment_ids: list[str]) -> tuple[str, list[StudentSubmission]]:
    """(layout, submissions sorted by student id); UsageError on an unusable folder."""
    root = Path(root)
    if not root.exists():
        raise UsageError(f"batch folder {root} does not exist")
    if not root.is_dir():
        raise UsageError(f"batch needs a folder of submissions, {root} is a file")
    layout, folder = detect_layout(root, assignment_ids)
    found: dict[str, Path] = {}
    for entry in sorted(folder.iterdir()):
        if _ignored(entry):
            continue
        if entry.is_dir():
            student = entry.name
        elif entry.is_file() and entry.suffix in STUDENT_SUFFIXES and layout == LAYOUT_DEFAULT:
            student = entry.stem
        else:
            continue
        if student in found:
            raise UsageError(f"student {student!r} has two submissions: "
                             f"{found[student].name} and {entry.name} in {folder}")
        found[student] = entry
    if not found:
        raise UsageError(f"no submissions in {folder} (expected <student>/ folders or "
                         f"<student>.ipynb/.py files, or nbgrader's submitted/<student>/<assignment>/)")
    submissions = [StudentSubmission(s, p, content_hash(p)) for s, p in sorted(found.items())]
    return layout, submissions
