"""The sandbox's private view of the file system and of System V IPC (Linux mount and
IPC namespaces). Set up by the root setup process of each sandbox, after unshare and
before the student's process exists, so nothing the student writes to /dev/shm, /tmp,
its scratch folder or a SysV segment is seen by another sandbox or outlives this one:
all of it lives in memory-backed file systems that vanish with the namespace.

Student code runs as `nobody` without capabilities, so a Python installation under a
folder only root may enter (pyenv under /root) is made reachable by covering that folder
with an empty read-only tmpfs and bind-mounting the installation back, read-only. The
rest of the folder (the grader's home) is not there at all.
"""
from __future__ import annotations

import ctypes
import os
from pathlib import Path

from autograder.sandbox.confine import NOBODY, libc

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
SHARED_MEMORY_SYSCTLS = "/proc/sys/kernel"


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    mount = libc().mount
    mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
    encode = (lambda s: s.encode() if s is not None else None)
    if mount(encode(source), target.encode(), encode(fstype), flags, encode(data)) != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"mount on {target}: {os.strerror(code)}")


def _tmpfs(target: str, size_mb: int, mode: str, owner: int = 0) -> None:
    _mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV,
           f"size={max(1, size_mb)}m,mode={mode},uid={owner},gid={owner}")


def covered_roots(roots: list[str], also_covered: list[str]) -> dict[str, list[str]]:
    """{folder to cover with a fresh tmpfs: the roots inside it to bind back}. A folder
    is covered when `nobody` cannot pass it (no search bit for others) or when it is in
    `also_covered` (the host's /tmp, replaced by a private one)."""
    out: dict[str, list[str]] = {}
    for root in sorted({os.path.realpath(r) for r in roots if r and os.path.isabs(r)}):
        if not os.path.exists(root):
            continue
        cover = next((c for c in also_covered if root == c or root.startswith(c.rstrip("/") + "/")), None)
        if cover is None:
            cover = _first_closed_folder(root)
        if cover is None or cover == root:
            continue
        kept = out.setdefault(cover, [])
        if not any(root == k or root.startswith(k + "/") for k in kept):
            kept[:] = [k for k in kept if not k.startswith(root + "/")] + [root]
    return out


def _first_closed_folder(path: str) -> str | None:
    parts = Path(path).parts  # the root itself is not covered: a bind keeps its own mode
    for i in range(2, len(parts)):
        folder = os.path.join(*parts[:i])
        try:
            if not os.stat(folder).st_mode & 0o001:
                return folder
        except OSError:
            return None
    return None


def make_private_mounts(scratch: str, tmpfs_mb: int, needed_roots: list[str]) -> list[str]:
    """Mounts for the new mount namespace the caller is in. Returns the folders that are
    now private (for the report); raises OSError when the namespace cannot be made
    private (then nothing here may be relied on)."""
    _mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing below propagates to the host
    covers = covered_roots(needed_roots, ["/tmp"])
    # opened before covering: the path goes away when the tmpfs lands on top of it
    sources = {root: os.open(root, os.O_PATH | os.O_CLOEXEC) for roots in covers.values() for root in roots}
    try:
        _tmpfs("/dev/shm", tmpfs_mb, "1777")
        _tmpfs("/tmp", tmpfs_mb, "1777")
        private = ["/dev/shm", "/tmp"]
        for cover, roots in sorted(covers.items()):
            if cover != "/tmp":
                _tmpfs(cover, 1, "755")
                private.append(cover)
            for root in roots:
                _bind_read_only(sources[root], root)
        os.makedirs(scratch, mode=0o700, exist_ok=True)
        # the student runs as nobody when the grader is root, else as the grader's user
        _tmpfs(scratch, tmpfs_mb, "700", NOBODY if os.geteuid() == 0 else os.geteuid())
        private.append(scratch)
        for cover in covers:
            if cover != "/tmp":
                _mount(None, cover, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, "size=1m,mode=755")
    finally:
        for fd in sources.values():
            os.close(fd)
    return private


def _bind_read_only(source_fd: int, target: str) -> None:
    if os.path.isdir(f"/proc/self/fd/{source_fd}"):
        os.makedirs(target, mode=0o755, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
        Path(target).touch()
    _mount(f"/proc/self/fd/{source_fd}", target, None, MS_BIND | MS_REC)
    _mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)


def mount_private_proc() -> None:
    """A /proc that shows only the caller's PID namespace (the caller must be in it, as
    PID 1 of the sandbox is); the host's processes and their command lines vanish."""
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)


def limit_shared_memory(size_mb: int) -> list[str]:
    """System V shared memory of the new IPC namespace: at most size_mb in all, and a
    segment is destroyed once no process has it attached. Returns warnings."""
    page = os.sysconf("SC_PAGE_SIZE")
    settings = {"shmmax": size_mb << 20, "shmall": (size_mb << 20) // page, "shm_rmid_forced": 1}
    warnings = []
    for name, value in settings.items():
        try:
            Path(SHARED_MEMORY_SYSCTLS, name).write_text(str(value))
        except OSError as exc:
            warnings.append(f"SysV {name} not set: {exc.strerror}")
    return warnings
