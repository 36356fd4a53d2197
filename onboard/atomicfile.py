"""Writing a file so that a crash leaves the old one or the new one, never a torn one.

The one writer of "temporary file, then rename" in onboard: the file is created with its final mode from
the first byte (O_EXCL, never through a link), written whole, fsynced, renamed over the target, and the
directory fsynced so that the rename itself survives a power cut. Standard library only: `onboard status`
imports it at start-up (through the store), and the sandbox may use it (pyproject.toml's contract lists
what the sandbox may import).
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # keep typing and pathlib out of start-up
if TYPE_CHECKING:
    from pathlib import Path

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def _pid_gone(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except (OSError, ValueError):
        return False
    return False


def _remove_stale_tmp(path: Path) -> None:
    """The temporary files of earlier writers of `path` that were killed before their rename."""
    prefix = f".{path.name}."
    try:
        names = os.listdir(path.parent)
    except OSError:
        return
    for name in names:
        pid = name[len(prefix) : -4] if name.startswith(prefix) and name.endswith(".tmp") else ""
        if pid.isdigit() and _pid_gone(pid):
            try:
                os.unlink(path.parent / name)
            except OSError:
                pass  # gone already, or not ours to remove


def fsync_dir(path: Path) -> None:
    """Make the renames and links made in directory `path` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_new(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Create `path` (never over an existing file or link) with `mode` from the first byte, write `data`
    whole and fsync it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, mode)
    try:
        fill(fd, data, mode)
    finally:
        os.close(fd)


def fill(fd: int, data: bytes, mode: int) -> None:
    """Give the new, empty file open on `fd` the exact `mode`, write `data` whole and fsync it (the caller
    opens and closes `fd`: credentials.files opens its own, where the crash tests count the call)."""
    os.fchmod(fd, mode)  # the exact mode whatever the umask, before any byte is written
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    os.fsync(fd)


def write_atomic(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write `data` to `path` so that a crash leaves the old file or the new one, never a torn one."""
    _remove_stale_tmp(path)  # a crash leaves the old file, and this: gone at the next write
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, mode)
    except FileExistsError:
        # ours (the name has our PID): a write of this process interrupted (Ctrl-C) right after creating it
        os.unlink(tmp)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), mode)  # the umask must not widen or narrow what the caller asked for
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    fsync_dir(path.parent)
