"""Translated notebooks from one English source, through gettext catalogs.

solutions/ stays the single source of code and metadata. What a translator changes is
the prose around the code, cut into messages:
- a markdown cell is one message (the whole cell, so a translator sees a paragraph's
  context and may reorder sentences freely);
- a docstring is one message (its text cleaned of the function's indentation);
- a block of consecutive full-line comments at one indentation is one message (sentences
  run across comment lines), a trailing comment after code is another;
- a string literal a student reads when the cell runs (a `print` argument, a `raise`
  message, a plot's title, axis label or legend) is one message, an implicit
  concatenation across lines included; an f-string keeps its fields as placeholders
  (see literals.py).
Code, nbgrader markers and everything inside solution regions (staff-only, cleared from
what students get) are left alone.

Each notebook's catalog lives next to it: solutions/<id>/locale/<language>.po. A message
whose English changed no longer matches its entry: `catalog_status` reports the old
entry as stale and the new text as untranslated, and `update_catalog` (Babel's merge)
turns a close match into a fuzzy entry that shows the previous English. Missing and fuzzy
entries fall back to English, so a half-done catalog never breaks a release.

Translators: `python -m autograder.i18n status` and `... update` (see docs/i18n.md).
"""
from __future__ import annotations

import ast
import io
import json
import re
import sys
import tokenize
from dataclasses import dataclass
from pathlib import Path

from autograder.i18n import literals as i18n_literals
from autograder.i18n.catalogs import (SOURCE_LANGUAGE, CatalogStatus, Message, TranslationError, catalog_status,
                                      check_language, read_catalog, translations_of, update_catalog, write_catalog)

# Comments that are machinery, not prose: nbgrader markers and tool pragmas.
_MACHINE_COMMENT = re.compile(r"^#\s*(#+\s*(BEGIN|END) (SOLUTION|HIDDEN TESTS)|YOUR CODE HERE|noqa|type:|pragma|!)")


# ---- extraction ----

@dataclass
class Piece:
    """One translatable span of a cell: where it sits and how to write it back."""
    msgid: str
    kind: str                 # markdown | docstring | comment | trailing-comment | string
    start: tuple[int, int]    # (line, column), 0-based, of the replaced span in the cell
    end: tuple[int, int]
    indent: str = ""
    quote: str = ""           # a docstring's prefix+quote, e.g. '"""' or 'r"""'
    closing_newline: bool = False
    literal: i18n_literals.Literal | None = None   # a string piece's parts and layout

    @property
    def formatted(self) -> bool:
        """An f-string: its translation must keep the same {placeholders}."""
        return self.literal is not None and self.literal.formatted

    def accepts(self, text: str) -> bool:
        return not self.formatted or i18n_literals.same_placeholders(self.msgid, text)


def _solution_lines(source: str) -> set[int]:
    """0-based lines inside (and on) `### BEGIN SOLUTION` .. `### END SOLUTION`."""
    inside, lines = False, set()
    for number, line in enumerate(source.split("\n")):
        if "BEGIN SOLUTION" in line:
            inside = True
        if inside:
            lines.add(number)
        if "END SOLUTION" in line:
            inside = False
    return lines


def _masked(source: str) -> str:
    """The cell with magics and shell escapes blanked (same line count), so it parses."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.split("\n"))


def _syntax_tree(source: str) -> ast.Module | None:
    try:
        return ast.parse(_masked(source))
    except SyntaxError:
        return None


def _docstring_pieces(tree: ast.Module, lines: list[str]) -> list[Piece]:
    pieces = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        body = node.body
        if not (body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            continue
        s = body[0].value
        start, end = (s.lineno - 1, s.col_offset), (s.end_lineno - 1, s.end_col_offset)
        literal = "\n".join(lines[start[0]:end[0] + 1])[start[1]:]
        literal = literal[:len(literal) - (len(lines[end[0]]) - end[1])]
        match = re.match(r"([rRuU]?)('''|\"\"\"|'|\")", literal)
        if not match:
            continue
        quote = match.group(0)
        inner = literal[len(quote):len(literal) - len(match.group(2))]
        text_lines = inner.split("\n")
        closing_newline = len(text_lines) > 1 and not text_lines[-1].strip()
        msgid = _clean_docstring(text_lines)
        if msgid:
            pieces.append(Piece(msgid, "docstring", start, end, " " * s.col_offset, quote, closing_newline))
    return pieces


def _clean_docstring(text_lines: list[str]) -> str:
    """inspect.cleandoc on the literal's source text (escapes stay as written)."""
    rest = [line for line in text_lines[1:] if line.strip()]
    margin = min((len(line) - len(line.lstrip()) for line in rest), default=0)
    cleaned = [text_lines[0].strip()] + [line[margin:].rstrip() for line in text_lines[1:]]
    while cleaned and not cleaned[-1]:
        cleaned.pop()
    while cleaned and not cleaned[0]:
        cleaned.pop(0)
    return "\n".join(cleaned)


