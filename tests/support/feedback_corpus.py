"""What students actually read, gathered from real gradings, for the feedback coverage test.

The corpus: every hidden and visible test run against the blank stubs, the references
and each of the kit's mutants (in process, through the real plugin), the visible tests
as a notebook's check() runs them, and a few submissions that fault in every way the
sandbox reports (load errors, demo data at grading, a kit import, a loop that never
ends, exits, a crash, a missing and an unreadable notebook). Each grading gives an
English report; tests/i18n/test_feedback_coverage.py shows it in every language through every
writer a student reads and collects what the translator could not translate.
"""
from __future__ import annotations

import contextlib
import json
import re
from dataclasses import replace
from pathlib import Path


from submissions import sources
from submissions.mutants import MUTANTS

ASSIGNMENTS = ("01_tensors", "02_numpy_bridge", "03_autograd", "04_lenet", "05_training", "06_cuda")


def failing_accuracy(*args, **kwargs):
    """An accuracy result that fails both accuracy checks: their messages are feedback
    too, and a real failing training run costs seconds."""
    from autograder.accuracy import AccuracyResult
    return AccuracyResult(grader_accuracy=0.11, student_eval_accuracy=0.4, grader_validation_accuracy=0.12,
                          threshold=0.57, agreement=0.02)


@contextlib.contextmanager
def accuracy_stand_in(result):
    import autograder.accuracy as accuracy
    real = accuracy.measure_accuracy
    accuracy.measure_accuracy = result
    try:
        yield
    finally:
        accuracy.measure_accuracy = real


def stub_source(assignment: str) -> str:
    from autograder.load import load_code
    return load_code(sources.ROOT / "assignments" / assignment / f"{assignment}.ipynb").source


def in_process_sources() -> dict[str, tuple[str, str]]:
    """{label: (assignment, source)}: stubs, references, mutants."""
    found = {}
    for a in ASSIGNMENTS:
        found[f"stub:{a}"] = (a, stub_source(a))
        found[f"reference:{a}"] = (a, sources.reference_source(a))
    for name, mutant in MUTANTS.items():
        found[f"mutant:{name}"] = (mutant.assignment, sources.variant_source(mutant))
    return found


def graded_in_process(course) -> dict[str, dict]:
    """{label: English report dict of one assignment} for every in-process source."""
    from autograder.grading import grade_source
    reports = {}
    for label, (assignment, source) in in_process_sources().items():
        stand_in = failing_accuracy if label.startswith("mutant:") else sources.stand_in_accuracy
        with accuracy_stand_in(stand_in):
            result = grade_source(assignment, source, backend="inprocess", course=course, device="cpu")
        reports[label] = {"schema": "autograder.report/1", "submission": label, "language": "en",
                          "environment": {"device": "cpu", "cuda_policy": "exclude", "cuda_checks": "excluded"},
                          "assignments": [result.to_dict()]}
    return reports


def self_check_outcomes() -> dict[str, tuple[str, list]]:
    """{label: (assignment, outcomes of its visible tests)} as a notebook's check() gets them."""
    from autograder.selfcheck.runner import run_visible
    from autograder.submission import InProcessSubmission, namespace_from_source
    found = {}
    for label, (assignment, source) in in_process_sources().items():
        namespace = namespace_from_source(source, "<notebook>")
        found[label] = (assignment, run_visible(assignment, InProcessSubmission(namespace, assignment), device="cpu"))
    return found


# ---- submissions that fault (graded in the sandbox) ----

def notebook(cells: list[str], assignment: str) -> str:
    return json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {"autograder": {"assignment": assignment}},
                       "cells": [{"cell_type": "code", "metadata": {}, "source": c, "outputs": [],
                                  "execution_count": None, "id": f"c{i}"} for i, c in enumerate(cells)]})


