"""`autograder release --language vi`: the student release in another language.

assignments/ stays English: it is the checked-in mirror of solutions/ that the drift test
compares. A translated release is built, never checked in, into build/release-<lang>/
(or --out): the same bundles as the English release (same kit files, visible tests and
student wheel), with the notebook and README in the target language. The notebook is
translated *after* the English release pipeline (ClearSolutions, install source), so
every rule that pipeline applies holds for the translation too, and translation can only
touch prose: code, ids and nbgrader metadata are the English release's, byte for byte.
"""
from __future__ import annotations

from functools import partial
from pathlib import Path

import nbformat

from autograder import i18n
from autograder.release import bundles, notebooks
from autograder.release import wheel as student_wheel
from autograder.course import Assignment, Course

README = {
    "vi": """\
# {title}

## Trên máy của bạn
1. Cài các thư viện của khóa học một lần: `pip install -r requirements.txt`
   (hoặc dùng môi trường mà khóa học cung cấp).
2. Mở `{notebook}` trong Jupyter **từ chính thư mục này**, đọc từng phần và hoàn thành các
   hàm có đánh dấu `# YOUR CODE HERE`.
3. Chạy các ô `check(...)`: chúng chạy các bài kiểm thử công khai trên code của bạn.
   Khi bài được chấm, các bài kiểm thử ẩn cũng chạy, nên tự kiểm tra đạt hết là dấu hiệu tốt,
   chưa phải điểm cuối cùng. Từ terminal: `autograder check {notebook}` ở nơi đã cài bộ công cụ
   của khóa học.

## Trên Google Colab (hoặc khi notebook nằm ở thư mục khác)
Ô code đầu tiên của notebook cần gói dành cho học viên của khóa học (phần tự kiểm tra và dữ liệu
demo), `{wheel}`, có sẵn trong thư mục này:
1. Tải `{notebook}` lên Colab (File > Upload notebook).
2. Tải `{wheel}` lên bằng bảng Files (biểu tượng thư mục bên trái), đặt cạnh notebook.
3. Chạy ô code đầu tiên: nó cài gói bằng pip và cho biết cần làm gì nếu không cài được
   (không có mạng, hoặc thiếu tệp .whl).{online}
""",
}
ONLINE = {"vi": "\n   Khi không có tệp .whl, ô đó cài từ `{source}` (cần internet)."}


def released_text(course: Course, assignment: Assignment, language: str) -> str:
    """The student notebook of `assignment` in `language` (English where untranslated)."""
    english = notebooks.released_text(course, assignment)
    if i18n.check_language(language) == i18n.SOURCE_LANGUAGE:
        return english
    catalog = i18n.read_catalog(i18n.catalog_path(course.solution_notebook(assignment), language))
    translated = i18n.translate_notebook(nbformat.reads(english, as_version=4),
                                         i18n.translations_of(catalog), language)
    return notebooks.notebook_text(translated)


def student_readme(course: Course, assignment: Assignment, language: str) -> str:
    if language not in README:
        return bundles.student_readme(course, assignment)
    source = notebooks.student_package_source(course)
    return README[language].format(title=assignment.title or assignment.id, notebook=assignment.notebook,
                                   wheel=student_wheel.wheel_name(),
                                   online=ONLINE[language].format(source=source) if source else "")


def bundle_files(course: Course, assignment: Assignment, language: str) -> dict[str, bytes]:
    """The English bundle with the notebook and README in `language`."""
    files = bundles.bundle_files(course, assignment)
    files[assignment.notebook] = released_text(course, assignment, language).encode()
    files["README.md"] = student_readme(course, assignment, language).encode()
    return files


def incomplete_catalogs(course: Course, language: str) -> list[str]:
    """One line per notebook whose catalog is not complete and current."""
    lines = []
    for a in course.assignments:
        status = i18n.notebook_status(course.solution_notebook(a), language)
        if not status.complete:
            lines.append(status.summary())
    return lines


def run_localized_release(args, course: Course, language: str) -> int:
    i18n.check_language(language)
    if args.check:
        stale = notebooks.stale_assignments(course)
        incomplete = incomplete_catalogs(course, language)
        for line in incomplete:
            print(f"catalog incomplete: {line} (see docs/i18n.md)")
        if stale:
            print("assignments/ is out of date for: " + ", ".join(stale) + " (run `autograder release`)")
        if stale or incomplete:
            return 1
        print(f"assignments/ matches solutions/ and every {language} catalog is complete")
        return 0
    for path in notebooks.write_assignments(course):
        print(f"wrote {path.relative_to(course.root)}")
    for line in incomplete_catalogs(course, language):
        # A half-translated release is still usable (untranslated prose stays English).
        print(f"warning: catalog incomplete, English fallback used: {line}")
    out = Path(args.out) if args.out else course.root / "build" / f"release-{language}"
    for path in bundles.build_bundles(course, out, files_of=partial(bundle_files, language=language)):
        print(f"wrote {path}")
    return 0
