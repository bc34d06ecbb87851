"""`autograder similarity`: copies outrank honest pairs on a realistic class, the score
weighs the lesson's idiom down and grows with distinctive shared code, disguises are
normalised away, starter code scores 0, the report renders, the CLI output is clean, and
nothing in it touches grading."""
from __future__ import annotations

import ast
import csv
import io
import shutil
import sys
import warnings
from html.parser import HTMLParser
from pathlib import Path

import pytest

import similarity_class as klass
import similarity_realistic as realistic

from autograder.cli import main  # noqa: E402
from autograder.similarity.scores import (REFERENCE, Entry, Unit, Weights, normalized_tokens, progress,  # noqa: E402
                                   rank_pairs)
from autograder.similarity.report import compare_assignment, run_after_batch  # noqa: E402
from autograder.similarity.tokens import OTHER, split_units  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
STARTER = REPO / "assignments" / "04_lenet" / "04_lenet.ipynb"
ALIASES = {"torch": "torch", "F": "torch.nn.functional", "nn": "torch.nn"}


def _key(a: str, b: str) -> frozenset:
    return frozenset((a, b))


@pytest.fixture(scope="module")
def course_module():
    from autograder.course import load_course
    return load_course(REPO / "course.yaml")


# ---- a realistic class --------------------------------------------------------------

@pytest.fixture(scope="module")
def realistic_class(tmp_path_factory):
    root = tmp_path_factory.mktemp("realistic")
    return root, realistic.write_class(root, honest=24, copies_per_level=3, seed=0)


@pytest.fixture(scope="module")
def realistic_results(realistic_class, course_module):
    root, _ = realistic_class
    return {a: compare_assignment(root, course_module, a) for a in realistic.ASSIGNMENTS}


@pytest.mark.parametrize("assignment", realistic.ASSIGNMENTS)
def test_copies_outrank_every_honest_pair_on_a_class_that_writes_the_lesson_idiom(assignment, realistic_class,
                                                                                    realistic_results):
    """By score, not tie-break: every verbatim and renamed/reordered copy, and 2 of 3
    copies with interleaved statements and rewritten loops, score above every pair that
    is not a planted copy (benchmarks/similarity_bench.py prints the same figures)."""
    _, planted = realistic_class
    found = realistic.copies_above_honest(realistic_results[assignment].pairs, planted)
    verbatim, renamed, disguised = (found[level] for level in realistic.LEVELS)
    assert len(verbatim) == len(renamed) == len(disguised) == 3
    assert all(verbatim) and all(renamed), found
    assert sum(disguised) >= 2, found


LESSON_LINE = "transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))])"


def test_the_lesson_line_is_idiom_and_honest_pairs_score_far_below_a_copied_notebook(realistic_class,
                                                                                    realistic_results):
    """Many honest students write the lesson's transforms.Compose line word for word: two
    of them sharing it is next to no evidence, and no honest pair comes near a copy."""
    _, planted = realistic_class
    result = realistic_results["05_training"]
    copies = {_key(p.copier, p.original) for p in planted}
    writers = {e.student for e in result.entries
               if LESSON_LINE in getattr(e.units.get("lesson_transform"), "source", "")}
    assert len(writers) >= 8, "the class should converge on the lesson's line"
    alike = [p for p in result.pairs if {p.a.student, p.b.student} <= writers]
    assert all(p.exercises["lesson_transform"] < 1.5 for p in alike)
    lowest_copy = min(p.review for p in result.pairs if _key(p.a.student, p.b.student) in copies)
    assert max(p.review for p in result.pairs if _key(p.a.student, p.b.student) not in copies) < 0.5 * lowest_copy


# ---- the score ----------------------------------------------------------------------

def _entry(name: str, prints: set[int], exercise: str = "ex") -> Entry:
    return Entry(name, name, {exercise: Unit("", {h: (1,) for h in prints})})


def test_weights_are_an_inverse_document_frequency_and_a_charge_for_what_is_missing():
    w = Weights(23)
    shared = [w.shared(n) for n in (2, 3, 6, 12, 23)]
    assert shared == sorted(shared, reverse=True) and shared[-1] < 0.05 and shared[0] > 3.5
    missing = [w.missing(n) for n in (1, 2, 6, 12, 22)]
    assert all(m <= 0 for m in missing) and missing == sorted(missing) and w.missing(23) == 0.0


