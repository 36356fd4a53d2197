"""The submit host's homes: one per user under ROOT/home/<user>, with the public keys that may log in
(.ssh/authorized_keys). Usable while the SSH server is not running (`onboard sandbox up --ssh-key`, the
portal's /portal/ssh-key); the server (server.py) is one of these with a listener."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from onboard.sandbox.submit_host.keys import parse_key_lines

USER_NAME_OK = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")


class Homes:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.homes = self.root / "home"
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.homes.mkdir(mode=0o755, exist_ok=True)

    def home(self, user: str) -> Path:
        if not user or set(user) - USER_NAME_OK or user.startswith("."):
            raise ValueError(f"{user!r} is not a user name")
        return self.homes / user

    def account(self, user: str) -> str:
        """The login name of `user` on the submit host (the same here; accounts.py prefixes it)."""
        self.home(user)
        return user

    def exists(self, user: str) -> bool:
        return self.home(user).exists()

    def authorize(self, user: str, public_key_line: str) -> Path:
        """Add a public key (an authorized_keys line) for `user`, creating the home; returns the home."""
        line = public_key_line.strip()
        if not parse_key_lines(line) or "\n" in line:
            raise ValueError("not an OpenSSH public key line")
        home = self.home(user)
        with contextlib.suppress(FileExistsError):
            home.mkdir(mode=0o700)
        return add_key(user, home, line, None)

    def authorized_keys(self, user: str) -> str:
        """The text of `user`'s authorized_keys, read without following links ("" when there is none)."""
        fds = []
        try:
            fds.append(_open_dir(str(self.home(user))))
            fds.append(_open_dir(".ssh", fds[-1]))
            fd = os.open("authorized_keys", os.O_RDONLY | os.O_NOFOLLOW, dir_fd=fds[-1])
            with os.fdopen(fd, encoding="utf-8", errors="replace") as f:
                return f.read(1 << 20)
        except (OSError, ValueError):
            return ""
        finally:
            for fd in fds:
                os.close(fd)


def add_key(user: str, home: Path, line: str, owner: tuple[int, int] | None) -> Path:
    """`line` added to home/.ssh/authorized_keys, made owned by `owner` (uid, gid) when given.

    The home is the trainee's: every step opens the next name without following a link (O_NOFOLLOW),
    so a `.ssh` the trainee made a link to another directory is refused, not written through; a file that
    is not the trainee's own (a hard link to another's) is refused too."""
    fds = []
    try:
        fds.append(_open_dir(str(home)))
        with contextlib.suppress(FileExistsError):
            os.mkdir(".ssh", 0o700, dir_fd=fds[-1])
        fds.append(_open_dir(".ssh", fds[-1]))
        fd = os.open("authorized_keys", os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600,
                     dir_fd=fds[-1])
        st = os.fstat(fd)
        if st.st_nlink != 1 or (owner is not None and st.st_uid not in (0, owner[0])):
            os.close(fd)
            raise OSError(1, "authorized_keys is not the trainee's own file")
        if owner is not None:
            os.fchown(fds[-1], *owner)
            os.fchown(fd, *owner)
        with os.fdopen(fd, "r+", encoding="utf-8") as f:
            if line not in f.read().splitlines():
                f.write(line + "\n")
    except OSError as e:
        raise ValueError(f"the home of {user} is not as the sandbox made it ({e.strerror})") from None
    finally:
        for fd in fds:
            os.close(fd)
    return home


def _open_dir(name: str, dir_fd: int | None = None) -> int:
    return os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dir_fd)
