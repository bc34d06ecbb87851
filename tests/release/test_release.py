"""The release: solutions/ -> assignments/ with nbgrader's rules, no drift, no leaks."""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from autograder.release import (ReleaseError, build_bundles, bundle_files, released_text, stale_assignments,
                                student_notebook, with_install_source, with_notebook_language)
from autograder.release.notebooks import CODE_STUB
from leaks import hidden_test_fingerprints, leaked_solution_code, solution_regions

REPO = Path(__file__).resolve().parents[2]


def solution_cell(source, grade_id="ex"):
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["nbgrader"] = {"grade": False, "solution": True, "locked": False,
                                 "grade_id": grade_id, "schema_version": 3}
    return cell


def notebook(*cells):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
    nb.cells = list(cells)
    return nb


def test_region_becomes_the_stub_at_its_indentation():
    cell = solution_cell('def f(x):\n    """Doc."""\n    ### BEGIN SOLUTION\n    return x + 1\n    ### END SOLUTION\n')
    out = student_notebook(notebook(cell)).cells[0].source
    assert out == 'def f(x):\n    """Doc."""\n    # YOUR CODE HERE\n    raise NotImplementedError()\n'


def test_solution_cell_without_region_becomes_the_stub():
    out = student_notebook(notebook(solution_cell("x = 42"))).cells[0].source
    assert out == CODE_STUB


def test_markdown_solution_gets_the_text_stub():
    cell = nbformat.v4.new_markdown_cell("### BEGIN SOLUTION\nThe answer.\n### END SOLUTION")
    cell.metadata["nbgrader"] = {"solution": True, "grade": False, "grade_id": "md", "locked": False}
    assert student_notebook(notebook(cell)).cells[0].source == "YOUR ANSWER HERE"


