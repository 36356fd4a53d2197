"""SSH keys on the submit host: its host key and fingerprint, and the users' authorized_keys lines."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
from pathlib import Path

import paramiko


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH's form: SHA256:<base64 without padding>."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")


def load_or_make_host_key(path: Path) -> paramiko.PKey:
    if not path.exists():
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519

        key = ed25519.Ed25519PrivateKey.generate()
        data = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        )
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        pub = key.public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        )
        path.with_name(path.name + ".pub").write_bytes(pub + b" onboard-sandbox\n")
    return paramiko.Ed25519Key.from_private_key_file(str(path))


def parse_key_lines(text: str) -> list[tuple[str, bytes]]:
    """(type, blob) of each key line; options before the key type are skipped, not honoured."""
    out = []
    for line in text.splitlines():
        parts = line.strip().split()
        if not parts or parts[0].startswith("#"):
            continue
        for i, p in enumerate(parts[:-1]):
            if p.startswith(("ssh-", "ecdsa-", "sk-")):
                with contextlib.suppress(ValueError):
                    out.append((p, base64.b64decode(parts[i + 1])))
                break
    return out
