"""The feedback catalog: every student-facing message of the kit, extracted from source.

Run time translation lives in autograder/localize.py (shipped to students); this module
is the staff side: it reads the hidden and visible tests, expect.py and every kit module
for student-facing text, merges it into autograder/locale/<language>.po (Babel), reports
coverage, and compiles the part of the catalog a student's self-check needs (entries
from shipped files only: never a hidden test's name or message) for the student package.

What counts as student-facing:
* in test files: a test's name (the first line of its docstring), assertion messages,
  the text arguments of expect.py's helpers and pytest's skip/fail, and messages built
  ahead of their check (`untracked = f"..."`);
* everywhere in the package: the argument of `N_(...)` (localize.N_), the marker kit code
  puts on every sentence a student may read (faults, load errors, the report's frame,
  the self-check's summary).
An f-string becomes a template whose placeholders are named after the code that fills
them ("{what} returned {describe(value)}; expected a torch.Tensor").
"""
from __future__ import annotations

import ast
import functools
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from autograder.i18n import catalogs

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # the autograder package
LOCALE_DIR = PACKAGE_DIR / "locale"
# Calls whose string arguments are student-facing text in tests (expect.py helpers, pytest's own).
FEEDBACK_CALLS = re.compile(r"^(check|fail|skip|xfail|expect_\w+)$")
FEEDBACK_KEYWORDS = {"what", "hint", "message", "reason", "msg"}
MARKER = "N_"  # localize.N_: kit text a student may read


def test_sources() -> list[Path]:
    """Hidden and visible test files and expect.py: read with the test heuristics above."""
    files = sorted((PACKAGE_DIR / "tests_hidden").glob("test_*.py"))
    files += sorted((PACKAGE_DIR / "selfcheck" / "tests").rglob("test_*.py"))
    return files + [PACKAGE_DIR / "expect.py"]


def feedback_sources() -> list[Path]:
    """Every file whose strings reach a student: the tests and every kit module (N_ text)."""
    tests = test_sources()
    kit = sorted(p for p in PACKAGE_DIR.rglob("*.py") if p not in tests and "__pycache__" not in p.parts)
    return tests + kit


@dataclass
class Extracted:
    names: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    templates: dict[str, list[tuple[str, int]]] = field(default_factory=dict)


def _template(node) -> str | None:
    """A str constant or f-string as a template: '{<source of the expression>}' per field."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value.replace("{", "{{").replace("}", "}}")
    if not isinstance(node, ast.JoinedStr):
        return None
    parts = []
    for value in node.values:
        if isinstance(value, ast.Constant):
            parts.append(str(value.value).replace("{", "{{").replace("}", "}}"))
        elif isinstance(value, ast.FormattedValue):
            parts.append("{" + ast.unparse(value.value) + "}")
    return "".join(parts)


def _worth_translating(template: str) -> bool:
    """Prose, not just a call shown to the student: a word outside placeholders and code."""
    literal = re.sub(r"\{[^{}]*\}|`[^`]*`", " ", template.replace("{{", "").replace("}}", ""))
    return any(re.fullmatch(r"\(?[A-Za-z]{3,}[,;:.)]?", w) for w in literal.split())


def extract(paths: list[Path] | None = None) -> Extracted:
    found = Extracted()
    tests = set(test_sources())
    for path in paths or feedback_sources():
        stat = path.stat()
        names, templates = _extract_file(path, path in tests, stat.st_mtime_ns, stat.st_size)
        for table, part in ((found.names, names), (found.templates, templates)):
            for msgid, locations in part:
                table.setdefault(msgid, []).extend(locations)
    return found


# A release builds every bundle's catalog from the same ~190 files: each is parsed once
# per process (and again only when it changes), not once per bundle (8 s for six bundles).
@functools.lru_cache(maxsize=None)
def _extract_file(path: Path, is_test: bool, mtime_ns: int, size: int) -> tuple[tuple, tuple]:
    """(names, templates) of one file, each ((msgid, ((where, line), ...)), ...) in the
    order they occur."""
    found = Extracted()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    where = str(path.relative_to(PACKAGE_DIR))
    for node in ast.walk(tree):
        # Marked text is student-facing by the author's word; test text by a guess
        # (assertion messages, helper arguments), so it must read like prose.
        candidates = [(c, True) for c in _marked(node)]
        if is_test:
            candidates += [(c, False) for c in _test_feedback(node, found, where)]
        for candidate, marked in candidates:
            for part in ([candidate.body, candidate.orelse] if isinstance(candidate, ast.IfExp) else [candidate]):
                template = (_template(part) or "").lstrip(" ")  # indentation is layout, not text
                if template and (marked or _worth_translating(template)):
                    found.templates.setdefault(template, []).append((where, part.lineno))
    return (tuple((k, tuple(v)) for k, v in found.names.items()),
            tuple((k, tuple(v)) for k, v in found.templates.items()))


def _marked(node) -> list:
    """The argument of an N_(...) call."""
    if isinstance(node, ast.Call) and getattr(node.func, "id", None) == MARKER and node.args:
        return [node.args[0]]
    return []


def _test_feedback(node, found: Extracted, where: str) -> list:
    """A test file's student-facing text: names, assertion messages, helper arguments."""
    if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
        doc = ast.get_docstring(node)
        if doc:
            found.names.setdefault(doc.strip().splitlines()[0].strip(), []).append((where, node.lineno))
    candidates = []
    if isinstance(node, ast.Assert) and node.msg is not None:
        candidates.append(node.msg)
    elif isinstance(node, ast.Call):
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        if FEEDBACK_CALLS.match(name or ""):
            candidates += node.args + [k.value for k in node.keywords if k.arg in FEEDBACK_KEYWORDS]
    if isinstance(node, ast.Assign) and isinstance(node.value, (ast.JoinedStr, ast.Constant)):
        # Messages built ahead of their check (untracked = f"..."; check(c, untracked)).
        candidates.append(node.value)
    return candidates


