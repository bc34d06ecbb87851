"""`autograder similarity`: planted copies outrank honest pairs, starter code scores 0,
the HTML report renders with its highlights, bad input is one line and exit 2."""
from __future__ import annotations

import csv
import shutil
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import similarity_class as klass  # noqa: E402

from autograder.cli import main  # noqa: E402
from autograder.similarity import (REFERENCE, Entry, Settings, Unit, candidate_pairs,  # noqa: E402
                                   normalized_tokens, rare_fingerprints, score_pair)
from autograder.similarity_report import compare_assignment, run_after_batch  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
STARTER = REPO / "assignments" / "04_lenet" / "04_lenet.ipynb"


@pytest.fixture(scope="module")
def class_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("class")
    klass.write_class(root)
    for student in ("s_starter_only", "s_starter_only_too"):
        (root / student).mkdir()
        shutil.copy(STARTER, root / student / "04_lenet.ipynb")
    return root


@pytest.fixture(scope="module")
def result(class_dir, course_module):
    return compare_assignment(class_dir, course_module, "04_lenet")


@pytest.fixture(scope="module")
def course_module():
    from autograder.course import load_course
    return load_course(REPO / "course.yaml")


def _key(a: str, b: str) -> frozenset:
    return frozenset((a, b))


def test_every_planted_pair_ranks_above_every_honest_pair(result):
    planted = {_key(copy, original) for copy, original in klass.PLANTED}
    scores = {_key(p.a.student, p.b.student): p.review for p in result.pairs}
    assert planted <= set(scores), f"planted pairs missing from the ranking: {planted - set(scores)}"
    lowest_planted = min(scores[k] for k in planted)
    honest = {k: s for k, s in scores.items() if k not in planted}
    assert honest, "the honest students share some code (the spec dictates layers); the test needs that"
    worst = max(honest, key=honest.get)
    assert lowest_planted > honest[worst], (sorted(worst), honest[worst], lowest_planted)
    ranked = [_key(p.a.student, p.b.student) for p in result.pairs]
    assert set(ranked[:len(planted)]) == planted


def test_renamed_reordered_and_reformatted_copies_match_in_every_exercise(result):
    by_pair = {_key(p.a.student, p.b.student): p for p in result.pairs}
    for copy, original in klass.PLANTED[:3]:
        pair = by_pair[_key(copy, original)]
        assert pair.overall == 1.0, (copy, pair.exercises)
        assert all(pair.exercises[e] == 1.0 for e in klass.ORDER), (copy, pair.exercises)


def test_one_copied_exercise_of_five_shows_in_that_exercise_only(result):
    pair = next(p for p in result.pairs if _key(p.a.student, p.b.student) == _key(*klass.PLANTED[3]))
    assert pair.exercises["CifarLeNet"] == 1.0
    assert max(v for e, v in pair.exercises.items() if e != "CifarLeNet") < 0.5
    assert pair.overall < 0.75 and pair.review == 1.0  # CifarLeNet is large: no scaling down


def test_starter_code_alone_scores_zero(result):
    starters = {"s_starter_only", "s_starter_only_too"}
    assert {e.student for e in result.entries} >= starters
    assert not [p for p in result.pairs if {p.a.student, p.b.student} & starters]
    a, b = (next(e for e in result.entries if e.student == s) for s in sorted(starters))
    score = score_pair(a, b, list(result.exercises), Settings())
    assert (score.overall, score.review, score.matched_lines) == (0.0, 0.0, (0, 0))
    assert all(not unit.prints for unit in a.units.values())


