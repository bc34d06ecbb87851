"""Student-facing text in the course's language, at run time (shipped to students).

Every message a student can read is written in English where it is made: a test's
assertion, expect.py's sentences, the plugin's verdicts, the loader's and the sandbox's
faults, the self-check's summary, the text report's frame. Kit code marks such text with
`N_(...)` (gettext's "translate later" marker: it returns its argument), tests through
their assertions and `check(...)` calls; `python -m autograder.i18n.feedback update`
extracts all of them into the feedback catalog (autograder/locale/<language>.po) as
*templates*: an f-string keeps its fields as placeholders named after the code that
fills them, e.g. "{what} returned {describe(value)}; expected a torch.Tensor".

A finished English message is translated by matching it against those templates, and
what each placeholder captured is translated the same way, so a sentence built from
pieces (a test's `what` inside expect.py's sentence, followed by the test's hint) comes
out whole in the target language: each piece is a catalog entry of its own. Two kinds of
text are never translated, because they are quoted: code (identifiers, calls, shapes,
numbers, anything in backticks or quotes) and the text of an exception (a line that
starts with `SomethingError:`, PyTorch's or the student's own, quoted verbatim).

Anything else that finds no entry stays English and is recorded in the translator's
`misses`: tests/i18n/test_feedback_coverage.py grades stubs, references and mutants in every
language and fails on any miss, so the measure is what students actually see.

This module imports nothing outside the standard library; the catalog comes from the
kit's .po file (read with Babel, a kit dependency) or, in the student package, from the
compiled `<language>.json` the release writes (visible tests' entries only).
"""
from __future__ import annotations

import copy
import json
import re
from functools import lru_cache
from pathlib import Path

SOURCE_LANGUAGE = "en"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
MAX_DEPTH = 6
_FIELD = re.compile(r"(?<!\{)\{([^{}]+)\}(?!\})")


def N_(text: str) -> str:
    """Mark `text` as student-facing: the catalog extractor collects it; it is translated
    when the finished message is shown (see the module docstring)."""
    return text


# ---- what needs translating ----

# Quoted material: backtick code spans and quoted strings are shown as they are.
_QUOTED = re.compile(r"`[^`]*`|'[^'\n]*'|\"[^\"\n]*\"")
# A line that quotes an exception (PyTorch's, NumPy's or the student's own) verbatim.
_EXCEPTION_TEXT = re.compile(r"^\s*(?:[A-Za-z_][\w]*\.)*[A-Za-z_]\w*(?:Error|Exception|Warning|Interrupt|Exit)\b")
_WORD = re.compile(r"[A-Za-z]+(?:-[A-Za-z]+)*")
# Bare words that are code in our messages, not English.
_CODE_WORDS = frozenset({"True", "False", "None", "nan", "inf", "cpu", "cuda", "meta", "dtype", "tensor",
                         "torch", "numpy", "np", "nn", "optim", "grad", "lr", "net", "self",
                         "list", "tuple", "dict", "int", "float", "str", "bool", "set", "bytes", "object"})
# Placeholders whose value is a name from code (a type, a function, an exercise), shown as
# it is: "a {kind}" with kind = "GrayLeNet".
CODE_FIELDS = frozenset({"kind", "function", "exercise", "names", "name", "policy", "code", "calls"})
# Of those, the ones that hold names (comma-separated at most): a value with a space in a
# name is a sentence, and the template that captured it does not fit.
NAME_FIELDS = frozenset({"kind", "function", "exercise", "names", "name", "calls"})
# Placeholders holding a traceback: its frame lines are translated ("cell 4, line 2, in f"),
# the student's source lines under them are code.
TRACE_FIELDS = frozenset({"trace"})


def is_verbatim(text: str) -> bool:
    """Quoted text shown as it is: an exception's own line."""
    return bool(_EXCEPTION_TEXT.match(text))


def has_prose(text: str) -> bool:
    """Whether `text` holds English words (outside code, quotes and exception text)."""
    for line in text.split("\n"):
        if is_verbatim(line):
            continue
        for token in _QUOTED.sub(" ", line).split():
            word = token.strip(",.;:!?()[]{}")
            if not _WORD.fullmatch(word) or word in _CODE_WORDS:
                continue  # an identifier, a call, a number, a shape, a path: code
            if len(word) >= 2 and (word.islower() or (word[0].isupper() and word[1:].islower())):
                return True
    return False


# ---- translating finished text ----

