"""Operating-system limits for the sandbox process (Linux; elsewhere each step degrades
to a warning). Runs in the forked sandbox before any student code.

Order matters: namespaces first (they need root or a user namespace), then rlimits,
then Landlock (needs no_new_privs, which also stops setuid binaries from regaining
privileges), then dropping to an unprivileged user so RLIMIT_NPROC binds (the kernel
never applies it to root) and the grader's files are protected by permissions too.
"""
from __future__ import annotations

import ctypes
import errno
import os
import platform
import resource
import struct
import sys
from pathlib import Path

CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
SYS_LANDLOCK_CREATE_RULESET, SYS_LANDLOCK_ADD_RULE, SYS_LANDLOCK_RESTRICT_SELF = 444, 445, 446
PR_SET_NO_NEW_PRIVS, PR_SET_KEEPCAPS, PR_SET_SECCOMP = 38, 8, 22
CAP_DAC_READ_SEARCH = 2
NOBODY = 65534

# Landlock access rights (uapi/linux/landlock.h), by the ABI that introduced them.
FS_EXECUTE, FS_WRITE_FILE, FS_READ_FILE, FS_READ_DIR = 1, 2, 4, 8
FS_TRUNCATE, FS_IOCTL_DEV = 1 << 14, 1 << 15
_FS_BITS_BY_ABI = {1: 13, 2: 14, 3: 15, 4: 15, 5: 16}
FILE_RIGHTS = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV
READ_EXEC = FS_EXECUTE | FS_READ_FILE | FS_READ_DIR

_libc = None


def libc():
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def _fail(what: str) -> str:
    code = ctypes.get_errno()
    return f"{what}: {os.strerror(code) if code else 'failed'}"


def enter_namespaces() -> tuple[str, bool, list[str]]:
    """New network and PID namespaces for the caller's future children.
    Returns (network status, whether a PID namespace was made, warnings)."""
    if sys.platform != "linux":
        return f"unavailable: {sys.platform}", False, [f"no network isolation on {sys.platform}"]
    flags = CLONE_NEWNET | CLONE_NEWPID
    as_root = os.geteuid() == 0
    if libc().unshare(flags if as_root else flags | CLONE_NEWUSER) != 0:
        reason = _fail("unshare")
        return (f"unavailable: {reason}", False,
                [f"student code has network access and its processes may outlive it ({reason})"])
    if not as_root:  # map our own ids into the new user namespace so files stay ours
        uid, gid = os.getuid(), os.getgid()
        try:
            Path("/proc/self/setgroups").write_text("deny")
            Path("/proc/self/uid_map").write_text(f"{uid} {uid} 1")
            Path("/proc/self/gid_map").write_text(f"{gid} {gid} 1")
        except OSError as exc:
            return "namespace", True, [f"user namespace id maps not written: {exc}"]
    return "namespace", True, []


def set_rlimits(limits: dict, device: str) -> tuple[list[str], list[str]]:
    """(descriptions of the rlimits set, warnings). Address space is limited to what the
    warm interpreter already maps plus memory_mb, except on CUDA, whose driver maps huge
    virtual ranges (there the grader polls the resident size instead)."""
    applied, warnings = [], []
    mb = 1 << 20

    def limit(name: str, soft: int, hard: int, text: str) -> None:
        which = getattr(resource, name, None)
        if which is None:
            warnings.append(f"{name} not supported here")
            return
        try:
            resource.setrlimit(which, (soft, hard))
            applied.append(text)
        except (ValueError, OSError) as exc:
            warnings.append(f"{name} not set: {exc}")

    cpu = max(1, int(limits["cpu_time_s"] + 0.999))
    limit("RLIMIT_CORE", 0, 0, "core 0")
    limit("RLIMIT_CPU", cpu, cpu + 2, f"cpu {cpu}s")
    limit("RLIMIT_FSIZE", int(limits["max_file_mb"] * mb), int(limits["max_file_mb"] * mb),
          f"fsize {limits['max_file_mb']}MB")
    nproc = int(limits["max_processes"])
    limit("RLIMIT_NPROC", nproc, nproc, f"nproc {nproc}")
    if device.startswith("cuda"):
        warnings.append("address-space limit off on CUDA; memory is enforced by polling RSS")
    else:
        base = virtual_size()
        cap = base + int(limits["memory_mb"]) * mb
        limit("RLIMIT_AS", cap, cap, f"as +{limits['memory_mb']}MB (on {base // mb}MB mapped at start)")
    return applied, warnings


