"""String literals a student reads in a notebook's code, cut into messages and written back.

Which literals: the text a student sees when a cell runs, outside solution regions, and
nothing else:
- every string argument of `print(...)`;
- the message of a `raise SomeError("...")` and of `warnings.warn("...")`;
- plot text: the first argument of `plt.title/suptitle/xlabel/ylabel` and
  `ax.set_title/set_xlabel/set_ylabel`, any `label=` keyword, and a legend's labels
  (`legend(["a", "b"])`, `labels=`, `title=`); tqdm's `desc=`.
A literal without a letter (`" "`, `"-" * 20`) is layout, not text. Dict keys, file names,
dtype strings, format specs, class names in a tuple, column names: none of these is an
argument of those calls, so none is extracted.

A message is the literal's value, the parts of an implicit concatenation
(`"..." "..."` across lines) joined into one. An f-string keeps its replacement fields as
placeholders, written exactly as in the source (`{loss:.3f}`, `{result['loss']:.1%}`),
its literal braces doubled (`{{`), so a translator may move the fields but not change them;
`placeholders()` is what must match. Writing a translation back re-escapes it for the
original quote and prefix and re-wraps a concatenation over as many parts as it had, at
the word start nearest to the same fraction of the text, keeping the source between the
parts (newline and indentation) as it was; the English comes back byte for byte (a literal
spelt so that it would not is not extracted, see notebooks.py).
"""
from __future__ import annotations

import ast
import itertools
import re
from dataclasses import dataclass

PRINT_CALLS = {"print"}
FIRST_ARGUMENT_CALLS = {"title", "suptitle", "xlabel", "ylabel", "zlabel", "set_title", "set_xlabel",
                        "set_ylabel", "set_zlabel", "warn"}
LEGEND_CALLS = {"legend", "figlegend"}
PROGRESS_CALLS = {"tqdm", "trange"}
_LETTER = re.compile(r"[^\W\d_]")
_PREFIX = re.compile(r"([A-Za-z]{0,2})('''|\"\"\"|'|\")")


# ---- which literals ----

def _call_name(func: ast.expr) -> str:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


