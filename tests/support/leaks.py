"""What a leak of solution code or hidden tests looks like: the release tests and the
translated release's tests scan everything students receive with these."""
from __future__ import annotations

import ast
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[2]


def solution_regions(course) -> list[list[str]]:
    """The substantial lines (stripped, not comments) of every solution region, less the
    lines the reference notebooks also show outside their regions: those are taught in
    the open (`with torch.no_grad():` in an example) and are no secret."""
    regions, public = [], set()
    for a in course.assignments:
        nb = nbformat.read(course.solution_notebook(a), as_version=4)
        for cell in nb.cells:
            inside = False
            for line in cell.source.split("\n"):
                if "BEGIN SOLUTION" in line:
                    inside = True
                    regions.append([])
                elif "END SOLUTION" in line:
                    inside = False
                elif inside and len(line.strip()) >= 20 and not line.strip().startswith("#"):
                    regions[-1].append(line.strip())
                elif not inside:
                    public.add(line.strip())
    return [[line for line in region if line not in public] for region in regions]


def leaked_solution_code(regions, name: str, text: str) -> list[str]:
    """In a notebook any solution line is a leak. Kit modules legitimately share short
    idioms with solutions (`device = torch.device(device)`), so there it takes two
    consecutive solution lines appearing together."""
    if name.endswith(".ipynb"):
        return [line for region in regions for line in region if line in text]
    stripped = "\n".join(line.strip() for line in text.splitlines())
    return [f"{a} / {b}" for region in regions for a, b in zip(region, region[1:]) if f"{a}\n{b}" in stripped]


def hidden_test_fingerprints() -> set[str]:
    """Names of hidden test functions and the hidden test files' distinctive lines."""
    marks = set()
    for path in (REPO / "autograder" / "tests_hidden").glob("*.py"):
        tree = ast.parse(path.read_text())
        marks |= {node.name for node in ast.walk(tree)
                  if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")}
    return marks
