"""Feedback coverage measured on what students actually read (issue 21).

Every hidden and visible test runs against the blank stubs, the references and each of
the kit's mutants, and a few submissions fault in every way the sandbox reports
(tests/support/feedback_corpus.py). Each resulting report is shown in every language the kit has
a feedback catalog for, through everything a student reads: the JSON report's names,
messages, notes and load errors, the text report (its frame included), the nbgrader grade
cells and the notebook's check() summary. A line fails the test when the translator
found no entry for an English fragment of it (localize.Translator.misses) or when
English words are left in it outside code and quoted exception text.
"""
from __future__ import annotations


import pytest

import feedback_corpus as corpus

from autograder import localize  # noqa: E402

LANGUAGES = [language for language in localize.available_languages() if language != localize.SOURCE_LANGUAGE]


@pytest.fixture(scope="module")
def graded(course, tmp_path_factory):
    """English reports and self-check outcomes of the whole corpus (about 30 s)."""
    return {"reports": corpus.graded_in_process(course),
            "faults": corpus.graded_faults(course, tmp_path_factory.mktemp("faults")),
            "self_checks": corpus.self_check_outcomes()}


def student_texts(graded, course, language: str) -> list[tuple[str, str]]:
    """(where, text) for everything a student reads of the corpus, in `language`."""
    from autograder.nbgrader import cells as nbgrader_cell
    from autograder.nbgrader.cells import ExerciseGrade, render
    from autograder.report import Report
    from autograder.selfcheck.runner import SelfCheckResult, format_results
    from autograder.writers.text import write

    texts = []
    titles = course.titles(language)
    reports = {**graded["reports"], "faults": graded["faults"]}
    for label, english in reports.items():
        data = localize.localize_report(english, language, titles)
        for a in data["assignments"]:
            texts += [(f"{label} json", f"{t['name']}\n{t['message']}") for t in a["tests"]]
            texts += [(f"{label} note", n) for n in a["notes"]]
            texts += [(f"{label} load error", e["message"]) for e in a["load_errors"]]
        report = localize.localized_report(Report.from_dict(english), language, titles)
        texts.append((f"{label} text report", write(report)))
        for a in Report.from_dict(english).assignments:  # nbgrader translates at render
            by_exercise: dict[str, ExerciseGrade] = {}
            for t in a.tests:
                grade = by_exercise.setdefault(t.exercise or "other", ExerciseGrade(t.exercise or "other", 0.0))
                grade.tests.append(t)
                grade.points += t.max_score
            width, nbgrader_cell.WIDTH = nbgrader_cell.WIDTH, 10_000  # unwrapped: a quoted error stays one line
            try:
                for grade in by_exercise.values():
                    grade.notes = list(a.notes)
                    texts.append((f"{label} nbgrader cell", render(grade, 7, language)))
            finally:
                nbgrader_cell.WIDTH = width
    for label, (assignment, outcomes) in graded["self_checks"].items():
        texts.append((f"{label} check()", format_results(assignment, outcomes, language=language)))
        texts.append((f"{label} check() repr", repr(SelfCheckResult(assignment, outcomes, language=language))))
    return texts


@pytest.mark.slow
@pytest.mark.parametrize("language", LANGUAGES)
def test_every_line_a_student_reads_is_translated(graded, course, language):
    localize.translator.cache_clear()  # a fresh translator: its misses are this test's
    texts = student_texts(graded, course, language)
    misses = sorted(localize.translator(language).misses)
    english = sorted({line.strip() for where, text in texts for line in text.split("\n")
                      if corpus.english_words(line)})
    assert len(texts) > 1500, "the corpus is too small for the measure to mean anything"
    assert not misses, (f"{len(misses)} English fragments without a {language} entry in autograder/locale/"
                        f"{language}.po (docs/i18n.md):\n" + "\n".join(repr(m) for m in misses[:30]))
    assert not english, f"{len(english)} lines with English left:\n" + "\n".join(english[:30])
    lowercase = sorted({line.strip() for _, text in texts for line in text.split("\n")
                        if corpus.lowercase_sentence_starts(line)})
    assert not lowercase, "sentences (hints after '. ') that start in lowercase:\n" + "\n".join(lowercase[:30])


@pytest.mark.slow
def test_the_measure_sees_english(graded, course):
    """The same corpus in English is full of words the detector knows, and an English
    sentence no catalog has is a miss: the measure above cannot pass vacuously."""
    texts = student_texts(graded, course, "en")
    assert sum(bool(corpus.english_words(text)) for _, text in texts) > 1000
    translate = localize.Translator({"{what} returned {value}": "{what} trả về {value}"}, "vi")
    assert translate("f(x) returned a surprise") == "f(x) trả về a surprise"
    assert translate.misses == {"a surprise"}


@pytest.mark.slow
def test_the_corpus_reaches_every_kind_of_fault(graded):
    """The fault submissions produce what they are there for: a timeout, a crash, a
    missing and an unreadable notebook, load errors (demo data, syntax, kit import)."""
    by_id = {a["id"]: a for a in graded["faults"]["assignments"]}
    assert by_id["02_numpy_bridge"]["status"] == "timeout"
    assert by_id["05_training"]["status"] == "missing"
    assert by_id["06_cuda"]["status"] == "unreadable"
    statuses = {t["status"] for a in by_id.values() for t in a["tests"]}
    assert {"crashed", "timeout", "error", "failed"} <= statuses, statuses
    load_errors = " ".join(e["message"] for e in by_id["01_tensors"]["load_errors"])
    assert "demo data" in load_errors and "SyntaxError" in load_errors and "autograder package" in load_errors
    messages = " ".join(t["message"] for a in by_id.values() for t in a["tests"])
    assert "Traceback (the student's code" in messages and "sys.exit(3)" in messages