def _texts(node: ast.expr | None) -> list[ast.expr]:
    """The string literals `node` evaluates to: itself, or both branches of `a if c else b`."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str) or isinstance(node, ast.JoinedStr):
        return [node]
    if isinstance(node, ast.IfExp):
        return _texts(node.body) + _texts(node.orelse)
    return []


def _elements(node: ast.expr | None) -> list[ast.expr]:
    if isinstance(node, (ast.List, ast.Tuple)):
        return [literal for element in node.elts for literal in _texts(element)]
    return []


def text_literal_nodes(tree: ast.AST) -> list[ast.expr]:
    """The literal nodes of `tree` a student reads as text, in source order."""
    found: list[ast.expr] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and node.exc.args:
            found += _texts(node.exc.args[0])
        if not isinstance(node, ast.Call):
            continue
        name = _call_name(node.func)
        if name in PRINT_CALLS:
            found += [literal for arg in node.args for literal in _texts(arg)]
        elif name in FIRST_ARGUMENT_CALLS and node.args:
            found += _texts(node.args[0])
        elif name in LEGEND_CALLS and node.args:
            found += _elements(node.args[-1] if len(node.args) == 2 else node.args[0])
        for keyword in node.keywords:
            if keyword.arg == "label" or (keyword.arg == "title" and name in LEGEND_CALLS) \
                    or (keyword.arg == "desc" and name in PROGRESS_CALLS):
                found += _texts(keyword.value)
            elif keyword.arg == "labels" and name in LEGEND_CALLS:
                found += _elements(keyword.value)
    unique = {id(node): node for node in found}
    return sorted(unique.values(), key=lambda n: (n.lineno, n.col_offset))


# ---- reading a literal's source ----

@dataclass
class Part:
    """One literal of an implicit concatenation, as written."""
    prefix: str       # e.g. "", "f", "r", "rf"
    quote: str        # ', ", ''' or \"\"\"
    length: int       # characters of the message it contributes
    separator: str    # the source after it, up to the next part ("" for the last)


@dataclass
class Literal:
    msgid: str
    formatted: bool   # an f-string somewhere: the message has {placeholders}
    parts: list[Part]


def _string_end(text: str, start: int) -> int | None:
    """Index just past the quoted string starting at `start` (a quote character)."""
    quote = text[start] * 3 if text.startswith(text[start] * 3, start) else text[start]
    k = start + len(quote)
    while k < len(text) and not text.startswith(quote, k):
        k += 2 if text[k] == "\\" else 1
    return k + len(quote) if k < len(text) else None


def _field_end(text: str, start: int) -> int | None:
    """Index just past the replacement field opening at text[start] == "{"."""
    depth, k = 0, start
    while k < len(text):
        c = text[k]
        if c in "'\"":
            k = _string_end(text, k)
            if k is None:
                return None
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth == 0:
                return k + 1
        k += 1
    return None


def segments(text: str, escapes: bool = False) -> list[tuple[str, str]] | None:
    """An f-string body (or a formatted message) as ("text", run) and ("field", source)
    pairs; runs keep doubled braces. None when the braces do not pair up."""
    out, run, k = [], "", 0
    while k < len(text):
        if escapes and text[k] == "\\":
            step = text.find("}", k) + 1 if text.startswith("\\N{", k) else k + 2
            if step <= k:
                return None
            run, k = run + text[k:step], step
        elif text.startswith(("{{", "}}"), k):
            run, k = run + text[k:k + 2], k + 2
        elif text[k] == "{":
            end = _field_end(text, k)
            if end is None:
                return None
            out += [("text", run), ("field", text[k:end])]
            run, k = "", end
        elif text[k] == "}":
            return None
        else:
            run, k = run + text[k], k + 1
    return out + [("text", run)]


def placeholders(text: str) -> list[str] | None:
    """The replacement fields of a formatted message, sorted; None if they do not parse."""
    parts = segments(text)
    return None if parts is None else sorted(value for kind, value in parts if kind == "field")


def same_placeholders(english: str, translation: str) -> bool:
    """A translation of a formatted message is usable only with the English's fields."""
    return placeholders(translation) == placeholders(english)


def _decode(prefix: str, quote: str, body: str, formatted: bool) -> str | None:
    """The message text of one literal's body."""
    plain = prefix.replace("f", "").replace("F", "")
    try:
        if "f" not in prefix.lower():
            value = ast.literal_eval(plain + quote + body + quote)
            return value.replace("{", "{{").replace("}", "}}") if formatted else value
        pieces = segments(body, escapes="r" not in prefix.lower())
        if pieces is None:
            return None
        return "".join(ast.literal_eval(plain + quote + value + quote) if kind == "text" else value
                       for kind, value in pieces)
    except (SyntaxError, ValueError):
        return None


def parse_literal(source: str) -> Literal | None:
    """The message of a literal's source span (one string or an implicit concatenation).
    None for bytes, for a comment between the parts (it is a message of its own) and for
    anything this reader does not follow."""
    raw_parts, k = [], 0
    while k < len(source):
        match = _PREFIX.match(source, k)
        if not match or "b" in match.group(1).lower():
            return None
        prefix, quote = match.groups()
        body_start = match.end()
        end = _fstring_end(source, body_start, quote) if "f" in prefix.lower() else \
            _string_end(source, match.start(2))
        if end is None:
            return None
        gap = re.match(r"(?:\s|\\\n)*", source[end:]).group(0)
        if end + len(gap) < len(source) and source[end + len(gap)] == "#":
            return None
        raw_parts.append((prefix, quote, source[body_start:end - len(quote)], gap))
        k = end + len(gap)
    formatted = any("f" in prefix.lower() for prefix, *_ in raw_parts)
    parts, texts = [], []
    for index, (prefix, quote, body, gap) in enumerate(raw_parts):
        text = _decode(prefix, quote, body, formatted)
        if text is None:
            return None
        texts.append(text)
        parts.append(Part(prefix, quote, len(text), gap if index < len(raw_parts) - 1 else ""))
    return Literal("".join(texts), formatted, parts) if parts else None


