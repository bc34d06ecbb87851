"""The package's folders are its architecture (docs/INTERNALS.md, issue 24): the grading
pipeline at the top level, one subpackage per feature. Read from the source (every import,
those inside functions too), not from what happens to be loaded."""
from __future__ import annotations

import ast
import importlib
import warnings
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "autograder"
FEATURES = ("accuracy", "i18n", "release", "nbgrader", "batch", "similarity", "gradescope")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """The autograder modules a file imports (a `from autograder.x import y` of a submodule
    y counts as autograder.x.y)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "autograder"}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "autograder":
            found.add(node.module)
            for a in node.names:
                if (PACKAGE.parent / (node.module.replace(".", "/") + f"/{a.name}.py")).is_file() or \
                        (PACKAGE.parent / node.module.replace(".", "/") / a.name / "__init__.py").is_file():
                    found.add(f"{node.module}.{a.name}")
    return found


def unit(module: str) -> str:
    """What a dependency is counted against: a subpackage as a whole, a top-level module alone."""
    parts = module.split(".")
    if len(parts) == 1:
        return "autograder"
    return parts[1] if (PACKAGE / parts[1]).is_dir() else ".".join(parts[:2])


GRAPH = {module_name(p): imports_of(p) for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts}


def test_the_package_root_holds_the_pipeline_and_one_folder_per_feature():
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").is_file()}
    assert set(FEATURES) <= folders
    loose = {p.stem for p in PACKAGE.glob("*.py")}
    for prefix in ("nbgrader_", "i18n_", "similarity_"):
        assert not [m for m in loose if m.startswith(prefix)], f"{prefix}* modules belong in their subpackage"
    assert len(loose) <= 16, sorted(loose)


def test_the_test_suite_follows_the_same_layout():
    """One test folder per feature subpackage, the pipeline's tests in their own folders,
    shared helpers in tests/support (on pytest's pythonpath), no test file left loose."""
    tests = Path(__file__).resolve().parent
    folders = {p.name for p in tests.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert set(FEATURES) <= folders, f"no test folder for {set(FEATURES) - folders}"
    assert {"pipeline", "sandbox", "support"} <= folders
    loose = sorted(p.name for p in tests.glob("test_*.py") if p.name != Path(__file__).name)
    assert not loose, f"put {loose} in the folder of what they test"
    assert not list((tests / "support").glob("test_*.py")), "tests/support holds helpers, not tests"


def test_nothing_imports_the_cli():
    users = sorted(m for m, deps in GRAPH.items() if "autograder.cli" in deps and m != "autograder.__main__")
    assert not users, f"the CLI is the top: {users} import it (raise course.UsageError instead)"


def test_the_pipeline_imports_no_feature():
    """The top-level modules (the pipeline) never import a feature package; the hidden
    tests may use the accuracy check, which is part of what they grade."""
    upward = []
    for module, deps in GRAPH.items():
        if unit(module) in FEATURES or module.startswith("autograder.cli") or module == "autograder.__main__":
            continue
        for dep in deps:
            allowed = module.startswith("autograder.tests_hidden") and unit(dep) == "accuracy"
            if unit(dep) in FEATURES and not allowed:
                upward.append(f"{module} -> {dep}")
    assert not upward, upward


def test_no_import_circles_between_units():
    """Subpackages as wholes and top-level modules alone: the dependency graph is a DAG."""
    edges: dict[str, set[str]] = {}
    for module, deps in GRAPH.items():
        source = unit(module)
        edges.setdefault(source, set()).update(unit(d) for d in deps if unit(d) not in (source, "autograder"))
    state: dict[str, int] = {}
    cycle: list[str] = []

    def visit(node: str, path: list[str]) -> bool:
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                cycle.extend(path[path.index(nxt):] + [node, nxt] if nxt in path else [node, nxt])
                return True
            if state.get(nxt) is None and visit(nxt, path + [node]):
                return True
        state[node] = 2
        return False

    assert not any(visit(n, []) for n in sorted(edges) if state.get(n) is None), " -> ".join(cycle)


def test_the_measure_is_not_vacuous():
    assert len(GRAPH) > 60 and "autograder.nbgrader.autograde" in GRAPH
    assert "autograder.grading" in GRAPH["autograder.batch.grade"] or \
        any(d.startswith("autograder.grading") for d in GRAPH["autograder.batch.grade"])
    assert unit("autograder.similarity.scores") == "similarity" and unit("autograder.grading") == "autograder.grading"


@pytest.mark.parametrize("old, new", [
    ("autograder.nbgrader_autograde", "autograder.nbgrader.autograde"),
    ("autograder.nbgrader_cell", "autograder.nbgrader.cells"),
    ("autograder.i18n_feedback", "autograder.i18n.feedback"),
])
def test_old_module_names_still_import_with_a_warning(old, new):
    """An nbgrader_config.py from an earlier `autograder nbgrader init` names
    autograder.nbgrader_autograde.GradeInSandbox; it keeps working."""
    import sys
    sys.modules.pop(old, None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = importlib.import_module(old)
    assert module is importlib.import_module(new)
    assert any(issubclass(w.category, DeprecationWarning) and new in str(w.message) for w in caught)


def test_the_longest_first_list_names_test_files_that_exist():
    """`make test` hands files out in conftest.LONGEST_FIRST's order: a moved or renamed
    file would silently drop back to collection order."""
    from conftest import LONGEST_FIRST
    tests = Path(__file__).resolve().parent
    missing = [name for name in LONGEST_FIRST if not (tests / name).is_file()]
    assert not missing, f"conftest.LONGEST_FIRST names files that do not exist: {missing}"