def virtual_size() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


# -- Landlock -----------------------------------------------------------------------------
def landlock_abi() -> int:
    if sys.platform != "linux":
        return -1
    libc().syscall.restype = ctypes.c_long
    return libc().syscall(SYS_LANDLOCK_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(1))


def apply_landlock(read_paths: list[str], write_paths: list[str], read_files: list[str],
                   device_files: list[str], list_dirs: list[str] = ("/dev",)) -> tuple[str, list[str]]:
    """Allow only the listed paths; everything else on the file system is denied.
    Returns (status for the report, warnings)."""
    abi = landlock_abi()
    if abi < 1:
        return (f"unavailable: {_fail('landlock') if sys.platform == 'linux' else sys.platform}",
                ["file system not restricted: student code can read any file its user can"])
    fs_all = (1 << _FS_BITS_BY_ABI.get(abi, 16)) - 1
    attr = struct.pack("<QQQ", fs_all, 3 if abi >= 4 else 0, 3 if abi >= 6 else 0)
    size = 24 if abi >= 6 else 16 if abi >= 4 else 8  # no TCP bind/connect; no signals out
    buf = ctypes.create_string_buffer(attr, len(attr))
    ruleset = libc().syscall(SYS_LANDLOCK_CREATE_RULESET, buf, ctypes.c_size_t(size), ctypes.c_uint32(0))
    if ruleset < 0:
        return f"unavailable: {_fail('landlock_create_ruleset')}", ["file system not restricted"]
    warnings: list[str] = []
    try:
        for path in read_paths:
            _allow(ruleset, path, READ_EXEC, warnings)
        for path in read_files:
            _allow(ruleset, path, FS_READ_FILE, warnings)
        for path in list_dirs:
            _allow(ruleset, path, FS_READ_DIR, warnings)
        for path in device_files:
            _allow(ruleset, path, FS_READ_FILE | FS_WRITE_FILE | FS_IOCTL_DEV, warnings)
        for path in write_paths:
            _allow(ruleset, path, fs_all, warnings)
        if libc().prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            return f"unavailable: {_fail('no_new_privs')}", ["file system not restricted"]
        if libc().syscall(SYS_LANDLOCK_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0)) != 0:
            return f"unavailable: {_fail('landlock_restrict_self')}", ["file system not restricted"]
    finally:
        os.close(ruleset)
    return f"abi {abi}", warnings


def _allow(ruleset: int, path: str, access: int, warnings: list[str]) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return  # a path that does not exist needs no rule
    try:
        if not os.path.isdir(path):
            access &= FILE_RIGHTS
        rule = ctypes.create_string_buffer(struct.pack("<Qi", access, fd), 12)
        if libc().syscall(SYS_LANDLOCK_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(1), rule,
                          ctypes.c_uint32(0)) != 0:
            warnings.append(_fail(f"landlock rule for {path}"))
    finally:
        os.close(fd)


# Host files that are nobody's business even though the folders around them are needed.
HOST_SECRETS = ["/etc/shadow", "/etc/gshadow", "/etc/shadow-", "/etc/gshadow-", "/etc/sudoers",
                "/etc/sudoers.d", "/etc/ssh", "/etc/ssl/private"]
DEVICE_FILES = ["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom"]