def _column(line: str, byte_offset: int) -> int:
    """ast's UTF-8 byte offset as a character column."""
    return len(line.encode()[:byte_offset].decode(errors="ignore"))


def _string_pieces(tree: ast.Module, source: str, lines: list[str]) -> list[Piece]:
    solution = _solution_lines(source)
    pieces = []
    for node in i18n_literals.text_literal_nodes(tree):
        first, last = node.lineno - 1, node.end_lineno - 1
        if solution.intersection(range(first, last + 1)):
            continue
        start, end = (first, _column(lines[first], node.col_offset)), (last, _column(lines[last], node.end_col_offset))
        span = "\n".join(lines[first:last + 1])
        span = span[start[1]:len(span) - (len(lines[last]) - end[1])]
        literal = i18n_literals.parse_literal(span)
        # A literal spelt in a way write-back would not reproduce ("caf\u00e9", "it\'s") is not
        # extracted: translation must never respell code it does not translate.
        if literal is not None and i18n_literals.is_text(literal) \
                and i18n_literals.render(literal, literal.msgid) == span:
            pieces.append(Piece(literal.msgid, "string", start, end, literal=literal))
    return pieces


def _comment_pieces(source: str, lines: list[str]) -> list[Piece]:
    solution = _solution_lines(source)
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(_masked(source) + "\n").readline))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return []
    pieces: list[Piece] = []
    for tok in tokens:
        if tok.type != tokenize.COMMENT:
            continue
        row, col = tok.start[0] - 1, tok.start[1]
        if row in solution or _MACHINE_COMMENT.match(tok.string) or not re.search(r"[A-Za-z]", tok.string):
            continue
        text = re.sub(r"^#+ ?", "", tok.string).rstrip()
        full_line = not lines[row][:col].strip()
        last = pieces[-1] if pieces else None
        if (full_line and last and last.kind == "comment" and last.end[0] == row - 1
                and len(last.indent) == col):
            last.msgid += "\n" + text
            last.end = (row, len(lines[row]))
            continue
        kind = "comment" if full_line else "trailing-comment"
        pieces.append(Piece(text, kind, (row, col), (row, len(lines[row])), " " * col))
    return pieces


def cell_pieces(cell) -> list[Piece]:
    """The translatable spans of one cell, in source order."""
    if cell.cell_type == "markdown":
        if cell.get("metadata", {}).get("nbgrader", {}).get("solution") or not cell.source.strip():
            return []
        lines = cell.source.split("\n")
        return [Piece(cell.source, "markdown", (0, 0), (len(lines) - 1, len(lines[-1])))]
    if cell.cell_type != "code":
        return []
    lines = cell.source.split("\n")
    tree = _syntax_tree(cell.source)
    pieces = _comment_pieces(cell.source, lines)
    if tree is not None:
        pieces += _docstring_pieces(tree, lines) + _string_pieces(tree, cell.source, lines)
    return sorted(pieces, key=lambda p: p.start)


def extract_messages(nb, name: str) -> list[Message]:
    """Every distinct message of a notebook, in order of first appearance."""
    found: dict[str, Message] = {}
    for index, cell in enumerate(nb.cells, start=1):
        for piece in cell_pieces(cell):
            message = found.setdefault(piece.msgid, Message(piece.msgid))
            message.locations.append((f"{name}:cell{index}", piece.start[0] + 1))
            message.formatted |= piece.formatted
    return list(found.values())


# ---- writing translations back ----

def _render(piece: Piece, text: str) -> str:
    if piece.kind == "markdown":
        return text
    if piece.kind == "docstring":
        body_lines = text.split("\n")
        body = body_lines[0] + "".join("\n" + (piece.indent + line if line else "") for line in body_lines[1:])
        if piece.closing_newline:
            body += "\n" + piece.indent
        closing = piece.quote.lstrip("rRuU")
        return piece.quote + body.replace(closing, "\\" + closing) + closing
    if piece.kind == "string":
        return i18n_literals.render(piece.literal, text)
    if piece.kind == "trailing-comment":
        return "# " + " ".join(text.split("\n"))
    return ("\n" + piece.indent).join("# " + line if line else "#" for line in text.split("\n"))


