"""The Vietnamese edition (issue 15): catalogs next to the English notebooks, a vi release
with no English prose left, code and grading untouched by translation, stale entries
found after an English edit, and the vi notebooks running in a real kernel."""
from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
from functools import partial
from pathlib import Path

import nbformat
import pytest

from autograder import i18n, release
from autograder.release import translated as i18n_release
from autograder.course import CourseError, load_course

REPO = Path(__file__).resolve().parents[2]
from leaks import hidden_test_fingerprints, leaked_solution_code, solution_regions

VIETNAMESE = re.compile(r"[àáãèéìíĩòóõùúũýăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ]", re.IGNORECASE)
ENGLISH_WORDS = {"the", "a", "an", "is", "are", "of", "to", "and", "with", "for", "it", "its", "this",
                 "that", "from", "by", "not", "be", "when", "each", "every", "your", "you", "into"}


def english_prose(text: str) -> bool:
    """Three or more common English words outside code spans and quotes (PyTorch's own error
    messages are quoted verbatim): a sentence, not an identifier."""
    text = re.sub(r"```.*?```|`[^`]*`|\$[^$]*\$|\"[^\"\n]*\"", " ", text, flags=re.S)
    return sum(word in ENGLISH_WORDS for word in re.findall(r"[^\W\d_]+", text.lower())) >= 3


