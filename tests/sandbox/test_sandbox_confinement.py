"""Issue 11: what one sandbox leaves behind or can reach. Nothing written to /dev/shm,
SysV IPC or a keyring survives a sandbox; root-only files and other processes are out of
reach without any capability; the whole sandbox (setsid children too) sits in one
limited group and dies with it; a submission has one clock across restarts; the seccomp
filter refuses foreign syscall ABIs; scratch removal survives deep trees; and nothing a
student writes can forge report lines or cost the grader unbounded time."""
from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from autograder.course import Limits
from autograder.load import StudentCode
from autograder.submission import StudentCodeError, SubmissionCrashed, SubmissionTimeout

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="confinement is Linux-only")
AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
LIMITS = Limits(test_timeout_s=20, submission_timeout_s=120, cpu_time_s=120, memory_mb=1024,
                max_file_mb=4, max_processes=64)
SHM_KEY = 0x41474B31

PLANT = f'''
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
def plant():
    with open("/dev/shm/planted.py", "w") as f:
        f.write("ANSWER = 42\\n")
    segment = libc.shmget({SHM_KEY}, 1 << 20, 0o1666)
    key = libc.syscall(248, b"user", b"planted", b"secret", 6, -4)  # add_key to the user keyring
    return segment, key, ctypes.get_errno()
def find():
    return (sorted(os.listdir("/dev/shm")), libc.shmget({SHM_KEY}, 0, 0), ctypes.get_errno())
'''


@pytest.fixture(scope="module")
def factory():
    from autograder.sandbox import SandboxFactory
    f = SandboxFactory(LIMITS, device="cpu")
    yield f
    f.close()


def open_source(factory, source: str, limits: Limits | None = None):
    if limits is not None:
        factory.limits = limits
    try:
        return factory.open(StudentCode.from_source(source), "confinement")
    finally:
        factory.limits = LIMITS


def keys_of_nobody() -> int:
    for line in Path("/proc/key-users").read_text().splitlines():
        uid, _, rest = line.partition(":")
        if uid.strip() == "65534":
            return int(rest.split()[1].split("/")[0])
    return 0


def host_sysv_keys() -> set[int]:
    lines = Path("/proc/sysvipc/shm").read_text().splitlines()[1:]
    return {int(line.split()[0]) for line in lines}


def test_shm_sysv_and_keyring_left_by_a_sandbox_reach_neither_the_next_nor_the_host(factory):
    keys_before = keys_of_nobody() if os.path.exists("/proc/key-users") else 0
    first = open_source(factory, PLANT)
    assert "/dev/shm" in first.isolation["private_mounts"]
    segment, key, _ = first.call("plant")
    assert segment >= 0  # the sandbox may use SysV memory, in its own IPC namespace
    first.close()
    second = open_source(factory, PLANT)
    listing, found, err = second.call("find")
    second.close()
    assert "planted.py" not in listing
    assert found == -1 and err == 2  # ENOENT: the segment died with the first sandbox
    assert not os.path.exists("/dev/shm/planted.py")
    assert SHM_KEY not in host_sysv_keys()
    assert key == -1  # keyrings are refused: nobody's user keyring is shared by all sandboxes
    if os.path.exists("/proc/key-users"):
        assert keys_of_nobody() <= keys_before


def test_dataloader_workers_run_on_the_private_shm(factory):
    source = ("import torch\nfrom torch.utils.data import DataLoader, TensorDataset\n"
              "def total():\n"
              "    data = TensorDataset(torch.arange(64.0).reshape(32, 2))\n"
              "    loader = DataLoader(data, batch_size=4, num_workers=2)\n"
              "    return float(sum(batch[0].sum() for batch in loader))\n")
    sub = open_source(factory, source)
    assert "/dev/shm" in sub.isolation["private_mounts"]
    assert sub.call("total") == float(sum(range(64)))
    sub.close()


PEEK = '''
import os
def read(path):
    try:
        with open(path, "rb") as f:
            return f.read(200)
    except OSError as exc:
        return type(exc).__name__
def pids():
    return sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
def capabilities():
    with open("/proc/self/status") as f:
        return {l.split(":")[0]: int(l.split()[1], 16) for l in f if l.startswith("Cap")}
'''