def messages() -> list[catalogs.Message]:
    found = extract()
    merged: dict[str, catalogs.Message] = {}
    for table in (found.names, found.templates):
        for msgid, locations in table.items():
            merged.setdefault(msgid, catalogs.Message(msgid)).locations.extend(locations)
    return list(merged.values())


def catalog_path(language: str) -> Path:
    return LOCALE_DIR / f"{language}.po"


# ---- the student package's catalog ----

def student_catalog(language: str, shipped: list[str]) -> dict[str, str]:
    """The finished entries a student's self-check can meet: those extracted from at least
    one shipped file (`shipped`: paths relative to the package). A hidden test's name or
    message is never among them unless a shipped file says the same words."""
    path = catalog_path(language)
    if not path.is_file():
        return {}
    done = catalogs.translations_of(catalogs.read_catalog(path))
    wanted = set(shipped)
    return {m.msgid: done[m.msgid] for m in messages()
            if m.msgid in done and any(where in wanted for where, _ in m.locations)}


def compiled_student_catalogs(shipped: list[str]) -> dict[str, bytes]:
    """{"locale/<language>.json": bytes} for every language with a feedback catalog:
    sorted JSON, so the same catalog gives the same bytes (and the same wheel)."""
    out = {}
    for po in sorted(LOCALE_DIR.glob("*.po")):
        entries = student_catalog(po.stem, shipped)
        out[f"locale/{po.stem}.json"] = (json.dumps(entries, ensure_ascii=False, sort_keys=True, indent=0)
                                         + "\n").encode("utf-8")
    return out


def status(language: str) -> catalogs.CatalogStatus:
    return catalogs.catalog_status(catalogs.read_catalog(catalog_path(language)), messages(), f"autograder/locale/{language}.po")


def update(language: str) -> Path:
    path = catalog_path(language)
    catalog = catalogs.read_catalog(path) if path.is_file() else None
    catalogs.write_catalog(path, catalogs.update_catalog(catalog, messages(), language, "autograder feedback"))
    return path


def main(argv: list[str] | None = None) -> int:
    import argparse
    parser = argparse.ArgumentParser(prog="python -m autograder.i18n.feedback", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("status", "update"))
    parser.add_argument("--language", default="vi")
    args = parser.parse_args(argv)
    try:
        language = catalogs.check_language(args.language)
        if args.action == "update":
            print(f"updated {update(language).relative_to(PACKAGE_DIR.parent)}")
        result = status(language)
    except catalogs.TranslationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(result.summary())
    return 1 if args.action == "status" and not result.complete else 0


if __name__ == "__main__":
    sys.exit(main())
