"""`autograder similarity DIR`: rank pairs of submissions that share solution code.

For a human to review, never a verdict: nothing here changes a grade. The approach is
MOSS's (Schleimer, Wilkerson and Aiken, "Winnowing", SIGMOD 2003) on normalised Python
tokens, as JPlag normalises tokens: comments, docstrings, layout and the names a
student chose are gone, so renaming variables or reformatting changes nothing. Code is
compared per exercise (the functions and classes the starter notebook asks for), so
reordering functions changes nothing either. Three filters keep the signal: the released
starter code is subtracted (MOSS's base file), a passage found in many submissions is
ignored (MOSS's -m: the lesson's own idiom, not a copy), and only pairs that share a
rare fingerprint are scored (an inverted index, so 500 students cost far less than
125,000 comparisons).
"""
from __future__ import annotations

import ast
import builtins
import hashlib
import io
import itertools
import keyword
import math
import sys
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

from autograder.cli import UsageError
from autograder.load import LoadError, load_code, strip_ipython

OTHER = "(other code)"          # whatever is not an exercise: helpers, top-level statements
REFERENCE = "[reference]"       # the reference solution, when it joins as a pseudo-student
DISCLAIMER = ("This report ranks pairs of submissions for a person to review. A high score "
              "means shared code beyond the starter notebook; it proves nothing (students may "
              "share an idea from the lesson, or the reference may leak), and nothing in it "
              "changes a grade.")
MAX_SOURCE_CHARS = 2_000_000    # beyond this a file is not student work; it is skipped
_BUILTINS = frozenset(dir(builtins))
_DROPPED = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
            tokenize.ENCODING, tokenize.ENDMARKER}
_STATEMENT_EDGE = {None, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER}
_FSTRING_START = getattr(tokenize, "FSTRING_START", None)   # Python 3.12 splits f-strings
_FSTRING_END = getattr(tokenize, "FSTRING_END", None)


@dataclass(frozen=True)
class Settings:
    k: int = 8                   # tokens per k-gram: shorter matches are chance
    window: int = 4              # winnowing window: any match of k + window - 1 tokens is seen
    common_share: float = 0.1    # a fingerprint in more than this share of the class ...
    common_min: int = 10         # ... and in more than this many submissions is ignored
    min_exercise_prints: int = 10  # a score resting on fewer (a few lines) is scaled down

    def common_limit(self, submissions: int) -> int:
        return max(self.common_min, math.ceil(self.common_share * submissions))


@dataclass
class Unit:
    """One exercise of one submission: its text and its winnowed fingerprints, each with
    the (first, last) line of the unit text its k-gram spans."""
    source: str
    prints: dict[int, list[tuple[int, int]]] = field(default_factory=dict)


@dataclass
class Entry:
    student: str
    path: str
    units: dict[str, Unit] = field(default_factory=dict)

    def size(self, exercise: str) -> int:
        unit = self.units.get(exercise)
        return len(unit.prints) if unit else 0


@dataclass
class PairScore:
    a: Entry
    b: Entry
    exercises: dict[str, float]        # similarity per exercise, 0..1
    shared: dict[str, set[int]]        # the fingerprints behind it, per exercise
    overall: float                     # shared / comparable code over all exercises
    review: float                      # the ranking key: overall, or one whole exercise copied
    matched_lines: tuple[int, int]     # lines of a and of b inside shared k-grams


# ---- tokens -------------------------------------------------------------------------