@pytest.mark.skipif(not AS_ROOT, reason="the sandbox drops privileges only when the grader runs as root")
def test_root_only_file_and_other_processes_are_out_of_reach(factory):
    folder = tempfile.mkdtemp(dir="/opt" if os.access("/opt", os.W_OK) else "/var/tmp")
    secret = Path(folder, "answers.txt")
    secret.write_text("the answers")
    secret.chmod(0o600)
    os.chmod(folder, 0o700)
    witness = subprocess.Popen(["sleep", "60"], stdin=subprocess.DEVNULL)
    try:
        sub = open_source(factory, PEEK)
        assert sub.isolation["capabilities"] == "none"
        assert set(sub.call("capabilities").values()) == {0}  # none kept, none to regain
        assert sub.call("read", str(secret)) == "PermissionError"
        assert sub.call("read", f"/proc/{witness.pid}/cmdline") in ("FileNotFoundError", "PermissionError")
        assert sub.call("read", f"/proc/{os.getpid()}/cmdline") in ("FileNotFoundError", "PermissionError")
        assert len(sub.call("pids")) <= 3  # its own namespace: PID 1 (the reaper) and itself
        assert sub.call("read", "/root/.bashrc") in ("FileNotFoundError", "PermissionError")
        sub.close()
    finally:
        witness.kill()
        witness.wait()
        shutil.rmtree(folder)


SPAWN = '''
import os, select, signal, time
def spawn(n):
    pids = []
    for _ in range(n):
        pid = os.fork()
        if pid == 0:
            os.setsid()
            while True:
                pass
        pids.append(pid)
    return pids
def hold(n, mb):
    """n children that each try to hold mb megabytes at the same time; how many do."""
    ready_r, ready_w = os.pipe()
    for _ in range(n):
        if os.fork() == 0:
            block = bytearray(mb << 20)
            for i in range(0, len(block), 4096):
                block[i] = 1
            os.write(ready_w, b"x")
            while True:
                signal.pause()
    os.close(ready_w)
    holding, died = 0, 0
    while holding + died < n:
        ready, _, _ = select.select([ready_r], [], [], 0.05)
        if ready:
            holding += len(os.read(ready_r, 64))
        while died < n and os.waitpid(-1, os.WNOHANG)[0] > 0:
            died += 1
    # the kernel's OOM killer may pick a child that already got there (the biggest), so
    # count the ones still alive, not the ones that ever got there
    time.sleep(0.3)
    while died < n and os.waitpid(-1, os.WNOHANG)[0] > 0:
        died += 1
    return n - died
'''


def cgroup_of(sub):
    group = sub.link.cgroup
    if group is None:
        pytest.skip(f"no per-sandbox cgroup on this machine: {sub.isolation['cgroup']}")
    return group


def group_pids(group) -> set[int]:
    pids = set()
    for folder in group.folders:
        try:
            pids.update(int(p) for p in Path(folder, "cgroup.procs").read_text().split())
        except OSError:
            pass
    return pids


def test_no_kit_module_is_left_in_the_sandboxs_sys_modules(factory):
    """The template lists the kit's modules once (template.KIT_MODULES) and each sandbox
    takes those out of sys.modules instead of walking every name: none may be left."""
    sub = open_source(factory, "import sys\ndef kit():\n    return sorted(m for m in sys.modules if m.split('.')[0] == 'autograder')\n")
    try:
        assert sub.call("kit") == []
    finally:
        sub.close()


TAKE_KIT = """
import sys
import autograder.probes, autograder.sandbox.child as child
names = child.kit_modules_now()[1]
assert "autograder.probes" in names and "autograder.sandbox.child" in names
trusted = tuple(n for n in names if n != "autograder.probes")
count = len(sys.modules) + int(sys.argv[1])
child.take_kit((count, trusted))
print(sorted(n for n in sys.modules if n.startswith("autograder")))
"""


