"""`autograder similarity DIR`: rank pairs of submissions by the distinctive code they share.

For a human to review, never a verdict: nothing here changes a grade. Code is read as
normalised token streams (autograder/similarity/tokens.py and similarity_normalize.py:
names, layout, comments, noise statements, split expressions, rewritten loops, moved
constants and statement order normalised away, as JPlag normalises tokens) and
fingerprinted by winnowing as MOSS does (Schleimer, Wilkerson and Aiken, "Winnowing",
SIGMOD 2003). The released starter code is subtracted (MOSS's base file). A pair's score
is the log-likelihood ratio of "one copied the other" against "both wrote it alone"
(Weights): each fingerprint the two share adds an inverse document frequency, large for
code only they wrote alike and near 0 for the lesson's idiom that many students write;
each fingerprint one has and the other lacks subtracts. So the score grows with the
amount of distinctive code in common across the whole submission, and a copied notebook
outranks a shared line of the lesson by far. docs/similarity.md gives the formulas.
"""
from __future__ import annotations

import ast
import hashlib
import math
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from autograder.course import UsageError
from autograder.load import LoadError, load_code, strip_ipython
from autograder.similarity.tokens import OTHER, Token, import_aliases, normalized_tokens, split_units

__all__ = ["OTHER", "REFERENCE", "DISCLAIMER", "Settings", "Unit", "Entry", "PairScore", "Starter",
           "Weights", "rank_pairs", "shared_lines", "fingerprint_file", "read_starter", "all_kgrams",
           "subtract", "import_aliases", "normalized_tokens", "progress"]

REFERENCE = "[reference]"       # the reference solution, when it joins as a pseudo-student
DISCLAIMER = ("This report ranks pairs of submissions for a person to review. A high score "
              "means shared code beyond the starter notebook; it proves nothing (students may "
              "share an idea from the lesson, or the reference may leak), and nothing in it "
              "changes a grade.")
MAX_SOURCE_CHARS = 2_000_000    # beyond this a file is not student work; it is skipped
_MATRIX_CELLS = 8_000_000       # submissions x fingerprints held in memory at once (32 MB)


@dataclass(frozen=True)
class Settings:
    k: int = 6                   # tokens per k-gram (about one line of code): shorter matches are chance
    window: int = 4              # winnowing window: any match of k + window - 1 tokens is seen


@dataclass
class Unit:
    """One exercise of one submission: its text and its winnowed fingerprints, each with
    the lines of the unit text its k-gram covers."""
    source: str
    prints: dict[int, tuple[int, ...]] = field(default_factory=dict)


@dataclass
class Entry:
    student: str
    path: str
    units: dict[str, Unit] = field(default_factory=dict)

    def fingerprints(self) -> set[int]:
        return {h for unit in self.units.values() for h in unit.prints}


@dataclass
class PairScore:
    a: Entry
    b: Entry
    review: float                      # the ranking: evidence of copying over the whole submission
    overall: float                     # share of one side's distinctive code the other holds, 0..1
    exercises: dict[str, float]        # evidence of copying, exercise by exercise
    matched_lines: tuple[int, int]     # lines of a and of b inside fingerprints the other holds


# ---- fingerprints -------------------------------------------------------------------

_TOKEN_IDS: dict[str, int] = {}


def _token_id(text: str) -> int:
    # A stable number per token (hash() of a string is salted per process, so workers
    # would disagree); a k-gram is then hashed as a tuple of ints, which is not salted.
    found = _TOKEN_IDS.get(text)
    if found is None:
        found = _TOKEN_IDS[text] = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")
    return found


def kgram_hashes(tokens: list[Token], k: int) -> list[int]:
    ids = [_token_id(t) for t, _, _ in tokens]
    return [hash(tuple(ids[i:i + k])) for i in range(len(ids) - k + 1)]


def winnow(hashes: list[int], window: int) -> list[int]:
    """Positions of the fingerprints: the rightmost minimum of each window (robust
    winnowing), each recorded once; a sequence shorter than one window keeps its minimum."""
    if not hashes:
        return []
    if len(hashes) <= window:
        low = min(hashes)
        return [len(hashes) - 1 - hashes[::-1].index(low)]
    chosen, best = [], -1
    for end in range(window - 1, len(hashes)):
        start = end - window + 1
        if best >= start:  # the last minimum is still in the window: only the new hash can beat it
            if hashes[end] <= hashes[best]:
                best = end
                chosen.append(best)
            continue
        part = hashes[start:end + 1]
        low = min(part)
        best = end - part[::-1].index(low)
        chosen.append(best)
    return chosen


def fingerprint_units(sources: list[str], exercises: list[str], aliases: dict[str, str],
                      settings: Settings) -> dict[str, Unit]:
    units = {}
    for name, code in split_units(sources, exercises, aliases).items():
        prints: dict[int, set[int]] = {}
        for tokens in code.streams:
            hashes = kgram_hashes(tokens, settings.k)
            for pos in winnow(hashes, settings.window):
                lines = prints.setdefault(hashes[pos], set())
                for _, lo, hi in tokens[pos:pos + settings.k]:
                    lines.update(range(lo, hi + 1))
        units[name] = Unit(code.text, {h: tuple(sorted(lines - {0})) for h, lines in prints.items()})
    return units