def test_score_grows_with_distinctive_shared_code_and_a_line_of_idiom_never_ties_a_copy():
    idiom = set(range(1, 13))  # a dozen fingerprints of the lesson's line: everyone has them
    entries = [_entry(f"s{i:02d}", idiom | {1000 + 100 * i + k for k in range(20)}) for i in range(20)]
    entries[1] = _entry("s01", entries[0].units["ex"].prints.keys() | set())               # a whole copy of s00
    entries[3] = _entry("s03", idiom | {1200 + k for k in range(10)} | {9000 + k for k in range(10)})  # half of s02
    entries[5] = _entry("s05", idiom | {1400 + k for k in range(2)} | {9500 + k for k in range(18)})   # a line of s04
    pairs, _ = rank_pairs(entries, ["ex"])
    score = {_key(p.a.student, p.b.student): p.review for p in pairs}
    whole, half, line = score[_key("s00", "s01")], score.get(_key("s02", "s03"), 0.0), score.get(_key("s04", "s05"), 0.0)
    assert whole > 5 * max(half, line, 1.0)
    assert half >= line
    assert not score.get(_key("s06", "s07"), 0.0), "sharing only the idiom is no evidence"
    assert pairs[0].a.student in ("s00", "s01") and pairs[0].overall == 1.0


def test_one_copied_exercise_among_own_code_shows_in_that_exercise():
    exercises = ["a", "b", "c"]

    def entry(name, prints):
        return Entry(name, name, {e: Unit("", {h: (1,) for h in p}) for e, p in zip(exercises, prints)})

    base = [{100 * i + k for k in range(15)} for i in range(1, 4)]
    entries = [entry(f"s{i}", [{10_000 * i + 100 * j + k for k in range(15)} for j in range(3)]) for i in range(8)]
    entries[0] = entry("s0", base)
    entries[1] = entry("s1", [base[0], {7777 + k for k in range(15)}, {8888 + k for k in range(15)}])
    pairs, _ = rank_pairs(entries, exercises)
    pair = next(p for p in pairs if _key(p.a.student, p.b.student) == _key("s0", "s1"))
    assert pair.exercises["a"] > 10 and pair.exercises["b"] == pair.exercises["c"] == 0.0


# ---- normalisation ------------------------------------------------------------------

def _tokens(code: str, aliases=ALIASES) -> list[str]:
    return [t for t, _ in normalized_tokens(code, aliases)]


def test_tokens_ignore_names_layout_comments_and_docstrings_but_keep_the_api():
    one = "def f(a, b):\n    '''doc'''\n    c = F.relu(a.view(-1)) + b  # note\n    return c\n"
    two = 'def g(left,\n      right,):\n    total = F.relu(\n        left.view(-1,),\n    ) + right\n    return total\n'
    assert _tokens(one) == _tokens(two)
    assert _tokens(one) != _tokens(one.replace("a.view(-1)", "a.reshape(-1)"))
    renamed_alias = {"torch": "torch", "fn": "torch.nn.functional"}
    assert _tokens(one.replace("F.", "fn."), renamed_alias) == _tokens(one)
    assert _tokens(one.replace("F.relu", "torch.nn.functional.relu")) == _tokens(one)


TRAIN = '''def train(model, loader, criterion, optimizer, epochs):
    history = []
    for epoch in range(epochs):
        total = 0.0
        for inputs, labels in loader:
            optimizer.zero_grad()
            loss = criterion(model(inputs), labels)
            loss.backward()
            optimizer.step()
            total += loss.item() * labels.size(0)
        history.append(total / 4)
    return history
'''
DISGUISED = '''def train(net, batches, crit, opt, n_epochs):
    """Trains."""
    hist = []
    print("starting")
    e = 0
    scale = 4
    while e < n_epochs:
        acc = 0.0
        assert net is not None
        source = iter(batches)
        while True:
            try:
                x, y = next(source)
            except StopIteration:
                break
            opt.zero_grad()
            debug = x.shape
            out = net(x)
            value = crit(out, y)
            print(f"loss {value}")
            value.backward()
            opt.step()
            size = y.size(0)
            acc = acc + value.item() * size
        hist.append(acc / scale)
        e += 1
    return hist
'''


def test_interleaved_noise_rewritten_loops_split_expressions_and_moved_constants_read_like_the_original():
    assert _tokens(DISGUISED) == _tokens(TRAIN)
    assert _tokens(TRAIN.replace("total / 4", "total / 5")) != _tokens(TRAIN)