@pytest.mark.parametrize("source,problem", [
    ("### BEGIN SOLUTION\nx = 1\n", "without 'END SOLUTION'"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", "nested"),
])
def test_malformed_regions_are_errors(source, problem):
    with pytest.raises(ReleaseError, match=problem):
        student_notebook(notebook(solution_cell(source)), "nb")


def test_region_outside_a_solution_cell_is_an_error():
    cell = nbformat.v4.new_code_cell("### BEGIN SOLUTION\nx = 1\n### END SOLUTION")
    with pytest.raises(ReleaseError, match="cell 1: a solution region in a cell without"):
        student_notebook(notebook(cell), "nb")


def test_hidden_test_regions_and_outputs_are_removed():
    cell = nbformat.v4.new_code_cell("assert f(1) == 2\n### BEGIN HIDDEN TESTS\nassert f(5) == 6\n### END HIDDEN TESTS")
    cell.outputs = [nbformat.v4.new_output("stream", text="secret")]
    cell.execution_count = 3
    out = student_notebook(notebook(cell)).cells[0]
    assert out.source == "assert f(1) == 2" and out.outputs == [] and out.execution_count is None


def test_the_source_notebook_is_not_modified():
    nb = notebook(solution_cell("### BEGIN SOLUTION\nx = 1\n### END SOLUTION"))
    student_notebook(nb)
    assert "x = 1" in nb.cells[0].source


def test_matches_nbgrader_clear_solutions():
    """Same rules as nbgrader's own preprocessor, on a notebook exercising all of them."""
    ClearSolutions = pytest.importorskip("nbgrader.preprocessors").ClearSolutions
    nb = notebook(
        solution_cell('def f(x):\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION\n', "a"),
        solution_cell("y = 2", "b"),
        solution_cell("class A:\n    def g(self):\n        ### BEGIN SOLUTION\n        pass\n        ### END SOLUTION", "c"),
        nbformat.v4.new_code_cell("print('example')"),
    )
    ours = student_notebook(nb)
    theirs, _ = ClearSolutions().preprocess(nbformat.from_dict(nb), {})
    assert [c.source for c in ours.cells] == [c.source for c in theirs.cells]


SETUP = ('STUDENT_PACKAGE_SOURCE = "x"  # old note\nNOTEBOOK_LANGUAGE = "fr"\n'
         'check = checker("a", language=NOTEBOOK_LANGUAGE)')


def test_the_release_writes_install_source_and_language_into_the_setup_cell():
    """One helper writes both constants: each line is replaced whole, the rest of the cell kept."""
    nb = notebook(nbformat.v4.new_markdown_cell('NOTEBOOK_LANGUAGE = "md"'), nbformat.v4.new_code_cell(SETUP),
                  nbformat.v4.new_code_cell('NOTEBOOK_LANGUAGE = "second cell"'))
    nb = with_notebook_language(with_install_source(nb, "https://example.org/w.whl"), "vi")
    assert nb.cells[1].source == (
        'STUDENT_PACKAGE_SOURCE = "https://example.org/w.whl"  # written by `autograder release` from course.yaml\n'
        'NOTEBOOK_LANGUAGE = "vi"  # the self-check\'s language, written by `autograder release`\n'
        'check = checker("a", language=NOTEBOOK_LANGUAGE)')
    assert nb.cells[0].source == 'NOTEBOOK_LANGUAGE = "md"' and nb.cells[2].source == 'NOTEBOOK_LANGUAGE = "second cell"'
    assert nb.metadata["autograder"]["language"] == "vi"
    plain = with_notebook_language(notebook(nbformat.v4.new_code_cell("x = 1")), "vi")
    assert plain.cells[0].source == "x = 1", "a notebook without the line is left alone"


def test_the_english_release_says_en(course):
    for a in course.assignments:
        nb = nbformat.reads(released_text(course, a), as_version=4)
        setup = next(c.source for c in nb.cells if c.cell_type == "code" and "checker(" in c.source)
        assert 'NOTEBOOK_LANGUAGE = "en"  # ' in setup and f'checker("{a.id}", language=NOTEBOOK_LANGUAGE)' in setup
        assert nb.metadata["autograder"]["language"] == "en"


def test_checked_in_assignments_match_a_fresh_release(course):
    stale = stale_assignments(course)
    assert stale == [], f"assignments/ drifted from solutions/ for {stale}: run `autograder release`"


# ---- leaks: nothing a student receives may carry solution code or hidden tests ----

def student_files(course) -> dict[str, str]:
    """Everything students receive: assignments/ and every release bundle (zips included)."""
    files = {}
    for path in (REPO / "assignments").rglob("*"):
        if path.is_file():
            files[str(path.relative_to(REPO))] = path.read_text(errors="replace")
    for a in course.assignments:
        for rel, data in bundle_files(course, a).items():
            files[f"bundle/{a.id}/{rel}"] = data.decode(errors="replace")
    return files


def test_no_solution_code_or_hidden_test_reaches_students(course, tmp_path):
    regions = solution_regions(course)
    hidden_names = hidden_test_fingerprints()
    assert sum(map(len, regions)) > 50, "few solution lines found: the leak test would be vacuous"
    assert hidden_names, "no hidden tests found: the leak test would be vacuous"
    leaks = []
    for name, text in student_files(course).items():
        leaks += [f"{name}: solution code {s!r}" for s in leaked_solution_code(regions, name, text)]
        leaks += [f"{name}: hidden test {h}" for h in hidden_names if re.search(rf"\b{h}\b", text)]
        if "tests_hidden" in text:
            leaks.append(f"{name}: mentions tests_hidden")
    assert not leaks, "\n".join(leaks[:20])


def test_bundles_hold_only_the_allow_listed_kit_files(course, tmp_path):
    build_bundles(course, tmp_path)
    for a in course.assignments:
        root = tmp_path / a.id
        kit = sorted(str(p.relative_to(root)) for p in (root / "autograder").rglob("*.py"))
        assert all(not k.startswith("autograder/tests_hidden") for k in kit)
        assert f"autograder/selfcheck/tests/test_{a.id}.py" in kit, "visible tests missing from the bundle"
        others = [k for k in kit if k.startswith("autograder/selfcheck/tests/test_") and a.id not in k]
        assert not others, f"{a.id} bundle carries other assignments' tests: {others}"
        assert (tmp_path / f"{a.id}.zip").is_file() and (root / a.notebook).is_file()


def test_the_leak_scan_catches_a_leak(course):
    """The scan is not vacuous: a solution line pasted into a notebook, or two into a module, is found."""
    regions = [r for r in solution_regions(course) if len(r) >= 2]
    a, b = regions[0][:2]
    assert leaked_solution_code(regions, "x.ipynb", f"# hint\n{a}\n")
    assert leaked_solution_code(regions, "autograder/probes.py", f"def f():\n    {a}\n    {b}\n")
    assert not leaked_solution_code(regions, "autograder/probes.py", f"def f():\n    {a}\n")
