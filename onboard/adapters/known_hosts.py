"""Host keys: an unknown key is accepted only on explicit confirmation (a yes at the prompt, or
`--trust-host-key SHA256:...` / `submit_host.trust_host_key` naming exactly that key), then appended to the
user's known_hosts; a key that differs from the known one is refused by paramiko's RejectPolicy.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

import paramiko

from onboard.errors import Exit, SSHError

if TYPE_CHECKING:
    from onboard.adapters.ssh_target import Target
    from onboard.ui import UI


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH's form: SHA256: and the unpadded base64 of the SHA-256 of the public key blob."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


class ConfirmOrReject(paramiko.RejectPolicy):
    """RejectPolicy, except for a key the user explicitly accepts (flag with its fingerprint, or a yes)."""

    def __init__(self, target: Target, ui: UI | None, trusted: str = "", bastion: bool = False):
        self.target = target
        self.bastion = bastion  # --trust-host-key names the submit host's key, never a bastion's
        self.ui = ui
        self.trusted = trusted.strip()
        self.accepted: str = ""

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        fp = fingerprint(key)
        where = self.target.display
        if self.trusted:
            if _same_fingerprint(self.trusted, fp):
                self._accept(key, fp)
                return
            raise SSHError(
                f"the host key of {where} is {fp}, not the {self.trusted} you said to trust.",
                "Check the fingerprint with the host's administrators; never trust a key that "
                "differs from the one they give you.",
                exit_code=Exit.HOST_KEY_UNKNOWN,
            )
        if self.ui is not None and self.ui.interactive:
            self.ui.say(f"The host key of {where} is not known yet.")
            self.ui.say(f"  {key.get_name()} key fingerprint: {fp}")
            self.ui.explain("Compare it with the one the site publishes or its administrators give you.")
            if self.ui.confirm(f"Is {fp} the right key for {where}?", flag="--trust-host-key"):
                self._accept(key, fp)
                return
        raise SSHError(
            f"the host key of {where} is unknown ({key.get_name()} {fp}); not connecting without "
            "confirmation.",
            (
                f"If the host's administrators confirm that fingerprint, pass --trust-host-key {fp} "
                "(or set submit_host.trust_host_key)."
            )
            if not self.bastion
            else (
                f"{where} is a bastion (ProxyJump): once its administrators confirm that fingerprint, "
                f"log in to it with ssh once (which records the key in {self.target.user_known_hosts[0]})."
            ),
            exit_code=Exit.HOST_KEY_UNKNOWN,
        )

    def _accept(self, key: paramiko.PKey, fp: str) -> None:
        self.accepted = fp
        save_known_host(
            self.target.user_known_hosts[0], self.target.key_name, key, hashed=self.target.hash_known_hosts
        )


def _same_fingerprint(given: str, actual: str) -> bool:
    g = given.strip()
    if not g.upper().startswith("SHA256:"):
        g = "SHA256:" + g
    return g[7:].rstrip("=") == actual[7:] and g[:7].upper() == "SHA256:"


def save_known_host(path: Path, name: str, key: paramiko.PKey, hashed: bool = False) -> None:
    """Append `name keytype base64` to a known_hosts file (created 0600 in a 0700 ~/.ssh); the name
    hashed as ssh does when HashKnownHosts is on (Debian's default)."""
    if hashed:
        name = paramiko.HostKeys.hash_host(name)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        line = f"{name} {key.get_name()} {key.get_base64()}\n"
        with open(path, "rb") as f:
            data = f.read()
        if data and not data.endswith(b"\n"):
            line = "\n" + line
        os.write(fd, line.encode())
    finally:
        os.close(fd)
