"""Whether a process still runs: for leftovers (temporary files, pid files) named after their writer."""

from __future__ import annotations

import os


def alive(pid: int) -> bool:
    """True while `pid` runs; a process we may not signal counts as running, a zombie as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True  # no /proc (not Linux): kill's answer stands
