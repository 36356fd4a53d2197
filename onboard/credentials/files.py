"""Writing a set of credential files as one transaction: all of them, or none.

Each file is first written under a hidden temporary name in the destination directory, created with
O_CREAT|O_EXCL|O_NOFOLLOW and its final mode from the first byte, and fsynced. (Not onboard.atomicfile's
write_atomic: several files go in place together, by link, with backups and a rollback; the calls stay
here, where tests/hardening counts each as a kill point of the install.) Commit then moves every file that
would be replaced to `backup.<YYYYmmdd-HHMMSS>.<name>` and puts the new one in place. If anything fails,
the new files are removed and the backups moved back, so the directory is as it was.
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from onboard import pids
from onboard.atomicfile import fill, fsync_dir
from onboard.errors import CredentialError, Exit

KEY_MODE = 0o600  # GCT: no group/other bits; Java voms: exactly 400 or 600
P12_MODE = 0o600  # Java voms-proxy-init wants usercred.p12 at exactly 600
CERT_MODE = 0o644  # GCT: at most 644


def ensure_dest(path: Path) -> bool:
    """Create the destination (0700) if missing; True if onboard created it. An existing one that someone
    else owns or may write to is refused, as GCT's key writer refuses it: they could swap the key."""
    if path.is_dir():
        from onboard.paths import check_private_dir

        check_private_dir(path)
        return False
    try:
        path.mkdir(parents=True, mode=0o700)
        os.chmod(path, 0o700)  # mkdir's mode is cut by the umask; a new credential directory is private
    except FileExistsError:
        if not path.is_dir():
            raise CredentialError(
                f"{path} exists and is not a directory.", "Choose another --dest."
            ) from None
        return False
    except OSError as e:
        raise CredentialError(
            f"cannot create {path}: {e.strerror}.", "Choose a --dest you may write to."
        ) from None
    return True


_TMP_NAME = re.compile(r"^\.onboard-(\d+)-\d+\..+\.tmp$")  # Transaction._tmp: .onboard-<pid>-<n>.<name>.tmp


def remove_stale(directory: Path) -> list[str]:
    """Remove the temporary files that a transaction killed halfway (kill -9, power loss) left behind:
    our own names, of a process that is gone. Returns the names removed."""
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    removed = []
    for name in names:
        m = _TMP_NAME.match(name)
        if m and not pids.alive(int(m.group(1))):
            with contextlib.suppress(OSError):
                os.unlink(directory / name)
                removed.append(name)
    return removed


@dataclass
class _Staged:
    name: str
    tmp: Path | None  # None: the file is retired (moved to a backup, nothing takes its place)
    link: bool


@dataclass
class Transaction:
    directory: Path
    stamp: str  # YYYYmmdd-HHMMSS
    backup_prefix: str = "backup"
    staged: list[_Staged] = field(default_factory=list)
    installed: list[Path] = field(default_factory=list)
    backups: list[tuple[Path, Path]] = field(default_factory=list)  # (original, backup)
    done: bool = False

    def _tmp(self, name: str) -> Path:
        return self.directory / f".onboard-{os.getpid()}-{len(self.staged)}.{name}.tmp"

    def write(self, name: str, data: bytes, mode: int) -> None:
        tmp = self._tmp(name)
        flags = (
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        )
        try:
            fd = os.open(tmp, flags, mode)
        except OSError as e:
            raise CredentialError(
                f"cannot write in {self.directory}: {e.strerror}.",
                "Check that the directory is yours and writable, or choose another --dest.",
            ) from None
        self.staged.append(_Staged(name, tmp, False))
        try:
            fill(fd, data, mode)
        except OSError as e:
            raise CredentialError(
                f"cannot write {tmp}: {e.strerror}.", "Free some space and try again."
            ) from None
        finally:
            os.close(fd)

    def link(self, name: str, target: str) -> None:
        tmp = self._tmp(name)
        os.symlink(target, tmp)
        self.staged.append(_Staged(name, tmp, True))

    def retire(self, name: str) -> None:
        """At commit, move `name` to a backup with the others, and put nothing in its place."""
        self.staged.append(_Staged(name, None, False))

    def _backup_path(self, name: str) -> Path:
        path = self.directory / f"{self.backup_prefix}.{self.stamp}.{name}"
        n = 1
        while os.path.lexists(path):  # two runs in one second: never overwrite an earlier backup
            n += 1
            path = self.directory / f"{self.backup_prefix}.{self.stamp}-{n}.{name}"
        return path

    def commit(self) -> None:
        try:
            for st in self.staged:
                final = self.directory / st.name
                # each move is noted before it is made (and the note dropped if it fails): a Ctrl-C just
                # after a rename must not leave a file that the rollback does not know about
                if os.path.lexists(final):
                    backup = self._backup_path(st.name)
                    self.backups.append((final, backup))
                    try:
                        os.rename(final, backup)
                    except OSError:
                        self.backups.pop()
                        raise
                if st.tmp is None:
                    continue
                self.installed.append(final)
                try:
                    if st.link:
                        os.rename(st.tmp, final)
                    else:
                        # fails (EEXIST) rather than replace a file that appeared meanwhile
                        os.link(st.tmp, final)
                except OSError:
                    self.installed.pop()
                    raise
                if not st.link:
                    os.unlink(st.tmp)
            fsync_dir(self.directory)
            self.done = True
        except OSError as e:
            self.rollback()
            raise CredentialError(
                f"could not put the new files in place in {self.directory}: {e.strerror}; "
                "nothing was changed.",
                "Check the directory's permissions and free space.",
                exit_code=Exit.CREDENTIAL,
            ) from None
        except BaseException:
            self.rollback()
            raise

    def rollback(self) -> None:
        """Remove whatever this transaction added and restore what it moved aside."""
        for path in reversed(self.installed):
            with contextlib.suppress(OSError):
                os.unlink(path)
        self.installed.clear()
        for original, backup in reversed(self.backups):
            with contextlib.suppress(OSError):
                os.rename(backup, original)
        self.backups.clear()
        for st in self.staged:
            if st.tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(st.tmp)
        with contextlib.suppress(OSError):
            fsync_dir(self.directory)

    def __enter__(self) -> Transaction:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if not self.done:
            self.rollback()

