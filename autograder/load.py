"""Student code out of a submission file, with a map back to notebook cells.

A notebook gives one `CodeCell` per code cell that should run at grading: cells tagged
`demo` (training runs, plots) or `selfcheck` (the students' `check(...)` calls) are
skipped, and so are nbgrader test cells (`grade: true` without `solution: true`: the
instructor's asserts, not the student's code), and IPython-only lines (magics, shell escapes, `obj?` help) because they
are not Python and only work inside Jupyter. A dropped line becomes a blank line, so the
line numbers in a student's traceback still match what they see in their notebook. A
.py file is one cell.
"""
from __future__ import annotations

import json

import re
from dataclasses import dataclass, field
from pathlib import Path

from autograder.localize import N_

SKIPPED_TAGS = frozenset({"demo", "selfcheck"})

# `%time x`, `%%capture`, `!pip install`, `files = !ls`, `x = %pwd`, `obj?`, `??obj`.
_LINE_MAGIC = re.compile(r"^\s*%{1,2}[A-Za-z_]")
_SHELL_ESCAPE = re.compile(r"^\s*!(?!=)")
_ASSIGNED_ESCAPE = re.compile(r"^\s*[A-Za-z_][\w.]*(\s*,\s*[A-Za-z_][\w.]*)*\s*=\s*[!%](?!=)")
_HELP = re.compile(r"^\s*(\?{1,2}[A-Za-z_][\w.]*|[A-Za-z_][\w.]*(\(\))?\?{1,2})\s*$")


def cell_label(index: int) -> str:
    """How feedback names a notebook cell ("cell 4"): tracebacks, load errors, hints."""
    return N_(f"cell {index}")


def where_in_notebook(cell: int | None, line: int | None) -> str:
    """"cell 4, line 2" (either part may be unknown; "" when both are)."""
    if cell is not None and line is not None:
        return N_(f"cell {cell}, line {line}")
    if cell is not None:
        return cell_label(cell)
    return N_(f"line {line}") if line is not None else ""


class LoadError(Exception):
    """The submission file cannot be read; the message is one line."""


@dataclass(frozen=True)
class CodeCell:
    index: int      # 1-based position among ALL cells of the notebook (1 for a .py file)
    source: str

    @property
    def label(self) -> str:
        return cell_label(self.index)


@dataclass(frozen=True)
class LoadIssue:
    """A cell that raised while the sandbox loaded it (loading went on with the next)."""

    cell: int
    line: int | None
    message: str
    traceback: str = ""
    kind: str = "error"

    def __str__(self) -> str:
        return f"{where_in_notebook(self.cell, self.line)}: {self.message}"


@dataclass
class StudentCode:
    path: Path
    cells: list[CodeCell] = field(default_factory=list)
    assignment_hint: str | None = None

    @property
    def is_notebook(self) -> bool:
        return self.path.suffix == ".ipynb"

    @property
    def source(self) -> str:
        """All cells as one runnable script (for the in-process backend)."""
        return "\n\n".join(cell.source for cell in self.cells) + "\n"

    def label(self, cell_index: int) -> str:
        """How a traceback names the cell: "cell 4" in a notebook, the file name for a .py."""
        return cell_label(cell_index) if self.is_notebook else self.path.name

    @classmethod
    def from_source(cls, source: str, path: str | Path = "submission.py") -> "StudentCode":
        return cls(Path(path), [CodeCell(1, source)])

    @classmethod
    def from_cells(cls, sources: list[str], path: str | Path = "submission.ipynb") -> "StudentCode":
        """A notebook-like submission whose cell N is sources[N-1] (tests and tools)."""
        return cls(Path(path), [CodeCell(i, s) for i, s in enumerate(sources, 1) if s.strip()])


def load_code(path: str | Path) -> StudentCode:
    path = Path(path)
    if not path.is_file():
        raise LoadError(N_(f"cannot read {path}: no such file"))
    if path.suffix == ".py":
        try:
            return StudentCode(path, [CodeCell(1, path.read_text(encoding="utf-8"))])
        except (OSError, UnicodeDecodeError) as exc:
            problem = _one_line(exc)
            raise LoadError(N_(f"cannot read {path}: {problem}")) from None
    if path.suffix != ".ipynb":
        raise LoadError(N_(f"cannot read {path}: expected a .ipynb notebook or a .py file"))
    return _load_notebook(path)


def _notebook_json(path: Path) -> tuple[list, dict]:
    """The cells and metadata of a notebook. A notebook is a JSON file, and format 4 (every
    Jupyter since 2015) is read as it is: nbformat, whose schema validator imports
    jsonschema (1.5-2 s, paid by every batch worker before its first student), is only
    asked to convert older formats."""
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    if isinstance(data, dict) and data.get("nbformat") == 4:
        cells, metadata = data.get("cells"), data.get("metadata") or {}
        if not isinstance(cells, list) or not isinstance(metadata, dict):
            raise ValueError(N_("its 'cells' is not a list of cells") if not isinstance(cells, list)
                             else N_("its 'metadata' is not a mapping"))
        return cells, metadata
    import nbformat  # older formats only
    notebook = nbformat.read(str(path), as_version=4)
    return list(notebook.cells), dict(notebook.get("metadata") or {})


def _load_notebook(path: Path) -> StudentCode:
    try:
        raw_cells, metadata = _notebook_json(path)
    except Exception as exc:  # json and nbformat raise many types for a corrupt file
        problem = _one_line(exc)
        raise LoadError(N_(f"cannot read notebook {path}: {problem}")) from None
    cells = []
    for index, cell in enumerate(raw_cells, 1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        cell_metadata = cell.get("metadata")
        tags = (cell_metadata.get("tags") if isinstance(cell_metadata, dict) else None) or []
        if SKIPPED_TAGS.intersection(tags if isinstance(tags, list) else []):
            continue
        if is_nbgrader_test_cell(cell):
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        source = strip_ipython(source)
        if source.strip():
            cells.append(CodeCell(index, source))
    hint = (metadata.get("autograder") or {}).get("assignment") if isinstance(
        metadata.get("autograder"), dict) else None
    return StudentCode(path, cells, hint if isinstance(hint, str) and hint else None)


def is_nbgrader_test_cell(cell: dict) -> bool:
    """An nbgrader autograder-test cell: graded, not a solution, so written by the
    instructor. Running it as student code would turn every unsolved exercise's asserts
    into a load error instead of the hidden tests' own verdicts."""
    nbgrader = (cell.get("metadata") or {}).get("nbgrader")
    return isinstance(nbgrader, dict) and bool(nbgrader.get("grade")) and not nbgrader.get("solution")


def strip_ipython(source: str) -> str:
    """The cell without IPython-only syntax; a `%%` cell magic drops the whole cell."""
    lines = source.split("\n")
    first = next((line for line in lines if line.strip()), "")
    if first.lstrip().startswith("%%"):
        return ""
    kept = []
    continued = False  # a line after a backslash continuation is never a magic
    for line in lines:
        ipython_only = not continued and bool(
            _LINE_MAGIC.match(line) or _SHELL_ESCAPE.match(line)
            or _ASSIGNED_ESCAPE.match(line) or _HELP.match(line))
        kept.append("" if ipython_only else line)
        continued = line.rstrip().endswith("\\")
    return "\n".join(kept)


def _one_line(exc: BaseException) -> str:
    """The exception's first line, named by its type: its words are Python's or a
    library's, quoted as they are in every language."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
