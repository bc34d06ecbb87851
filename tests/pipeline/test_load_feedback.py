"""Load-time feedback (issue 13.4): a graded cell that builds demo data, and top-level code
that never finishes, each get one message naming the cell and what to do."""
from __future__ import annotations

import dataclasses

import nbformat
import pytest

from autograder.course import load_course
from autograder.grading import grade_path
from autograder.load_feedback import explain_load_error, explain_load_timeout

EXERCISE = "import torch\n\ndef tracked_ones(rows, cols):\n    return torch.ones(rows, cols, requires_grad=True)\n"


def test_demo_data_import_is_explained_with_the_tag_to_use():
    message = explain_load_error("ImportError: the autograder package cannot be imported by the submission",
                                 "cell 7, line 1", "from autograder.data import demo_loaders")
    assert message.startswith("demo data is not available at grading: cell 7, line 1 loads it")
    assert "tag the cell `demo`" in message


def test_a_permission_error_on_the_data_module_is_explained():
    message = explain_load_error("PermissionError: [Errno 13] Permission denied: '/kit/autograder/data.py'",
                                 "cell 3, line 2")
    assert message is not None and "demo data is not available at grading" in message


def test_other_load_errors_keep_their_own_words():
    assert explain_load_error("ImportError: No module named 'sklearn'", "cell 2, line 1", "import sklearn") is None
    assert explain_load_error("NameError: name 'x' is not defined", "cell 2, line 1", "demo_loaders(x)") is None


def test_a_load_timeout_names_where_the_code_was_stopped():
    note = explain_load_timeout("the submission's time limit of 8 s is used up (stopped in cell 5, line 3, in <module>)")
    assert note.startswith("your code did not finish loading: cell 5, line 3 was still running")
    assert "tag the cell `demo`" in note
    assert "a cell that runs at grading" in explain_load_timeout("time limit used up")


def notebook(tmp_path, *cells):
    nb = nbformat.v4.new_notebook()
    nb.metadata["autograder"] = {"assignment": "03_autograd"}
    nb.cells = [nbformat.v4.new_markdown_cell("# 03"), *(nbformat.v4.new_code_cell(c) for c in cells)]
    path = tmp_path / "03_autograd.ipynb"
    nbformat.write(nb, str(path))
    return path


@pytest.fixture(scope="module")
def quick_course():
    course = load_course(check_notebooks=False)
    return dataclasses.replace(course, limits=dataclasses.replace(course.limits, submission_timeout_s=10,
                                                                  test_timeout_s=5))


def test_graded_demo_data_cell_gets_the_demo_tag_message(tmp_path, quick_course):
    path = notebook(tmp_path, EXERCISE, "from autograder.data import demo_loaders\nloaders = demo_loaders(limit=8)")
    result = grade_path(str(path), quick_course).assignments[0]
    messages = [e.message for e in result.load_errors]
    assert any(m.startswith("demo data is not available at grading: cell 3, line 1") for m in messages), messages
    assert not any("PermissionError" in m or "autograder/data.py" in m for m in messages)


def test_a_top_level_infinite_loop_names_its_cell_and_line(tmp_path, quick_course):
    path = notebook(tmp_path, EXERCISE, "step = 0\nwhile True:\n    step += 1")
    result = grade_path(str(path), quick_course).assignments[0]
    assert result.status == "timeout"
    assert any(n.startswith("your code did not finish loading: cell 3, line") for n in result.notes), result.notes
