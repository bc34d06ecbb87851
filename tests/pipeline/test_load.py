"""load_code: notebook cells to run at grading, with their notebook cell numbers."""
from __future__ import annotations

import json

import nbformat
import pytest

from autograder.load import LoadError, load_code, strip_ipython


def write_notebook(path, cells, metadata=None, minor=5):
    nb = nbformat.v4.new_notebook()
    nb.nbformat_minor = minor
    nb.metadata.update(metadata or {})
    for kind, source, tags in cells:
        cell = nbformat.v4.new_code_cell(source) if kind == "code" else nbformat.v4.new_markdown_cell(source)
        if tags:
            cell.metadata["tags"] = tags
        nb.cells.append(cell)
    nbformat.write(nb, str(path))
    return path


def test_cells_are_numbered_among_all_cells_and_tagged_cells_are_skipped(tmp_path):
    path = write_notebook(tmp_path / "03_autograd.ipynb", [
        ("markdown", "# Title", None),
        ("code", "import torch", None),
        ("code", "train_for_an_hour()", ["demo"]),
        ("code", "check('q1')", ["selfcheck", "other"]),
        ("code", "   \n", None),
        ("code", "def f(x):\n    return x * 2", None),
    ], metadata={"autograder": {"assignment": "03_autograd"}})
    code = load_code(path)
    assert [(c.index, c.source) for c in code.cells] == [(2, "import torch"), (6, "def f(x):\n    return x * 2")]
    assert code.assignment_hint == "03_autograd"
    assert code.is_notebook and code.label(6) == "cell 6"
    assert "def f(x)" in code.source and "train_for_an_hour" not in code.source


def test_magics_shell_escapes_and_help_become_blank_lines():
    source = "%matplotlib inline\nx = 1\n!pip install torch\nfiles = !ls\ny = %pwd\nx?\n??len\nz = x != 2\nw = (3\n  % 2)"
    stripped = strip_ipython(source).split("\n")
    assert stripped == ["", "x = 1", "", "", "", "", "", "z = x != 2", "w = (3", "  % 2)"]
    assert strip_ipython("%%time\nx = 1\n") == ""
    assert strip_ipython("\n%%capture\nx = 1") == ""
    assert strip_ipython("a = 5 \\\n% 3") == "a = 5 \\\n% 3"  # a continuation line is Python


def test_line_numbers_survive_stripping(tmp_path):
    path = write_notebook(tmp_path / "nb.ipynb", [("code", "%load_ext autoreload\nimport math\nx = 1/0", None)])
    (cell,) = load_code(path).cells
    assert cell.source.split("\n")[2] == "x = 1/0"


def test_py_file_is_one_cell(tmp_path):
    path = tmp_path / "lenet.py"
    path.write_text("import torch\n%not_stripped\n")
    code = load_code(path)
    assert [(c.index, c.source) for c in code.cells] == [(1, "import torch\n%not_stripped\n")]
    assert code.assignment_hint is None and code.label(1) == "lenet.py"


def test_older_v4_minor_versions_load(tmp_path):
    path = write_notebook(tmp_path / "old.ipynb", [("code", "a = 1", None)], minor=0)
    assert load_code(path).cells[0].source == "a = 1"


@pytest.mark.parametrize("content, reason", [
    ("{not json", "cannot read notebook"),
    (json.dumps({"cells": "nope"}), "cannot read notebook"),
    ("", "cannot read notebook"),
])
def test_corrupt_notebook_is_a_one_line_load_error(tmp_path, content, reason):
    path = tmp_path / "broken.ipynb"
    path.write_text(content)
    with pytest.raises(LoadError, match=reason) as info:
        load_code(path)
    assert "\n" not in str(info.value) and "broken.ipynb" in str(info.value)


def test_missing_and_unsupported_files(tmp_path):
    with pytest.raises(LoadError, match="no such file"):
        load_code(tmp_path / "absent.ipynb")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(LoadError, match="expected a .ipynb notebook or a .py file"):
        load_code(tmp_path / "notes.txt")


def test_nbgrader_test_cells_are_the_instructors_and_are_skipped(tmp_path):
    # A plain nbgrader notebook: a solution cell, then the instructor's assert cell
    # (grade without solution), then a cell that is both (a graded answer cell).
    nb = nbformat.v4.new_notebook()
    cells = [("def f(x):\n    raise NotImplementedError()", {"solution": True, "grade": False, "grade_id": "f"}),
             ("assert f(2) == 4", {"solution": False, "grade": True, "grade_id": "test_f", "points": 1}),
             ("answer = 42", {"solution": True, "grade": True, "grade_id": "answer", "points": 1}),
             ("x = 1", None)]
    for source, meta in cells:
        cell = nbformat.v4.new_code_cell(source)
        if meta:
            cell.metadata["nbgrader"] = meta
        nb.cells.append(cell)
    nbformat.write(nb, str(tmp_path / "plain.ipynb"))
    code = load_code(tmp_path / "plain.ipynb")
    assert [c.index for c in code.cells] == [1, 3, 4]
    assert "assert f(2)" not in code.source