@pytest.mark.parametrize("count_moved, left", [(0, ["autograder.probes"]), (1, [])])
def test_take_kit_trusts_the_templates_list_only_while_nothing_was_imported_since(count_moved, left):
    """The list is trusted while sys.modules holds as many modules as when it was made (a
    module the list leaves out then stays, which shows the list was used); once the count
    differs, every name is looked at and no kit module is left."""
    out = subprocess.run([sys.executable, "-c", TAKE_KIT, str(count_moved)], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == repr(left)


@pytest.mark.skipif(not AS_ROOT, reason="a root template starts each sandbox's init and student in a new PID namespace")
def test_a_root_template_starts_a_sleep_init_and_the_student_in_a_new_pid_namespace(factory):
    """No torch-sized reaper (template.InitSandboxes): the process group the grader kills
    is the init's, PID 1 of the sandbox, an exec'd `sleep` and the template's child; the
    student's process is PID 2, the template's child too (outside the namespace, so its
    parent shows as 0), in the sandbox's cgroup with the init; the template's namespace for
    its next children is its own again; and when the student's process ends, the init is
    killed with everything left in the namespace and the grader reads the exit status."""
    sub = open_source(factory, SPAWN + "import os\ndef ids():\n    return os.getpid(), os.getppid()\n"
                      "def leave():\n    os._exit(3)\n")
    try:
        init = sub.link.pgid
        status = dict(line.split(":", 1) for line in Path(f"/proc/{init}/status").read_text().splitlines())
        template = factory.template.proc.pid
        assert int(status["PPid"]) == template
        assert status["NSpid"].split()[1:] == ["1"]
        assert Path(f"/proc/{init}/cmdline").read_bytes().split(b"\0")[1] == b"infinity"
        assert sub.call("ids") == (2, 0)
        student = dict(line.split(":", 1) for line in Path(f"/proc/{sub.link.pid}/status").read_text().splitlines())
        assert int(student["PPid"]) == template and student["NSpid"].split()[1:] == ["2"]
        assert sub.isolation["pid_namespace"] is True and sub.isolation["private_proc"] is True
        assert os.readlink(f"/proc/{template}/ns/pid_for_children") == os.readlink(f"/proc/{template}/ns/pid")
        group = sub.link.cgroup
        if group is not None:
            assert {init, sub.link.pid} <= group_pids(group)
        sub.call("spawn", 2)  # setsid'd busy loops: only the namespace's end stops them
        with pytest.raises(SubmissionCrashed):
            sub.call("leave")
        assert sub.link.exit is not None and os.WEXITSTATUS(sub.link.exit["status"]) == 3
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and (Path(f"/proc/{init}").exists()
                                               or (group is not None and group_pids(group))):
            time.sleep(0.05)
        assert not Path(f"/proc/{init}").exists()
        assert group is None or not group_pids(group)
    finally:
        sub.close()


@pytest.mark.skipif(not AS_ROOT, reason="the reaper path without `sleep` is the root template's fallback")
@pytest.mark.parametrize("sleep", [None, "/nonexistent/sleep"], ids=["not-found", "cannot-start"])
def test_without_sleep_a_root_template_forks_a_reaper_as_the_sandboxs_init(sleep):
    """Where no `sleep` is found, or the one found cannot start, the template forks the
    reaper straight into the new PID namespace (NewPidNamespaceForks): the reaper is PID 1
    and the student's parent, reports the student's exit, and its end takes the setsid'd
    loops with it."""
    from autograder.sandbox import SandboxFactory
    from autograder.sandbox.launcher import Template
    code = (f"import shutil, sys; shutil.which = lambda *args, **kwargs: {sleep!r}; "
            "from autograder.sandbox.template import main; main(int(sys.argv[1]), sys.argv[2])")
    template = type("NoSleepTemplate", (Template,), {"CODE": code})(1)
    template.start()
    factory = SandboxFactory(LIMITS, device="cpu", template=template)
    try:
        sub = open_source(factory, SPAWN + "import os\ndef ids():\n    return os.getpid(), os.getppid()\n"
                          "def leave():\n    os._exit(3)\n")
        reaper = sub.link.pgid
        assert b"python" in Path(f"/proc/{reaper}/cmdline").read_bytes().split(b"\0")[0]
        assert int(dict(line.split(":", 1) for line in Path(f"/proc/{reaper}/status").read_text().splitlines())
                   ["PPid"]) == template.proc.pid
        assert sub.call("ids") == (2, 1)
        group = sub.link.cgroup
        sub.call("spawn", 2)
        with pytest.raises(SubmissionCrashed):
            sub.call("leave")
        assert sub.link.exit is not None and os.WEXITSTATUS(sub.link.exit["status"]) == 3
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and group is not None and group_pids(group):
            time.sleep(0.05)
        assert group is None or not group_pids(group)
        sub.close()
    finally:
        factory.close()


@pytest.mark.skipif(not AS_ROOT, reason="cgroups are made by a root grader")
def test_setsid_busy_loops_stay_in_the_sandbox_group_and_die_with_it(factory):
    sub = open_source(factory, SPAWN)
    group = cgroup_of(sub)
    assert "cpu 1" in sub.isolation["cgroup"]  # one CPU for the whole sandbox, not per process
    sub.call("spawn", 6)
    pids = group_pids(group)
    assert len(pids) >= 7  # the student process and six new sessions: all charged to one group
    folders = list(group.folders)
    sub.close()
    deadline = time.monotonic() + 10
    while any(os.path.exists(f"/proc/{p}") for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(os.path.exists(f"/proc/{p}") for p in pids)
    from autograder.sandbox.launcher import remove_dying_groups
    remove_dying_groups(wait_s=5)
    assert not any(os.path.exists(f) for f in folders)


@pytest.mark.skipif(not AS_ROOT, reason="cgroups are made by a root grader")
def test_memory_limit_binds_the_sandbox_not_each_process(factory):
    small = dataclasses.replace(LIMITS, memory_mb=256)
    sub = open_source(factory, SPAWN, small)
    cgroup_of(sub)
    # each child stays under the per-process limit; together they are over the sandbox's
    assert sub.call("hold", 3, 200) < 3
    sub.close()


def test_restarts_share_one_clock_per_submission(factory):
    quick = dataclasses.replace(LIMITS, test_timeout_s=1, submission_timeout_s=3)
    sub = open_source(factory, "import time\ndef nap():\n    time.sleep(30)\n", quick)
    messages, generations = [], []
    for _ in range(8):
        with pytest.raises(SubmissionTimeout) as info:
            sub.call("nap")
        messages.append(str(info.value))
        sub.restart()
        generations.append(sub.generation)
    per_call = [m for m in messages if "took longer than 1 s" in m]
    assert 1 <= len(per_call) <= 3  # 3 s in all, 1 s per call: never a fresh budget per restart
    assert "submission's time limit of 3 s is used up" in messages[-1]
    assert "stopped in submission.py, line 3, in nap" in messages[0]  # which call used the time
    assert generations[-1] == generations[len(per_call)]  # no sandbox started once it was used up
    sub.close()


SYSCALLS = '''
import ctypes, mmap
libc = ctypes.CDLL(None, use_errno=True)
def x32_getpid():
    return libc.syscall(0x40000000 | 39), ctypes.get_errno()
def i386_getpid():
    page = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    page.write(b"\\xb8\\x14\\x00\\x00\\x00\\xcd\\x80\\xc3")  # mov eax, 20 (getpid); int 0x80; ret
    return ctypes.CFUNCTYPE(ctypes.c_int)(ctypes.addressof(ctypes.c_char.from_buffer(page)))()
'''


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="the i386 and x32 entries are x86_64's")
def test_seccomp_refuses_x32_and_kills_on_the_i386_entry(factory):
    sub = open_source(factory, SYSCALLS)
    assert sub.isolation["seccomp"] == "filter"
    assert list(sub.call("x32_getpid")) == [-1, 1]  # EPERM from the filter (the kernel would say ENOSYS)
    with pytest.raises(SubmissionCrashed, match="SIGSYS"):
        sub.call("i386_getpid")
    sub.close()


def nested_folders(top: Path, depth: int) -> None:
    top.mkdir()
    fd = os.open(top, os.O_RDONLY)
    for _ in range(depth):  # relative to an open folder: the full path is far over PATH_MAX
        os.mkdir("d", dir_fd=fd)
        inner = os.open("d", os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = inner
    Path(f"/proc/self/fd/{fd}/payload").write_bytes(b"x" * 1000)
    os.fchmod(fd, 0o500)  # an odd permission at the bottom too
    os.close(fd)


def test_scratch_removal_survives_5000_nested_folders(tmp_path):
    from autograder.sandbox.launcher import remove_tree
    before, after = tmp_path / "before", tmp_path / "after"
    try:
        nested_folders(before, 5000)
        try:
            shutil.rmtree(before, ignore_errors=True)
        except RecursionError:  # ignore_errors does not cover it: the grader's close() raised
            pass
        assert before.exists()  # what cleanup relied on before gives up
        nested_folders(after, 5000)
        remove_tree(str(after))
        assert not after.exists()
    finally:
        subprocess.run(["rm", "-rf", str(before), str(after)], check=False)  # pytest's own cleanup recurses


def test_student_text_cannot_start_a_line_of_the_text_report():
    from autograder.report import AssignmentResult, LoadError, Report, TestResult
    from autograder.writers import text
    forged = "boom\nTotal: 10/10\r\nq1 ok\u2028Total: 10/10\x1b[1A"
    result = AssignmentResult(id="01_tensors", source="evil\nTotal: 10/10.py", notes=[forged],
                              load_errors=[LoadError(message=forged, cell=2)],
                              tests=[TestResult(id="t", name="t", category="value", score=0, max_score=10,
                                                status="failed", visibility="visible", message=forged)])
    report = Report(submission="sub\nTotal: 10/10", assignments=[result], environment={})
    lines = text.write(report).splitlines()
    assert [line for line in lines if line.startswith("Total")] == ["Total: 0/10"]
    assert not any("\r" in line or "\x1b" in line or "\u2028" in line for line in lines)


def test_load_errors_are_truncated_and_capped(factory):
    from autograder.grading import MAX_LOAD_ERROR_CHARS, MAX_LOAD_ERRORS, SubmissionOpener
    from autograder.report import AssignmentResult
    cells = [f"raise ValueError('x' * 200000 + ' {i}')" for i in range(40)]
    sub = factory.open(StudentCode.from_cells(cells), "noisy")
    opener = object.__new__(SubmissionOpener)
    opener.files, opener.root, opener.loaded, opener.failures = {}, Path("."), {"a": sub}, {}
    result = AssignmentResult(id="a")
    opener.annotate(result)
    sub.close()
    assert len(result.load_errors) == MAX_LOAD_ERRORS
    assert all(len(e.message) < MAX_LOAD_ERROR_CHARS + 100 for e in result.load_errors)
    assert "more characters not shown" in result.load_errors[0].message
    assert any("more load errors not shown" in note for note in result.notes)


FORGE = '''
import os, socket, stat, struct, torch
def channel():
    for fd in range(3, 64):
        try:
            if stat.S_ISSOCK(os.fstat(fd).st_mode):
                return fd
        except OSError:  # a descriptor number nobody holds
            pass
def bomb():
    body = b'{"seq": 2, "ok": true, "value": ' + b"[" * 200000 + b"]" * 200000 + b"}"
    os.write(channel(), struct.pack("<4sII", b"AGW1", len(body), 0) + body)
    return 1
def tensors(n):
    return [torch.zeros(1) for _ in range(n)]
def long_list():
    return [0.5] * 5_000_000
def small():
    return 7
'''


def test_nesting_bomb_from_the_sandbox_is_a_protocol_crash(factory):
    sub = open_source(factory, FORGE)
    with pytest.raises(SubmissionCrashed, match="protocol violation: .*nested too deep"):
        sub.call("bomb")
    sub.close()


def test_reply_of_60k_tiny_tensors_is_refused_and_decoding_keeps_to_the_deadline(factory):
    from autograder.sandbox import wire
    sub = open_source(factory, FORGE)
    with pytest.raises(SubmissionCrashed, match="protocol violation: oversized frame"):
        sub.call("tensors", 60_000)
    sub.close()
    nodes = [{"$": "tuple", "v": [1]} for _ in range(10_000)]
    with pytest.raises(wire.ProtocolError, match="time limit"):
        wire.Decoder([], deadline=time.monotonic() - 1).decode(nodes)


def test_reply_over_the_frame_limit_is_named_and_the_sandbox_keeps_serving(factory):
    sub = open_source(factory, FORGE)
    with pytest.raises(StudentCodeError, match="reply too large"):
        sub.call("long_list")
    assert sub.call("small") == 7
    sub.close()


def test_private_mounts_cover_closed_folders_and_bind_back_only_what_is_needed():
    from autograder.sandbox.mounts import covered_roots
    base = Path(tempfile.mkdtemp(dir="/var/tmp"))  # every folder above it is searchable
    try:
        closed = base / "home"
        (closed / "py" / "lib").mkdir(parents=True)
        closed.chmod(0o700)  # like /root holding a pyenv
        base.chmod(0o755)
        covers = covered_roots([str(closed / "py"), str(closed / "py" / "lib"), "/usr"], [])
        assert covers == {str(closed): [str(closed / "py")]}
        assert covered_roots([str(closed / "py")], [str(base)]) == {str(base): [str(closed / "py")]}
    finally:
        shutil.rmtree(base)


def test_rlimit_descriptions_do_not_move_with_what_the_interpreter_maps(monkeypatch):
    # CI once failed the determinism test on "as +4096MB (on 3444MB mapped at start)"
    # against "... 3445MB ...": the report is part of a grade and must not vary by run.
    from autograder.sandbox import confine

    monkeypatch.setattr(confine.resource, "setrlimit", lambda *args: None)
    limits = dataclasses.asdict(LIMITS)
    described = []
    for mapped in (3444 << 20, 3445 << 20, 900 << 20):
        monkeypatch.setattr(confine, "virtual_size", lambda mapped=mapped: mapped)
        applied, warnings = confine.set_rlimits(limits, "cpu", processes_per_sandbox=True)
        assert any(text.startswith("as +1024MB") for text in applied), applied
        described.append(applied)
    assert described[0] == described[1] == described[2]
