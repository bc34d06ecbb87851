"""What student code cannot do from inside the sandbox: reach the grader's output, the
hidden tests, the solutions or course.yaml, files outside its scratch folder, the
network, or the grader's own objects and functions."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

from autograder.course import Limits
from autograder.load import StudentCode

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="isolation is Linux-only")

REPO = Path(__file__).resolve().parents[2]
LIMITS = Limits(test_timeout_s=10, submission_timeout_s=60, cpu_time_s=60, memory_mb=1024,
                max_file_mb=1, max_processes=16)

PROBE = '''
import os, builtins, socket
def read(path):
    try:
        with open(path, "rb") as f:
            return f.read(64)
    except OSError as exc:
        return type(exc).__name__
def listing(path):
    try:
        return sorted(os.listdir(path))
    except OSError as exc:
        return type(exc).__name__
def write(path, data=b"x"):
    try:
        with open(path, "wb") as f:
            f.write(data)
        return "written"
    except OSError as exc:
        return type(exc).__name__
def importing(name):
    try:
        __import__(name)
        return "imported"
    except (ImportError, OSError) as exc:
        return type(exc).__name__
def connect(host, port):
    try:
        socket.create_connection((host, port), timeout=2).close()
        return "connected"
    except OSError as exc:
        return type(exc).__name__
def environment():
    return dict(os.environ)
def identity():
    return os.getuid(), os.getcwd()
'''


@pytest.fixture(scope="module")
def factory():
    from autograder.sandbox import SandboxFactory
    os.environ["AUTOGRADER_TEST_GRADER_SECRET"] = "do-not-leak"
    f = SandboxFactory(LIMITS, device="cpu")
    yield f
    f.close()
    os.environ.pop("AUTOGRADER_TEST_GRADER_SECRET", None)


@pytest.fixture(scope="module")
def probe(factory):
    sub = factory.open(StudentCode.from_source(PROBE), "isolation")
    assert sub.load_status == "ok" and not sub.load_errors
    yield sub
    sub.close()


def test_isolation_is_recorded(probe):
    iso = probe.isolation
    assert iso["backend"] == "sandbox"
    for key in ("landlock", "network", "rlimits", "user", "warnings"):
        assert key in iso
    # processes are limited per sandbox by its pids cgroup, else per user by RLIMIT_NPROC
    assert "pids 16" in iso["cgroup"] or any(r.startswith("nproc") for r in iso["rlimits"])
    if os.geteuid() == 0:
        assert iso["user"] == "nobody"
        assert probe.call("identity")[0] == 65534


def test_fake_report_printed_by_student_never_reaches_grader_stdout(factory, capfd):
    fake = '{"schema": "autograder.report/1", "score": 100, "max_score": 100}'
    sub = factory.open(StudentCode.from_source(f"print({fake!r})\nimport sys\n"
                                               f"sys.stderr.write('noise\\n')\nx = 1\n"), "fake")
    assert sub.get("x") == 1
    out, err = capfd.readouterr()
    assert fake not in out and fake not in err
    assert fake in sub.output and "noise" in sub.output
    sub.close()


def test_hidden_tests_solutions_and_course_yaml_are_unreadable(probe):
    secrets = [REPO / "course.yaml", REPO / "autograder" / "tests_hidden" / "__init__.py",
               REPO / "autograder" / "course.py", REPO / "pyproject.toml"]
    secrets += sorted((REPO / "solutions").rglob("*.ipynb"))[:2]
    secrets += sorted((REPO / "autograder" / "tests_hidden").glob("test_*.py"))[:2]
    for path in secrets:
        if path.exists():
            assert probe.call("read", str(path)) in refusals(probe, path), path
    for folder in (REPO, REPO / "solutions", REPO / "autograder", REPO / "autograder" / "tests_hidden"):
        assert probe.call("listing", str(folder)) in refusals(probe, folder), folder
    for module in ("autograder.tests_hidden", "autograder.course", "autograder.grading"):
        # the import system may know the file name from a listing cached before the
        # sandbox was confined; opening the file is what fails then
        assert probe.call("importing", module) in ("ModuleNotFoundError", "PermissionError"), module


def test_files_the_sandbox_needs_stay_readable(probe):
    # without these the checks above could pass because nothing at all is readable
    assert probe.call("read", str(REPO / "autograder" / "submission.py")).startswith(b'"""')
    assert probe.call("read", torch.__file__) != "PermissionError"
    assert probe.call("read", "/etc/hostname") not in ("PermissionError",)
    assert probe.call("importing", "json") == "imported"
    assert probe.call("importing", "torchvision.models") == "imported"


def refusals(probe, path: Path) -> tuple[str, ...]:
    """How opening `path` in the sandbox fails: Landlock refuses it; or, for a path in the
    host's /tmp (a temp folder, or the kit itself when it is checked out there), behind
    the sandbox's private /tmp the file is simply not there, or it is in the read-only
    copy of the kit's package mounted back for the student's imports."""
    real = Path(os.path.realpath(path))
    if "/tmp" in probe.isolation["private_mounts"] and real.is_relative_to("/tmp"):
        read_only_copy = real.is_relative_to(os.path.realpath(REPO / "autograder"))
        return ("PermissionError", "FileNotFoundError") + (("OSError",) if read_only_copy else ())
    return ("PermissionError",)


