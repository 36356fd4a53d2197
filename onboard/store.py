"""The state store: one JSON record per journey, written atomically, locked, with an append-only history.

Layout under the state directory (0700):
    <vo>.json           the record (0600), replaced atomically
    <vo>.history.jsonl  one JSON object per event, appended (0600)
    <vo>.lock           holds the PID of the onboard that works on the journey

This module imports no pydantic at import time: `onboard status` reads records raw, to start fast.
"""

from __future__ import annotations

import errno
import json
import os

from onboard.atomicfile import write_atomic
from onboard.errors import LockedError, StateError
from onboard.schema import MIGRATIONS, SCHEMA_VERSION

TYPE_CHECKING = False  # keep typing and pathlib out of start-up: `onboard status` reads through here
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

    from onboard.state import JourneyRecord

# letters, digits, '.', '-', '_', starting with a letter or digit, at most 64 (a regex costs start-up time)
_VO_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")


def check_vo_name(vo: str) -> str:
    if not (0 < len(vo) <= 64 and set(vo) <= _VO_CHARS and vo[0] not in "._-"):
        from onboard.errors import UsageError

        raise UsageError(
            f"'{vo}' is not a valid VO name.",
            "A VO name is letters, digits, '.', '-' and '_', like cms or vo.example.org.",
        )
    return vo


def journey_names(root: str) -> list[str]:
    """The VOs with a journey under the state directory `root`."""
    try:
        names = os.listdir(root)
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(n[:-5] for n in names if n.endswith(".json") and not n.startswith("."))


def pick_journey(root: str, vo: str | None) -> str:
    """The VO named, or the only journey there is."""
    if vo:
        return check_vo_name(vo)
    names = journey_names(root)
    if len(names) == 1:
        return names[0]
    if not names:
        raise StateError("there is no journey yet.", "Start one with `onboard start --vo VO`.")
    from onboard.errors import UsageError

    raise UsageError(f"there are journeys for several VOs ({', '.join(names)}).", "Name one with --vo VO.")


def read_journey(root: str, vo: str) -> dict[str, Any]:
    """A journey's record as JSON, schema-checked and migrated, without pydantic or pathlib: the
    reader `onboard status` uses (Store.load validates it further)."""
    path = os.path.join(root, f"{check_vo_name(vo)}.json")
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise StateError(
            f"there is no journey for VO '{vo}'.", f"Start one with `onboard start --vo {vo}`."
        ) from None
    try:
        data = json.loads(raw.decode("utf-8"))  # binary garbage: UnicodeDecodeError is a ValueError
        if not isinstance(data, dict):
            raise ValueError("not an object")
    except ValueError as e:
        raise StateError(
            f"{path}: the state file is corrupt ({e}).",
            f"Move it aside and run `onboard reset --vo {vo}`; the history file keeps what happened.",
        ) from None
    version = data.get("schema_version")
    if not isinstance(version, int) or version < 1:
        raise StateError(f"{path}: the state file has no valid schema_version.",
                         f"Move it aside and run `onboard reset --vo {vo}`.")
    if version > SCHEMA_VERSION:
        writer = data.get("onboard_version", "a newer onboard")
        raise StateError(
            f"{path}: written by onboard {writer} (state schema {version}); this onboard reads up to "
            f"schema {SCHEMA_VERSION}.",
            "Upgrade onboard (pip install -U onboard) to continue this journey.")
    if version < SCHEMA_VERSION:
        while version < SCHEMA_VERSION:
            data = MIGRATIONS[version](data)
            version = data["schema_version"]
    return data


def open_nofollow(path: Path, flags: int) -> int:
    """os.open that refuses a symbolic link where onboard's own file should be: a link planted in the
    state directory would otherwise have onboard truncate or append to whatever it points at."""
    try:
        return os.open(path, flags | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), 0o600)
    except OSError as e:
        if e.errno != errno.ELOOP:
            raise
    raise _planted_link(path)


def _planted_link(path: Path):
    from onboard.errors import UnsafePathError

    return UnsafePathError(
        f"{path} is a symbolic link: onboard writes its own files there and follows no link.",
        f"Remove the link ({path}); onboard makes the file anew.",
    )


