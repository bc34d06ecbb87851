"""One control group per sandbox, made by the grader (root) before the fork and joined by
the sandbox's setup process, so CPU, memory and process limits bind the whole sandbox
(every process it starts, setsid or not; /dev/shm and SysV segments are memory it is
charged for) instead of one process or one user id shared by all sandboxes.

cgroup v2 is used where the grader's own group can delegate cpu, memory and pids; else
the v1 hierarchies of those controllers (a container with /sys/fs/cgroup/<controller>
writable). Where neither can be written the sandbox falls back to per-process rlimits
and says so in its isolation report.
"""
from __future__ import annotations

import itertools
import os
import signal
from pathlib import Path

CONTROLLERS = ("cpu", "memory", "pids")
PERIOD_US = 100_000
MEMORY_HEADROOM_MB = 256  # the interpreter's own copy-on-write pages after the fork
_names = itertools.count(1)


def _mounts() -> tuple[str | None, dict[str, str]]:
    """(cgroup2 mount point, {v1 controller: mount point})."""
    unified, v1 = None, {}
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return None, {}
    for line in lines:
        left, _, right = line.partition(" - ")
        fields, extra = left.split(), right.split()
        if len(fields) < 5 or len(extra) < 3:
            continue
        if extra[0] == "cgroup2":
            unified = fields[4]
        elif extra[0] == "cgroup":
            for option in extra[2].split(","):
                if option in CONTROLLERS:
                    v1[option] = fields[4]
    return unified, v1


def _own_paths() -> dict[str, str]:
    """{controller or "": our group's path}; "" is the v2 group."""
    out = {}
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            for name in controllers.split(",") if controllers else [""]:
                out[name] = path
    except (OSError, ValueError):
        pass
    return out


class SandboxCgroup:
    """The group folders of one sandbox (one per v1 controller, or one v2 folder)."""

    def __init__(self, folders: list[str], version: int, summary: str):
        self.folders, self.version, self.summary = folders, version, summary
        self.removed = False

    @classmethod
    def create(cls, cpus: float, memory_mb: int, pids: int) -> tuple["SandboxCgroup | None", str]:
        """(the group, or None and why not)."""
        if not hasattr(os, "geteuid") or os.geteuid() != 0:
            return None, "unavailable: needs root"
        name = f"autograder-{os.getpid()}-{next(_names)}"
        memory = (memory_mb + MEMORY_HEADROOM_MB) << 20
        quota = max(1000, int(cpus * PERIOD_US))
        summary = f"cpu {cpus:g}, memory {memory >> 20}MB, pids {pids}"
        unified, v1 = _mounts()
        own = _own_paths()
        errors = []
        if unified and "" in own:
            folder = os.path.join(unified + own[""], name)
            try:
                _delegate(os.path.dirname(folder))
                os.mkdir(folder)
                group = cls([folder], 2, f"v2: {summary}")
                _write(folder, "cpu.max", f"{quota} {PERIOD_US}")
                _write(folder, "memory.max", str(memory))
                _write(folder, "pids.max", str(pids))
                if os.path.exists(os.path.join(folder, "memory.swap.max")):
                    _write(folder, "memory.swap.max", "0")
                return group, group.summary
            except OSError as exc:
                errors.append(f"v2: {exc.strerror or exc}")
                _rmdir_quietly(folder)
        if all(c in v1 and c in own for c in CONTROLLERS):
            folders = [os.path.join(v1[c] + own[c], name) for c in CONTROLLERS]
            group = cls([], 1, f"v1: {summary}")
            try:
                for folder in folders:
                    os.mkdir(folder)
                    group.folders.append(folder)
                cpu, mem, pid = folders
                _write(cpu, "cpu.cfs_period_us", str(PERIOD_US))
                _write(cpu, "cpu.cfs_quota_us", str(quota))
                _write(mem, "memory.limit_in_bytes", str(memory))
                _write(pid, "pids.max", str(pids))
                return group, group.summary
            except OSError as exc:
                errors.append(f"v1: {exc.strerror or exc}")
                group.remove()
        return None, "unavailable: " + ("; ".join(errors) or "no writable cgroup hierarchy")

    def join_files(self) -> list[str]:
        """The files the setup process writes its pid to (children follow it in)."""
        return [os.path.join(f, "cgroup.procs") for f in self.folders]

    def oom_killed(self) -> bool:
        """Whether the kernel killed a process of this sandbox for the memory limit."""
        name = "memory.events" if self.version == 2 else "memory.oom_control"
        for folder in self.folders:
            try:
                for line in Path(folder, name).read_text().splitlines():
                    key, _, value = line.partition(" ")
                    if key == "oom_kill" and int(value) > 0:
                        return True
            except (OSError, ValueError):
                continue
        return False

    def remove(self) -> bool:
        """Kill what is left in the group and remove its folders; False while some
        process is still dying (call again later)."""
        if self.removed:
            return True
        left = []
        for folder in self.folders:
            kill_all_in(folder)
            try:
                os.rmdir(folder)
            except FileNotFoundError:
                pass
            except OSError:
                left.append(folder)
        self.folders = left
        self.removed = not left
        return self.removed


def kill_all_in(folder: str) -> None:
    if os.path.exists(os.path.join(folder, "cgroup.kill")):
        try:
            _write(folder, "cgroup.kill", "1")
            return
        except OSError:
            pass
    try:
        pids = Path(folder, "cgroup.procs").read_text().split()
    except OSError:
        return
    for pid in pids:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, PermissionError, ValueError):
            pass


def join(procs_files: list[str]) -> list[str]:
    """Move the calling process into the sandbox's group. Returns warnings."""
    warnings = []
    for path in procs_files:
        try:
            Path(path).write_text(str(os.getpid()))
        except OSError as exc:
            warnings.append(f"could not join {os.path.dirname(path)}: {exc.strerror or exc}")
    return warnings


def add(procs_files: list[str], pid: int) -> None:
    """Move another process into the sandbox's group (its init, which the template starts)."""
    for path in procs_files:
        try:
            Path(path).write_text(str(pid))
        except OSError:
            pass  # the group still holds the student; the init goes with the namespace


def remove_stale_groups() -> None:
    """Groups of graders that were killed before they could remove them."""
    unified, v1 = _mounts()
    own = _own_paths()
    bases = [unified + own[""]] if unified and "" in own else []
    bases += [v1[c] + own[c] for c in CONTROLLERS if c in v1 and c in own]
    for base in bases:
        try:
            names = os.listdir(base)
        except OSError:
            continue
        for name in names:
            parts = name.split("-")
            if len(parts) != 3 or parts[0] != "autograder" or not parts[1].isdigit():
                continue
            if not os.path.exists(f"/proc/{parts[1]}"):
                kill_all_in(os.path.join(base, name))
                _rmdir_quietly(os.path.join(base, name))


def _delegate(folder: str) -> None:
    """Enable the controllers for children of `folder` (v2); fails with EBUSY where the
    folder itself holds processes, which the caller reports."""
    enabled = Path(folder, "cgroup.subtree_control").read_text().split()
    missing = [c for c in CONTROLLERS if c not in enabled]
    if missing:
        _write(folder, "cgroup.subtree_control", " ".join("+" + c for c in missing))


def _write(folder: str, name: str, value: str) -> None:
    with open(os.path.join(folder, name), "w") as f:
        f.write(value)


def _rmdir_quietly(folder: str) -> None:
    try:
        os.rmdir(folder)
    except OSError:
        pass
