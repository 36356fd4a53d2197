"""The submit host's homes: one per user under ROOT/home/<user>, with the public keys that may log in
(.ssh/authorized_keys). Usable while the SSH server is not running (`onboard sandbox up --ssh-key`, the
portal's /portal/ssh-key); the server (server.py) is one of these with a listener."""

from __future__ import annotations

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

    def authorize(self, user: str, public_key_line: str) -> Path:
        """Add a public key (an authorized_keys line) for `user`, creating the home; returns the home."""
        home = self.home(user)
        ssh = home / ".ssh"
        home.mkdir(mode=0o755, exist_ok=True)
        ssh.mkdir(mode=0o700, exist_ok=True)
        ak = ssh / "authorized_keys"
        line = public_key_line.strip()
        if not parse_key_lines(line):
            raise ValueError("not an OpenSSH public key line")
        existing = ak.read_text(encoding="utf-8") if ak.exists() else ""
        if line not in existing.splitlines():
            fd = os.open(ak, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            with os.fdopen(fd, "a", encoding="utf-8") as f:
                f.write(line + "\n")
        return home
