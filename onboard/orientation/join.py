"""A trainee joins the instructor's sandbox with one command: `onboard sandbox join https://HOST:PORT
--fingerprint "3F2A 9C1B ..."`.

The trainee does not trust the sandbox's CA yet, so the first connection cannot be verified by a CA. It is
verified by what the instructor reads aloud instead: the SHA-256 of the sandbox's root CA. onboard fetches
the join point, checks that the root CA in the bundle has that fingerprint, checks that the server it
talked to presented a certificate issued under that root (so no one in between could have answered),
then installs the trust bundle with `onboard trust --install`'s checks into a directory of its own and
writes the configuration for the sandbox (an existing configuration is kept as a backup).
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import re
import ssl
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from onboard.errors import Exit, OnboardError, UsageError

MIN_FINGERPRINT_HEX = 16  # 64 bits read aloud: enough against a second preimage in a classroom


class JoinError(OnboardError):
    exit_code = Exit.SANDBOX


def normalise_fingerprint(text: str) -> str:
    hexed = re.sub(r"[\s:]", "", text.strip().upper().removeprefix("SHA256").lstrip(":= "))
    if not re.fullmatch(r"[0-9A-F]+", hexed or "x"):
        raise UsageError(f"'{text}' is not a fingerprint (hex digits, e.g. 3F2A 9C1B ...).",
                         "Type the digits the instructor reads out (spaces and colons do not matter).")
    if len(hexed) < MIN_FINGERPRINT_HEX:
        raise UsageError(f"the fingerprint has {len(hexed)} hex digits; at least {MIN_FINGERPRINT_HEX} are "
                         "needed.",
                         "Ask the instructor to read out more of it.")
    return hexed


@dataclass
class Joined:
    server: str
    root_sha256: str
    bundle: bytes
    config: dict[str, Any]
    mail_root: str


def _exchange(parts: Any, context: ssl.SSLContext, timeout: float, method: str, path: str, limit: int,
              failure: str, hint: str, **request: Any) -> tuple[bytes | None, int, bytes]:
    """One HTTPS request to the sandbox at `parts`: (the certificate it presented, the status, at most `limit`
    bytes of the body); a network failure is the JoinError "`failure`: why." with `hint`."""
    conn = http.client.HTTPSConnection(parts.hostname or "", parts.port or 443, context=context,
                                       timeout=timeout)
    try:
        conn.connect()  # the certificate is taken now: a server that answers HTTP/1.0 or closes early
        peer_der = conn.sock.getpeercert(binary_form=True)  # leaves no socket to ask afterwards
        conn.request(method, path, **request)
        resp = conn.getresponse()
        return peer_der, resp.status, resp.read(limit)
    except (OSError, http.client.HTTPException) as e:
        raise JoinError(f"{failure}: {e}.", hint) from None
    finally:
        conn.close()


def fetch(url: str, fingerprint: str, timeout: float = 30) -> Joined:
    """Fetch the join point and prove it comes from the sandbox whose root CA has `fingerprint`."""
    from cryptography import x509

    want = normalise_fingerprint(fingerprint)
    parts = urlsplit(url if "://" in url else f"https://{url}")
    if parts.scheme != "https" or not parts.hostname:
        raise UsageError(f"{url} is not an https:// address.", "Give the address the instructor shows, "
                         "e.g. https://instructor.example.org:8444.")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # not trusted yet: the fingerprint check below decides, before any use
    peer_der, status, body = _exchange(
        parts, ctx, timeout, "GET", "/onboard/join", 8 << 20, f"cannot reach the sandbox at {url}",
        "Check the address and that you are on the same network as the instructor.",
        headers={"Accept": "application/json"},
    )
    if status != 200:
        raise JoinError(f"{url} answered {status} to the join request.", "Check the address with the "
                                                                              "instructor.")
    try:
        data = json.loads(body)
        bundle = base64.b64decode(data["trust_bundle"], validate=True)
        config = data["config"]
    except (ValueError, KeyError, TypeError):
        raise JoinError(f"{url} did not answer like an onboard sandbox.", "Check the address with the "
                                                                          "instructor.") from None
    certs = _bundle_certs(bundle)
    roots = [c for c in certs if c.issuer == c.subject]
    from cryptography.hazmat.primitives import serialization

    def digest(c) -> str:
        return hashlib.sha256(c.public_bytes(serialization.Encoding.DER)).hexdigest().upper()

    root = next((c for c in roots if digest(c).startswith(want)), None)
    if root is None:
        raise JoinError("the sandbox's root CA does NOT have the fingerprint you typed: someone else may be "
                        "answering. Nothing was installed.",
                        "Check the digits with the instructor; do not go on until they match.")
    if not peer_der or not _chains_to(x509.load_der_x509_certificate(peer_der), root, certs):
        raise JoinError("the server's certificate was not issued by the sandbox CA you checked. Nothing was "
                        "installed.", "Tell the instructor; do not go on.")
    return Joined(parts.netloc, want, bundle, config, str(data.get("mail_root", "")))


def _bundle_certs(bundle: bytes) -> list:
    """The certificates in the sandbox's trust bundle, read within onboard.pki.tarball's limits (the
    bundle arrives before anything about the server is checked)."""
    from cryptography import x509

    from onboard.pki.tarball import TarballError, members

    try:
        found = members(bundle)
    except TarballError as e:
        raise JoinError(f"the sandbox's trust bundle is refused: {e}.", "Tell the instructor.") from None
    out = []
    for m in found:
        name = m.info.name
        if m.data is not None and (name.endswith(".pem") or re.search(r"/?[0-9a-f]{8}\.\d$", name)):
            try:
                out.append(x509.load_pem_x509_certificate(m.data))
            except ValueError:
                continue
    return out


def _chains_to(cert, root, certs: list, depth: int = 0) -> bool:
    if depth > 5:
        return False
    if cert.issuer == root.subject:
        try:
            cert.verify_directly_issued_by(root)
            return True
        except Exception:
            return False
    for ca in certs:
        if ca.subject == cert.issuer and ca.subject != cert.subject:
            try:
                cert.verify_directly_issued_by(ca)
            except Exception:
                continue
            return _chains_to(ca, root, certs, depth + 1)
    return False


def install(joined: Joined, *, trust_dir: Path, config_path: Path,
            user: dict[str, str]) -> tuple[Path, Path | None]:
    """Install the checked trust bundle and write the trainee's configuration. Returns (config, backup)."""
    import os

    from onboard.configfile import render_config
    from onboard.pki import bundle

    with tempfile.TemporaryDirectory() as tmp:
        tarball = Path(tmp) / "sandbox-trust.tar.gz"
        tarball.write_bytes(joined.bundle)
        bundle.install(tarball, trust_dir)
    config = json.loads(json.dumps(joined.config))  # a deep copy
    config.setdefault("trust", {})["cert_dir"] = str(trust_dir)
    if user:
        config["user"] = {**config.get("user", {}), **user}
    email = user.get("email", "")
    if joined.mail_root and email and Path(joined.mail_root).parent.is_dir():
        # the sandbox runs on this machine: read its Maildir for the confirmation mail
        from onboard.sandbox.mail import mailbox_name

        config["mail"] = {"kind": "maildir", "maildir": str(Path(joined.mail_root) / mailbox_name(email))}
    backup = None
    config_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if config_path.exists():
        backup = config_path.with_name(f"{config_path.name}.backup.{datetime.now():%Y%m%d-%H%M%S}")
        os.rename(config_path, backup)
    text = _render(config, render_config)
    fd = os.open(config_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    return config_path, backup


def ssh_user_for(email: str) -> str:
    """A user name on the sandbox submit host, from the e-mail's local part."""
    local = email.split("@", 1)[0]
    name = re.sub(r"[^A-Za-z0-9._-]", "_", local).lstrip(".-") or "trainee"
    return name[:32]


def ensure_ssh_key(home: Path, data_dir: Path) -> tuple[Path | None, str]:
    """(private key file to configure, or None for ssh's defaults; the public key line).

    The user's own key in ~/.ssh if there is one; else a key made for the sandbox (ed25519, 0600 from the
    first byte, no passphrase: it opens nothing but the practice submit host)."""
    import os

    for name in ("id_ed25519", "id_ecdsa", "id_rsa"):
        pub = home / ".ssh" / f"{name}.pub"
        if pub.is_file() and (home / ".ssh" / name).is_file():
            return None, pub.read_text(encoding="utf-8").strip()
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    directory = data_dir / "ssh"
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    key_path = directory / "sandbox_ed25519"
    if not key_path.exists():
        key = ed25519.Ed25519PrivateKey.generate()
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                      serialization.NoEncryption()))
        pub = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                            serialization.PublicFormat.OpenSSH)
        pub_line = pub.decode() + " onboard-sandbox"
        (directory / "sandbox_ed25519.pub").write_text(pub_line + "\n", encoding="utf-8")
    return key_path, (directory / "sandbox_ed25519.pub").read_text(encoding="utf-8").strip()


