"""The processes a sandbox leaves: its process group, read from /proc (zombies do not count)."""
from __future__ import annotations

import os
import time


def processes_in_group(pgid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                found.append(int(entry))
    return found


def group_gone(pgid: int, seconds: float = 5.0) -> bool:
    """Whether every process of the group has ended within `seconds`."""
    deadline = time.monotonic() + seconds
    while processes_in_group(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not processes_in_group(pgid)
