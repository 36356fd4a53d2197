"""The sandbox as `onboard demo` uses it: started in this process, a trainee made up, stopped afterwards.

handle = start(directory, vo)     # CA, registration server (approves at once), mail, submit host
handle.host_key_fingerprint       # the submit host's SHA256:... key fingerprint
handle.config(work)               # an onboard configuration (dict) for the trainee, files under `work`
handle.stop()
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from onboard.sandbox.manager import Sandbox
from onboard.sandbox.settings import Settings

TRAINEE = {"given_name": "Dana", "family_name": "Demo", "email": "dana.demo@example.org", "ssh_user": "dana"}


class DemoSandbox:
    def __init__(self, directory: Path, vo: str):
        # free ports (a demo must not collide with a running sandbox), approval as soon as confirmed
        settings = Settings(port_base=0, vos=[vo], auto_approve_after=0.0)
        self.sandbox = Sandbox(directory, settings, log_file=Path(directory) / "sandbox.log").start()
        self.host_key_fingerprint = self.sandbox.ssh_fingerprint

    def _ssh_key(self, work: Path) -> Path:
        """An unencrypted Ed25519 key for the demo's trainee (the demo's own, thrown away with `work`)."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519

        d = work / "ssh"
        d.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = d / "id_ed25519"
        if not path.exists():
            key = ed25519.Ed25519PrivateKey.generate()
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(
                    key.private_bytes(
                        serialization.Encoding.PEM,
                        serialization.PrivateFormat.OpenSSH,
                        serialization.NoEncryption(),
                    )
                )
            pub = key.public_key().public_bytes(
                serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
            )
            (d / "id_ed25519.pub").write_bytes(pub + b" demo-trainee\n")
        self.sandbox.authorize_ssh_key(TRAINEE["ssh_user"], (d / "id_ed25519.pub").read_text().strip())
        return path

    def config(self, work: Path) -> dict[str, Any]:
        identity = self._ssh_key(Path(work))
        cfg = self.sandbox.onboard_config(
            email=TRAINEE["email"],
            given_name=TRAINEE["given_name"],
            family_name=TRAINEE["family_name"],
            ssh_user=TRAINEE["ssh_user"],
            identity_file=identity,
        )
        # the submit host runs on this machine: voms-proxy-init there trusts the sandbox CA directly
        cfg["submit_host"]["x509_cert_dir"] = str(self.sandbox.trust_dir)
        cfg["submit_host"]["known_hosts"] = str(Path(work) / "ssh" / "known_hosts")
        return cfg

    def stop(self) -> None:
        self.sandbox.stop()


def start(directory: Path, vo: str) -> DemoSandbox:
    return DemoSandbox(Path(directory), vo)
