"""The student package: a small wheel holding the self-check and the demo-data code, so a
notebook opened alone (Google Colab, any folder) can `pip install` what its first cell
imports.

It is the same allow-listed surface as a release bundle (release.STUDENT_MODULES plus the
visible tests) under the same import name, `autograder`, so the notebooks need no second
spelling. It holds the visible tests of every assignment: they are no secret (each bundle
ships its own), and one wheel then serves the whole course on Colab.

Built by hand (a wheel is a zip with a dist-info folder) so the release needs no build
backend and no network, and the same inputs give the same bytes.
"""
from __future__ import annotations

import base64
import hashlib
import io
import zipfile
from pathlib import Path

import autograder

DISTRIBUTION = "pytorch-course-selfcheck"
REQUIRES = ("torch>=2.3", "torchvision>=0.18", "numpy>=1.24", "pytest>=7.4", "tqdm>=4.65")
FIXED_TIME = (2020, 1, 1, 0, 0, 0)


def wheel_name(version: str = autograder.__version__) -> str:
    return f"{DISTRIBUTION.replace('-', '_')}-{version}-py3-none-any.whl"


def package_files(modules: tuple[str, ...], visible_tests: list[str], package_dir: Path) -> dict[str, bytes]:
    """The wheel's `autograder/...` files: the student modules and the visible tests."""
    files = {f"autograder/{m}": (package_dir / m).read_bytes() for m in modules if (package_dir / m).is_file()}
    if visible_tests:
        files["autograder/selfcheck/tests/__init__.py"] = b""
    for rel in visible_tests:
        files[f"autograder/{rel}"] = (package_dir / rel).read_bytes()
    return files


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def build_wheel(files: dict[str, bytes], version: str = autograder.__version__) -> bytes:
    """The wheel's bytes for `files` (relative path -> content)."""
    dist_info = f"{DISTRIBUTION.replace('-', '_')}-{version}.dist-info"
    metadata = "\n".join([
        "Metadata-Version: 2.1", f"Name: {DISTRIBUTION}", f"Version: {version}",
        "Summary: Self-check and demo data for the PyTorch course notebooks (no hidden tests, no solutions)",
        "Requires-Python: >=3.10", *(f"Requires-Dist: {r}" for r in REQUIRES), "", ""])
    wheel = "Wheel-Version: 1.0\nGenerator: autograder release\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    contents = dict(sorted(files.items()))
    contents[f"{dist_info}/METADATA"] = metadata.encode()
    contents[f"{dist_info}/WHEEL"] = wheel.encode()
    contents[f"{dist_info}/top_level.txt"] = b"autograder\n"
    record = [f"{path},{_record_hash(data)},{len(data)}" for path, data in contents.items()]
    record.append(f"{dist_info}/RECORD,,")
    contents[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, data in contents.items():
            info = zipfile.ZipInfo(path, date_time=FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
    return buffer.getvalue()
