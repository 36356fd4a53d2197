"""What a directory holds, to say that a run changed nothing (or exactly what it should)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def snapshot(directory: Path) -> dict[str, tuple]:
    """Every entry of a directory: (kind, mode, content hash or link target, mtime_ns)."""
    out: dict[str, tuple] = {}
    if not directory.exists():
        return out
    for p in sorted(directory.iterdir()):
        st = p.lstat()
        if p.is_symlink():
            out[p.name] = ("link", os.readlink(p))
        else:
            out[p.name] = ("file", st.st_mode, hashlib.sha256(p.read_bytes()).hexdigest(), st.st_mtime_ns)
    return out
