"""The reference notebooks in solutions/: nbgrader source format, the exercise contract
of docs/EXERCISES.md, and a clean top-to-bottom run in a real Jupyter kernel.

The static checks guard what the release and the grader rely on: solution regions only in
nbgrader solution cells, the exercise's `def` line and docstring outside the region (so
students see them), unique grade ids, no committed outputs, and graded code limited to
imports plus exercises (everything else is tagged `demo` or `selfcheck`, which grading
skips). The execution tests run every cell, demos included, offline.
"""
from __future__ import annotations

import ast
import builtins
import re
import symtable
import sys
from pathlib import Path

import nbformat
import pytest

from autograder.course import load_course
from kernels import DEFAULT_BUDGET_S, NOTEBOOK_BUDGET_S, outcome_of, run_notebooks, selected_params, stream_text

REPO = Path(__file__).resolve().parents[2]
COURSE = load_course(REPO / "course.yaml", check_notebooks=False)
ASSIGNMENTS = {a.id: a for a in COURSE.assignments}
IDS = list(ASSIGNMENTS)

SOLUTION_META = {"grade": False, "solution": True, "locked": False, "schema_version": 3}
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"


def exercise_names() -> dict[str, list[str]]:
    """Exercise names per assignment, read from the tables of docs/EXERCISES.md."""
    sections: dict[str, list[str]] = {}
    current = None
    for line in (REPO / "docs" / "EXERCISES.md").read_text().splitlines():
        heading = re.match(r"^## (\S+)", line)
        if heading:
            current = heading.group(1)
            sections[current] = []
        row = re.match(r"^\| `(\w+)` \|", line)
        if row and current:
            sections[current].append(row.group(1))
    return sections


EXERCISES = exercise_names()


def load(assignment_id: str):
    path = COURSE.solution_notebook(ASSIGNMENTS[assignment_id])
    assert path.is_file(), f"missing reference notebook {path}"
    return nbformat.read(path, as_version=4)


def tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def nbgrader_meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def is_solution(cell) -> bool:
    return bool(nbgrader_meta(cell).get("solution"))


def top_level_definitions(source: str) -> list[str]:
    return [node.name for node in ast.parse(source).body
            if isinstance(node, (ast.FunctionDef, ast.ClassDef))]


def setup_cells(nb) -> list:
    """Code cells that run at grading besides the exercises."""
    return [c for c in nb.cells if c.cell_type == "code" and not is_solution(c)
            and not {"demo", "selfcheck"} & set(tags(c))]


# ---------------------------------------------------------------- static checks

def test_exercise_contract_lists_every_assignment():
    assert set(IDS) <= set(EXERCISES), f"docs/EXERCISES.md has no table for {set(IDS) - set(EXERCISES)}"
    assert all(EXERCISES[a] for a in IDS), "an assignment in docs/EXERCISES.md lists no exercises"


@pytest.mark.parametrize("assignment_id", IDS)
def test_notebook_metadata(assignment_id):
    nb = load(assignment_id)
    assert nb.metadata["kernelspec"] == {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                         "language": "python"}
    assert nb.metadata["autograder"] == {"assignment": assignment_id}
    nbformat.validate(nb)


@pytest.mark.parametrize("assignment_id", IDS)
def test_no_outputs_are_committed(assignment_id):
    dirty = [i for i, c in enumerate(load(assignment_id).cells, 1)
             if c.cell_type == "code" and (c.outputs or c.execution_count is not None)]
    assert not dirty, f"cells {dirty} carry outputs or execution counts: clear them before committing"


@pytest.mark.parametrize("assignment_id", IDS)
def test_solution_regions_live_in_solution_cells(assignment_id):
    for index, cell in enumerate(load(assignment_id).cells, 1):
        has_region = BEGIN in cell.source
        if has_region or is_solution(cell):
            meta = nbgrader_meta(cell)
            assert cell.cell_type == "code" and has_region, f"cell {index}: solution cell without a region"
            assert {k: meta.get(k) for k in SOLUTION_META} == SOLUTION_META, f"cell {index}: metadata {meta}"
            assert meta.get("grade_id"), f"cell {index}: no grade_id"
            assert cell.source.count(BEGIN) == cell.source.count(END), f"cell {index}: unbalanced region"