def readable_roots(secrets: list[str], package_dir: str) -> list[str]:
    """What the interpreter needs to read and run: the Python installations, every
    sys.path entry and the system folders (not /dev: raw disks live there). A root that
    holds one of the `secrets` (the package folder with the hidden tests, the course
    repository) is replaced by its other entries, recursively, because Landlock can only
    allow, never carve out. A root inside the repository (a .venv) is fine as long as it
    is not the package folder itself."""
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(os.path.realpath(sys.executable))}
    roots.update(p for p in sys.path if p and os.path.isabs(p))
    roots.update(["/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc", "/proc", "/sys", "/opt",
                  "/run/nvidia-persistenced"])
    secrets = sorted({os.path.realpath(s) for s in [*secrets, *HOST_SECRETS, package_dir]})
    package_dir = os.path.realpath(package_dir)
    out: list[str] = []
    for root in sorted(roots):
        real = os.path.realpath(root)
        if real in secrets or real.startswith(package_dir + os.sep):
            continue
        holding = [s for s in secrets if s.startswith(real.rstrip(os.sep) + os.sep)]
        out.extend(_around(real, holding) if holding else [real])
    return out


def _around(root: str, secrets: list[str]) -> list[str]:
    try:
        entries = sorted(os.listdir(root))
    except OSError:
        return []
    out = []
    for name in entries:
        path = os.path.join(root, name)
        inner = [s for s in secrets if s == path or s.startswith(path + os.sep)]
        if not inner:
            out.append(path)
        elif path not in inner:
            out.extend(_around(path, inner))
    return out


# -- seccomp and users ----------------------------------------------------------------------
def block_open_by_handle() -> str | None:
    """open_by_handle_at with CAP_DAC_READ_SEARCH opens files by inode, around any path
    check; the sandbox keeps that capability (see drop_user), so the syscall is blocked."""
    arch = {"x86_64": (0xC000003E, 304), "aarch64": (0xC00000B7, 265)}.get(platform.machine())
    if arch is None:
        return f"open_by_handle_at not blocked on {platform.machine()}"
    audit_arch, nr = arch
    ld_w_abs, jeq, jge, ret = 0x20, 0x15, 0x35, 0x06
    # arch matches? nr == open_by_handle_at or an x32 call (nr >= 2**30)? -> EPERM, else allow
    insns = [(ld_w_abs, 0, 0, 4), (jeq, 0, 4, audit_arch), (ld_w_abs, 0, 0, 0), (jeq, 1, 0, nr),
             (jge, 0, 1, 0x40000000), (ret, 0, 0, 0x00050000 | errno.EPERM), (ret, 0, 0, 0x7FFF0000)]
    code = b"".join(struct.pack("<HBBI", *i) for i in insns)
    filters = ctypes.create_string_buffer(code, len(code))
    prog = struct.pack("@HP", len(insns), ctypes.addressof(filters))
    prog_buf = ctypes.create_string_buffer(prog, len(prog))
    libc().prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    if libc().prctl(PR_SET_SECCOMP, 2, prog_buf, 0, 0) != 0:
        return _fail("seccomp filter")
    return None


def _world_searchable(paths: list[str]) -> bool:
    for path in paths:
        parts = Path(path).parts
        for i in range(1, len(parts) + 1):
            try:
                mode = os.stat(os.path.join(*parts[:i])).st_mode
            except OSError:
                break
            if not mode & 0o001:
                return False
    return True


def drop_user(python_roots: list[str], landlocked: bool) -> tuple[str, list[str]]:
    """Become `nobody`. Where the Python installation sits in a folder only root can
    enter (a pyenv under /root), keep CAP_DAC_READ_SEARCH so the interpreter can still
    import; Landlock then bounds what it may read. Returns (user, warnings)."""
    if not hasattr(os, "getuid") or os.getuid() != 0:
        return "same", []
    keep_read = not _world_searchable(python_roots)
    warnings = []
    try:
        if keep_read:
            problem = block_open_by_handle()
            if problem:
                warnings.append(problem)
            libc().prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0)
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
        if keep_read:
            mask = 1 << CAP_DAC_READ_SEARCH
            header = ctypes.create_string_buffer(struct.pack("<Ii", 0x20080522, 0), 8)
            data = ctypes.create_string_buffer(struct.pack("<6I", mask, mask, 0, 0, 0, 0), 24)
            if libc().syscall(126 if platform.machine() == "x86_64" else 91, header, data) != 0:
                warnings.append(_fail("capset"))
            if not landlocked:
                warnings.append("user nobody keeps read access to every file (no Landlock)")
    except OSError as exc:
        return "same", [f"could not switch to user nobody: {exc}"]
    return "nobody", warnings