class Lock:
    """An exclusive, non-blocking lock on one journey, released when the process ends (even by kill -9)."""

    def __init__(self, path: Path):
        self.path = path
        self.fd: int | None = None

    def acquire(self) -> Lock:
        import fcntl  # a C extension: loaded only by commands that lock

        fd = open_nofollow(self.path, os.O_RDWR | os.O_CREAT)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno not in (errno.EACCES, errno.EAGAIN):
                os.close(fd)
                raise
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise LockedError(f"journey {self.path.stem} is in use by PID {holder}.") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is not None:
            try:
                os.ftruncate(self.fd, 0)
            except OSError:
                pass  # the lock goes with the descriptor either way
            os.close(self.fd)  # closing drops the lockf lock
            self.fd = None

    def __enter__(self) -> Lock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


class Store:
    def __init__(self, root: Path):
        self.root = root

    # -- paths ---------------------------------------------------------------------------------
    def record_path(self, vo: str) -> Path:
        return self.root / f"{check_vo_name(vo)}.json"

    def history_path(self, vo: str) -> Path:
        return self.root / f"{check_vo_name(vo)}.history.jsonl"

    def lock(self, vo: str) -> Lock:
        """The journey's lock, taken before any work: so a planted link for the history is found before
        a step has run, and the run stops with files and record as they were."""
        self._ensure_root()
        if os.path.islink(self.history_path(vo)):
            raise _planted_link(self.history_path(vo))
        return Lock(self.root / f"{check_vo_name(vo)}.lock")

    def _ensure_root(self) -> None:
        from onboard.paths import ensure_private_dir

        ensure_private_dir(self.root)

    def journeys(self) -> list[str]:
        return journey_names(os.fspath(self.root))

    def pick(self, vo: str | None) -> str:
        return pick_journey(os.fspath(self.root), vo)

    # -- records -------------------------------------------------------------------------------
    def exists(self, vo: str) -> bool:
        return self.record_path(vo).exists()

    def read_raw(self, vo: str) -> dict[str, Any]:
        return read_journey(os.fspath(self.root), vo)

    def load(self, vo: str) -> JourneyRecord:
        from pydantic import ValidationError

        from onboard.state import JourneyRecord

        data = self.read_raw(vo)
        try:
            return JourneyRecord.model_validate(data)
        except ValidationError as e:
            first = e.errors()[0]
            key = ".".join(str(p) for p in first["loc"])
            raise StateError(
                f"{self.record_path(vo)}: the state file is corrupt (key '{key}': {first['msg']}).",
                f"Move it aside and run `onboard reset --vo {vo}`.",
            ) from None

    def save(self, record: JourneyRecord) -> None:
        from onboard.state import utcnow

        self._ensure_root()
        record.updated = utcnow()
        data = record.model_dump_json(indent=2).encode() + b"\n"
        write_atomic(self.record_path(record.vo), data)

    def delete(self, vo: str) -> Path | None:
        """Remove the record (the history stays, with a reset event). Returns the path removed."""
        path = self.record_path(vo)
        if path.exists():
            path.unlink()
            return path
        return None

    # -- history -------------------------------------------------------------------------------
    def append_history(self, vo: str, **event: Any) -> None:
        self._ensure_root()
        from datetime import datetime, timezone

        event = {"time": datetime.now(timezone.utc).isoformat(timespec="seconds"), **event}
        line = (json.dumps(event, ensure_ascii=False, default=str) + "\n").encode()
        fd = open_nofollow(self.history_path(vo), os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            os.write(fd, line)  # one write() of one line on O_APPEND: no interleaving, no torn line
            os.fsync(fd)
        finally:
            os.close(fd)

    def history(self, vo: str) -> list[dict[str, Any]]:
        path = self.history_path(vo)
        if not path.exists():
            return []
        events = []
        fd = open_nofollow(path, os.O_RDONLY)
        with os.fdopen(fd, "rb") as f:
            text = f.read().decode("utf-8", errors="replace")
        for line in text.splitlines():
            try:
                events.append(json.loads(line))
            except ValueError:
                pass  # a line cut by power loss is skipped, not fatal
        return events