def test_demo_cells_selfcheck_cells_and_docstrings_do_not_count(tmp_path, course_module):
    shared_demo = "net = GrayLeNet()\nfor step in range(10):\n    out = net(torch.randn(1, 1, 32, 32))\n" * 3
    docstring = '    """' + "A long docstring both students pasted from the web. " * 5 + '"""\n'
    plain, dressed = tmp_path / "plain", tmp_path / "dressed"
    for student, exercises in [("ann", klass.HONEST["h1_lesson"]), ("ben", klass.HONEST["h2_sequential"])]:
        (plain / student).mkdir(parents=True)
        (plain / student / "04_lenet.py").write_text(klass.module(exercises))
        (dressed / student).mkdir(parents=True)
        cells = [("code", klass.HEADER, [])]
        cells += [("code", code.replace("\n", "\n" + docstring, 1), []) for code in exercises.values()]
        cells += [("code", shared_demo, ["demo"]), ("code", shared_demo + "check()", ["selfcheck"])]
        klass.write_notebook(dressed / student / "04_lenet.ipynb", cells)
    without = compare_assignment(plain, course_module, "04_lenet").pairs
    with_extras = compare_assignment(dressed, course_module, "04_lenet").pairs
    assert len(without) == len(with_extras) == 1
    assert with_extras[0].exercises == without[0].exercises and with_extras[0].overall < 0.3


def test_tokens_ignore_names_layout_comments_and_docstrings_but_keep_the_api():
    aliases = {"torch": "torch", "F": "torch.nn.functional"}
    one = "def f(a, b):\n    '''doc'''\n    c = F.relu(a.view(-1)) + b  # note\n    return c\n"
    two = 'def g(left,\n      right,):\n    total = F.relu(\n        left.view(-1,),\n    ) + right\n    return total\n'
    assert [t for t, _ in normalized_tokens(one, aliases)] == [t for t, _ in normalized_tokens(two, aliases)]
    three = one.replace("a.view(-1)", "a.reshape(-1)")
    assert [t for t, _ in normalized_tokens(one, aliases)] != [t for t, _ in normalized_tokens(three, aliases)]
    renamed_alias = {"torch": "torch", "fn": "torch.nn.functional"}
    assert ([t for t, _ in normalized_tokens(one.replace("F.", "fn."), renamed_alias)]
            == [t for t, _ in normalized_tokens(one, aliases)])


def _entry(name: str, prints: set[int]) -> Entry:
    return Entry(name, name, {"ex": Unit("", {h: [(1, 1)] for h in prints})})


def test_index_scores_only_pairs_sharing_a_rare_fingerprint():
    settings = Settings(common_min=3, common_share=0.0)
    everyone = {1, 2}  # in all five submissions: the lesson's idiom, ignored
    entries = [_entry("a", everyone | {10, 11}), _entry("b", everyone | {10, 11}),
               _entry("c", everyone | {20}), _entry("d", everyone | {30}), _entry("e", everyone | {20})]
    index = rare_fingerprints(entries, settings)
    assert {h for _, h in index} == {10, 11, 20, 30}
    assert candidate_pairs(index) == {(0, 1), (2, 4)}
    distinctive = [{"ex": {h for h in e.units["ex"].prints if ("ex", h) in index}} for e in entries]
    ab = score_pair(entries[0], entries[1], ["ex"], settings, distinctive[0], distinctive[1])
    assert ab.exercises["ex"] == 1.0  # all of their distinctive code; the common idiom neither counts nor dilutes
    assert ab.review == 0.2  # but two fingerprints are thin evidence: scaled by 2 of min_exercise_prints (10)
    assert score_pair(entries[0], entries[1], ["ex"], settings).exercises["ex"] == 1.0


class _Page(HTMLParser):
    """The report's structure: pair sections, their side-by-side columns, and the text
    of each highlighted line, with a check that every element closes where it opened."""

    def __init__(self):
        super().__init__()
        self.stack, self.sections, self.text = [], [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        classes = (attrs.get("class") or "").split()
        if tag == "section" and "pair" in classes:
            self.sections.append({"students": (attrs["data-a"], attrs["data-b"]), "sides": 0, "marks": []})
        if "side" in classes:
            self.sections[-1]["sides"] += 1
        if tag == "mark" and "match" in classes:
            self.sections[-1]["marks"].append("")
        if tag not in ("meta", "img", "br", "link"):  # void elements never close
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1] if self.stack else None}>"
        self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)
        if self.stack and self.stack[-1] == "mark":
            self.sections[-1]["marks"][-1] += data


def _code_lines(folder: Path) -> set[str]:
    import nbformat
    lines = set()
    for file in folder.iterdir():
        sources = ([c.source for c in nbformat.read(str(file), 4).cells] if file.suffix == ".ipynb"
                   else [file.read_text()])
        lines.update(line for source in sources for line in source.split("\n"))
    return lines