def all_kgrams(sources: list[str], exercises: list[str], aliases: dict[str, str], settings: Settings) -> set[int]:
    """Every k-gram of the starter code (not only the winnowed ones): the base to subtract."""
    found: set[int] = set()
    for code in split_units(sources, exercises, aliases).values():
        for tokens in code.streams:
            found.update(kgram_hashes(tokens, settings.k))
    for source in sources:  # whole cells too, for statements the split groups differently
        found.update(kgram_hashes([(t, line, line) for t, line in normalized_tokens(source, aliases)], settings.k))
    return found


def subtract(entries: list[Entry], base: set[int]) -> None:
    for entry in entries:
        for unit in entry.units.values():
            unit.prints = {h: lines for h, lines in unit.prints.items() if h not in base}


# ---- scoring ------------------------------------------------------------------------

@dataclass(frozen=True)
class Weights:
    """What one fingerprint says about a pair, from how many other submissions hold it.

    Submission b holds a copy of a's code, or the two were written independently: the
    log-likelihood ratio of the two is

        E(a->b) = sum over a's fingerprints h of  log(q / p_h)              if b holds h
                                                  log((1 - q) / (1 - p_h))  if not

    p_h = (n_h + 1/2) / (N - 1), n_h the number of the other N - 2 submissions holding h
    (the chance b wrote it independently, with half a pseudo-count), q the share of a
    copied passage's fingerprints still found in the copy after normalisation. The first
    term is an inverse document frequency: about log(2N) for code only these two wrote
    alike, near 0 for the lesson's idiom. The second charges for code of a's that b does
    not have, so a pair that shares the idiom, or one passage, but differs elsewhere does
    not look like a copy. Terms keep their sign: sharing never counts against a pair, a
    difference never for it."""
    submissions: int
    survive: float = 0.99       # q: normalisation leaves nearly all of a copy's fingerprints
    prior: float = 0.5          # pseudo-count: code nobody else wrote is not impossible to write

    def share(self, others: int) -> float:
        return (others + self.prior) / (self.submissions - 2 + 2 * self.prior)

    def shared(self, holders: int) -> float:
        """log(q / p_h) for a fingerprint both hold (holders counts the pair)."""
        return max(0.0, math.log(self.survive / self.share(max(holders - 2, 0))))

    def missing(self, holders: int) -> float:
        """log((1 - q) / (1 - p_h)) for a fingerprint only one of the pair holds."""
        rest = 1 - self.share(holders - 1)
        return min(0.0, math.log((1 - self.survive) / rest)) if rest > 0 else 0.0  # rest <= 0: all hold it


def rank_pairs(entries: list[Entry], exercises: list[str], model=Weights,
               single_exercise_pairs: int = 25) -> tuple[list[PairScore], dict[int, float]]:
    """Every pair with positive evidence, best first, and the weight (0..1 of the
    largest possible) of every fingerprint two or more submissions hold.

    review_score(a, b) = max(0, E(a->b), E(b->a)), where E(a->b) is the log-likelihood
    ratio (Weights) over all of a's fingerprints against b's: it grows with the amount
    of distinctive code the pair shares, and code one has that the other lacks counts
    against it, so two students who share the lesson's idiom, or one uncommon passage
    among code that differs, score far below a copied notebook. exercise:<name> is the
    same ratio over one exercise (in its better direction, 0 when negative): a single
    copied exercise shows there even when the rest of the pair's code differs, and the
    `single_exercise_pairs` pairs strongest there are listed whatever their score. All
    pairs are scored at once as matrix products (submissions x fingerprints): a class of
    500 (124,750 pairs) takes seconds."""
    import numpy as np

    n = len(entries)
    if n < 2:
        return [], {}
    weights = model(n)
    held = [entry.fingerprints() for entry in entries]
    holders = Counter(h for prints in held for h in prints)
    common = [h for h, count in holders.items() if count > 1]
    column = {h: i for i, h in enumerate(common)}
    missing = [weights.missing(count) for count in range(n + 1)]
    gain = np.array([weights.shared(holders[h]) for h in common], dtype=np.float32)
    cost = np.array([missing[holders[h]] for h in common], dtype=np.float32)

    def columns(prints) -> list[int]:
        return [column[h] for h in prints if h in column]

    def charge(prints) -> float:  # as if the other side held none of them
        return sum(missing[holders[h]] for h in prints)

    everything = [columns(p) for p in held]
    one_way, parts = np.zeros((n, n)), {}
    for exercise in exercises:
        prints = [entry.units[exercise].prints if exercise in entry.units else {} for entry in entries]
        evidence = np.array([charge(p) for p in prints])[:, None] + \
            _shared_weight([columns(p) for p in prints], everything, gain - cost, n)
        one_way += evidence
        parts[exercise] = np.maximum(0.0, np.maximum(evidence, evidence.T))
    review = np.maximum(0.0, np.maximum(one_way, one_way.T))
    rarity = np.maximum(np.array([-charge(p) for p in held]), 1e-9)[:, None]
    covered = _shared_weight(everything, everything, -cost, n) / rarity
    overall = np.round(np.minimum(1.0, np.maximum(covered, covered.T)), 6)  # float32 sums: 0.9999999 is 1

    listed = np.triu(review, 1) > 1e-6
    if parts:  # and the pairs with the strongest single exercise, for a copy of one exercise
        best_part = np.triu(np.max(np.stack(list(parts.values())), axis=0), 1)
        strongest = np.argsort(best_part, axis=None)[::-1][:single_exercise_pairs]
        listed.flat[strongest[best_part.flat[strongest] > 1e-6]] = True
    first, second = np.nonzero(listed)
    pairs = []
    for i, j in zip(first.tolist(), second.tolist()):
        lines = (_matched_lines(entries[i], held[j]), _matched_lines(entries[j], held[i]))
        pairs.append(PairScore(entries[i], entries[j], float(review[i, j]), float(overall[i, j]),
                               {e: float(m[i, j]) for e, m in parts.items()}, lines))
    pairs.sort(key=lambda p: (-round(p.review, 6), -p.overall, p.a.student, p.b.student))
    top = weights.shared(2) or 1.0
    return pairs, {h: float(g) / top for h, g in zip(common, gain.tolist())}