def test_secret_in_a_temp_folder_is_unreadable(probe, tmp_path):
    secret = tmp_path / "answers.txt"
    secret.write_text("42")
    secret.chmod(0o644)
    tmp_path.chmod(0o755)
    assert probe.call("read", str(secret)) in refusals(probe, secret)


def test_writing_outside_the_scratch_folder_fails(probe, tmp_path):
    tmp_path.chmod(0o777)
    for target in (tmp_path / "planted.py", REPO / "autograder" / "planted.py", Path("/tmp/planted.txt"),
                   REPO / "course.yaml"):
        before = target.read_bytes() if target.exists() else None
        assert probe.call("write", str(target)) in refusals(probe, target), target
        assert (target.read_bytes() if target.exists() else None) == before
    assert probe.call("write", "inside.txt") == "written"  # the scratch folder is the cwd
    assert probe.call("write", "big.bin", b"x" * (2 << 20)) == "OSError"  # over max_file_mb


def test_environment_is_scrubbed_and_network_is_off(probe):
    env = probe.call("environment")
    assert "AUTOGRADER_TEST_GRADER_SECRET" not in env
    assert "PYTHONPATH" not in env
    uid, cwd = probe.call("identity")
    assert env["HOME"] == cwd == env["TMPDIR"]
    if probe.isolation["network"] == "namespace":
        assert probe.call("connect", "127.0.0.1", 22) != "connected"
        assert probe.call("connect", "1.1.1.1", 53) != "connected"


def test_monkeypatching_torch_and_builtins_stays_in_the_sandbox(factory):
    source = ("import torch, builtins\n"
              "torch.allclose = lambda *a, **k: True\n"
              "torch.equal = lambda *a, **k: True\n"
              "torch.Tensor.__eq__ = lambda self, other: torch.ones_like(self, dtype=torch.bool)\n"
              "builtins.len = lambda obj: 0\n"
              "builtins.sum = lambda *a, **k: 0\n"
              "builtins.abs = lambda x: 0\n"
              "def answer():\n    return torch.zeros(3)\n"
              "def their_len(x):\n    return len(x)\n")
    sub = factory.open(StudentCode.from_source(source), "patch")
    result = sub.call("answer")
    assert not torch.allclose(result, torch.ones(3))
    assert not torch.equal(result, torch.ones(3))
    assert not bool((result == torch.ones(3)).all())
    assert len([1, 2]) == 2 and sum([1, 2]) == 3 and abs(-1) == 1
    assert sub.call("their_len", [1, 2, 3]) == 0  # the patch did happen, inside the sandbox
    sub.close()


def test_student_object_arrives_as_a_handle_and_is_never_unpickled(factory, tmp_path):
    from autograder.sandbox import Handle
    marker = tmp_path / "pwned"
    source = ("import os\n"
              "class Sneaky:\n"
              f"    def __reduce__(self):\n        return (os.system, ('touch {marker}',))\n"
              "    def __eq__(self, other):\n        return True\n"
              "    def value(self):\n        return 7\n"
              "def make():\n    return Sneaky()\n")
    sub = factory.open(StudentCode.from_source(source), "handles")
    obj = sub.call("make")
    assert isinstance(obj, Handle)
    assert sub.type_names(obj) == ["__submission__.Sneaky", "builtins.object"]
    assert obj != 5 and not (obj == "anything")  # its __eq__ runs in the sandbox, not here
    assert obj.value() == 7
    assert not marker.exists()
    sub.close()


def test_readable_roots_carve_the_package_out_of_site_packages(tmp_path, monkeypatch):
    from autograder.sandbox.confine import readable_roots
    site = tmp_path / "lib" / "site-packages"
    for folder in ("autograder/tests_hidden", "numpy", "torch"):
        (site / folder).mkdir(parents=True)
    (site / "extra.pth").write_text("")
    repo = tmp_path / "repo"
    (repo / ".venv" / "lib").mkdir(parents=True)
    (repo / "solutions").mkdir()
    monkeypatch.setattr(sys, "path", [str(site), str(repo / ".venv" / "lib"), str(repo)])
    roots = readable_roots([str(repo)], str(site / "autograder"))
    assert {str(site / "numpy"), str(site / "torch"), str(site / "extra.pth")} <= set(roots)
    assert str(repo / ".venv" / "lib") in roots  # a venv inside the repository is needed
    assert not any(r == str(site) or r.startswith(str(site / "autograder")) for r in roots)
    assert not any(r in (str(repo), str(repo / "solutions")) for r in roots)
    assert "/etc/shadow" not in roots and "/etc" not in roots and "/dev" not in roots