def test_independent_statements_read_alike_in_any_order_and_dependent_ones_do_not():
    init = "def __init__(self):\n    super().__init__()\n    self.conv1 = nn.Conv2d(3, 6, 5)\n" \
           "    self.pool = nn.MaxPool2d(2, 2)\n    self.fc1 = nn.Linear(16 * 5 * 5, 120)\n"
    swapped = "def __init__(self):\n    super().__init__()\n    self.fc1 = nn.Linear(400, 120)\n" \
              "    self.conv1 = nn.Conv2d(3, 6, 5)\n    self.pool = nn.MaxPool2d(2, 2)\n"
    assert _tokens(init) == _tokens(swapped)
    ordered = "def f(x):\n    x = x + 1\n    x = x * 2\n    return x\n"
    assert _tokens(ordered) != _tokens("def f(x):\n    x = x * 2\n    x = x + 1\n    return x\n")


def test_a_cell_that_does_not_parse_still_counts_as_other_code():
    units = split_units(["def num_flat_features(x):\n    return x[0].numel()\n", "for i in range(3:\n    x = i"],
                        ["num_flat_features"], ALIASES)
    assert set(units) == {"num_flat_features", OTHER}
    assert units[OTHER].streams[0] and "for i in range(3:" in units[OTHER].text


# ---- the small class of tests/support/similarity_class.py ------------------------------------

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


WHOLE_COPIES = klass.PLANTED[:3]


def test_whole_copies_rank_above_every_honest_pair(result):
    copies = {_key(*pair) for pair in WHOLE_COPIES}
    ranked = [_key(p.a.student, p.b.student) for p in result.pairs]
    assert set(ranked[:len(copies)]) == copies
    assert result.pairs[len(copies) - 1].review > 3 * result.pairs[len(copies)].review


def test_renamed_reordered_and_reformatted_copies_match_in_every_exercise(result):
    by_pair = {_key(p.a.student, p.b.student): p for p in result.pairs}
    for pair in WHOLE_COPIES:
        score = by_pair[_key(*pair)]
        assert score.overall > 0.99, (pair, score.overall)
        assert all(score.exercises[e] > 0 for e in ("GrayLeNet", "CifarLeNet", "backprop_random_grad")), score.exercises


def test_one_copied_exercise_of_five_shows_in_that_exercise(result):
    pair = next(p for p in result.pairs if _key(p.a.student, p.b.student) == _key(*klass.PLANTED[3]))
    others = [p.exercises["CifarLeNet"] for p in result.pairs
              if _key(p.a.student, p.b.student) not in {_key(*c) for c in klass.PLANTED}]
    assert pair.exercises["CifarLeNet"] > 3 * max(others + [1.0])
    assert max(v for e, v in pair.exercises.items() if e != "CifarLeNet") < 0.3 * pair.exercises["CifarLeNet"]


def test_starter_code_alone_scores_zero(result):
    starters = {"s_starter_only", "s_starter_only_too"}
    assert {e.student for e in result.entries} >= starters
    assert not [p for p in result.pairs if {p.a.student, p.b.student} & starters]
    assert all(not unit.prints for e in result.entries if e.student in starters for unit in e.units.values())


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
    assert [(p.review, p.exercises) for p in without] == [(p.review, p.exercises) for p in with_extras]
    assert all(p.review < 5 for p in with_extras)


