"""Student feedback in the course's language, through the same gettext machinery as the
notebooks (autograder/locale/<language>.po).

Feedback is composed at run time: a test's message is an f-string such as
f"{what} returned values other than 1", whose `what` is itself an f-string from the test,
and the expect.py helpers wrap both in their own sentences. The catalog therefore holds
*templates*, read from the source of the tests and helpers, with their placeholders named
after the code that fills them ("{what} returned values other than 1"). A finished
message is translated by matching it against the templates and translating what each
placeholder captured the same way, so nested fragments come out translated too. A test
name is the first line of the test's docstring, a plain message.

Nothing here changes ids, categories, scores or statuses: `localize_report` rewrites only
the human text of a report dict and records its "language". Whatever has no finished
translation stays English.
"""
from __future__ import annotations

import ast
import copy
import re
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from autograder import i18n

PACKAGE_DIR = Path(__file__).resolve().parent
LOCALE_DIR = PACKAGE_DIR / "locale"
# Calls whose string arguments are student-facing text (expect.py helpers, pytest's own).
FEEDBACK_CALLS = re.compile(r"^(check|fail|skip|xfail|expect_\w+|heading)$")
FEEDBACK_KEYWORDS = {"what", "hint", "message", "reason", "msg"}
MAX_DEPTH = 4


def feedback_sources() -> list[Path]:
    """Every file whose strings reach a student: hidden and visible tests and the helpers."""
    files = sorted((PACKAGE_DIR / "tests_hidden").glob("test_*.py"))
    files += sorted((PACKAGE_DIR / "selfcheck" / "tests").rglob("test_*.py"))
    return files + [PACKAGE_DIR / "expect.py", *HEADING_SOURCES]


# Report headings and self-check summaries: their strings are wrapped in `heading(...)`
# (writers/text.py) or formatted by selfcheck/runner.py, whose output is translated line by line.
HEADING_SOURCES = (PACKAGE_DIR / "writers" / "text.py", PACKAGE_DIR / "selfcheck" / "runner.py")


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
    for path in paths or feedback_sources():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        where = str(path.relative_to(PACKAGE_DIR))
        for node in ast.walk(tree):
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
            if path.name == "runner.py" and isinstance(node, (ast.Call, ast.Return)) and not candidates:
                # format_results builds its lines with lines.append(f"...") and returns f"..."
                args = node.args if isinstance(node, ast.Call) else [node.value]
                candidates += [a for a in args if isinstance(a, (ast.JoinedStr, ast.Constant))]
            if isinstance(node, ast.Assign) and isinstance(node.value, (ast.JoinedStr, ast.Constant)):
                # Messages built ahead of their check (untracked = f"..."; check(c, untracked)).
                candidates.append(node.value)
            elif path.name == "runner.py" and isinstance(node, ast.Assign) and isinstance(node.value, ast.List):
                candidates += node.value.elts
            for candidate in candidates:
                for part in ([candidate.body, candidate.orelse] if isinstance(candidate, ast.IfExp) else [candidate]):
                    template = (_template(part) or "").lstrip(" ")  # indentation is layout, not text
                    if template and _worth_translating(template):
                        found.templates.setdefault(template, []).append((where, part.lineno))
    return found


def messages() -> list[i18n.Message]:
    found = extract()
    merged: dict[str, i18n.Message] = {}
    for table in (found.names, found.templates):
        for msgid, locations in table.items():
            merged.setdefault(msgid, i18n.Message(msgid)).locations.extend(locations)
    return list(merged.values())


def catalog_path(language: str) -> Path:
    return LOCALE_DIR / f"{language}.po"


# ---- translating finished text ----

class Translator:
    """Translates finished feedback text with a catalog's templates (English fallback)."""

    def __init__(self, translations: dict[str, str]):
        self.exact = {k.replace("{{", "{").replace("}}", "}"): v.replace("{{", "{").replace("}}", "}")
                      for k, v in translations.items() if not re.search(r"(?<!\{)\{[^{}]+\}(?!\})", k)}
        self.patterns = []
        for msgid, msgstr in translations.items():
            fields = re.findall(r"(?<!\{)\{([^{}]+)\}(?!\})", msgid)
            if not fields or set(re.findall(r"(?<!\{)\{([^{}]+)\}(?!\})", msgstr)) != set(fields):
                continue
            pieces = re.split(r"(?<!\{)\{[^{}]+\}(?!\})", msgid)
            regex = "(.+?)".join(re.escape(p.replace("{{", "{").replace("}}", "}")) for p in pieces)
            literal = sum(len(p) for p in pieces)
            self.patterns.append((literal, re.compile(regex + r"\Z", re.S), fields, msgstr))
        self.patterns.sort(key=lambda p: -p[0])  # the most specific template first

    def __call__(self, text: str, depth: int = 0) -> str:
        if not text or depth > MAX_DEPTH:
            return text
        if text in self.exact:
            return self.exact[text]
        # expect.py appends a hint as message + ". " + hint: translate the two halves, else
        # a template's last placeholder would swallow the hint untranslated.
        for cut in [m.start() for m in re.finditer(r"\. ", text)][::-1]:
            hint = text[cut + 2:]
            translated_hint = self(hint, depth + 1)
            if translated_hint != hint:
                return self(text[:cut], depth + 1) + ". " + translated_hint
        return self._template(text, depth)

    def _template(self, text: str, depth: int) -> str:
        for _, pattern, fields, msgstr in self.patterns:
            match = pattern.match(text)
            if match:
                values = {}
                for name, value in zip(fields, match.groups()):
                    values.setdefault(name, self(value, depth + 1))
                return re.sub(r"(?<!\{)\{([^{}]+)\}(?!\})", lambda m: values[m.group(1)], msgstr) \
                    .replace("{{", "{").replace("}}", "}")
        return text