@pytest.mark.parametrize("assignment_id", IDS)
def test_grade_ids_are_unique(assignment_id):
    ids = [nbgrader_meta(c)["grade_id"] for c in load(assignment_id).cells if nbgrader_meta(c)]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    assert not duplicates, f"duplicate grade_ids: {duplicates}"


@pytest.mark.parametrize("assignment_id", IDS)
def test_every_contract_exercise_has_one_solution_cell(assignment_id):
    defined: dict[str, int] = {}
    for index, cell in enumerate(load(assignment_id).cells, 1):
        if is_solution(cell):
            names = [n for n in top_level_definitions(cell.source) if n in EXERCISES[assignment_id]]
            assert len(names) == 1, f"cell {index}: one exercise per solution cell, found {names}"
            assert nbgrader_meta(cell)["grade_id"] == names[0], f"cell {index}: grade_id should be {names[0]}"
            defined[names[0]] = index
    missing = [n for n in EXERCISES[assignment_id] if n not in defined]
    assert not missing, f"exercises of docs/EXERCISES.md not defined in a solution cell: {missing}"


@pytest.mark.parametrize("assignment_id", IDS)
def test_students_see_every_signature_and_docstring(assignment_id):
    """The release must leave each exercise's def line and docstring, stubbing only its body."""
    from autograder.release import student_notebook

    student = student_notebook(load(assignment_id), assignment_id)
    seen = {}
    for cell in student.cells:
        if not is_solution(cell):
            continue
        assert "### BEGIN" not in cell.source
        for node in ast.parse(cell.source).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                seen[node.name] = ast.get_docstring(node) or ""
                assert "NotImplementedError" in ast.unparse(node), f"{node.name}: no stub left"
    for name in EXERCISES[assignment_id]:
        assert name in seen, f"{name}: its def/class line is inside the solution region"
        assert len(seen[name]) > 40 and "returns" in seen[name].lower(), \
            f"{name}: the docstring must say what it returns"


