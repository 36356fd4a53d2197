"""Watch the browser's download directory for the CA's PKCS#12 and take it in as soon as it is complete.

Browsers write a download under a temporary name (Firefox: `name.part`, next to an empty placeholder
`name`; Chrome: `Unconfirmed 123.crdownload`; Safari: `name.download`) and rename it when done. A file
counts only when it is not a partial download, has no partial sibling, is a whole DER structure (the
outer SEQUENCE's length matches the size) and stops changing over a short settle time. Files that were
already there when the watch began (the baseline) are ignored unless they change.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path

PKCS12_SUFFIXES = (".p12", ".pfx")
CERT_SUFFIXES = (".pem", ".crt", ".cer", ".der")
PARTIAL_SUFFIXES = (".part", ".crdownload", ".download", ".partial", ".opdownload", ".tmp", ".temp")

Baseline = dict[str, list[int]]  # file name -> [size, mtime_ns]


def is_partial_name(name: str) -> bool:
    lower = name.lower()
    return lower.endswith(PARTIAL_SUFFIXES) or lower.startswith((".~", "~$", "unconfirmed "))


def der_complete(head: bytes, size: int) -> bool | None:
    """Whether a file of `size` bytes starting with `head` holds a whole DER SEQUENCE.

    True: complete; False: truncated or not DER at all; None: indefinite length (BER), cannot tell.
    """
    if len(head) < 2 or head[0] != 0x30:
        return False
    first = head[1]
    if first < 0x80:
        return size >= 2 + first
    n = first & 0x7F
    if n == 0:
        return None
    if n > 4 or len(head) < 2 + n:
        return False
    length = int.from_bytes(head[2:2 + n], "big")
    return size >= 2 + n + length


def pem_complete(data: bytes) -> bool:
    return b"-----BEGIN CERTIFICATE-----" in data and b"-----END CERTIFICATE-----" in data


class DownloadWatcher:
    def __init__(self, directory: Path, baseline: Baseline | None = None, *,
                 suffixes: Iterable[str] = PKCS12_SUFFIXES, settle: float = 0.5):
        self.directory = Path(directory).expanduser()
        self.suffixes = tuple(s.lower() for s in suffixes)
        self.settle = settle
        self.baseline: Baseline = dict(baseline) if baseline is not None else self.snapshot()

    def snapshot(self) -> Baseline:
        """Every file of a watched kind that is in the directory now."""
        out: Baseline = {}
        for entry in self._entries():
            st = entry.stat(follow_symlinks=False)
            out[entry.name] = [st.st_size, st.st_mtime_ns]
        return out

    def _entries(self) -> list[os.DirEntry]:
        try:
            with os.scandir(self.directory) as it:
                return [e for e in it if e.name.lower().endswith(self.suffixes) and not e.name.startswith(".")
                        and e.is_file(follow_symlinks=False)]
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            return []

    def preexisting(self) -> list[Path]:
        """Files of the watched kind that were there before the watch began (newest first)."""
        names = sorted(self.baseline, key=lambda n: self.baseline[n][1], reverse=True)
        return [self.directory / n for n in names if (self.directory / n).is_file()]

    def candidates(self) -> list[Path]:
        """New or changed files, newest first, partial downloads left out."""
        found = []
        for entry in self._entries():
            st = entry.stat(follow_symlinks=False)
            if self.baseline.get(entry.name) == [st.st_size, st.st_mtime_ns] or is_partial_name(entry.name):
                continue
            found.append((st.st_mtime_ns, Path(entry.path)))
        return [p for _, p in sorted(found, reverse=True)]

    def has_partial_sibling(self, path: Path) -> bool:
        return any(path.with_name(path.name + suffix).exists() for suffix in PARTIAL_SUFFIXES)

    def complete(self, path: Path) -> bool:
        """The file is a finished download: not empty, no partial sibling, a whole structure, not growing."""
        try:
            st1 = path.stat()
            if st1.st_size == 0 or self.has_partial_sibling(path):
                return False
            with open(path, "rb") as f:
                head = f.read(64 if path.suffix.lower() in PKCS12_SUFFIXES + (".der",) else 1 << 20)
            if path.suffix.lower() in PKCS12_SUFFIXES + (".der",):
                if der_complete(head, st1.st_size) is False:
                    return False
            elif not (pem_complete(head) or der_complete(head, st1.st_size)):
                return False
            if self.settle > 0:
                time.sleep(self.settle)
            st2 = path.stat()
        except OSError:
            return False
        unchanged = (st1.st_size, st1.st_mtime_ns) == (st2.st_size, st2.st_mtime_ns)
        return unchanged and not self.has_partial_sibling(path)

    def poll(self) -> Path | None:
        """One look: the newest complete new file, or None."""
        for path in self.candidates():
            if self.complete(path):
                return path
        return None

    def not_pkcs12(self, quiet_for: float = 10.0) -> list[Path]:
        """New .p12/.pfx files that are not PKCS#12 at all (often a web page saved under that name) and have
        not changed for `quiet_for` seconds: no longer downloading, just wrong."""
        out = []
        now = time.time()
        for path in self.candidates():
            if path.suffix.lower() not in PKCS12_SUFFIXES or self.has_partial_sibling(path):
                continue
            try:
                st = path.stat()
                with open(path, "rb") as f:
                    head = f.read(64)
            except OSError:
                continue
            if st.st_size and now - st.st_mtime >= quiet_for and (not head or head[0] != 0x30):
                out.append(path)
        return out

    def wait(self, timeout: float, interval: float = 0.5) -> Path | None:
        """Poll until a complete file appears or `timeout` seconds pass."""
        end = time.monotonic() + timeout
        while True:
            found = self.poll()
            if found is not None or time.monotonic() >= end:
                return found
            time.sleep(min(interval, max(0.0, end - time.monotonic())))


def take_private(src: Path, dest_dir: Path, *, move: bool = True, prefix: str = "") -> Path:
    """Copy `src` into a new 0600 file in `dest_dir` (created O_EXCL, never chmod-ed down), then remove
    `src` when moving. The copy is complete and synced before the original goes."""
    from onboard.paths import ensure_private_dir

    ensure_private_dir(dest_dir)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in src.name) or "download.p12"
    base = f"{prefix}{stamp}-{safe}"
    for n in range(100):
        dest = dest_dir / (base if n == 0 else f"{stamp}-{n}-{safe}")
        try:
            out = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
            break
        except FileExistsError:
            continue
    else:  # pragma: no cover - a hundred files in the same second
        raise FileExistsError(dest)
    try:
        inp = os.open(src, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        try:
            while chunk := os.read(inp, 1 << 16):
                os.write(out, chunk)
        finally:
            os.close(inp)
        os.fsync(out)
    except BaseException:
        os.close(out)
        dest.unlink(missing_ok=True)
        raise
    os.close(out)
    _fsync_dir(dest_dir)
    if move:
        try:
            src.unlink()
        except OSError:
            pass  # the copy is safe; the caller warns that the original stays
    return dest


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