class Translator:
    """Translates finished feedback text with a catalog's templates (English fallback).
    `misses` collects the English fragments that found no entry (see has_prose)."""

    def __init__(self, translations: dict[str, str], language: str = SOURCE_LANGUAGE):
        self.language = language
        self.misses: set[str] = set()
        self.exact = {_unescape(k): _unescape(v) for k, v in translations.items() if not _FIELD.search(k)}
        self.patterns = []
        for msgid, msgstr in translations.items():
            fields = _FIELD.findall(msgid)
            if not fields or set(_FIELD.findall(msgstr)) != set(fields):
                continue  # a translation that lost or renamed a placeholder is not used
            pieces = _FIELD.split(msgid)[::2]
            # A placeholder spans lines only in a template that does: a one-line
            # template must not swallow the lines after the one it describes.
            field = "(.+?)" if "\n" in msgid else "([^\n]+?)"
            regex = field.join(re.escape(_unescape(p)) for p in pieces)
            literal = sum(len(p) for p in pieces)
            self.patterns.append((literal, re.compile(regex + r"\Z", re.S), fields, msgstr))
        self.patterns.sort(key=lambda p: -p[0])  # the most specific template first
        self._cache: dict[str, tuple[str, tuple[str, ...]]] = {}

    @property
    def active(self) -> bool:
        """English, or a language without a catalog, is shown as it is."""
        return bool(self.exact or self.patterns)

    def __call__(self, text: str) -> str:
        if not self.active or not text:
            return text
        cached = self._cache.get(text)
        if cached is None:
            out, misses, _hit = self._translate(text, 0)
            cached = self._cache[text] = (out, tuple(misses))
        self.misses.update(cached[1])
        return cached[0]

    def _translate(self, text: str, depth: int) -> tuple[str, list[str], bool]:
        """(translation, English fragments left untranslated, whether an entry matched)."""
        if not text or depth > MAX_DEPTH:
            return text, [], False
        if text in self.exact:
            return self.exact[text], [], True
        best = None
        templated = self._template(text, depth)
        if templated is not None:
            if not templated[1]:
                return templated
            best = templated
        # A hint follows a message as message + ". " + hint: translate the halves, else a
        # template's last placeholder would swallow the hint untranslated.
        for cut in [m.start() for m in re.finditer(r"\. ", text)][::-1]:
            hint = self._translate(text[cut + 2:], depth + 1)
            if hint[2] and not hint[1]:
                head = self._translate(text[:cut], depth + 1)
                candidate = (head[0] + ". " + hint[0], head[1], True)
                if not head[1]:
                    return candidate
                if best is None or len(candidate[1]) < len(best[1]):
                    best = candidate
                break
        if "\n" in text:  # a multi-line message no template covers whole: line by line
            lines = [self._line(line, depth) for line in text.split("\n")]
            misses = [m for _, line_misses in lines for m in line_misses]
            if best is None or len(misses) < len(best[1]):
                return "\n".join(out for out, _ in lines), misses, True
        if best is not None:
            return best
        if is_verbatim(text):
            # An exception's text is quoted as it is, unless the kit wrote it (a message of
            # the catalog under an exception's name, e.g. the kit-import refusal).
            head, _, rest = text.partition(": ")
            if rest:
                inner = self._translate(rest, depth + 1)
                if inner[2] and not inner[1]:
                    return head + ": " + inner[0], [], True
            return text, [], False
        if not has_prose(text):
            return text, [], False
        return text, [text], False

    def _trace(self, text: str, depth: int) -> str:
        """A traceback: frame lines through the catalog, every other line as it is."""
        lines = []
        for line in text.split("\n"):
            out, misses = self._line(line, depth)
            lines.append(out if not misses else line)
        return "\n".join(lines)

    def _line(self, line: str, depth: int) -> tuple[str, list[str]]:
        stripped = line.lstrip(" ")
        if not stripped:
            return line, []
        out, misses, _ = self._translate(stripped, depth + 1)
        return line[:len(line) - len(stripped)] + out, misses

    def _template(self, text: str, depth: int):
        fallback = None
        for _, pattern, fields, msgstr in self.patterns:
            match = pattern.match(text)
            if not match:
                continue
            values: dict[str, str] = {}
            misses: list[str] = []
            for name, value in zip(fields, match.groups()):
                if name in TRACE_FIELDS:
                    values.setdefault(name, self._trace(value, depth))
                elif name in CODE_FIELDS:
                    values.setdefault(name, value)
                    if name in NAME_FIELDS and any(" " in part.strip() for part in value.split(", ")):
                        misses.append(value)  # a sentence is no name: this template does not fit
                elif name not in values:
                    out, value_misses, _ = self._translate(value, depth + 1)
                    values[name] = out
                    misses += value_misses
            result = (_unescape(_FIELD.sub(lambda m: values[m.group(1)], msgstr)), misses, True)
            if not misses:
                return result
            fallback = fallback or result  # a less specific template may still fit better
        return fallback