def translate_cell_source(cell, translations: dict[str, str]) -> str:
    """The cell's source with every translated piece replaced (the rest as it was). A
    translation that lost or changed an f-string's placeholders is ignored (English stays)."""
    pieces = [p for p in cell_pieces(cell) if translations.get(p.msgid) and p.accepts(translations[p.msgid])]
    if not pieces:
        return cell.source
    lines = cell.source.split("\n")
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line) + 1)
    text = cell.source
    for piece in reversed(pieces):  # back to front, so earlier offsets stay valid
        a = offsets[piece.start[0]] + piece.start[1]
        b = offsets[piece.end[0]] + piece.end[1]
        text = text[:a] + _render(piece, translations[piece.msgid]) + text[b:]
    return text


def translate_notebook(nb, translations: dict[str, str], language: str):
    """A new notebook with prose translated; code, metadata and ids unchanged, except the
    language it says it is in (metadata and the setup cell's NOTEBOOK_LANGUAGE)."""
    import nbformat  # notebooks only: feedback translation (the grader's reports) never pays its import
    nb = with_notebook_language(nbformat.from_dict(nb), language)  # before its comment is translated
    for cell in nb.cells:
        cell.source = translate_cell_source(cell, translations)
    return nb


# ---- the notebook's language ----

# The setup cell's constant a release writes, and passes to `checker` (solutions/ says "en").
NOTEBOOK_LANGUAGE = "NOTEBOOK_LANGUAGE"
NOTEBOOK_LANGUAGE_NOTE = "the self-check's language, written by `autograder release`"


def with_setup_constant(nb, name: str, value: str, note: str):
    """Write `name = "value"  # note` over the `name = ...` line of the first code cell that
    has one (the setup cell); a notebook without that line is returned as it was."""
    line = re.compile(rf"^{re.escape(name)} = .*$", re.MULTILINE)
    for cell in nb.cells:
        if cell.cell_type == "code" and line.search(cell.source):
            cell.source = line.sub(lambda m: f"{name} = {json.dumps(value)}  # {note}", cell.source, count=1)
            break
    return nb


def with_notebook_language(nb, language: str):
    """The notebook's language in the setup cell (NOTEBOOK_LANGUAGE, which it passes to
    `checker`) and in its metadata; "en" for assignments/, the translation's otherwise."""
    nb.metadata["autograder"] = {**nb.metadata.get("autograder", {}), "language": language}
    return with_setup_constant(nb, NOTEBOOK_LANGUAGE, language, NOTEBOOK_LANGUAGE_NOTE)


# ---- catalogs ----

def catalog_path(notebook: Path, language: str) -> Path:
    return notebook.parent / "locale" / f"{language}.po"


# ---- the course's notebooks ----

def notebook_messages(notebook: Path) -> list[Message]:
    import nbformat
    return extract_messages(nbformat.read(notebook, as_version=4), notebook.name)


def notebook_status(notebook: Path, language: str) -> CatalogStatus:
    return catalog_status(read_catalog(catalog_path(notebook, language)), notebook_messages(notebook),
                          f"{notebook.parent.name}/locale/{language}.po")


def translated_notebook(notebook: Path, language: str):
    """The notebook at `notebook` in `language` (English where the catalog has no finished entry)."""
    import nbformat
    nb = nbformat.read(notebook, as_version=4)
    if check_language(language) == SOURCE_LANGUAGE:
        return nb
    return translate_notebook(nb, translations_of(read_catalog(catalog_path(notebook, language))), language)


def update_notebook_catalog(notebook: Path, language: str) -> Path:
    path = catalog_path(notebook, language)
    catalog = read_catalog(path) if path.is_file() else None
    write_catalog(path, update_catalog(catalog, notebook_messages(notebook), language, notebook.parent.name))
    return path


def main(argv: list[str] | None = None) -> int:
    import argparse
    from autograder.course import CourseError, load_course
    parser = argparse.ArgumentParser(prog="python -m autograder.i18n", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("status", "update"),
                        help="status: coverage and stale entries; update: merge the English into the catalogs")
    parser.add_argument("--language", default="vi")
    parser.add_argument("--course", default=None)
    args = parser.parse_args(argv)
    try:
        language = check_language(args.language)
        course = load_course(args.course)
        incomplete = 0
        for a in course.assignments:
            notebook = course.solution_notebook(a)
            if args.action == "update":
                print(f"updated {update_notebook_catalog(notebook, language).relative_to(course.root)}")
            status = notebook_status(notebook, language)
            print(status.summary())
            for msgid in status.bad_placeholders:
                print(f"  placeholders unlike the English, English shown: {msgid.splitlines()[0]!r}")
            incomplete += not status.complete
    except (CourseError, TranslationError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 1 if incomplete and args.action == "status" else 0


if __name__ == "__main__":
    sys.exit(main())