class _Page(HTMLParser):
    """The report's structure: pair sections, their side-by-side columns, and the text
    of each highlighted line, with a check that every element closes where it opened."""

    def __init__(self):
        super().__init__()
        self.stack, self.sections, self.text, self.ids = [], [], [], set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.ids.add(attrs.get("id"))
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
                 "--assignment", "04_lenet", "--top", "3"])
    assert code == 0
    rows = list(csv.DictReader((out / "04_lenet" / "pairs.csv").open()))
    assert [int(r["rank"]) for r in rows] == list(range(1, len(rows) + 1))
    reviews = [float(r["review_score"]) for r in rows]
    assert reviews == sorted(reviews, reverse=True) and reviews[0] > 0
    assert {"exercise:CifarLeNet", "overall", "matched_lines_a", "student_a"} <= set(rows[0])
    assert (out / "04_lenet" / "distribution.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = _Page()
    page.feed((out / "04_lenet" / "report.html").read_text())
    page.close()
    assert page.stack == [] and "single-exercise" in page.ids
    assert {frozenset(s["students"]) for s in page.sections} == {_key(*p) for p in WHOLE_COPIES}
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
    for name in ("h4_modules", "h7_add_module"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "04_lenet.py").write_text(klass.module(klass.HONEST[name]))
    result = compare_assignment(tmp_path, course_module, "04_lenet", include_reference=True)
    top = result.pairs[0]
    assert {top.a.student, top.b.student} == {"copier", REFERENCE} and top.overall == 1.0
    assert all(p.review < 0.2 * top.review for p in result.pairs[1:])


# ---- the command line ---------------------------------------------------------------

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


def test_summary_goes_to_stdout_and_no_progress_bar_is_drawn_off_a_terminal(class_dir, tmp_path, capsys):
    assert main(["--course", str(REPO / "course.yaml"), "similarity", str(class_dir), "--out", str(tmp_path / "o"),
                 "--assignment", "04_lenet"]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0].startswith("similarity: 04_lenet: 12 submissions, 66 pairs; ") and "score above 0" in lines[0]
    assert "proves nothing and changes no grade" in lines[-1] and str(tmp_path / "o" / "index.html") in lines[-1]
    assert "\r" not in out + err and "%|" not in err and "it/s" not in err


def test_progress_bars_only_on_a_terminal(monkeypatch):
    items = [1, 2, 3]
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert progress(items, True, "sub") is items
    terminal = io.StringIO()
    terminal.isatty = lambda: True
    monkeypatch.setattr(sys, "stderr", terminal)
    assert progress(items, True, "sub") is not items and list(progress(items, True, "sub")) == items
    assert progress(items, False, "sub") is items


@pytest.mark.parametrize("styles, words", [(["h1_lesson"], "1 submission, 0 pairs; 0 score above 0"),
                                           (["h1_lesson", "h5_functional"], "2 submissions, 1 pair; "),
                                           (["starter", "starter"], "2 submissions, 1 pair; 0 score above 0")])
def test_small_classes_read_right_and_plot_without_warnings(styles, words, tmp_path, capsys):
    for number, style in enumerate(styles):
        folder = tmp_path / "class" / f"student{number}"
        folder.mkdir(parents=True)
        if style == "starter":  # nothing beyond the starter: no code shared at all
            shutil.copy(STARTER, folder / "04_lenet.ipynb")
        else:
            (folder / "04_lenet.py").write_text(klass.module(klass.HONEST[style]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib's "Data has no positive values" among them
        assert main(["--course", str(REPO / "course.yaml"), "similarity", str(tmp_path / "class"),
                     "--out", str(tmp_path / "o"), "--assignment", "04_lenet"]) == 0
    out = capsys.readouterr().out
    assert f"similarity: 04_lenet: {words}" in out, out
    assert (tmp_path / "o" / "04_lenet" / "distribution.png").read_bytes()[:4] == b"\x89PNG"


# ---- grading is out of its reach ----------------------------------------------------

def test_batch_flag_writes_the_report_under_the_batch_output_and_touches_nothing_else(class_dir, tmp_path,
                                                                                      course_module):
    from autograder.cli import build_parser
    args = build_parser().parse_args(["batch", str(class_dir), "--out", str(tmp_path), "--similarity",
                                      "--assignment", "04_lenet"])
    assert args.similarity is True
    (tmp_path / "gradebook.csv").write_text("student,score\nh1_lesson,15\n")
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    run_after_batch(args, course_module, tmp_path)
    after = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert {p: b for p, b in after.items() if p in before} == before
    assert all(tmp_path / "similarity" in p.parents for p in set(after) - set(before))
    rows = list(csv.DictReader((tmp_path / "similarity" / "04_lenet" / "pairs.csv").open()))
    assert _key(rows[0]["student_a"], rows[0]["student_b"]) in {_key(*p) for p in WHOLE_COPIES}
    assert not (tmp_path / "similarity" / "01_tensors").exists()


def test_similarity_code_imports_nothing_that_grades():
    """The report reads submissions as text; it never runs them or reaches a grade."""
    grading = ("autograder.grading", "autograder.plugin", "autograder.report", "autograder.writers",
               "autograder.sandbox", "autograder.batch.store", "autograder.batch.outputs")
    for path in sorted((REPO / "autograder" / "similarity").glob("*.py")):
        module = path.stem
        tree = ast.parse(path.read_text())
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert not [m for m in imported if m.startswith(grading)], (module, imported)