@pytest.mark.parametrize("assignment_id", IDS)
def test_exercises_neither_print_nor_read_notebook_globals(assignment_id):
    nb = load(assignment_id)
    imported = set()
    for cell in setup_cells(nb):
        for node in ast.walk(ast.parse(cell.source)):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                imported |= {(a.asname or a.name).split(".")[0] for a in node.names}
    allowed = imported | set(dir(builtins))
    for cell in nb.cells:
        if not is_solution(cell):
            continue
        calls = {n.func.id for n in ast.walk(ast.parse(cell.source))
                 if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
        assert "print" not in calls, f"{top_level_definitions(cell.source)}: exercises must not print"
        stray = _global_names(symtable.symtable(cell.source, "<cell>", "exec")) - allowed
        assert not stray, f"{top_level_definitions(cell.source)} read notebook globals {sorted(stray)}: " \
                          f"pass data as arguments"


def _global_names(table) -> set[str]:
    names = set()
    for child in table.get_children():
        if child.get_type() != "module":
            names |= {s.get_name() for s in child.get_symbols() if s.is_global()}
        names |= _global_names(child)
    return names


@pytest.mark.parametrize("assignment_id", IDS)
def test_graded_code_is_imports_and_exercises_only(assignment_id):
    """Everything else is a demo or a self-check, which grading skips."""
    for cell in setup_cells(load(assignment_id)):
        statements = ast.parse(cell.source).body
        assert all(isinstance(s, (ast.Import, ast.ImportFrom)) for s in statements), \
            f"untagged code cell runs at grading but is not imports only: tag it demo\n{cell.source}"


@pytest.mark.parametrize("assignment_id", IDS)
def test_selfcheck_cells(assignment_id):
    nb = load(assignment_id)
    checks = [c.source.strip() for c in nb.cells if "selfcheck" in tags(c)]
    assert checks, "no cell tagged selfcheck"
    assert f'checker("{assignment_id}", language=NOTEBOOK_LANGUAGE)' in checks[0] \
        and "from autograder.selfcheck import checker" in checks[0]
    assert 'NOTEBOOK_LANGUAGE = "en"  # ' in checks[0], "the English source says its language; releases rewrite it"
    for name in EXERCISES[assignment_id]:
        assert f'check("{name}")' in checks, f"no self-check cell for {name}"
    assert checks[-1] == "check()", "the last self-check cell should run every visible test"
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "hidden tests" in text.lower(), "tell students that hidden tests also run at grading"


@pytest.mark.parametrize("assignment_id", IDS)
def test_demos_are_tagged(assignment_id):
    nb = load(assignment_id)
    assert any("demo" in tags(c) for c in nb.cells), "no cell tagged demo"
    for cell in nb.cells:
        if cell.cell_type == "code":
            calls = [n for n in ast.walk(ast.parse(cell.source)) if isinstance(n, ast.Call)
                     and isinstance(n.func, ast.Attribute) and n.func.attr == "next" and not n.args]
            assert not calls, "use next(iterator): DataLoader iterators have no .next() method"


def test_training_notebook_has_the_required_demos():
    demos = "\n".join(c.source for c in load("05_training").cells if "demo" in tags(c))
    for needle in ("make_grid", "next(iter(", "plt.bar(", "plt.plot(",
                   "train(", "evaluate(", "per_class_accuracy("):
        assert needle in demos, f"05_training demos lack {needle!r}"


def test_training_notebook_runs_the_real_cifar10_pipeline_in_code():
    """The lesson's data pipeline is code that runs, not prose behind a kit helper: the
    torchvision class, the lesson's DataLoader, and the offline set behind the same class."""
    cells = [c.source for c in load("05_training").cells if c.cell_type == "code" and "demo" in tags(c)]
    pipeline = next((c for c in cells if "torchvision.datasets.CIFAR10(" in c), None)
    assert pipeline, "no code cell calls torchvision.datasets.CIFAR10(...)"
    assert "DataLoader(trainset, batch_size=4, shuffle=True, num_workers=2)" in pipeline
    assert "SyntheticCIFAR10(" in pipeline and "demo_loaders(" not in "\n".join(cells)
    from autograder.data import SyntheticCIFAR10
    import torchvision
    assert issubclass(SyntheticCIFAR10, torchvision.datasets.CIFAR10)


@pytest.mark.parametrize("assignment_id", IDS)
def test_demos_run_torch_on_one_thread_and_say_why(assignment_id):
    """On small CPUs torch's default thread pool makes the lesson's loops ~20x slower."""
    cells = load(assignment_id).cells
    index = next((i for i, c in enumerate(cells) if "torch.set_num_threads(1)" in c.source), None)
    assert index is not None, "no cell sets torch to one thread"
    cell = cells[index]
    assert "demo" in tags(cell) and "slower" in cell.source, "tag it demo and say why in one line"
    first_demo = next(i for i, c in enumerate(cells) if "demo" in tags(c))
    assert index == first_demo, "set the threads before the first demo"


@pytest.mark.parametrize("assignment_id", IDS)
def test_first_cell_installs_the_student_package_when_opened_alone(assignment_id):
    setup = next(c.source for c in load(assignment_id).cells if "selfcheck" in tags(c))
    for needle in ("except ModuleNotFoundError", "pytorch_course_selfcheck-*.whl", "pip", "install",
                   "STUDENT_PACKAGE_SOURCE = ", "Colab"):
        assert needle in setup, f"the first cell lacks {needle!r}"


@pytest.mark.parametrize("assignment_id", IDS)
def test_errata_are_flagged(assignment_id):
    """Every assignment whose lesson part has an erratum says so visibly."""
    expected = {"02_numpy_bridge": 1, "03_autograd": 2, "05_training": 3}.get(assignment_id, 0)
    text = "\n".join(c.source for c in load(assignment_id).cells if c.cell_type == "markdown")
    assert text.count("Erratum / what changed") >= expected


# ---------------------------------------------------------------- running them

@pytest.fixture(scope="module")
def kernel_runs(request) -> dict:
    """The selected reference notebooks (run top to bottom) and released notebooks (up to
    their first error), in one pool two at a time, longest first, so neither set waits
    for the other's slowest notebook: {("reference" | "stub", id): (nb, outcome)}."""
    from autograder.release import student_notebook

    jobs = {}
    for assignment_id in selected_params(request, "test_reference_notebook_runs_top_to_bottom"):
        nb = load(assignment_id)
        # Prove the kernel is this environment's Python, not some other python3 on the PATH.
        nb.cells.append(nbformat.v4.new_code_cell("import sys; print(sys.executable)"))
        jobs["reference", assignment_id] = (nb, COURSE.solution_notebook(ASSIGNMENTS[assignment_id]).parent,
                                            NOTEBOOK_BUDGET_S.get(assignment_id, DEFAULT_BUDGET_S), False)
    for assignment_id in selected_params(request, "test_student_notebook_runs_until_its_first_stub"):
        folder = COURSE.student_notebook(ASSIGNMENTS[assignment_id]).parent
        jobs["stub", assignment_id] = (student_notebook(load(assignment_id), assignment_id),
                                       folder if folder.is_dir() else REPO, DEFAULT_BUDGET_S, True)
    jobs = dict(sorted(jobs.items(), key=lambda job: -job[1][2]))  # the longest budget first
    runs = run_notebooks(jobs)
    return {key: (jobs[key][0], runs[key]) for key in jobs}


@pytest.fixture(scope="module")
def reference_runs(kernel_runs) -> dict:
    """{id: (nb, outcome)} of the reference notebooks."""
    return {aid: run for (kind, aid), run in kernel_runs.items() if kind == "reference"}


@pytest.mark.slow
@pytest.mark.parametrize("assignment_id", IDS)
def test_reference_notebook_runs_top_to_bottom(reference_runs, assignment_id):
    nb, outcome = reference_runs[assignment_id]
    outcome_of({assignment_id: outcome}, assignment_id)

    assert Path(stream_text(nb.cells[-1]).strip()).resolve() == Path(sys.executable).resolve()
    for cell in nb.cells:
        if "selfcheck" in tags(cell):
            assert "[FAIL]" not in stream_text(cell) and "[ERROR]" not in stream_text(cell), \
                f"the reference solution fails a visible test:\n{stream_text(cell)}"
    if assignment_id == "05_training":
        figures = [c for c in nb.cells if any("image/png" in o.get("data", {}) for o in c.get("outputs", []))]
        assert len(figures) >= 4, "05 should draw the training grid, loss curve, bar chart and test grid"
    final = [c for c in nb.cells if c.source.strip() == "check()"][0]
    results = [o for o in final.outputs if o.get("output_type") == "execute_result"]
    # A readable summary, never a bare `Out: True` that reads as a pass for a blank notebook.
    summary = results[0]["data"]["text/plain"] if results else ""
    counts = re.fullmatch(rf"self-check of {assignment_id}: (\d+) of (\d+) checks passed", summary)
    assert counts and counts.group(1) == counts.group(2), f"{summary}\n{stream_text(final)}"


@pytest.fixture(scope="module")
def stub_runs(kernel_runs) -> dict:
    """{id: what running the released notebook up to its first error gave}."""
    return {aid: outcome for (kind, aid), (_, outcome) in kernel_runs.items() if kind == "stub"}


@pytest.mark.slow
@pytest.mark.parametrize("assignment_id", IDS)
def test_student_notebook_runs_until_its_first_stub(stub_runs, assignment_id):
    """The released notebook runs cleanly up to the first call of an unsolved exercise."""
    err = outcome_of(stub_runs, assignment_id)
    assert err is not None, "no cell reached a stub: a demo should call at least one exercise"
    assert err.ename == "NotImplementedError", f"first error is not a stub: {err.ename}: {err.evalue}"