def import_aliases(sources: list[str]) -> dict[str, str]:
    """{local name: module path} for every import, so `import numpy as arr` reads like
    `import numpy as np`: a renamed alias is a renamed variable."""
    aliases: dict[str, str] = {}
    for source in sources:
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    aliases[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
            elif isinstance(node, ast.ImportFrom) and node.module:
                for a in node.names:
                    aliases[a.asname or a.name] = f"{node.module}.{a.name}"
    return aliases


def _raw_tokens(text: str) -> list[tokenize.TokenInfo]:
    tokens = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            tokens.append(tok)
    except (tokenize.TokenError, SyntaxError):  # unfinished code still has its first tokens
        pass
    return tokens


def normalized_tokens(text: str, aliases: dict[str, str]) -> list[tuple[str, int]]:
    """(token, line) pairs with the student's choices normalised away: names they bound
    become V (API names after a dot, builtins, imports and keyword arguments stay, they
    carry what the code does), strings become S, docstrings, comments, layout and
    trailing commas go."""
    raw = [t for t in _raw_tokens(text) if t.type not in (tokenize.COMMENT, tokenize.NL)]
    out: list[tuple[str, int]] = []
    depth, skip_fstring = 0, 0
    for i, tok in enumerate(raw):
        if skip_fstring:
            skip_fstring += (tok.type == _FSTRING_START) - (tok.type == _FSTRING_END)
            continue
        prev = raw[i - 1] if i else None
        nxt = raw[i + 1] if i + 1 < len(raw) else None
        if tok.type in _DROPPED:
            continue
        line = tok.start[0]
        if tok.type == tokenize.STRING or tok.type == _FSTRING_START:
            if tok.type == _FSTRING_START:
                skip_fstring = 1
                nxt = _after_fstring(raw, i)
            if (prev.type if prev else None) in _STATEMENT_EDGE and (nxt.type if nxt else None) in _STATEMENT_EDGE:
                continue  # a string that is a whole statement: a docstring
            out.append(("S", line))
        elif tok.type == tokenize.NAME:
            out.append((_name(tok.string, raw, i, depth, aliases), line))
        elif tok.type == tokenize.OP:
            depth += tok.string in "([{"
            depth -= tok.string in ")]}"
            if tok.string == ";" or (tok.string == "," and nxt is not None and nxt.string in ")]}"):
                continue
            out.append((tok.string, line))
        else:
            out.append((tok.string, line))
    return out


def _after_fstring(raw: list, start: int):
    level = 0
    for tok in raw[start:]:
        level += (tok.type == _FSTRING_START) - (tok.type == _FSTRING_END)
        if level == 0:
            index = raw.index(tok, start) + 1
            return raw[index] if index < len(raw) else None
    return None


def _name(name: str, raw: list, i: int, depth: int, aliases: dict[str, str]) -> str:
    if keyword.iskeyword(name) or name in ("self", "cls"):
        return name
    if i >= 1 and raw[i - 1].string == ".":
        # `self.conv1` is the student's name for a layer; `x.view` is torch's.
        return "V" if i >= 2 and raw[i - 2].string == "self" else name
    if name in aliases:
        return aliases[name]
    if name in _BUILTINS:
        return name
    if depth and i + 1 < len(raw) and raw[i + 1].string == "=":
        return name  # a keyword argument: the callee's name (dtype=, dim=), not the student's
    return "V"


# ---- fingerprints -------------------------------------------------------------------

def kgram_hashes(tokens: list[tuple[str, int]], k: int) -> list[int]:
    # A stable hash (not hash(), which is salted per process) so workers agree.
    words = [t for t, _ in tokens]
    return [int.from_bytes(hashlib.blake2b("\x1f".join(words[i:i + k]).encode(), digest_size=8).digest(), "big")
            for i in range(len(words) - k + 1)]


def winnow(hashes: list[int], window: int) -> list[int]:
    """Positions of the fingerprints: the rightmost minimum of each window (robust
    winnowing); a sequence shorter than one window keeps its minimum."""
    if not hashes:
        return []
    if len(hashes) <= window:
        return [min(range(len(hashes)), key=lambda p: (hashes[p], -p))]
    chosen, last = [], -1
    for start in range(len(hashes) - window + 1):
        best = min(range(start, start + window), key=lambda p: (hashes[p], -p))
        if best != last:
            chosen.append(best)
            last = best
    return chosen


def split_units(sources: list[str], exercises: list[str]) -> dict[str, tuple[str, list[tuple[int, int]]]]:
    """{exercise: (unit text, segments)} from a submission's cells. A segment is a line
    range of the unit text fingerprinted on its own, so k-grams never span two methods
    or two helpers and their order does not matter. A later definition replaces an
    earlier one, as it does when the notebook runs."""
    wanted = set(exercises)
    units: dict[str, tuple[list[str], list[tuple[int, int]]]] = {}
    for source in sources:
        lines = source.split("\n")
        try:
            body = ast.parse(source).body
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            _add(units, OTHER, lines, [(0, len(lines))], replace=False)
            continue
        loose: list[str] = []
        for stmt in body:
            first, last = _span(stmt)
            text = lines[first:last]
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = stmt.name if stmt.name in wanted else OTHER
                _add(units, name, text, _inner_segments(stmt, first, last), replace=name != OTHER)
            else:
                loose.extend(text)
        if loose:
            _add(units, OTHER, loose, [(0, len(loose))], replace=False)
    return {name: ("\n".join(text), segments) for name, (text, segments) in units.items()}


def _span(stmt: ast.stmt) -> tuple[int, int]:
    first = min([stmt.lineno] + [d.lineno for d in getattr(stmt, "decorator_list", [])])
    return first - 1, stmt.end_lineno or stmt.lineno


def _inner_segments(stmt: ast.stmt, first: int, last: int) -> list[tuple[int, int]]:
    if not isinstance(stmt, ast.ClassDef) or not stmt.body:
        return [(0, last - first)]
    spans = [_span(s) for s in stmt.body]
    segments = [(0, spans[0][0] - first)] if spans[0][0] > first else []
    return segments + [(a - first, b - first) for a, b in spans]


def _add(units: dict, name: str, text: list[str], segments: list[tuple[int, int]], replace: bool) -> None:
    if replace or name not in units:
        units[name] = ([], [])
    lines, spans = units[name]
    offset = len(lines) + (1 if lines else 0)
    if lines:
        lines.append("")
    lines.extend(text)
    spans.extend((offset + a, offset + b) for a, b in segments)


def segment_tokens(text: str, segments, aliases: dict[str, str]):
    lines = text.split("\n")
    for start, end in segments:
        tokens = normalized_tokens("\n".join(lines[start:end]) + "\n", aliases)
        yield [(t, start + line) for t, line in tokens]  # 1-based line in the unit text


def fingerprint_units(sources: list[str], exercises: list[str], aliases: dict[str, str],
                      settings: Settings) -> dict[str, Unit]:
    units = {}
    for name, (text, segments) in split_units(sources, exercises).items():
        unit = Unit(text)
        for tokens in segment_tokens(text, segments, aliases):
            hashes = kgram_hashes(tokens, settings.k)
            for pos in winnow(hashes, settings.window):
                span = (tokens[pos][1], tokens[pos + settings.k - 1][1])
                unit.prints.setdefault(hashes[pos], []).append(span)
        units[name] = unit
    return units


def all_kgrams(sources: list[str], exercises: list[str], aliases: dict[str, str], settings: Settings) -> set[int]:
    """Every k-gram of the starter code (not only the winnowed ones): the base to subtract."""
    found: set[int] = set()
    for text, segments in split_units(sources, exercises).values():
        for tokens in segment_tokens(text, segments, aliases):
            found.update(kgram_hashes(tokens, settings.k))
    for source in sources:  # whole cells too, for statements the split groups differently
        found.update(kgram_hashes(normalized_tokens(source, aliases), settings.k))
    return found


# ---- scoring ------------------------------------------------------------------------

def subtract(entries: list[Entry], base: set[int]) -> None:
    for entry in entries:
        for unit in entry.units.values():
            unit.prints = {h: spans for h, spans in unit.prints.items() if h not in base}


def rare_fingerprints(entries: list[Entry], settings: Settings) -> dict[tuple[str, int], list[int]]:
    """The inverted index {(exercise, fingerprint): submissions holding it}, without the
    fingerprints so common they are the lesson's idiom rather than a copy."""
    index: dict[tuple[str, int], list[int]] = {}
    for number, entry in enumerate(entries):
        for exercise, unit in entry.units.items():
            for h in unit.prints:
                index.setdefault((exercise, h), []).append(number)
    limit = settings.common_limit(len(entries))
    return {key: holders for key, holders in index.items() if len(holders) <= limit}


def candidate_pairs(index: dict[tuple[str, int], list[int]]) -> set[tuple[int, int]]:
    pairs: set[tuple[int, int]] = set()
    for holders in index.values():
        if len(holders) > 1:
            pairs.update(itertools.combinations(holders, 2))
    return pairs


def score_pair(a: Entry, b: Entry, exercises: list[str], settings: Settings,
               distinctive_a: dict[str, set[int]] | None = None,
               distinctive_b: dict[str, set[int]] | None = None) -> PairScore:
    """Per exercise: shared distinctive fingerprints (not common in the class) over the
    smaller side's distinctive fingerprints, so copying into longer code still shows and
    the lesson's idiom neither raises nor dilutes it; overall: the same summed over the
    exercises, so a large exercise weighs more than a one-liner. The review key is the
    higher of overall and the best exercise, each scaled down when it rests on fewer
    than `min_exercise_prints` fingerprints: one whole non-trivial exercise copied out
    of five ranks a pair high, a matching one-liner does not."""
    own_a = distinctive_a if distinctive_a is not None else {e: set(u.prints) for e, u in a.units.items()}
    own_b = distinctive_b if distinctive_b is not None else {e: set(u.prints) for e, u in b.units.items()}
    sims, shared, matched, comparable, review = {}, {}, 0, 0, 0.0
    for exercise in exercises:
        pa, pb = own_a.get(exercise, set()), own_b.get(exercise, set())
        smaller = min(len(pa), len(pb))
        shared[exercise] = pa & pb
        sims[exercise] = len(shared[exercise]) / smaller if smaller else 0.0
        matched += len(shared[exercise])
        comparable += smaller
        review = max(review, sims[exercise] * min(1.0, smaller / settings.min_exercise_prints))
    overall = matched / comparable if comparable else 0.0
    review = max(review, overall * min(1.0, comparable / settings.min_exercise_prints))
    lines = (_matched_lines(a, shared), _matched_lines(b, shared))
    return PairScore(a, b, sims, shared, overall, review, lines)


def _matched_lines(entry: Entry, shared: dict[str, set[int]]) -> int:
    return sum(len(matched_line_numbers(entry.units[e], hashes)) for e, hashes in shared.items() if hashes)


def matched_line_numbers(unit: Unit, hashes: set[int]) -> set[int]:
    lines: set[int] = set()
    for h in hashes:
        for first, last in unit.prints.get(h, ()):
            lines.update(range(first, last + 1))
    return lines


def rank_pairs(entries: list[Entry], exercises: list[str], settings: Settings,
               progress: bool = False) -> list[PairScore]:
    """Every pair that shares a distinctive fingerprint, best first (all others score 0)."""
    index = rare_fingerprints(entries, settings)
    distinctive = [{e: {h for h in u.prints if (e, h) in index} for e, u in entry.units.items()}
                   for entry in entries]
    scored = [score_pair(entries[i], entries[j], exercises, settings, distinctive[i], distinctive[j])
              for i, j in _progress(sorted(candidate_pairs(index)), progress, "pairs")]
    scored = [s for s in scored if s.review > 0]
    scored.sort(key=lambda s: (-s.review, -s.overall, -sum(s.matched_lines), s.a.student, s.b.student))
    return scored


def _progress(items, enabled: bool, unit: str):
    if not enabled:
        return items
    from tqdm import tqdm
    return tqdm(items, file=sys.stderr, unit=unit, dynamic_ncols=True, leave=False)


# ---- one assignment of a class ------------------------------------------------------

@dataclass
class Starter:
    exercises: list[str]
    sources: list[str]


def read_starter(notebook: Path) -> Starter:
    """The exercises (the names defined in nbgrader solution cells) and every code cell
    of the released notebook, demos and self-checks included: all of it is base code."""
    import nbformat
    try:
        cells = nbformat.read(str(notebook), as_version=4).cells
    except Exception as exc:  # nbformat raises many types for a corrupt file
        raise UsageError(f"cannot read the starter notebook {notebook}: {str(exc).splitlines()[0]}") from None
    exercises, sources = [], []
    for cell in cells:
        if cell.get("cell_type") != "code":
            continue
        source = strip_ipython(cell.get("source", ""))
        sources.append(source)
        if (cell.get("metadata", {}).get("nbgrader") or {}).get("solution"):
            try:
                exercises += [s.name for s in ast.parse(source).body
                              if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
            except SyntaxError:
                pass
    return Starter(list(dict.fromkeys(exercises)), sources)


def fingerprint_file(task: tuple) -> Entry | str:
    """One student's file -> Entry, or a one-line note why it was skipped (runs in a worker)."""
    student, path, starter, settings = task
    try:
        code = load_code(path)
    except LoadError as exc:
        return f"{student}: skipped, {exc}"
    sources = [cell.source for cell in code.cells]
    if sum(map(len, sources)) > MAX_SOURCE_CHARS:
        return f"{student}: skipped, {Path(path).name} holds over {MAX_SOURCE_CHARS:,} characters of code"
    aliases = import_aliases(starter.sources + sources)
    entry = Entry(student, str(path), fingerprint_units(sources, starter.exercises, aliases, settings))
    return entry