def register_ssh_key(url: str, trust_dir: Path, user: str, public_key: str, timeout: float = 30) -> None:
    """Ask the sandbox to let this key in for `user` — over TLS now verified against the installed anchor."""
    parts = urlsplit(url if "://" in url else f"https://{url}")
    tls = ssl.create_default_context(capath=str(trust_dir))
    _, status, body = _exchange(
        parts, tls, timeout, "POST", "/portal/ssh-key", 1 << 16,
        "could not register your SSH key with the sandbox", "Tell the instructor.",
        body=json.dumps({"user": user, "public_key": public_key}),
        headers={"Content-Type": "application/json"},
    )
    if status != 200:
        raise JoinError(f"the sandbox refused your SSH key: {body[:200].decode(errors='replace')}.",
                        "Tell the instructor.")


def _render(config: dict[str, Any], render_config) -> str:
    """TOML for the config, including the nested [vos.<vo>] tables render_config does not do."""
    from onboard.toml_text import toml_value as _toml_value

    flat = {k: v for k, v in config.items() if k != "vos"}
    text = render_config(flat).replace("written by the guided first start", "written by `onboard sandbox "
                                                                            "join`")
    for vo, entry in config.get("vos", {}).items():
        text += f"\n[vos.{json.dumps(vo)}]\n"
        for k, v in entry.items():
            if isinstance(v, dict):
                inner = ", ".join(f"{json.dumps(h)} = {_toml_value(dns)}" for h, dns in v.items())
                text += f"{k} = {{ {inner} }}\n"
            else:
                text += f"{k} = {_toml_value(v)}\n"
    return text
