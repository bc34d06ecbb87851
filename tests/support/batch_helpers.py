"""Sample classes for the batch, CI and Gradescope tests: small .py submissions of
01_tensors (the cheapest assignment), correct, partial and faulty, plus a course.yaml
with low limits so faulty submissions end quickly."""
from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ASSIGNMENT = "01_tensors"


def _full_marks() -> float:
    from autograder.course import load_course
    return float(load_course(REPO / "course.yaml", check_notebooks=False).assignment(ASSIGNMENT).points)


FULL_MARKS = _full_marks()  # course.yaml's points of ASSIGNMENT: what REFERENCE scores

# 01_tensors written from docs/EXERCISES.md, one function per entry so that partial
# submissions can leave any subset unfinished.
REFERENCE = {
    "make_empty": "def make_empty(rows, cols):\n    return torch.empty(rows, cols)\n",
    "make_uniform": "def make_uniform(rows, cols):\n    return torch.rand(rows, cols)\n",
    "zeros_long": "def zeros_long(rows, cols):\n    return torch.zeros(rows, cols, dtype=torch.long)\n",
    "from_list": "def from_list(values):\n    return torch.tensor(values)\n",
    "ones_double_like": "def ones_double_like(x):\n    return x.new_ones(x.shape, dtype=torch.double)\n",
    "randn_float_like": "def randn_float_like(x):\n    return torch.randn_like(x, dtype=torch.float)\n",
    "add_out": "def add_out(x, y, out):\n    torch.add(x, y, out=out)\n    return out\n",
    "add_inplace": "def add_inplace(x, y):\n    y.add_(x)\n    return y\n",
    "second_column": "def second_column(x):\n    return x[:, 1]\n",
    "views_of": "def views_of(x):\n    return x.view(x.numel()), x.view(-1, 8)\n",
    "to_python_number": "def to_python_number(t):\n    return t.item()\n",
}
STUB_BODY = "    raise NotImplementedError()\n"


def source(done: set[str] | None = None, extra: str = "") -> str:
    """01_tensors with the functions in `done` implemented and the others stubbed."""
    done = set(REFERENCE) if done is None else done
    parts = ["import torch\n"]
    for name, code in REFERENCE.items():
        parts.append(code if name in done else code.splitlines()[0] + "\n" + STUB_BODY)
    return "\n\n".join(parts) + extra


def clean_sources() -> dict[str, str]:
    """Reference, blank stubs and partial solutions: students whose grading ends 'graded'."""
    names = list(REFERENCE)
    out = {"ref_full": source(), "stub_blank": source(set())}
    for k in range(1, len(names)):
        out[f"partial_{k:02d}"] = source(set(names[:k]))
    out["wrong_dtype"] = source().replace("dtype=torch.long", "dtype=torch.float")
    return out


FAULTY = {
    # student id: (source, expected gradebook status)
    "fault_loop_import": (source() + "\nwhile True:\n    pass\n", "timeout"),
    "fault_loop_call": (source().replace("    return torch.zeros(rows, cols, dtype=torch.long)",
                                         "    while True:\n        pass"), "timeout"),
    "fault_exit": (source() + "\nimport os\nos._exit(3)\n", "crashed"),
    "fault_memory": (source() + "\nhog = []\nwhile True:\n    hog.append(bytearray(64 * 2**20))\n", "memory"),
    "fault_syntax": (source().replace("def second_column(x):", "def second_column(x) oops:"), "load_error"),
}


def write_class(folder: Path, sources: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for student, text in sources.items():
        (folder / f"{student}.py").write_text(text)
    return folder


def write_course(folder: Path, **limits) -> Path:
    """The repository's course.yaml with other limits; grading reads no solutions/."""
    text = (REPO / "course.yaml").read_text()
    for key, value in limits.items():
        text, n = re.subn(rf"(?m)^(\s+{key}:\s*)[^\s#]+", rf"\g<1>{value}", text)
        assert n == 1, key
    text = text.replace("root: .data", f"root: {REPO / '.data'}")
    text = text.replace("calibration: calibration/", f"calibration: {REPO / 'calibration'}/")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "course.yaml"
    path.write_text(text)
    return path


def fast_course(folder: Path) -> Path:
    return write_course(folder, test_timeout_s=3, submission_timeout_s=20, memory_mb=1024)


def env() -> dict:
    e = dict(os.environ)
    e.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    return e


def autograder_cmd(course_file: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "autograder", "--course", str(course_file), *args]


def run_cli(course_file: Path, *args: str, timeout: float = 600, cwd: Path | None = None):
    return subprocess.run(autograder_cmd(course_file, *args), capture_output=True, text=True,
                          env=env(), timeout=timeout, cwd=cwd)


def batch(course_file: Path, folder: Path, out: Path, *extra: str, jobs: int = 2):
    return run_cli(course_file, "batch", str(folder), "--out", str(out), "--assignment", ASSIGNMENT,
                   "--jobs", str(jobs), *extra)


def gradebook(out: Path) -> list[dict]:
    with open(out / "gradebook.csv", newline="") as f:
        return list(csv.DictReader(f))