def _masked_tree(source: str) -> ast.Module:
    return ast.parse("\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.split("\n")))


def _paths(node: ast.AST, path: tuple = ()):
    """(path from the root, node) for every node: a node's address that survives a change
    elsewhere in the tree (an f-string translated with its fields in another order)."""
    yield path, node
    for name, value in ast.iter_fields(node):
        for index, child in enumerate(value if isinstance(value, list) else [value]):
            if isinstance(child, ast.AST):
                yield from _paths(child, (*path, name, index))


def extracted_string_paths(source: str) -> set[tuple]:
    """Where the extracted string pieces of an English cell sit in its syntax tree."""
    lines = source.split("\n")
    starts = {p.start for p in i18n.cell_pieces(nbformat.v4.new_code_cell(source)) if p.kind == "string"}
    def start(node):
        return node.lineno - 1, len(lines[node.lineno - 1].encode()[:node.col_offset].decode())
    candidates = {path for path, node in _paths(_masked_tree(source))
                  if isinstance(node, (ast.Constant, ast.JoinedStr)) and start(node) in starts}
    # Before Python 3.12 an f-string's parts carry the f-string's own position: keep the outermost.
    found = {path for path in candidates if not any(path[:k] in candidates for k in range(len(path)))}
    assert len(found) == len(starts), f"a string piece without its literal node:\n{source}"
    return found


class _Blank(ast.NodeTransformer):
    """Docstrings, the extracted string literals (an f-string keeps its fields, in any
    order) and NOTEBOOK_LANGUAGE's value blanked: what translation may change."""

    def __init__(self, strings: set[tuple]):
        super().__init__()
        self.strings, self.targets = strings, set()

    def blank(self, tree: ast.Module) -> str:
        self.targets = {id(node) for path, node in _paths(tree) if path in self.strings}
        for node in ast.walk(tree):
            body = getattr(node, "body", None)
            if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                    and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
                body[0].value.value = ""
            if isinstance(node, ast.Assign) and [ast.unparse(t) for t in node.targets] == ["NOTEBOOK_LANGUAGE"]:
                node.value = ast.Constant("")
        return ast.dump(self.visit(tree))

    def visit_Constant(self, node):
        return ast.Constant("") if id(node) in self.targets else node

    def visit_JoinedStr(self, node):
        if id(node) not in self.targets:
            return node
        fields = sorted(ast.dump(value) for value in node.values if isinstance(value, ast.FormattedValue))
        return ast.Tuple([ast.Constant(field) for field in fields], ast.Load())


def code_outside_prose(english_source: str, source: str) -> str:
    """`source`'s syntax tree less what translation may change in `english_source`'s cell."""
    return _Blank(extracted_string_paths(english_source)).blank(_masked_tree(source))


def setup_constant(notebook_text: str, name: str) -> str:
    nb = nbformat.reads(notebook_text, as_version=4)
    setup = next(c.source for c in nb.cells if c.cell_type == "code" and f"{name} = " in c.source)
    tree = _masked_tree(setup)
    return next(ast.literal_eval(node.value) for node in tree.body
                if isinstance(node, ast.Assign) and [ast.unparse(t) for t in node.targets] == [name])


@pytest.fixture(scope="module")
def vi_release(course) -> dict[str, dict[str, bytes]]:
    return {a.id: i18n_release.bundle_files(course, a, "vi") for a in course.assignments}


# ---- catalogs ----

def test_every_notebook_catalog_is_complete_and_current(course):
    """Coverage of the six notebook catalogs (printed with -s); 100 % and nothing stale."""
    statuses = [i18n.notebook_status(course.solution_notebook(a), "vi") for a in course.assignments]
    print("\n" + "\n".join(s.summary() for s in statuses))
    assert sum(s.total for s in statuses) > 150, "few messages extracted: the coverage check would be vacuous"
    incomplete = [s.summary() for s in statuses if not s.complete]
    assert not incomplete, "run `python -m autograder.i18n update` and translate (docs/i18n.md):\n" + \
        "\n".join(incomplete)


# ---- the glossary (docs/i18n.md) ----

GLOSSARY = REPO / "docs" / "i18n.md"


def glossary_table(heading: str) -> list[list[str]]:
    """The rows (header aside) of the table under `### heading` in docs/i18n.md."""
    section = GLOSSARY.read_text(encoding="utf-8").split(f"\n### {heading}\n", 1)[1].split("\n#", 1)[0]
    rows = [[cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            for line in section.splitlines() if line.startswith("|") and not re.fullmatch(r"[-| ]+", line)]
    return rows[1:]


def glossary_pattern(cell: str) -> re.Pattern:
    assert cell.startswith("`") and cell.endswith("`"), f"a glossary pattern goes in backticks: {cell}"
    return re.compile(cell[1:-1], re.IGNORECASE)


def vietnamese_catalogs() -> list[Path]:
    """Every Vietnamese catalog of the repository: the notebooks' and the feedback one."""
    return sorted(REPO.glob("solutions/*/locale/vi.po")) + sorted((REPO / "autograder").glob("**/locale/vi.po"))


def po_entries(path: Path) -> list[tuple[str, list[tuple[int, str]]]]:
    """(msgid, [(line number, text)] of its msgstr lines) for every live entry with a
    translation, read from the file itself so that a finding names its line."""
    entries, field = [], None
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        match = re.match(r'^(msgid|msgstr|msgctxt) (".*")$', line)
        if match:
            field = match.group(1)
            if field == "msgid":
                entries.append(["", []])
            text = ast.literal_eval(match.group(2))
        elif line.startswith('"') and field:
            text = ast.literal_eval(line)
        else:  # comments (obsolete #~ entries included) and blank lines end a field
            field = None
            continue
        if field == "msgid":
            entries[-1][0] += text
        elif field == "msgstr":
            entries[-1][1].append((number, text))
    return [(msgid, lines) for msgid, lines in entries if msgid and "".join(t for _, t in lines)]


def rejected_terms_in(path: Path) -> list[str]:
    rules = [(glossary_pattern(rejected), instead) for rejected, instead, _ in glossary_table("Rejected terms")]
    required = [(glossary_pattern(english), glossary_pattern(vietnamese))
                for english, vietnamese in glossary_table("Required terms")]
    findings = []
    for msgid, lines in po_entries(path):
        text, starts = "", []
        for number, piece in lines:
            starts.append((len(text), number))
            text += piece.replace("\n", " ")  # a term may run over a line break; offsets stay
        def line_of(offset: int) -> int:
            return [number for start, number in starts if start <= offset][-1]
        where = path.relative_to(REPO)
        for rule, instead in rules:
            findings += [f"{where}:{line_of(m.start())}: {m.group(0)!r} (use {instead})" for m in rule.finditer(text)]
        english = re.sub(r"```.*?```|`[^`]*`", " ", msgid, flags=re.S)
        for english_term, vietnamese_term in required:
            term = english_term.search(english)
            if term and not vietnamese_term.search(text):
                findings.append(f"{where}:{lines[0][0]}: the English says {term.group(0)!r}, the Vietnamese "
                                f"lacks {vietnamese_term.pattern!r}")
    return findings


def test_the_glossary_is_complete_and_its_patterns_work():
    terms = {row[0] for row in glossary_table("Terms")}
    for english in ("tensor", "shape", "dtype", "device", "gradient", "forward pass", "layer", "weights",
                    "class (of the dataset, an output class)", "class (Python)", "loss (the value)", "loss function",
                    "optimizer", "learning rate", "batch", "mini-batch", "epoch", "accuracy", "in place", "leaf",
                    "graph (autograd's)", "parameters", "pooling, max-pool", "fully connected (linear) layer",
                    "activation (function)", "training", "evaluation", "self-check", "hidden test", "exercise",
                    "notebook cell", "backward pass, backpropagation", "convolution, convolutional layer"):
        assert english in terms, f"the glossary lacks {english!r}"
    assert all(len(row) == 3 and all(row) for row in glossary_table("Terms"))
    rules = [glossary_pattern(rejected) for rejected, _, _ in glossary_table("Rejected terms")]
    def rejected(text):
        return [rule.pattern for rule in rules if rule.search(text)]
    for bad in ("chạy lan truyền xuôi", "các lớp tích chập", "Lớp Linear đầu tiên", "mỗi lớp tuyến tính ẩn",
                "không có lớp nn.Linear nào", "các lớp có tham số", "mọi lớp đều phải được dùng trong forward",
                "các lớp của mạng", "một lớp con của tuple", "Mọi tầng đều chờ đợi một mini-batch",
                "autograd được dặn là", "notebook tự đứng được một mình", "nơi phần lớn dữ liệu sinh sống",
                "mảng sống trong bộ nhớ CPU"):
        assert rejected(bad), f"the glossary lets {bad!r} through"
    for good in ("10 lớp của CIFAR-10", "chỉ số lớp", "độ chính xác theo từng lớp", "class `GrayLeNet`",
                 "các tầng tích chập", "lan truyền thuận", "cần một mini-batch", "mỗi lớp một điểm số",
                 "tên các lớp được mượn từ CIFAR-10", "với lớp không có mẫu nào"):
        assert not rejected(good), f"the glossary rejects {good!r}: {rejected(good)}"


@pytest.mark.parametrize("catalog", vietnamese_catalogs(), ids=lambda p: str(p.relative_to(REPO)))
def test_catalogs_use_no_term_the_glossary_rejects(catalog):
    """Every Vietnamese catalog (notebooks and feedback) against docs/i18n.md's glossary."""
    assert po_entries(catalog), f"{catalog}: no translations read"
    findings = rejected_terms_in(catalog)
    assert not findings, f"{len(findings)} glossary findings (docs/i18n.md, Glossary):\n" + "\n".join(findings)


def test_the_glossary_check_covers_both_kinds_of_catalog():
    names = [str(p.relative_to(REPO)) for p in vietnamese_catalogs()]
    assert "autograder/locale/vi.po" in names and sum(n.startswith("solutions/") for n in names) >= 6


def test_numbers_in_vietnamese_prose_cannot_be_misread(course):
    """No `2.000` (two thousand or two?) and no `2,305`: outside code and formulas the
    markdown of the vi notebooks has no digit, point or comma and digit (docs/i18n.md, Numbers)."""
    found = []
    for a in course.assignments:
        notebook = course.solution_notebook(a)
        nb = nbformat.read(notebook, as_version=4)
        markdown = {p.msgid for c in nb.cells for p in i18n.cell_pieces(c) if p.kind == "markdown"}
        done = i18n.translations_of(i18n.read_catalog(i18n.catalog_path(notebook, "vi")))
        for msgid in markdown & set(done):
            prose = re.sub(r"```.*?```|`[^`]*`|\$\$.*?\$\$|\$[^$]*\$", " ", done[msgid], flags=re.S)
            found += [f"{a.id}: {m.group(0)!r} in {done[msgid][:60]!r}..."
                      for m in re.finditer(r"(?<!PyTorch )(?<!Python )\d+[.,]\d+", prose)]
    assert not found, "\n".join(found)
    assert re.findall(r"(?<!PyTorch )(?<!Python )\d+[.,]\d+", "2.000 batch, từ 2.305, PyTorch 2.0") == ["2.000", "2.305"]


def test_an_identity_catalog_reproduces_every_cell_byte_for_byte(course):
    """Extraction and write-back are exact: translating each message to itself changes nothing,
    so a translation can only ever change the prose it replaces (string literals included)."""
    for a in course.assignments:
        nb = nbformat.read(course.solution_notebook(a), as_version=4)
        identity = {m.msgid: m.msgid for m in i18n.extract_messages(nb, a.notebook)}
        assert any(m.formatted for m in i18n.extract_messages(nb, a.notebook)) or a.id != "05_training"
        same = i18n.translate_notebook(nb, identity, "en")
        for before, after in zip(nb.cells, same.cells):
            assert after.source == before.source, f"{a.id}: cell {before.get('id')} changed"


def test_code_comments_and_docstrings_are_rewritten_in_place():
    source = ('def f(x):\n    """Return x.\n\n    Args:\n        x: a number.\n    """\n'
              '    # add nothing,\n    # really\n    return x  # same x\n')
    cell = nbformat.v4.new_code_cell(source)
    assert [p.kind for p in i18n.cell_pieces(cell)] == ["docstring", "comment", "trailing-comment"]
    out = i18n.translate_cell_source(cell, {"Return x.\n\nArgs:\n    x: a number.": "Trả về x.\n\nArgs:\n    x: một số.",
                                            "add nothing,\nreally": "không cộng gì cả",
                                            "same x": "vẫn là x"})
    assert out == ('def f(x):\n    """Trả về x.\n\n    Args:\n        x: một số.\n    """\n'
                   '    # không cộng gì cả\n    return x  # vẫn là x\n')
    namespace = {}
    exec(out, namespace)
    assert namespace["f"](3) == 3 and namespace["f"].__doc__.startswith("Trả về x.")


def test_solution_regions_and_nbgrader_markers_are_not_extracted():
    cell = nbformat.v4.new_code_cell("def f():\n    ### BEGIN SOLUTION\n    # the secret trick\n"
                                     "    return 1\n    ### END SOLUTION\n# YOUR CODE HERE\n")
    assert i18n.cell_pieces(cell) == []


# ---- string literals a student reads ----

SHOWN = '''\
import matplotlib.pyplot as plt
stats = {"loss": 0.5, "acc": 0.25}
fig, ax = plt.subplots()
df = {"name": [1]}
print("loss", f"{stats['loss']:.3f}", "{:>4}".format(1), sep=" | ")
path = "data.csv"
print("-" * 20, "ok done" if stats else "")
raise_it = False
if raise_it:
    raise ValueError("the loader yielded no samples")
plt.title("running loss")
ax.set_xlabel("mini-batch")
ax.set_ylabel(f"loss of {len(stats)} runs")
plt.plot([1, 2], label="per batch", color="gray", linestyle="--")
plt.legend(["train", "test"], title="split", loc="upper right")
x = stats["acc"]
y = df["name"]
dtype = "float32"
'''


def string_pieces(source: str) -> list[str]:
    return [p.msgid for p in i18n.cell_pieces(nbformat.v4.new_code_cell(source)) if p.kind == "string"]


def test_only_text_a_student_reads_is_extracted_from_code():
    """print arguments, raise messages, plot titles, labels and legends; never dict keys,
    file names, format specs, dtype strings, keyword values like colours, or layout."""
    found = string_pieces(SHOWN)
    assert found == ["loss", "ok done", "the loader yielded no samples", "running loss", "mini-batch",
                     "loss of {len(stats)} runs", "per batch", "train", "test", "split"], found
    for code in ("data.csv", "float32", "name", "acc", "gray", "upper right", "{:>4}", " | ", "-"):
        assert code not in found


def test_string_pieces_inside_solution_regions_are_not_extracted():
    cell = nbformat.v4.new_code_cell('def f(x):\n    ### BEGIN SOLUTION\n    print("secret progress")\n'
                                     '    raise ValueError("the secret check")\n    ### END SOLUTION\n')
    assert string_pieces(cell.source) == []


def test_an_f_string_keeps_its_placeholders_and_a_bad_translation_is_ignored():
    source = 'loss, acc = 0.25, 0.5\nprint(f"loss {loss:.3f}, accuracy {acc:.1%} ({{raw}})")\n'
    cell = nbformat.v4.new_code_cell(source)
    [piece] = [p for p in i18n.cell_pieces(cell) if p.kind == "string"]
    assert piece.msgid == "loss {loss:.3f}, accuracy {acc:.1%} ({{raw}})" and piece.formatted
    moved = i18n.translate_cell_source(cell, {piece.msgid: 'độ chính xác {acc:.1%}, "loss" {loss:.3f} ({{thô}})'})
    assert moved == ('loss, acc = 0.25, 0.5\n'
                     'print(f"độ chính xác {acc:.1%}, \\"loss\\" {loss:.3f} ({{thô}})")\n')
    assert run_and_capture(moved) == 'độ chính xác 50.0%, "loss" 0.250 ({thô})\n'
    for broken in ("loss {loss:.2f}, độ chính xác {acc:.1%}", "loss {loss:.3f}", "loss {los:.3f} {acc:.1%}",
                   "loss {loss:.3f} {acc:.1%} {", "loss {loss:.3f} {acc:.1%} {extra}"):
        assert i18n.translate_cell_source(cell, {piece.msgid: broken}) == source, broken


def test_status_reports_a_translation_whose_placeholders_differ():
    cell = nbformat.v4.new_code_cell('n = 3\nprint(f"{n} steps done")\nprint("plain {braces} text")\n')
    nb = nbformat.v4.new_notebook(cells=[cell])
    messages = i18n.extract_messages(nb, "x.ipynb")
    catalog = i18n.update_catalog(None, messages, "vi", "x")
    catalog["{n} steps done"].string = "xong {count} bước"
    catalog["plain {braces} text"].string = "chữ thường {khác}"  # not an f-string: braces are text
    status = i18n.catalog_status(catalog, messages, "x/locale/vi.po")
    assert status.bad_placeholders == ["{n} steps done"] and status.translated == 1 and not status.complete
    assert "1 with placeholders unlike the English (ignored)" in status.summary()
    po = tmp_po(catalog)
    assert "#. f-string: keep each {placeholder} exactly as written" in po and po.count("#. f-string") == 1


def tmp_po(catalog) -> str:
    import io
    from babel.messages.pofile import write_po
    buffer = io.BytesIO()
    write_po(buffer, catalog, width=0)
    return buffer.getvalue().decode()


def run_and_capture(source: str) -> str:
    import contextlib
    import io
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(source, "<cell>", "exec"), {})
    return out.getvalue()


CONCATENATED = '''\
def fail():
    raise ModuleNotFoundError(
        "The course's self-check package is not installed here (offline?). "
        "Put the bundle's .whl file next to this notebook (on Colab: Files "
        "panel, Upload) and run this cell again.") from None
'''


def test_a_concatenated_literal_is_one_message_rewrapped_over_as_many_lines():
    cell = nbformat.v4.new_code_cell(CONCATENATED)
    [piece] = [p for p in i18n.cell_pieces(cell) if p.kind == "string"]
    english = ("The course's self-check package is not installed here (offline?). Put the bundle's .whl file "
               "next to this notebook (on Colab: Files panel, Upload) and run this cell again.")
    assert piece.msgid == english
    assert i18n.translate_cell_source(cell, {english: english}) == CONCATENATED
    vi = ('Gói tự kiểm tra của khóa học chưa được cài ở đây (không có mạng?). Hãy đặt tệp .whl của bundle '
          'cạnh notebook này (trên Colab: bảng Files, nút "Upload") rồi chạy lại ô này. C:\\thư mục')
    out = i18n.translate_cell_source(cell, {english: vi})
    lines = out.split("\n")
    assert len(lines) == len(CONCATENATED.split("\n")) and lines[:2] == CONCATENATED.split("\n")[:2]
    assert all(line.startswith('        "') for line in lines[2:5]) and lines[4].endswith('") from None')
    assert all(line.endswith(' "') for line in lines[2:4]), f"cut inside a word or before a space:\n{out}"
    widths = [len(line) for line in lines[2:5]]
    assert max(widths) - min(widths) < 40, f"unbalanced re-wrap:\n{out}"
    namespace = {}
    exec(out, namespace)
    with pytest.raises(ModuleNotFoundError) as caught:
        namespace["fail"]()
    assert str(caught.value) == vi


def test_string_literals_write_back_never_respells_code_it_cannot_reproduce():
    """A literal spelt with escapes write-back would not reproduce, or with a comment between
    its parts, is left alone; a non-ASCII line before a literal does not shift its position."""
    source = ('print("caf\\u00e9 open")\nprint("it\\\'s done")\nprint("é:", "ok done")\n'
              'raise_it = False\nif raise_it:\n    raise ValueError("first part "  # why\n'
              '                     "second part")\n')
    cell = nbformat.v4.new_code_cell(source)
    assert string_pieces(source) == ["é:", "ok done"]
    out = i18n.translate_cell_source(cell, {"é:": "ê:", "ok done": "xong", "why": "vì sao"})
    assert out == source.replace('"é:", "ok done"', '"ê:", "xong"').replace("# why", "# vì sao")
    assert run_and_capture(out).splitlines()[-1] == "ê: xong"


def test_a_translated_demo_cell_still_runs():
    source = ('import math\nvalues = [0.5, 0.25]\n'
              'for i, v in enumerate(values):\n    print(f"step {i}: loss {v:.3f}", "(ln 10 =", f"{math.log(10):.2f})")\n'
              'print("done" if values else "nothing", \'it\\\'s over\')\n')
    cell = nbformat.v4.new_code_cell(source)
    english = run_and_capture(source)
    assert i18n.translate_cell_source(cell, {p.msgid: p.msgid for p in i18n.cell_pieces(cell)}) == source
    vi = {"step {i}: loss {v:.3f}": "bước {i}: loss {v:.3f}", "(ln 10 =": "(ln 10 là", "done": "xong",
          "nothing": "chẳng có gì", "it's over": "hết rồi, \"thật\" đấy \\ nhé"}
    assert set(vi) == {p.msgid for p in i18n.cell_pieces(cell)}
    out = run_and_capture(i18n.translate_cell_source(cell, vi))
    assert english.startswith("step 0: loss 0.500 (ln 10 = 2.30)")
    assert out == ('bước 0: loss 0.500 (ln 10 là 2.30)\nbước 1: loss 0.250 (ln 10 là 2.30)\n'
                   'xong hết rồi, "thật" đấy \\ nhé\n')


# ---- staleness ----

@pytest.fixture()
def notebook_copy(tmp_path, course):
    a = course.assignment("03_autograd")
    folder = tmp_path / a.id
    (folder / "locale").mkdir(parents=True)
    shutil.copy(course.solution_notebook(a), folder / a.notebook)
    shutil.copy(i18n.catalog_path(course.solution_notebook(a), "vi"), folder / "locale" / "vi.po")
    return folder / a.notebook


def test_an_english_edit_makes_its_entry_stale_then_fuzzy(notebook_copy):
    nb = nbformat.read(notebook_copy, as_version=4)
    cell = next(c for c in nb.cells if c.cell_type == "markdown" and c.source.startswith("## 5. Gradients accumulate"))
    old = cell.source
    cell.source = old.replace("it never overwrites", "it never replaces what is there")
    nbformat.write(nb, notebook_copy)

    status = i18n.notebook_status(notebook_copy, "vi")
    assert status.stale == [old] and status.untranslated == [cell.source] and not status.complete
    # Until someone translates the new English, students see the English cell, not stale Vietnamese.
    vi = i18n.translated_notebook(notebook_copy, "vi")
    assert next(c for c in vi.cells if c.get("id") == cell.get("id")).source == cell.source

    i18n.update_notebook_catalog(notebook_copy, "vi")
    status = i18n.notebook_status(notebook_copy, "vi")
    assert status.fuzzy == [cell.source] and not status.stale and not status.complete
    previous = [line for line in i18n.catalog_path(notebook_copy, "vi").read_text(encoding="utf-8").splitlines()
                if line.startswith("#|")]
    assert any("it never overwrites" in line for line in previous), "the translator is shown the old English"
    vi = i18n.translated_notebook(notebook_copy, "vi")
    assert next(c for c in vi.cells if c.get("id") == cell.get("id")).source == cell.source, \
        "a fuzzy entry must fall back to English"


def test_status_command_fails_on_an_incomplete_catalog(tmp_path):
    shutil.copytree(REPO / "solutions", tmp_path / "solutions")
    shutil.copy(REPO / "course.yaml", tmp_path / "course.yaml")
    notebook = tmp_path / "solutions" / "03_autograd" / "03_autograd.ipynb"
    nb = nbformat.read(notebook, as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell("## A new section nobody has translated yet"))
    nbformat.write(nb, notebook)
    done = subprocess.run([sys.executable, "-m", "autograder.i18n", "status", "--course", str(tmp_path / "course.yaml")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "03_autograd/locale/vi.po" in done.stdout and "1 untranslated" in done.stdout


def test_a_broken_catalog_is_a_one_line_error(tmp_path):
    path = tmp_path / "vi.po"
    path.write_text('msgid "a"\nmsgstr "b"\nhello world\n', encoding="utf-8")
    with pytest.raises(i18n.TranslationError, match="not a valid .po catalog"):
        i18n.read_catalog(path)
    with pytest.raises(i18n.TranslationError, match="unknown language 'fr'"):
        i18n.check_language("fr")


# ---- the vi release ----

def test_the_vi_release_has_no_english_prose_left(course, vi_release):
    detector_works = False
    for a in course.assignments:
        english = nbformat.reads(release.released_text(course, a), as_version=4)
        vi = nbformat.reads(vi_release[a.id][a.notebook].decode(), as_version=4)
        detector_works |= any(english_prose(p.msgid) for c in english.cells for p in i18n.cell_pieces(c))
        for cell in vi.cells:
            if cell.cell_type == "markdown" and cell.source.strip():
                assert VIETNAMESE.search(cell.source), f"{a.id}: markdown cell in English:\n{cell.source[:200]}"
            for piece in i18n.cell_pieces(cell):
                assert not english_prose(piece.msgid), f"{a.id}: English {piece.kind} left:\n{piece.msgid[:200]}"
        english_errata = sum(c.source.count("Erratum / what changed") for c in english.cells)
        vi_errata = sum(c.source.count("Đính chính / điều đã thay đổi") for c in vi.cells)
        assert vi_errata == english_errata, f"{a.id}: every erratum note is translated"
        readme = vi_release[a.id]["README.md"].decode()
        assert VIETNAMESE.search(readme) and a.notebook in readme
    assert detector_works, "the English-prose detector finds nothing in English: the test would be vacuous"


def test_translation_changes_prose_only(course, vi_release):
    """Same cells, ids, metadata and code as the English release; only comments, docstrings,
    the extracted string pieces (their fields kept) and NOTEBOOK_LANGUAGE may differ."""
    blanked = 0
    for a in course.assignments:
        english = nbformat.reads(release.released_text(course, a), as_version=4)
        vi = nbformat.reads(vi_release[a.id][a.notebook].decode(), as_version=4)
        assert [(c.cell_type, c.get("id"), c.metadata) for c in vi.cells] == \
               [(c.cell_type, c.get("id"), c.metadata) for c in english.cells]
        assert vi.metadata["autograder"] == {**english.metadata.get("autograder", {}), "language": "vi"}
        for e, v in zip(english.cells, vi.cells):
            if e.cell_type == "code":
                blanked += len(extracted_string_paths(e.source))
                assert code_outside_prose(e.source, v.source) == code_outside_prose(e.source, e.source), \
                    f"{a.id}: {e.get('id')}"
    assert blanked > 40, "few string pieces: the comparison hardly blanks anything"


def test_the_notebook_says_its_language_in_the_setup_cell(course, vi_release):
    """The English release writes "en", the vi release "vi", into NOTEBOOK_LANGUAGE, which the
    setup cell passes to checker(); the metadata says the same."""
    for a in course.assignments:
        english = release.released_text(course, a)
        vi = vi_release[a.id][a.notebook].decode()
        assert setup_constant(english, "NOTEBOOK_LANGUAGE") == "en"
        assert setup_constant(vi, "NOTEBOOK_LANGUAGE") == "vi"
        assert nbformat.reads(vi, as_version=4).metadata["autograder"]["language"] == "vi"
        assert nbformat.reads(english, as_version=4).metadata["autograder"]["language"] == "en"
        # The vi edition's setup cell passes it on, and tells a Colab student what to do in Vietnamese.
        setup = next(c.source for c in nbformat.reads(vi, as_version=4).cells if "NOTEBOOK_LANGUAGE = " in c.source)
        assert f'checker("{a.id}", language=NOTEBOOK_LANGUAGE)' in setup
        message = setup[setup.index("raise ModuleNotFoundError("):]
        assert VIETNAMESE.search(message) and "pytorch_course_selfcheck-*.whl" in message, message


def test_no_solution_code_or_hidden_test_reaches_vi_students(course, vi_release):
    regions, hidden = solution_regions(course), hidden_test_fingerprints()
    assert sum(map(len, regions)) > 50 and hidden
    leaks = []
    for assignment_id, files in vi_release.items():
        for rel, data in files.items():
            if rel.endswith(".whl"):
                continue  # the same wheel as the English release, scanned by test_release
            text = data.decode(errors="replace")
            leaks += [f"{assignment_id}/{rel}: {s!r}" for s in leaked_solution_code(regions, rel, text)]
            leaks += [f"{assignment_id}/{rel}: hidden test {h}" for h in hidden if re.search(rf"\b{h}\b", text)]
    assert not leaks, "\n".join(leaks[:20])


def test_vi_bundles_carry_the_same_files_as_english_ones(course, vi_release):
    for a in course.assignments:
        english = release.bundle_files(course, a)
        assert set(vi_release[a.id]) == set(english)
        changed = {rel for rel in english if english[rel] != vi_release[a.id][rel]}
        assert changed == {a.notebook, "README.md"}


def test_release_language_vi_builds_release_vi_and_check_reports_catalogs(course, tmp_path):
    out = tmp_path / "vi"
    done = subprocess.run([sys.executable, "-m", "autograder", "release", "--language", "vi", "--check"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    # Exit 1 is allowed only for English drift of assignments/ (other work in progress), never catalogs.
    assert done.returncode in (0, 1) and "catalog incomplete" not in done.stdout, done.stdout + done.stderr
    assert done.returncode == 1 or "every vi catalog is complete" in done.stdout
    zips = release.build_bundles(course, out, files_of=partial(i18n_release.bundle_files, language="vi"))
    assert (out / "03_autograd.zip") in zips
    nb = nbformat.read(out / "03_autograd" / "03_autograd.ipynb", as_version=4)
    assert nb.metadata["autograder"]["language"] == "vi" and VIETNAMESE.search(nb.cells[0].source)
    bad = subprocess.run([sys.executable, "-m", "autograder", "release", "--language", "fr"],
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "--language" in bad.stderr


def test_course_language_is_validated(tmp_path):
    text = (REPO / "course.yaml").read_text()
    assert load_course(REPO / "course.yaml", check_notebooks=False).language in ("en", "vi")
    (tmp_path / "course.yaml").write_text(text.replace("seed: 2026", "seed: 2026\nlanguage: vi"))
    assert load_course(tmp_path / "course.yaml", check_notebooks=False).language == "vi"
    (tmp_path / "course.yaml").write_text(text.replace("seed: 2026", "seed: 2026\nlanguage: klingon"))
    with pytest.raises(CourseError, match=r"course.yaml:\d+: language: must be one of en, vi, got 'klingon'"):
        load_course(tmp_path / "course.yaml", check_notebooks=False)


# ---- grading and running the vi notebooks ----

def write_reference_notebooks(course, folder: Path, language: str, ids) -> Path:
    for assignment_id in ids:
        a = course.assignment(assignment_id)
        nb = i18n.translated_notebook(course.solution_notebook(a), language)
        (folder / a.id).mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, folder / a.id / a.notebook)
    return folder


def graded(report) -> list[tuple]:
    return [(a["id"], t["id"], t["status"], t["score"], t["max_score"])
            for a in report["assignments"] for t in a["tests"]]


@pytest.mark.slow
def test_vi_and_en_reference_notebooks_grade_identically(course, tmp_path, graded_solutions):
    """The vi reference notebooks grade as solutions/ does (graded once per session)."""
    ids = [a.id for a in course.assignments]
    assert graded_solutions["returncode"] == 0, graded_solutions["stderr"]
    results = {"en": json.loads(graded_solutions["stdout"])}
    folder = write_reference_notebooks(course, tmp_path / "vi", "vi", ids)
    done = subprocess.run([sys.executable, "-m", "autograder", "grade", str(folder), "--format", "json"],
                          cwd=REPO, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr
    results["vi"] = json.loads(done.stdout)
    assert len(graded(results["en"])) > 20
    assert graded(results["vi"]) == graded(results["en"])
    assert results["vi"]["score"] == results["en"]["score"] == results["en"]["max_score"]


@pytest.fixture(scope="module")
def vi_runs(course, request) -> dict:
    """The selected vi reference notebooks, executed two at a time: {id: (nb, outcome)}."""
    from kernels import DEFAULT_BUDGET_S, NOTEBOOK_BUDGET_S, run_notebooks, selected_params

    jobs = {}
    for assignment_id in selected_params(request, "test_vi_reference_notebook_runs_top_to_bottom"):
        path = course.solution_notebook(course.assignment(assignment_id))
        jobs[assignment_id] = (i18n.translated_notebook(path, "vi"), path.parent,
                               NOTEBOOK_BUDGET_S.get(assignment_id, DEFAULT_BUDGET_S))
    runs = run_notebooks(jobs)
    return {key: (jobs[key][0], runs[key]) for key in jobs}


@pytest.mark.slow
@pytest.mark.parametrize("assignment_id", ["01_tensors", "02_numpy_bridge", "03_autograd", "04_lenet",
                                           "05_training", "06_cuda"])
def test_vi_reference_notebook_runs_top_to_bottom(vi_runs, assignment_id):
    from kernels import outcome_of, stream_text

    nb, outcome = vi_runs[assignment_id]
    outcome_of({assignment_id: outcome}, assignment_id)
    final = [c for c in nb.cells if c.source.strip() == "check()"][0]
    summary = "".join(o["data"]["text/plain"] for o in final.outputs if o.get("output_type") == "execute_result")
    counts = re.search(r"(\d+)(?: of | trên |/)(\d+)", summary)
    assert counts and counts.group(1) == counts.group(2), f"{summary}\n{stream_text(final)}"
    # NOTEBOOK_LANGUAGE says "vi", so the self-check speaks Vietnamese in the kernel too.
    assert VIETNAMESE.search(summary) and VIETNAMESE.search(stream_text(final)), f"{summary}\n{stream_text(final)}"


# ---- feedback (phase 2: machinery and the files translated so far) ----

def test_feedback_catalog_coverage_per_source_file():
    """Coverage of autograder/locale/vi.po per test file (printed with -s): every hidden and
    visible test's name and messages, and expect.py's, at 100 %, placeholders intact."""
    from autograder.i18n import feedback as i18n_feedback

    catalog = i18n.read_catalog(i18n_feedback.catalog_path("vi"))
    done = i18n.translations_of(catalog)
    per_file: dict[str, list[bool]] = {}
    for message in i18n_feedback.messages():
        for where in {location for location, _ in message.locations}:
            per_file.setdefault(where, []).append(message.msgid in done)
    print("\n" + "\n".join(f"{where}: {100 * sum(flags) / len(flags):.0f} % ({sum(flags)}/{len(flags)})"
                           for where, flags in sorted(per_file.items())))
    assert len(per_file) >= 19, "expected every hidden and visible test file plus expect.py"
    assert len(i18n_feedback.extract().names) > 100
    unfinished = [w for w, flags in per_file.items() if not all(flags)]
    assert not unfinished, f"untranslated feedback in {sorted(unfinished)}: see docs/i18n.md"
    fields = r"(?<!\{)\{([^{}]+)\}(?!\})"
    broken = [msgid for msgid, text in done.items()
              if sorted(re.findall(fields, msgid)) != sorted(re.findall(fields, text))]
    assert not broken, f"translations that lost or renamed a placeholder (they would be ignored): {broken[:3]}"


def test_feedback_templates_translate_composed_messages():
    from autograder.localize import Translator

    translate = Translator({
        "{what} returned shape {shape_text(value.shape)}; expected {shape_text(shape)}":
            "{what} trả về shape {shape_text(value.shape)}; cần {shape_text(shape)}",
        "make_empty({rows}, {cols})": "make_empty({rows}, {cols})",
        "y after add_inplace(x, y)": "y sau add_inplace(x, y)",
        "modify y itself with y.add_(x)": "hãy sửa chính y bằng y.add_(x)",
    })
    assert translate("y after add_inplace(x, y) returned shape [3]; expected [2, 3]. modify y itself with y.add_(x)") \
        == "y sau add_inplace(x, y) trả về shape [3]; cần [2, 3]. hãy sửa chính y bằng y.add_(x)"
    assert translate("something nobody translated") == "something nobody translated"


def test_a_failing_submission_gets_vietnamese_feedback_with_the_same_verdicts(course, tmp_path):
    from autograder.grading import grade_path
    from autograder.localize import localize_report

    wrong = tmp_path / "01_tensors.py"
    wrong.write_text("import torch\n"
                     "def make_empty(rows, cols):\n    return torch.empty(rows, cols, dtype=torch.float64)\n"
                     "def make_uniform(rows, cols):\n    return torch.randn(rows, cols)\n"
                     "def zeros_long(rows, cols):\n    return torch.ones(rows, cols, dtype=torch.long)\n"
                     "def add_inplace(x, y):\n    return y + x\n")
    english = grade_path(str(wrong), course, device="cpu", assignments=["01_tensors"], backend="inprocess").to_dict()
    vi = localize_report(english, "vi")
    assert vi["language"] == "vi"
    keep = ("id", "category", "score", "max_score", "status", "visibility")
    assert [[{k: t.get(k) for k in keep} for t in a["tests"]] for a in vi["assignments"]] == \
           [[{k: t.get(k) for k in keep} for t in a["tests"]] for a in english["assignments"]]
    tests = vi["assignments"][0]["tests"]
    assert all(VIETNAMESE.search(t["name"]) for t in tests), [t["name"] for t in tests]
    failed = {t["id"]: t["message"] for t in tests if t["status"] == "failed"}
    # A composed message: the test's `what`, expect.py's sentence and the test's hint, all translated.
    assert any("Hãy sửa chính y bằng y.add_(x)" in m and m.startswith("y sau add_inplace") for m in failed.values())
    for test_id in ("tensors::make_empty", "tensors::make_uniform", "tensors::zeros_long"):
        matching = [m for i, m in failed.items() if i.startswith(test_id)]
        assert matching and all(VIETNAMESE.search(m) for m in matching), (test_id, failed)


def test_grade_and_check_speak_the_requested_language(tmp_path):
    wrong = tmp_path / "01_tensors.py"
    wrong.write_text("import torch\ndef make_empty(rows, cols):\n    return torch.empty(rows, cols, dtype=torch.float64)\n")
    run = partial(subprocess.run, cwd=REPO, capture_output=True, text=True, timeout=600)
    english = run([sys.executable, "-m", "autograder", "grade", str(wrong), "--format", "json", "--device", "cpu"])
    vi = run([sys.executable, "-m", "autograder", "grade", str(wrong), "--format", "json", "--device", "cpu",
              "--language", "vi"])
    assert english.returncode == vi.returncode == 0, english.stderr + vi.stderr
    en_data, vi_data = json.loads(english.stdout), json.loads(vi.stdout)
    assert en_data["language"] == "en" and vi_data["language"] == "vi"
    assert [(t["id"], t["category"], t["score"], t["status"]) for a in vi_data["assignments"] for t in a["tests"]] == \
           [(t["id"], t["category"], t["score"], t["status"]) for a in en_data["assignments"] for t in a["tests"]]
    text = run([sys.executable, "-m", "autograder", "grade", str(wrong), "--device", "cpu", "--language", "vi"])
    assert "Tổng điểm:" in text.stdout and "Báo cáo chấm bài cho" in text.stdout and "Total:" not in text.stdout
    check = run([sys.executable, "-m", "autograder", "check", str(wrong), "--language", "vi"])
    assert check.returncode == 0 and "Tự kiểm tra 01_tensors:" in check.stdout, check.stdout + check.stderr
    assert "make_empty(5, 3) trả về dtype torch.float64" in check.stdout
    assert "Các bài kiểm thử ẩn cũng chạy" in check.stdout and "Hidden tests also run" not in check.stdout
