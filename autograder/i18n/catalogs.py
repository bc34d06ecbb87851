"""gettext catalogs (.po) for every translated text of the kit: the languages, reading and
writing a catalog with Babel, merging new English into it, and its status (coverage,
untranslated, fuzzy, stale). The notebook catalogs (i18n/notebooks.py) and the feedback
catalog (i18n/feedback.py) are both kept with these functions.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

from autograder import localize
from autograder.i18n import literals as i18n_literals

SOURCE_LANGUAGE = "en"
LANGUAGES = ("en", "vi")
LANGUAGE_NAMES = {"en": "English", "vi": "Tiếng Việt"}


class TranslationError(ValueError):
    """A catalog or language problem; the message is one line."""


def check_language(language: str) -> str:
    if language not in LANGUAGES:
        raise TranslationError(f"unknown language {language!r} (supported: {', '.join(LANGUAGES)})")
    return language


PLACEHOLDER_NOTE = "f-string: keep each {placeholder} exactly as written; {{ and }} are braces"


@dataclass
class Message:
    msgid: str
    locations: list[tuple[str, int]] = field(default_factory=list)
    formatted: bool = False   # from an f-string: a translation must keep its placeholders

    def accepts(self, text: str) -> bool:
        return not self.formatted or i18n_literals.same_placeholders(self.msgid, text)


def read_catalog(path: Path) -> Catalog:
    try:
        with open(path, "rb") as fh:
            return read_po(fh, abort_invalid=True)
    except FileNotFoundError:
        raise TranslationError(f"no catalog at {path} (run `python -m autograder.i18n update`)") from None
    except Exception as exc:  # Babel raises PoFileError and plain ValueErrors
        raise TranslationError(f"{path}: not a valid .po catalog: {str(exc).splitlines()[0]}") from None


def write_catalog(path: Path, catalog: Catalog) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    write_po(buffer, catalog, width=0, include_previous=True, sort_output=False, omit_header=False)
    path.write_bytes(buffer.getvalue())


def translations_of(catalog: Catalog) -> dict[str, str]:
    """msgid -> msgstr for entries a translator finished (not fuzzy, not empty): what the
    run-time translator reads (localize.finished_translations)."""
    return localize.finished_translations(catalog)


def template_for(messages: list[Message], project: str) -> Catalog:
    template = Catalog(project=project, fuzzy=False)
    for message in messages:
        template.add(message.msgid, locations=message.locations, flags=(),
                     auto_comments=[PLACEHOLDER_NOTE] if message.formatted else [])
    return template


def update_catalog(catalog: Catalog | None, messages: list[Message], language: str, project: str) -> Catalog:
    """Merge the current English into a catalog: new English becomes an untranslated or
    (when close to an old entry) fuzzy entry; vanished English becomes obsolete."""
    template = template_for(messages, project)
    if catalog is None:
        catalog = Catalog(locale=language, project=project, fuzzy=False)
    catalog.update(template, no_fuzzy_matching=False, update_header_comment=False)
    for message in catalog:
        # Prose, not format strings: Babel guesses %- and {}-formats from the English.
        message.flags -= {flag for flag in message.flags if flag.endswith("-format")}
    return catalog


@dataclass
class CatalogStatus:
    name: str
    total: int
    translated: int
    untranslated: list[str]   # current English with no finished translation
    fuzzy: list[str]          # current English whose translation needs review
    stale: list[str]          # catalog entries whose English no longer exists in the source
    bad_placeholders: list[str] = field(default_factory=list)  # f-string translations ignored

    @property
    def coverage(self) -> float:
        return 100.0 * self.translated / self.total if self.total else 100.0

    @property
    def complete(self) -> bool:
        return self.translated == self.total and not self.stale

    def summary(self) -> str:
        line = (f"{self.name}: {self.coverage:.1f} % ({self.translated}/{self.total}), "
                f"{len(self.untranslated)} untranslated, {len(self.fuzzy)} fuzzy, {len(self.stale)} stale")
        if self.bad_placeholders:
            line += f", {len(self.bad_placeholders)} with placeholders unlike the English (ignored)"
        return line


def catalog_status(catalog: Catalog, messages: list[Message], name: str) -> CatalogStatus:
    current = [m.msgid for m in messages]
    finished = translations_of(catalog)
    bad = [m.msgid for m in messages if m.msgid in finished and not m.accepts(finished[m.msgid])]
    done = {msgid: text for msgid, text in finished.items() if msgid not in bad}
    fuzzy = [msgid for msgid in current if (e := catalog.get(msgid)) is not None and e.fuzzy]
    untranslated = [msgid for msgid in current if msgid not in done and msgid not in fuzzy and msgid not in bad]
    known = set(current)
    # Obsolete (#~) entries are history a merge already handled; only live ones are stale.
    stale = [m.id for m in catalog if m.id and m.id not in known]
    return CatalogStatus(name, len(current), sum(1 for m in current if m in done), untranslated, fuzzy, stale,
                         bad)
