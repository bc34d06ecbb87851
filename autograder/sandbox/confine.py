"""Operating-system limits for the sandbox process (Linux; elsewhere each step degrades
to a warning). Runs in the forked sandbox before any student code.

Order matters: namespaces first (they need root or a user namespace), then rlimits,
then Landlock (needs no_new_privs, which also stops setuid binaries from regaining
privileges), then dropping to an unprivileged user without any capability so
RLIMIT_NPROC binds and the grader's files are protected by permissions too, and last the
seccomp filter (it also refuses the syscalls the steps before needed).
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

CLONE_NEWNS, CLONE_NEWIPC = 0x00020000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
CLONE_NEW_ANY = 0x7E020000  # every CLONE_NEW* flag clone(2) accepts
SYS_LANDLOCK_CREATE_RULESET, SYS_LANDLOCK_ADD_RULE, SYS_LANDLOCK_RESTRICT_SELF = 444, 445, 446
PR_SET_NO_NEW_PRIVS, PR_SET_KEEPCAPS, PR_SET_SECCOMP, PR_CAPBSET_DROP = 38, 8, 22, 24
PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 47, 4
CAP_DAC_READ_SEARCH = 2
NOBODY = 65534
KEYCTL_JOIN_SESSION_KEYRING = 1

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
        _libc.syscall.restype = ctypes.c_long
    return _libc


def _fail(what: str) -> str:
    code = ctypes.get_errno()
    return f"{what}: {os.strerror(code) if code else 'failed'}"


def enter_namespaces(in_pid_namespace: bool = False) -> tuple[dict, list[str]]:
    """New network, PID, mount and IPC namespaces (PID for the caller's future children;
    none when the caller is already the init of a new one: `in_pid_namespace`).
    Returns ({"network", "pid_namespace", "mount_namespace"}, warnings); each part is
    tried on its own so a kernel that refuses one still gives the others."""
    if sys.platform != "linux":
        return ({"network": f"unavailable: {sys.platform}", "pid_namespace": False, "mount_namespace": False},
                [f"no network, process or file-system isolation on {sys.platform}"])
    as_root = os.geteuid() == 0
    warnings: list[str] = []
    state = {"network": "namespace", "pid_namespace": True, "mount_namespace": True}
    pid_flag = 0 if in_pid_namespace else CLONE_NEWPID
    if libc().unshare(CLONE_NEWNET | pid_flag | (0 if as_root else CLONE_NEWUSER)) != 0:
        reason = _fail("unshare")
        state.update(network=f"unavailable: {reason}", pid_namespace=in_pid_namespace)
        warnings.append(f"student code has network access and its processes may outlive it ({reason})"
                        if not in_pid_namespace else f"student code has network access ({reason})")
    elif not as_root:  # map our own ids into the new user namespace so files stay ours
        uid, gid = os.getuid(), os.getgid()
        try:
            Path("/proc/self/setgroups").write_text("deny")
            Path("/proc/self/uid_map").write_text(f"{uid} {uid} 1")
            Path("/proc/self/gid_map").write_text(f"{gid} {gid} 1")
        except OSError as exc:
            warnings.append(f"user namespace id maps not written: {exc}")
    if libc().unshare(CLONE_NEWNS | CLONE_NEWIPC) != 0:
        reason = _fail("unshare")
        state["mount_namespace"] = False
        warnings.append(f"/dev/shm, /tmp and SysV IPC are shared with the host ({reason})")
    return state, warnings


def set_rlimits(limits: dict, device: str, processes_per_sandbox: bool) -> tuple[list[str], list[str]]:
    """(descriptions of the rlimits set, warnings). Address space is limited to what the
    warm interpreter already maps plus memory_mb, except on CUDA, whose driver maps huge
    virtual ranges (there the grader polls the resident size instead). RLIMIT_NPROC
    counts every process of the user, so of every sandbox: it is the fallback for when
    the sandbox has no pids cgroup of its own (`processes_per_sandbox`)."""
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
    if not processes_per_sandbox:
        nproc = int(limits["max_processes"])
        limit("RLIMIT_NPROC", nproc, nproc, f"nproc {nproc}")
    if device.startswith("cuda"):
        warnings.append("address-space limit off on CUDA; memory is enforced by polling RSS")
    else:
        base = virtual_size()
        cap = base + int(limits["memory_mb"]) * mb
        # The description leaves out `base`: what the warm interpreter maps moves by a
        # megabyte or so from run to run (malloc arenas, huge-page alignment), and the
        # report must be the same for the same submission.
        limit("RLIMIT_AS", cap, cap, f"as +{limits['memory_mb']}MB over the warm interpreter")
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
# What the C library, the dynamic loader and Python's standard library open in /etc.
ETC_READABLE = ["/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/alternatives",
                "/etc/localtime", "/etc/timezone", "/etc/passwd", "/etc/group", "/etc/nsswitch.conf",
                "/etc/hosts", "/etc/host.conf", "/etc/resolv.conf", "/etc/gai.conf", "/etc/hostname",
                "/etc/mime.types", "/etc/os-release", "/etc/ssl/certs", "/etc/fonts"]
# CPU topology that torch and OpenMP read; CUDA needs the PCI tree (see cuda_readable).
SYS_READABLE = ["/sys/devices/system/cpu", "/sys/devices/system/node"]
SYSTEM_ROOTS = ["/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin"]


def readable_roots(secrets: list[str], package_dir: str) -> list[str]:
    """What the interpreter needs to read and run: the Python installations, every
    sys.path entry and the system library folders (not /etc, /opt, /home, /root, /proc,
    /sys or /dev as a whole: see ETC_READABLE, SYS_READABLE, DEVICE_FILES). A root that
    holds one of the `secrets` (the package folder with the hidden tests, the course
    repository) is replaced by its other entries, recursively, because Landlock can only
    allow, never carve out. A root inside the repository (a .venv) is fine as long as it
    is not the package folder itself."""
    roots = set(python_roots())
    roots.update(SYSTEM_ROOTS)
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


def python_roots() -> list[str]:
    """The folders the running interpreter imports from."""
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(os.path.realpath(sys.executable))}
    roots.update(p for p in sys.path if p and os.path.isabs(p))
    return sorted(roots)


def cuda_readable() -> list[str]:
    return ["/sys", "/proc/driver/nvidia", "/run/nvidia-persistenced"]


def proc_readable(private_proc: bool) -> list[str]:
    """A /proc of the sandbox's own PID namespace may be read whole; the host's only for
    the process itself (what the C library and torch look up there)."""
    if private_proc:
        return ["/proc"]
    return [f"/proc/{os.getpid()}", "/proc/cpuinfo", "/proc/meminfo", "/proc/stat"]


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


# -- seccomp ------------------------------------------------------------------------------
# Syscall numbers by machine: (audit arch, {name: number}). Refused for student code: file
# handles (open by inode, around every path check), keyrings (the user keyring of
# `nobody` is shared by all sandboxes and outlives them), namespaces and mounts, tracing
# and other processes' memory, eBPF, perf, userfaultfd and io_uring (large attack surface
# no course code needs).
_SYSCALLS = {
    "x86_64": (0xC000003E, {
        "open_by_handle_at": 304, "name_to_handle_at": 303, "keyctl": 250, "add_key": 248,
        "request_key": 249, "unshare": 272, "setns": 308, "mount": 165, "umount2": 166,
        "pivot_root": 155, "bpf": 321, "perf_event_open": 298, "userfaultfd": 323, "ptrace": 101,
        "process_vm_readv": 310, "process_vm_writev": 311, "io_uring_setup": 425,
        "io_uring_enter": 426, "io_uring_register": 427, "setsid": 112, "clone": 56, "clone3": 435}),
    "aarch64": (0xC00000B7, {
        "open_by_handle_at": 265, "name_to_handle_at": 264, "keyctl": 219, "add_key": 217,
        "request_key": 218, "unshare": 97, "setns": 268, "mount": 40, "umount2": 39,
        "pivot_root": 41, "bpf": 280, "perf_event_open": 241, "userfaultfd": 282, "ptrace": 117,
        "process_vm_readv": 270, "process_vm_writev": 271, "io_uring_setup": 425,
        "io_uring_enter": 426, "io_uring_register": 427, "setsid": 157, "clone": 220, "clone3": 435}),
}
REFUSED = ("open_by_handle_at", "name_to_handle_at", "keyctl", "add_key", "request_key", "unshare",
           "setns", "mount", "umount2", "pivot_root", "bpf", "perf_event_open", "userfaultfd", "ptrace",
           "process_vm_readv", "process_vm_writev", "io_uring_setup", "io_uring_enter",
           "io_uring_register")
X32_SYSCALL_BIT = 0x40000000
_LD_W_ABS, _JEQ_K, _JGE_K, _JSET_K, _RET_K = 0x20, 0x15, 0x35, 0x45, 0x06
RET_KILL_PROCESS, RET_ALLOW = 0x80000000, 0x7FFF0000


def _errno(code: int) -> int:
    return 0x00050000 | code


def seccomp_program(machine: str, refused: tuple[str, ...]) -> list[tuple[int, int, int, int]]:
    """The classic-BPF filter: a syscall from any ABI but the native one (the i386 int
    0x80 entry on x86_64, whose numbers mean other calls) kills the process; x32 calls
    and the `refused` ones fail with EPERM; clone() into new namespaces too; clone3 says
    ENOSYS (its flags are behind a pointer the filter cannot read), which makes the C
    library fall back to clone()."""
    audit_arch, numbers = _SYSCALLS[machine]
    insns = [(_LD_W_ABS, 0, 0, 4), (_JEQ_K, 1, 0, audit_arch), (_RET_K, 0, 0, RET_KILL_PROCESS),
             (_LD_W_ABS, 0, 0, 0)]
    if machine == "x86_64":
        insns += [(_JGE_K, 0, 1, X32_SYSCALL_BIT), (_RET_K, 0, 0, _errno(errno.EPERM))]
    for name in refused:
        insns += [(_JEQ_K, 0, 1, numbers[name]), (_RET_K, 0, 0, _errno(errno.EPERM))]
    insns += [(_JEQ_K, 0, 1, numbers["clone3"]), (_RET_K, 0, 0, _errno(errno.ENOSYS)),
              (_JEQ_K, 0, 3, numbers["clone"]), (_LD_W_ABS, 0, 0, 16),  # low half of the flags
              (_JSET_K, 0, 1, CLONE_NEW_ANY), (_RET_K, 0, 0, _errno(errno.EPERM)),
              (_RET_K, 0, 0, RET_ALLOW)]
    return insns


def install_seccomp(extra_refused: tuple[str, ...] = ()) -> str:
    """Returns the status for the report ("filter" or why there is none)."""
    machine = platform.machine()
    if sys.platform != "linux" or machine not in _SYSCALLS:
        return f"unavailable: {sys.platform} {machine}"
    insns = seccomp_program(machine, REFUSED + tuple(extra_refused))
    code = b"".join(struct.pack("<HBBI", *i) for i in insns)
    filters = ctypes.create_string_buffer(code, len(code))
    prog = struct.pack("@HP", len(insns), ctypes.addressof(filters))
    prog_buf = ctypes.create_string_buffer(prog, len(prog))
    libc().prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    if libc().prctl(PR_SET_SECCOMP, 2, prog_buf, 0, 0) != 0:
        return f"unavailable: {_fail('seccomp filter')}"
    return "filter"


def join_fresh_keyring() -> str | None:
    """A new anonymous session keyring, so the grader's (and the template's) is out of
    reach; the keyring syscalls are refused afterwards by the seccomp filter."""
    nr = {"x86_64": 250, "aarch64": 219}.get(platform.machine())
    if nr is None or libc().syscall(nr, KEYCTL_JOIN_SESSION_KEYRING, None) < 0:
        return _fail("session keyring")
    return None


# -- users and capabilities -------------------------------------------------------------------
def world_searchable(paths: list[str]) -> bool:
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
    """Become `nobody` with no capability at all (bounding and ambient sets emptied, so
    nothing can bring one back). Only where the Python installation sits in a folder
    `nobody` cannot pass and the private mounts that make it reachable were refused is
    CAP_DAC_READ_SEARCH kept, as a recorded fallback: the interpreter could not import
    otherwise. Returns (user, warnings)."""
    if not hasattr(os, "getuid") or os.getuid() != 0:
        return "same", []
    keep_read = not world_searchable(python_roots)
    warnings = []
    try:
        for cap in range(64):
            if cap != CAP_DAC_READ_SEARCH or not keep_read:
                libc().prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)  # EINVAL past the last one: fine
        libc().prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
        if keep_read:
            libc().prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0)
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)
        if keep_read:
            warnings.append("kept CAP_DAC_READ_SEARCH: the Python installation is in a folder only root "
                            "may enter and no private mount makes it reachable")
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