def _shared_weight(rows: list[list[int]], others: list[list[int]], weight, n: int):
    """S[i, j] = sum of the weights of the columns row i holds and others[j] holds too, as
    (A * w) @ B.T over dense slices of the 0/1 matrices A and B, a few MB at a time."""
    import numpy as np

    out = np.zeros((n, n))
    if not len(weight):
        return out
    width = max(1, _MATRIX_CELLS // max(n, 1))
    indexed = []
    for lists in (rows, others):
        row = np.repeat(np.arange(n), [len(r) for r in lists])
        indexed.append((row, np.fromiter((c for r in lists for c in r), dtype=np.int64, count=len(row))))
    for start in range(0, len(weight), width):
        blocks = []
        for row, col in indexed:
            inside = (col >= start) & (col < start + width)
            block = np.zeros((n, min(width, len(weight) - start)), dtype=np.float32)
            block[row[inside], col[inside] - start] = 1.0
            blocks.append(block)
        out += (blocks[0] * weight[start:start + blocks[0].shape[1]]) @ blocks[1].T
    return out


def _matched_lines(entry: Entry, other: set[int]) -> int:
    """Lines of entry inside fingerprints the other submission holds."""
    count = 0
    for unit in entry.units.values():
        lines: set[int] = set()
        for h, unit_lines in unit.prints.items():
            if h in other:
                lines.update(unit_lines)
        count += len(lines)
    return count


def shared_lines(pair: PairScore, weights: dict[int, float]) -> dict[str, tuple[dict[int, float], dict[int, float]]]:
    """{exercise: (lines of a, lines of b)} inside fingerprints the other side holds,
    each line with the highest weight among them (the report shades by it)."""
    held = (pair.b.fingerprints(), pair.a.fingerprints())
    out = {}
    for exercise in dict.fromkeys(list(pair.a.units) + list(pair.b.units)):
        sides = []
        for entry, other in zip((pair.a, pair.b), held):
            marks: dict[int, float] = {}
            unit = entry.units.get(exercise)
            for h, unit_lines in (unit.prints.items() if unit else ()):
                if h in other and weights.get(h, 0.0) > 0:
                    for line in unit_lines:
                        marks[line] = max(marks.get(line, 0.0), weights[h])
            sides.append(marks)
        if sides[0] or sides[1]:
            out[exercise] = (sides[0], sides[1])
    return out


# ---- one assignment of a class ------------------------------------------------------

@dataclass
class Starter:
    exercises: list[str]
    sources: list[str]

    @property
    def aliases(self) -> dict[str, str]:
        return import_aliases(self.sources)


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
    student, path, starter, aliases, settings = task
    try:
        code = load_code(path)
    except LoadError as exc:
        return f"{student}: skipped, {exc}"
    sources = [cell.source for cell in code.cells]
    if sum(map(len, sources)) > MAX_SOURCE_CHARS:
        return f"{student}: skipped, {Path(path).name} holds over {MAX_SOURCE_CHARS:,} characters of code"
    try:
        units = fingerprint_units(sources, starter.exercises, aliases, settings)
    except RecursionError:
        return f"{student}: skipped, {Path(path).name} nests code too deeply to compare"
    return Entry(student, str(path), units)


def progress(items, enabled: bool, unit: str):
    """A progress bar on stderr when asked and stderr is a terminal (never in a CI log)."""
    if not enabled or not sys.stderr.isatty():
        return items
    from tqdm import tqdm
    return tqdm(items, file=sys.stderr, unit=unit, dynamic_ncols=True, leave=False)