def _fstring_end(source: str, k: int, quote: str) -> int | None:
    """Index just past an f-string whose body starts at k (fields may hold quotes)."""
    while k < len(source):
        if source.startswith(quote, k):
            return k + len(quote)
        if source[k] == "\\":
            k += 2
        elif source.startswith(("{{", "}}"), k):
            k += 2
        elif source[k] == "{":
            k = _field_end(source, k)
            if k is None:
                return None
        else:
            k += 1
    return None


def is_text(literal: Literal) -> bool:
    """A letter outside the placeholders: words a student reads, not layout."""
    runs = segments(literal.msgid) if literal.formatted else [("text", literal.msgid)]
    return runs is not None and any(kind == "text" and _LETTER.search(value) for kind, value in runs)


# ---- writing a translation back ----

def _escape(text: str, quote: str) -> str:
    out = []
    for k, c in enumerate(text):
        if c == "\\":
            out.append("\\\\")
        elif c == quote[0] and (len(quote) == 1 or text[k + 1:k + 2] == c or k == len(text) - 1):
            out.append("\\" + c)
        elif c == "\n" and len(quote) == 1:
            out.append("\\n")
        elif c in "\r\t":
            out.append({"\r": "\\r", "\t": "\\t"}[c])
        elif not c.isprintable() and c != "\n":
            out.append(f"\\x{ord(c):02x}" if ord(c) < 256 else f"\\u{ord(c):04x}" if ord(c) < 65536
                       else f"\\U{ord(c):08x}")
        else:
            out.append(c)
    return "".join(out)


def _raw_ok(text: str, quote: str) -> bool:
    return quote[0] not in text and not text.endswith("\\") and (len(quote) == 3 or "\n" not in text)


def _encode(part: Part, text: str, formatted: bool) -> str:
    """One part's source for `text` (a piece of the message), keeping prefix and quote."""
    pieces = segments(text) if formatted else [("text", text)]
    needs_f = formatted and any(kind == "field" or "{{" in value or "}}" in value for kind, value in pieces)
    prefix = part.prefix + "f" if needs_f and "f" not in part.prefix.lower() else part.prefix
    if "f" not in prefix.lower():
        pieces = [("text", text.replace("{{", "{").replace("}}", "}") if formatted else text)]
    if "r" in prefix.lower() and not all(_raw_ok(v, part.quote) for kind, v in pieces if kind == "text"):
        prefix = prefix.replace("r", "").replace("R", "")
    raw = "r" in prefix.lower()
    body = "".join(value if kind == "field" or raw else _escape(value, part.quote) for kind, value in pieces)
    return prefix + part.quote + body + part.quote


def _breaks(text: str, literal: Literal) -> list[int]:
    """Where to cut `text` into as many parts as the source had: the English where the
    source cut it; a translation at each boundary's fraction of the text, moved to the
    nearest word start outside placeholders (so every line but the last ends in a space)."""
    lengths = [part.length for part in literal.parts]
    if text == literal.msgid:
        return list(itertools.accumulate(lengths))[:-1]
    total = sum(lengths)
    if len(lengths) < 2 or not total:
        return []
    inside = set()
    for start, end in _field_spans(text) if literal.formatted else []:
        inside.update(range(start + 1, end))
    starts = [p for p in range(1, len(text)) if p not in inside and text[p - 1].isspace() and not text[p].isspace()]
    cuts, done = [], 0
    for length in lengths[:-1]:
        done += length
        target = done * len(text) / total
        options = [p for p in starts if p > (cuts[-1] if cuts else 0)]
        if not options:
            break
        cuts.append(min(options, key=lambda p: abs(p - target)))
    return cuts


def _field_spans(text: str) -> list[tuple[int, int]]:
    spans, k = [], 0
    for kind, value in segments(text) or []:
        if kind == "field":
            spans.append((k, k + len(value)))
        k += len(value)
    return spans


def render(literal: Literal, text: str) -> str:
    """The source for `text` in place of the literal, laid out like the original."""
    cuts = _breaks(text, literal)
    chunks = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)])]
    out = []
    for index, chunk in enumerate(chunks):
        part = literal.parts[index]
        out.append(_encode(part, chunk, literal.formatted))
        if index < len(chunks) - 1:
            out.append(part.separator)
    return "".join(out)