FAULTS = {
    # a demo-data cell left untagged, a syntax error, a kit import, a function that
    # raises, one that returns nothing, the rest missing
    "01_tensors/01_tensors.ipynb": notebook([
        "import torch\nfrom autograder.data import demo_loaders\n",
        "def make_empty(rows, cols)\n    return torch.empty(rows, cols)\n",
        "import autograder.expect\n",
        "def make_uniform(rows, cols):\n    raise ValueError('rows must be positive')\n",
        "def zeros_long(rows, cols):\n    torch.zeros(rows, cols, dtype=torch.long)\n",
    ], "01_tensors"),
    # top-level code that never finishes
    "02_numpy_bridge/02_numpy_bridge.py": "import torch\nwhile True:\n    pass\n",
    # exits inside a graded function
    "03_autograd/03_autograd.py": "import sys\ndef tracked_ones(rows, cols):\n    sys.exit(3)\n",
    # a crash: the process dies on a signal
    "04_lenet/04_lenet.py": ("import ctypes, torch\nfrom torch import nn\n"
                             "class GrayLeNet(nn.Module):\n    def __init__(self):\n        ctypes.string_at(0)\n"),
    # a notebook that is not JSON
    "06_cuda/06_cuda.ipynb": "{ this is not a notebook",
    # 05_training: no file at all
}


def fault_course(course):
    """The course with short limits, so the loop that never ends costs seconds."""
    limits = replace(course.limits, test_timeout_s=5.0, submission_timeout_s=12.0, cpu_time_s=60.0)
    return replace(course, limits=limits)


def graded_faults(course, folder: Path) -> dict:
    """The English report dict of the fault submissions, graded in the sandbox."""
    from autograder.grading import grade_path
    for rel, text in FAULTS.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    with accuracy_stand_in(failing_accuracy):
        return grade_path(str(folder), fault_course(course), device="cpu").to_dict()


# ---- English left in what a student reads ----

# Common English words that are not Vietnamese words too ("to", "do", "an", "in" are).
ENGLISH_WORDS = frozenset({
    "the", "is", "are", "of", "and", "with", "for", "this", "that", "from", "not", "was", "were", "should",
    "returned", "expected", "your", "you", "into", "has", "have", "when", "which", "but", "got", "does",
    "did", "its", "must", "could", "would", "been", "than", "only", "after", "before", "every", "each",
    "still", "what", "their", "there", "then", "use", "called", "points", "passed", "failed",
    "written", "yet", "cell", "line", "test", "tests", "hidden", "result",
})
_QUOTED = re.compile(r"`[^`]*`|'[^'\n]*'|\"[^\"\n]*\"|<[^<>\n]*>")
# An exception's text quoted inside a line runs to the end of that line.
_EXCEPTION_TAIL = re.compile(r"\b[A-Za-z_][\w.]*(?:Error|Exception|Warning|Interrupt|Exit): .*$")


def english_words(text: str) -> list[str]:
    """English words left in a line a student reads, outside code (identifiers, calls,
    backticks) and quoted text (an exception's own text, PyTorch's or the student's, is
    quoted verbatim)."""
    from autograder.localize import is_verbatim
    found = []
    for line in text.split("\n"):
        if is_verbatim(line):
            continue
        line = _EXCEPTION_TAIL.sub(" ", _QUOTED.sub(" ", line))
        for token in line.split():
            word = token.strip(",.;:!?()[]{}")
            if word.isalpha() and word.islower() and word in ENGLISH_WORDS:
                found.append(word)
    return found


_SENTENCE_START = re.compile(r"(?<![.\d])\. (\S+)")


def lowercase_sentence_starts(text: str) -> list[str]:
    """Words that start a sentence after ". " in lowercase (a hint glued to a message):
    code (`x.detach()`, a one-letter variable) may, prose may not."""
    text = _QUOTED.sub(" ", text)
    return [w for w in _SENTENCE_START.findall(text)
            if w[:1].islower() and w.rstrip(",;:").isalpha() and len(w.rstrip(",;:")) > 1]