def _unescape(text: str) -> str:
    return text.replace("{{", "{").replace("}}", "}")


def finished_translations(catalog) -> dict[str, str]:
    """msgid -> msgstr of a Babel catalog's entries a translator finished (not fuzzy, not
    empty). Duck-typed: this module imports no Babel, so the student package needs none."""
    return {m.id: m.string for m in catalog if m.id and isinstance(m.id, str) and m.string and not m.fuzzy}


def _catalog_entries(language: str) -> dict[str, str]:
    """The kit's full catalog (.po), else the student package's compiled one (.json)."""
    po = LOCALE_DIR / f"{language}.po"
    if po.is_file():  # the kit's own catalog; Babel is a kit dependency, not a student one
        from babel.messages.pofile import read_po
        with open(po, "rb") as handle:
            return finished_translations(read_po(handle))
    compiled = LOCALE_DIR / f"{language}.json"
    if compiled.is_file():
        return json.loads(compiled.read_text(encoding="utf-8"))
    return {}


@lru_cache(maxsize=8)
def translator(language: str | None) -> Translator:
    """The translator of `language`; English (or a language without a catalog) changes nothing."""
    language = language or SOURCE_LANGUAGE
    if language == SOURCE_LANGUAGE:
        return Translator({}, SOURCE_LANGUAGE)
    return Translator(_catalog_entries(language), language)


def available_languages() -> tuple[str, ...]:
    found = {p.stem for p in LOCALE_DIR.glob("*.po")} | {p.stem for p in LOCALE_DIR.glob("*.json")}
    return (SOURCE_LANGUAGE, *sorted(found - {SOURCE_LANGUAGE}))


# ---- reports and self-check results ----

def localize_report(data: dict, language: str, titles: dict[str, str] | None = None) -> dict:
    """A copy of a report dict (Report.to_dict()) with every student-facing text in
    `language` (test names and messages, assignment notes, load errors and, given
    `titles` {assignment id: title}, titles) and a top-level "language"; ids, categories,
    scores, statuses and flags unchanged."""
    translate = translator(language)
    out = copy.deepcopy(data)
    out["language"] = language
    for assignment in out.get("assignments", []):
        if titles and assignment.get("id") in titles:
            assignment["title"] = titles[assignment["id"]]
        assignment["notes"] = [translate(n) for n in assignment.get("notes", [])]
        for error in assignment.get("load_errors", []):
            if isinstance(error, dict):
                error["message"] = translate(error.get("message", ""))
        for test in assignment.get("tests", []):
            test["name"] = translate(test.get("name", ""))
            test["message"] = translate(test.get("message", ""))
    return out


def localized_report(report, language: str, titles: dict[str, str] | None = None):
    """A copy of a Report in `language` (see localize_report); `report.language` set."""
    if (language or SOURCE_LANGUAGE) == SOURCE_LANGUAGE and all(
            (titles or {}).get(a.id, a.title) == a.title for a in report.assignments):
        return report  # nothing to change (a batch in English passes the course's own titles)
    translate = translator(language)
    out = copy.deepcopy(report)
    out.language = language or SOURCE_LANGUAGE
    for assignment in out.assignments:
        if titles and assignment.id in titles:
            assignment.title = titles[assignment.id]
        assignment.notes = [translate(n) for n in assignment.notes]
        for error in assignment.load_errors:
            error.message = translate(error.message)
        for test in assignment.tests:
            test.name, test.message = translate(test.name), translate(test.message or "")
    return out


def localized_outcomes(outcomes: list, language: str) -> list:
    """Self-check outcomes (plugin.TestOutcome) with names and messages in `language`."""
    translate = translator(language)
    if not translate.active:
        return list(outcomes)
    out = []
    for outcome in outcomes:
        outcome = copy.copy(outcome)
        outcome.name = translate(outcome.name)
        outcome.message = translate(outcome.message or "")
        out.append(outcome)
    return out


def notebook_language(path: Path) -> str | None:
    """The language a released notebook says it is in (metadata.autograder.language)."""
    if path.suffix != ".ipynb":
        return None
    try:
        meta = json.loads(path.read_text(encoding="utf-8")).get("metadata", {}).get("autograder", {})
    except (OSError, ValueError, AttributeError):
        return None  # an unreadable notebook fails later with its own clear message
    language = meta.get("language") if isinstance(meta, dict) else None
    return language if isinstance(language, str) and language in available_languages() else None
