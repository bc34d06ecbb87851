"""docs/SECURITY.md stays true as hidden tests change: its table has one row per hidden
test function of every assignment, and no row names a test that no longer exists."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "SECURITY.md"
HIDDEN = REPO / "autograder" / "tests_hidden"
ASSIGNMENTS = ("01_tensors", "02_numpy_bridge", "03_autograd", "04_lenet", "05_training", "06_cuda")
ROW = re.compile(r"^\|\s*`(test_\w+)`\s*\|(.*)\|\s*$")


def hidden_tests(assignment: str) -> set[str]:
    tree = ast.parse((HIDDEN / f"test_{assignment}.py").read_text(encoding="utf-8"))
    return {node.name for node in tree.body
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")}


def table_rows(assignment: str) -> dict[str, str]:
    """Rows of the assignment's section (from its `### <id>` heading to the next heading):
    test function -> what its verdict rests on."""
    rows, inside = {}, False
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            inside = line.strip() == f"### {assignment}"
            continue
        match = ROW.match(line) if inside else None
        if match:
            rows[match.group(1)] = match.group(2).strip()
    return rows


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_hidden_test_has_a_row(assignment):
    missing = hidden_tests(assignment) - set(table_rows(assignment))
    assert not missing, f"docs/SECURITY.md, section {assignment}: no row for {sorted(missing)}"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_no_row_names_a_test_that_is_gone(assignment):
    stale = set(table_rows(assignment)) - hidden_tests(assignment)
    assert not stale, f"docs/SECURITY.md, section {assignment}: rows for tests that do not exist: {sorted(stale)}"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_row_says_what_the_verdict_rests_on(assignment):
    empty = [name for name, text in table_rows(assignment).items() if len(text) < 10]
    assert not empty, f"docs/SECURITY.md, section {assignment}: rows without an explanation: {empty}"


def test_the_table_parser_reads_rows_and_sections():
    """The checks above would pass vacuously if the parser read nothing."""
    rows = table_rows("01_tensors")
    assert "test_make_empty_shapes" in rows and "test_gray_layers" not in rows
    assert "test_gray_layers" in table_rows("04_lenet")