def test_cli_writes_ranked_csv_plot_and_an_html_report_that_renders(class_dir, tmp_path):
    out = tmp_path / "report"
    code = main(["--course", str(REPO / "course.yaml"), "similarity", str(class_dir), "--out", str(out),
                 "--assignment", "04_lenet", "--top", "4"])
    assert code == 0
    rows = list(csv.DictReader((out / "04_lenet" / "pairs.csv").open()))
    assert [int(r["rank"]) for r in rows] == list(range(1, len(rows) + 1))
    reviews = [float(r["review_score"]) for r in rows]
    assert reviews == sorted(reviews, reverse=True) and len(rows) > 4
    assert {"exercise:CifarLeNet", "overall", "matched_lines_a", "student_a"} <= set(rows[0])
    assert (out / "04_lenet" / "distribution.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = _Page()
    page.feed((out / "04_lenet" / "report.html").read_text())
    page.close()
    assert page.stack == []
    assert {frozenset(s["students"]) for s in page.sections} == {_key(*p) for p in klass.PLANTED}
    for section in page.sections:
        assert section["sides"] >= 2 and section["marks"], section["students"]
        code_lines = set.union(*(_code_lines(class_dir / s) for s in section["students"]))
        assert all(m in code_lines for m in section["marks"] if m.strip()), section["students"]
    renamed = next(s for s in page.sections if "p_renamed" in s["students"])
    assert "        x = F.max_pool2d(F.relu(self.conv1(x)), 2)" in renamed["marks"]
    assert "        inp = fn.max_pool2d(fn.relu(self.first_conv(inp)), 2)" in renamed["marks"]
    text = " ".join(page.text)
    assert "proves nothing" in text and "changes a grade" in text
    assert "proves nothing" in (out / "index.html").read_text()


def test_reference_included_as_a_pseudo_student_finds_its_copies(tmp_path, course_module):
    (tmp_path / "copier").mkdir()
    shutil.copy(REPO / "solutions" / "04_lenet" / "04_lenet.ipynb", tmp_path / "copier" / "04_lenet.ipynb")
    (tmp_path / "honest").mkdir()
    (tmp_path / "honest" / "04_lenet.py").write_text(klass.module(klass.HONEST["h7_add_module"]))
    result = compare_assignment(tmp_path, course_module, "04_lenet", include_reference=True)
    top = result.pairs[0]
    assert {top.a.student, top.b.student} == {"copier", REFERENCE} and top.overall == 1.0
    assert all(REFERENCE not in (p.a.student, p.b.student) or "copier" in (p.a.student, p.b.student)
               or p.review < 0.5 for p in result.pairs)


@pytest.mark.parametrize("argv, message", [
    (["similarity", "{tmp}/nowhere", "--out", "{tmp}/o"], "does not exist"),
    (["similarity", "{class}", "--out", "{tmp}/o", "--assignment", "99_nope"], "no assignment '99_nope'"),
    (["similarity", "{tmp}/empty", "--out", "{tmp}/o"], "no submissions"),
])
def test_bad_input_is_one_line_and_exit_2(argv, message, class_dir, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    argv = [a.format(tmp=tmp_path, **{"class": class_dir}) for a in argv]
    assert main(["--course", str(REPO / "course.yaml")] + argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err


def test_batch_flag_parses_and_its_hook_writes_the_report_under_the_batch_output(class_dir, tmp_path, course_module):
    from autograder.cli import build_parser
    args = build_parser().parse_args(["batch", str(class_dir), "--out", str(tmp_path), "--similarity",
                                      "--assignment", "04_lenet"])
    assert args.similarity is True
    run_after_batch(args, course_module, tmp_path)
    rows = list(csv.DictReader((tmp_path / "similarity" / "04_lenet" / "pairs.csv").open()))
    assert {_key(rows[0]["student_a"], rows[0]["student_b"])} <= {_key(*p) for p in klass.PLANTED}
    assert not (tmp_path / "similarity" / "01_tensors").exists()
