"""Trainees of an orientation session the way a room has them: each with their own HOME, joining the
instructor's sandbox with `onboard sandbox join` (fingerprint read aloud, a seat token) and running
`onboard start` as a new process; and the instructor's browser, trusting the sandbox CA as an authority in
its own NSS database (what an instructor does once by hand)."""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from tests.lib.tools import require_tool, run_onboard

PASSPHRASE = "orientation passphrase 2026"


@dataclass
class Trainee:
    name: str
    email: str
    home: Path
    token: str

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ONBOARD_", "X509_"))}
        env.update(HOME=str(self.home), XDG_CONFIG_HOME=str(self.home / ".config"),
                   ONBOARD_STATE_DIR=str(self.home / "state"), ONBOARD_DATA_DIR=str(self.home / "data"),
                   NO_COLOR="1", SSH_AUTH_SOCK="",
                   ONBOARD_REGISTRATION__POLL_MIN_SECONDS="1", ONBOARD_REGISTRATION__POLL_MAX_SECONDS="2")
        return env

    @property
    def passphrase_file(self) -> Path:
        path = self.home / "passphrase"
        if not path.exists():
            path.write_text(PASSPHRASE + "\n")
            path.chmod(0o600)
        return path

    def onboard(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
        return run_onboard(*args, env=self.env, timeout=timeout, cwd=self.home)


def fingerprint_said(sandbox) -> str:
    from onboard.sandbox.portal import fingerprint

    der = sandbox.ctx.ca.ensure().root.public_bytes(serialization.Encoding.DER)
    return " ".join(fingerprint(der).split()[:4])


def open_url(sandbox) -> str:
    return f"https://localhost:{sandbox.app.ports['open']}"


def join(sandbox, tmp: Path, name: str, email: str) -> Trainee:
    """A trainee with a seat of `sandbox`, joined by `onboard sandbox join` (a new process)."""
    from onboard.sandbox import seats

    (token,) = seats.make(sandbox.ctx, 1)
    home = tmp / re.sub(r"\W+", "-", email)
    home.mkdir(parents=True)
    t = Trainee(name, email, home, token)
    r = t.onboard("sandbox", "join", open_url(sandbox), "--fingerprint", fingerprint_said(sandbox),
                  "--token", token, "--name", name, "--email", email)
    assert r.returncode == 0, r.stderr
    return t


def trust_sandbox_ca(home: Path, sandbox) -> Path:
    """HOME's NSS database (~/.pki/nssdb, without a password) trusting the sandbox's CAs for web sites."""
    certutil = require_tool("certutil")
    db = home / ".pki" / "nssdb"
    db.mkdir(parents=True, exist_ok=True)
    if not (db / "cert9.db").exists():
        subprocess.run([certutil, "-N", "--empty-password", "-d", f"sql:{db}"], check=True,
                       capture_output=True, timeout=60)
    pems = re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----",
                      sandbox.ctx.ca.ensure().bundle_path.read_text(), re.S)
    for i, pem in enumerate(pems):
        path = home / f"sandbox-ca-{i}.pem"
        path.write_text(pem + "\n")
        subprocess.run([certutil, "-A", "-d", f"sql:{db}", "-n", f"Onboard Sandbox CA {i}", "-t", "C,,",
                        "-i", str(path)], check=True, capture_output=True, timeout=60)
    return db
