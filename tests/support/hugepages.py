"""Whether this machine can back a sandbox template with huge pages, and how much of a
process is in them (the sandbox and batch memory tests)."""
from __future__ import annotations

import os


def huge_pages_possible() -> bool:
    """MADV_COLLAPSE (Linux 6.1) with transparent huge pages not switched off."""
    try:
        enabled = open("/sys/kernel/mm/transparent_hugepage/enabled").read()
        version = tuple(int(p) for p in os.uname().release.split("-")[0].split(".")[:2])
    except (OSError, ValueError):
        return False
    return "[never]" not in enabled and version >= (6, 1)


def anon_huge_mb(pid: int | str = "self") -> int:
    with open(f"/proc/{pid}/smaps_rollup") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("AnonHugePages:")) >> 10
