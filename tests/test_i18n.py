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

from autograder import i18n, i18n_release, release
from autograder.course import CourseError, load_course

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_release import hidden_test_fingerprints, leaked_solution_code, solution_regions  # noqa: E402

VIETNAMESE = re.compile(r"[àáãèéìíĩòóõùúũýăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ]", re.IGNORECASE)
ENGLISH_WORDS = {"the", "a", "an", "is", "are", "of", "to", "and", "with", "for", "it", "its", "this",
                 "that", "from", "by", "not", "be", "when", "each", "every", "your", "you", "into"}


def english_prose(text: str) -> bool:
    """Three or more common English words outside code spans and quotes (PyTorch's own error
    messages are quoted verbatim): a sentence, not an identifier."""
    text = re.sub(r"```.*?```|`[^`]*`|\$[^$]*\$|\"[^\"\n]*\"", " ", text, flags=re.S)
    return sum(word in ENGLISH_WORDS for word in re.findall(r"[^\W\d_]+", text.lower())) >= 3


def without_docstrings(source: str) -> str:
    """The cell's syntax tree with every docstring blanked (comments are not in the tree)."""
    masked = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.split("\n"))
    tree = ast.parse(masked)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
            body[0].value.value = ""
    return ast.dump(tree)


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


def test_an_identity_catalog_reproduces_every_cell_byte_for_byte(course):
    """Extraction and write-back are exact: translating each message to itself changes nothing,
    so a translation can only ever change the prose it replaces."""
    for a in course.assignments:
        nb = nbformat.read(course.solution_notebook(a), as_version=4)
        identity = {m.msgid: m.msgid for m in i18n.extract_messages(nb, a.notebook)}
        same = i18n.translate_notebook(nb, identity, "vi")
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
    """Same cells, ids, metadata and code (comments and docstrings aside) as the English release."""
    for a in course.assignments:
        english = nbformat.reads(release.released_text(course, a), as_version=4)
        vi = nbformat.reads(vi_release[a.id][a.notebook].decode(), as_version=4)
        assert [(c.cell_type, c.get("id"), c.metadata) for c in vi.cells] == \
               [(c.cell_type, c.get("id"), c.metadata) for c in english.cells]
        assert vi.metadata["autograder"] == {**english.metadata.get("autograder", {}), "language": "vi"}
        for e, v in zip(english.cells, vi.cells):
            if e.cell_type == "code":
                assert without_docstrings(v.source) == without_docstrings(e.source), f"{a.id}: {e.get('id')}"


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
def test_vi_and_en_reference_notebooks_grade_identically(course, tmp_path):
    ids = [a.id for a in course.assignments]
    results = {}
    for language in ("en", "vi"):
        folder = write_reference_notebooks(course, tmp_path / language, language, ids)
        done = subprocess.run([sys.executable, "-m", "autograder", "grade", str(folder), "--format", "json",
                               "--device", "cpu"], cwd=REPO, capture_output=True, text=True, timeout=1200)
        assert done.returncode == 0, done.stderr
        results[language] = json.loads(done.stdout)
    assert len(graded(results["en"])) > 20
    assert graded(results["vi"]) == graded(results["en"])
    assert results["vi"]["score"] == results["en"]["score"] == results["en"]["max_score"]


@pytest.fixture(scope="module")
def vi_runs(course, request) -> dict:
    """The selected vi reference notebooks, executed two at a time: {id: (nb, outcome)}."""
    from test_notebooks import DEFAULT_BUDGET_S, NOTEBOOK_BUDGET_S, run_notebooks, selected_params

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
    from test_notebooks import outcome_of, stream_text

    nb, outcome = vi_runs[assignment_id]
    outcome_of({assignment_id: outcome}, assignment_id)
    final = [c for c in nb.cells if c.source.strip() == "check()"][0]
    summary = "".join(o["data"]["text/plain"] for o in final.outputs if o.get("output_type") == "execute_result")
    counts = re.search(r"(\d+) of (\d+)", summary)
    assert counts and counts.group(1) == counts.group(2), f"{summary}\n{stream_text(final)}"


# ---- feedback (phase 2: machinery and the files translated so far) ----

def test_feedback_catalog_coverage_per_source_file():
    """Coverage of autograder/locale/vi.po per test file (printed with -s): every hidden and
    visible test's name and messages, and expect.py's, at 100 %, placeholders intact."""
    from autograder import i18n_feedback

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
    from autograder.i18n_feedback import Translator

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
    from autograder.i18n_feedback import localize_report

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
    assert any("hãy sửa chính y bằng y.add_(x)" in m and m.startswith("y sau add_inplace") for m in failed.values())
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