@lru_cache(maxsize=4)
def translator(language: str) -> Translator:
    if i18n.check_language(language) == i18n.SOURCE_LANGUAGE or not catalog_path(language).is_file():
        return Translator({})
    return Translator(i18n.translations_of(i18n.read_catalog(catalog_path(language))))


def localize_report(data: dict, language: str) -> dict:
    """A copy of a report dict (Report.to_dict()) with test names and messages in
    `language` and a top-level "language"; ids, categories, scores and statuses unchanged."""
    translate = translator(language)
    out = copy.deepcopy(data)
    out["language"] = language
    for assignment in out.get("assignments", []):
        for test in assignment.get("tests", []):
            test["name"] = translate(test.get("name", ""))
            test["message"] = translate(test.get("message", ""))
    return out


def localized_report(report, language: str):
    """A copy of a Report in `language` (names, messages; `report.language` set)."""
    if i18n.check_language(language) == i18n.SOURCE_LANGUAGE:
        return report
    translate = translator(language)
    out = copy.deepcopy(report)
    out.language = language
    for _, test in out.tests():
        test.name, test.message = translate(test.name), translate(test.message or "")
    return out


def localized_outcomes(outcomes: list, language: str) -> list:
    """Self-check outcomes (plugin.TestOutcome) with names and messages in `language`.
    A stub's message stays as it is: format_results recognises it by its English prefix
    and prints its own (translated) line instead."""
    from autograder.selfcheck.runner import is_not_written
    translate = translator(language)
    out = []
    for outcome in outcomes:
        outcome = copy.copy(outcome)
        outcome.name = translate(outcome.name)
        if not is_not_written(outcome):
            outcome.message = translate(outcome.message or "")
        out.append(outcome)
    return out


def feedback_language(args, notebook: Path) -> str:
    """`autograder check`'s language: --language, else the notebook's own (a vi release
    notebook says metadata.autograder.language = "vi"), else English."""
    if getattr(args, "language", None):
        return i18n.check_language(args.language)
    if notebook.suffix == ".ipynb":
        try:
            import json
            meta = json.loads(notebook.read_text(encoding="utf-8")).get("metadata", {}).get("autograder", {})
            if meta.get("language") in i18n.LANGUAGES:
                return meta["language"]
        except (OSError, ValueError, AttributeError):
            pass  # an unreadable notebook fails later with its own clear message
    return i18n.SOURCE_LANGUAGE


def localize_lines(text: str, language: str) -> str:
    """Grader-written text (self-check summary) in `language`, line by line, leading
    spaces kept; multi-line catalog entries (the hidden-tests reminder) first."""
    translate = translator(language)
    for english, translated in translate.exact.items():
        if "\n" in english and english in text:
            text = text.replace(english, translated)
    lines = []
    for line in text.split("\n"):
        stripped = line.lstrip(" ")
        lines.append(line[:len(line) - len(stripped)] + translate(stripped) if stripped else line)
    return "\n".join(lines)


def status(language: str) -> i18n.CatalogStatus:
    return i18n.catalog_status(i18n.read_catalog(catalog_path(language)), messages(), f"autograder/locale/{language}.po")


def update(language: str) -> Path:
    path = catalog_path(language)
    catalog = i18n.read_catalog(path) if path.is_file() else None
    i18n.write_catalog(path, i18n.update_catalog(catalog, messages(), language, "autograder feedback"))
    return path


def main(argv: list[str] | None = None) -> int:
    import argparse
    parser = argparse.ArgumentParser(prog="python -m autograder.i18n_feedback", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("status", "update"))
    parser.add_argument("--language", default="vi")
    args = parser.parse_args(argv)
    try:
        language = i18n.check_language(args.language)
        if args.action == "update":
            print(f"updated {update(language).relative_to(PACKAGE_DIR.parent)}")
        result = status(language)
    except i18n.TranslationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(result.summary())
    return 1 if args.action == "status" and not result.complete else 0


if __name__ == "__main__":
    sys.exit(main())
