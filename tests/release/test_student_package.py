"""The student package (issue 13.2): a notebook opened alone (Colab, any folder) installs
the self-check from the release's wheel and works, in a Python that cannot import the kit.

The venv is made with `--without-pip` and sees this environment's site-packages (torch,
pip) through a plain path line in a .pth file. Python does not process .pth files of a
folder added that way, so the kit's editable-install hook never runs: `import autograder`
fails there until the wheel is installed, which the test checks first.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import nbformat
import pytest

from autograder.release import wheel as student_wheel
from autograder.release import ReleaseError, build_bundles, bundle_files, released_text

REPO = Path(__file__).resolve().parents[2]
ASSIGNMENT = "01_tensors"
STUB = '''
def make_uniform(rows, cols):
    """Doc."""
    # YOUR CODE HERE
    raise NotImplementedError()
'''
PROBE = '''
import autograder, sys
result = check("make_uniform")
from autograder.data import SyntheticCIFAR10  # the 05/06 demos import it too
print("RESULT", repr(result))
print("FROM", autograder.__file__)
'''


@pytest.fixture(scope="module")
def release(tmp_path_factory, course):
    out = tmp_path_factory.mktemp("release")
    build_bundles(course, out)
    return out


@pytest.fixture(scope="module")
def vi_release(tmp_path_factory, course):
    from functools import partial

    from autograder.release import translated as i18n_release
    out = tmp_path_factory.mktemp("release-vi")
    build_bundles(course, out, files_of=partial(i18n_release.bundle_files, language="vi"))
    return out


def fresh_venv(where: Path) -> Path:
    """A venv without the kit that still reaches this environment's torch and pip."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True, timeout=120)
    python = where / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (Path(site) / "outer_site_packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


def first_cell(notebook: Path) -> str:
    nb = nbformat.read(notebook, as_version=4)
    return next(c.source for c in nb.cells if c.cell_type == "code" and "checker(" in c.source)


def run_script(python: Path, source: str, cwd: Path) -> subprocess.CompletedProcess:
    script = cwd / "notebook_cells.py"
    script.write_text(source)
    return subprocess.run([str(python), str(script)], cwd=cwd, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["next to the notebook", "from a parent folder"])
def test_a_notebook_opened_alone_installs_the_wheel_and_checks(tmp_path, release, layout):
    folder = tmp_path / "colab" / "upload"
    folder.mkdir(parents=True)
    shutil.copy(release / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", folder)
    shutil.copy(release / student_wheel.wheel_name(), folder)
    cwd = folder if layout == "next to the notebook" else folder.parent
    python = fresh_venv(tmp_path / "venv")
    kit = subprocess.run([str(python), "-c", "import autograder"], cwd=cwd, capture_output=True, text=True)
    assert kit.returncode != 0 and "No module named 'autograder'" in kit.stderr, "the kit is importable: vacuous"

    done = run_script(python, first_cell(folder / f"{ASSIGNMENT}.ipynb") + STUB + PROBE, cwd)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "make_uniform is not written yet" in done.stdout
    assert "RESULT self-check of make_uniform: 0 of 1 checks passed; not written yet: make_uniform" in done.stdout
    installed_at = next(line for line in done.stdout.splitlines() if line.startswith("FROM"))
    assert str(tmp_path / "venv") in installed_at, installed_at


@pytest.mark.slow
def test_a_vietnamese_notebook_opened_alone_checks_in_vietnamese(tmp_path, vi_release):
    """Colab-like: only the vi notebook and the wheel, a Python without the kit. The
    setup cell installs the wheel and every line check() prints is Vietnamese."""
    from feedback_corpus import english_words

    folder = tmp_path / "colab"
    folder.mkdir()
    shutil.copy(vi_release / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", folder)
    shutil.copy(vi_release / student_wheel.wheel_name(), folder)
    python = fresh_venv(tmp_path / "venv")
    done = run_script(python, first_cell(folder / f"{ASSIGNMENT}.ipynb") + STUB + PROBE + 'check()\n', folder)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert str(tmp_path / "venv") in next(line for line in out.splitlines() if line.startswith("FROM"))
    assert "make_uniform chưa được viết" in out and "Tự kiểm tra 01_tensors:" in out
    assert "RESULT tự kiểm tra make_uniform: đạt 0/1 phép kiểm tra; chưa làm: make_uniform" in out
    shown = [line for line in out.splitlines() if not line.startswith(("RESULT", "FROM"))]
    assert len(shown) > 10 and not [line for line in shown if english_words(line)], out


@pytest.mark.slow
def test_offline_without_the_wheel_says_what_to_do_in_vietnamese(tmp_path, vi_release):
    folder = tmp_path / "alone"
    folder.mkdir()
    shutil.copy(vi_release / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", folder)
    python = fresh_venv(tmp_path / "venv")
    done = run_script(python, first_cell(folder / f"{ASSIGNMENT}.ipynb"), folder)
    last = done.stderr.strip().splitlines()[-1]
    assert done.returncode != 0 and last.startswith("ModuleNotFoundError: Gói tự kiểm tra của khóa học")
    assert "pytorch_course_selfcheck-*.whl" in last and "Upload" in last


@pytest.mark.slow
def test_offline_without_the_wheel_says_what_to_do(tmp_path, release):
    folder = tmp_path / "alone"
    folder.mkdir()
    shutil.copy(release / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", folder)
    python = fresh_venv(tmp_path / "venv")
    done = run_script(python, first_cell(folder / f"{ASSIGNMENT}.ipynb"), folder)
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("ModuleNotFoundError: The course's self-check package is not installed")
    assert "pytorch_course_selfcheck-*.whl" in last and "Upload" in last


def test_the_wheel_holds_only_the_student_surface(release, course):
    from autograder.release import STUDENT_MODULES
    with zipfile.ZipFile(release / student_wheel.wheel_name()) as wheel:
        names = set(wheel.namelist())
        record = wheel.read(next(n for n in names if n.endswith("dist-info/RECORD"))).decode()
        metadata = wheel.read(next(n for n in names if n.endswith("dist-info/METADATA"))).decode()
    code = {n for n in names if ".dist-info/" not in n}
    expected = {f"autograder/{m}" for m in STUDENT_MODULES} | {"autograder/selfcheck/tests/__init__.py"}
    for a in course.assignments:
        expected |= {f"autograder/selfcheck/tests/test_{a.id}.py", f"autograder/selfcheck/tests/unscored/test_{a.id}.py"}
    # the feedback catalogs, compiled for these files only (see the next test)
    expected |= {f"autograder/locale/{po.stem}.json" for po in (REPO / "autograder" / "locale").glob("*.po")}
    assert code == expected
    assert all(name in record for name in code) and "Name: pytorch-course-selfcheck" in metadata
    # Every bundle carries the same wheel next to its notebook, and its README says how to use it on Colab.
    files = bundle_files(course, course.assignments[0])
    assert files[student_wheel.wheel_name()] == (release / student_wheel.wheel_name()).read_bytes()
    readme = files["README.md"].decode()
    assert "Google Colab" in readme and student_wheel.wheel_name() in readme and "Files panel" in readme


def test_the_compiled_catalog_holds_the_self_check_and_nothing_hidden(release):
    """The wheel's catalog translates what a self-check prints (visible test names, the
    summary, expect.py's sentences) and holds no entry that only a hidden test uses: a
    hidden test's name or message in Vietnamese would give the hidden test away."""
    import json

    from autograder.i18n import feedback as i18n_feedback
    with zipfile.ZipFile(release / student_wheel.wheel_name()) as wheel:
        shipped = json.loads(wheel.read("autograder/locale/vi.json"))
    hidden_only = [m.msgid for m in i18n_feedback.messages()
                   if all(where.startswith("tests_hidden/") for where, _ in m.locations)]
    visible = [m.msgid for m in i18n_feedback.messages()
               if any(where.startswith("selfcheck/tests/") for where, _ in m.locations)]
    assert len(hidden_only) > 100 and len(visible) > 50, "the catalog's locations say too little: vacuous"
    assert not set(hidden_only) & set(shipped), sorted(set(hidden_only) & set(shipped))[:5]
    assert set(visible) <= set(shipped), sorted(set(visible) - set(shipped))[:5]
    assert "Self-check for {scope}:" in shipped and "{what} returned {describe(value)}; expected a torch.Tensor" in shipped


def test_the_install_source_comes_from_course_yaml(course):
    import dataclasses
    from autograder.course import ReleaseSettings

    def install_line(c) -> str:
        source = first_cell_of(released_text(c, c.assignments[0]))
        return next(line for line in source.splitlines() if line.startswith("STUDENT_PACKAGE_SOURCE ="))

    url = "https://example.org/course/pytorch_course_selfcheck-0.1.0-py3-none-any.whl"
    configured = dataclasses.replace(course, release=ReleaseSettings(student_package=url))
    assert install_line(configured).startswith(f'STUDENT_PACKAGE_SOURCE = "{url}"')
    assert install_line(course).startswith('STUDENT_PACKAGE_SOURCE = ""')
    bad = dataclasses.replace(course, release=ReleaseSettings(student_package='x"; import os'))
    with pytest.raises(ReleaseError, match="release.student_package: must be a URL or a pip requirement"):
        released_text(bad, course.assignments[0])


def first_cell_of(notebook_text: str) -> str:
    nb = nbformat.reads(notebook_text, as_version=4)
    return next(c.source for c in nb.cells if c.cell_type == "code" and "checker(" in c.source)


def test_course_yaml_rejects_a_wrong_type_for_the_install_source(tmp_path):
    from autograder.course import CourseError, load_course
    text = (REPO / "course.yaml").read_text().replace('student_package: ""', "student_package: [1, 2]")
    (tmp_path / "course.yaml").write_text(text)
    with pytest.raises(CourseError, match="release.student_package"):
        load_course(tmp_path / "course.yaml", check_notebooks=False)
