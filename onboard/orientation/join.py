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

MAX_ANSWER = 8 << 20  # the join answer is refused past this, before any parsing
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
    root_pem: str = ""  # the root with the fingerprint read aloud: what later requests are verified against


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
    """Fetch the join point and prove it comes from the sandbox whose root CA has `fingerprint`.

    Two requests: the first (not verified: nothing is trusted yet) only finds, in the bundle, the root with
    the fingerprint read aloud; the second is TLS verified against that root alone, host name and serverAuth
    included (a trainee's certificate from the same CA cannot pass for the server), and only its answer is
    used."""
    want = normalise_fingerprint(fingerprint)
    parts = urlsplit(url if "://" in url else f"https://{url}")
    if parts.scheme != "https" or not parts.hostname:
        raise UsageError(f"{url} is not an https:// address.", "Give the address the instructor shows, "
                         "e.g. https://instructor.example.org:8444.")
    blind = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    blind.check_hostname = False
    blind.verify_mode = ssl.CERT_NONE  # only to find the root by its fingerprint; nothing from it is used
    _, bundle, _ = _join_answer(url, parts, blind, timeout)
    root = _root_with(_bundle_certs(bundle), want)
    from cryptography.hazmat.primitives import serialization

    checked = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies the chain, the host name and serverAuth
    checked.load_verify_locations(cadata=root.public_bytes(serialization.Encoding.PEM).decode())
    try:
        data, bundle, config = _join_answer(url, parts, checked, timeout)
    except JoinError as e:
        if "CERTIFICATE_VERIFY_FAILED" in e.message or "certificate" in e.message.lower():
            raise JoinError("the server's certificate is not a server certificate for "
                            f"{parts.hostname} issued under the sandbox CA you checked. Nothing was "
                            "installed.", "Tell the instructor; do not go on.") from None
        raise
    certs = _bundle_certs(bundle)
    if _root_with(certs, want) != root:
        raise JoinError("the sandbox's answer changed between two requests. Nothing was installed.",
                        "Tell the instructor; do not go on.")
    return Joined(parts.netloc, want, _only_under(bundle, root, certs), server_config(config, parts),
                  _mail_root(data.get("mail_root"), parts),
                  root.public_bytes(serialization.Encoding.PEM).decode())


def _join_answer(url: str, parts: Any, context: ssl.SSLContext, timeout: float) -> tuple[dict, bytes, Any]:
    _, status, body = _exchange(
        parts, context, timeout, "GET", "/onboard/join", MAX_ANSWER, f"cannot reach the sandbox at {url}",
        "Check the address and that you are on the same network as the instructor.",
        headers={"Accept": "application/json"},
    )
    if status != 200:
        raise JoinError(f"{url} answered {status} to the join request.", "Check the address with the "
                                                                              "instructor.")
    try:
        if len(body) >= MAX_ANSWER:
            raise ValueError("too large")
        data = json.loads(body)
        bundle = base64.b64decode(data["trust_bundle"], validate=True)
        return data, bundle, data["config"]
    except (ValueError, KeyError, TypeError, RecursionError):
        raise JoinError(f"{url} did not answer like an onboard sandbox.", "Check the address with the "
                                                                          "instructor.") from None


def _digest(cert) -> str:
    from cryptography.hazmat.primitives import serialization

    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest().upper()


def _root_with(certs: list, want: str):
    root = next((c for c in certs if c.issuer == c.subject and _digest(c).startswith(want)), None)
    if root is None:
        raise JoinError("the sandbox's root CA does NOT have the fingerprint you typed: someone else may be "
                        "answering. Nothing was installed.",
                        "Check the digits with the instructor; do not go on until they match.")
    return root


def _only_under(bundle: bytes, root, certs: list) -> bytes:
    """The trust bundle cut down to the checked root and the CAs it signed (directly or through each other),
    with their policy files and hash links: another root the server slipped in is never installed."""
    import io
    import tarfile

    from cryptography import x509

    from onboard.pki.tarball import members

    keep_certs = [c for c in certs if c == root or (_is_ca(c) and _chains_to(c, root, certs))]
    keep: set[str] = set()
    found = members(bundle)
    for m in found:
        name = m.info.name
        if m.data is not None and name.endswith(".pem"):
            try:
                if x509.load_pem_x509_certificate(m.data) in keep_certs:
                    keep.add(name.removesuffix(".pem"))
            except ValueError:
                continue
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tf:
        for m in found:
            name = m.info.name
            stem = name.rsplit(".", 1)[0]
            if m.info.issym() and str(Path(name).parent / m.info.linkname).rsplit(".", 1)[0] in keep:
                tf.addfile(m.info)
            elif m.data is not None and stem in keep:
                tf.addfile(m.info, io.BytesIO(m.data))
    return out.getvalue()


# What the server's configuration may set, and nothing else: never a *_command, a file of the trainee's,
# or a section onboard would act on without asking (credentials, delivery, hooks...).
SERVER_KEYS = {
    "vo": str,
    "user": {"institution": str, "phone": str, "address": str},
    "ca": {"provider": str, "portal_url": str},
    "submit_host": {"host": str, "port": int, "x509_cert_dir": str, "trust_host_key": str},
}
VO_KEYS = {"kind": str, "url": str, "vomses": list, "lsc": dict}


def server_config(config: Any, parts: Any) -> dict[str, Any]:
    """The sandbox's configuration, limited to SERVER_KEYS (and VO entries to VO_KEYS), every value
    type-checked; the CA portal must be this very sandbox."""
    def bad(what: str) -> JoinError:
        return JoinError(f"the sandbox's configuration is refused: {what}. Nothing was installed.",
                         "Tell the instructor.")

    def take(src: Any, allowed: dict, where: str) -> dict[str, Any]:
        if not isinstance(src, dict):
            raise bad(f"{where or 'it'} is not a table")
        out: dict[str, Any] = {}
        for key, value in src.items():
            kind = allowed.get(key)
            if kind is None or str(key).endswith("_command"):
                raise bad(f"it sets {where}{key}, which a sandbox may not set")
            if isinstance(kind, dict):
                out[key] = take(value, kind, f"{where}{key}.")
            elif not isinstance(value, kind) or isinstance(value, bool):
                raise bad(f"{where}{key} is not a {kind.__name__}")
            else:
                out[key] = value
        return out

    vos = config.get("vos", {}) if isinstance(config, dict) else None
    out = take({k: v for k, v in config.items() if k != "vos"} if isinstance(config, dict) else None,
               SERVER_KEYS, "")
    if not isinstance(vos, dict):
        raise bad("vos is not a table")
    out["vos"] = {}
    for vo, entry in vos.items():
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", str(vo)):
            raise bad(f"{vo!r} is not a VO name")
        e = take(entry, VO_KEYS, f"vos.{vo}.")
        if not all(isinstance(x, str) for x in e.get("vomses", [])) or not all(
                isinstance(h, str) and isinstance(v, list) and all(isinstance(x, str) for x in v)
                for h, v in e.get("lsc", {}).items()):
            raise bad(f"vos.{vo} has a malformed vomses or lsc")
        out["vos"][vo] = e
    ca = out.get("ca", {})
    if ca.get("provider", "sandbox") != "sandbox":
        raise bad("its CA provider is not the sandbox")
    # the portal is the address the trainee joined (checked just now), whatever the server names;
    # the VOs' registration services must be on the sandbox's own host (the one the server names), over https
    home = urlsplit(ca.get("portal_url", "")).hostname
    out["ca"] = {"provider": "sandbox", "portal_url": f"https://{parts.netloc}/portal"}
    for vo, e in out["vos"].items():
        where = urlsplit(e.get("url", ""))
        if e.get("url") and (where.scheme != "https" or where.hostname not in (home, parts.hostname)):
            raise bad(f"vos.{vo}.url is not a service of this sandbox")
    cert_dir = out.get("submit_host", {}).get("x509_cert_dir", "/")
    if not re.fullmatch(r"/[A-Za-z0-9._/+-]*", cert_dir):
        raise bad("the submit host's x509_cert_dir is not a plain absolute path")
    return out


def _mail_root(value: Any, parts: Any) -> str:
    """The sandbox's Maildir root, used only when the sandbox runs on this machine (a loopback address) and
    the directory is this user's own: else a server could point onboard at any directory here."""
    import ipaddress
    import os

    if not isinstance(value, str) or not value.startswith("/"):
        return ""
    try:
        loopback = parts.hostname == "localhost" or ipaddress.ip_address(parts.hostname).is_loopback
        mine = Path(value).parent.stat().st_uid == os.getuid()
    except (ValueError, OSError):
        return ""
    return value if loopback and mine else ""


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


def _is_ca(cert) -> bool:
    from cryptography import x509

    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


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


def install(joined: Joined, *, trust_dir: Path, config_path: Path, user: dict[str, str],
            token_file: Path | None = None) -> tuple[Path, Path | None]:
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
    if token_file is not None:
        config.setdefault("ca", {})["seat_token_file"] = str(token_file)
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


def check_token(token: str) -> None:
    from onboard.sandbox.seats import TOKEN_CHARS, _normalise

    if not re.fullmatch(rf"[0-9A-Z]{{{TOKEN_CHARS}}}", _normalise(token)):
        raise UsageError("that is not a seat token (12 letters and digits, e.g. 7KQM-X2PD-9FHT).",
                         "Type the token the instructor gave you for your seat.")


def keep_token(token: str, path: Path) -> Path:
    """The seat token, for onboard's later requests to the sandbox (certificate, reports): a file of its own,
    0600 from the first byte, in onboard's own directory."""
    import os

    check_token(token)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    part = path.with_name(f".{path.name}.part")
    part.unlink(missing_ok=True)
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(token.strip() + "\n")
    os.replace(part, path)
    return path


def _post(joined: Joined, url: str, token: str, path: str, body: dict, failure: str,
          timeout: float) -> tuple[int, str]:
    """POST to the sandbox for the trainee's seat — over TLS verified against the checked root."""
    from onboard.sandbox.seats import HEADER

    parts = urlsplit(url if "://" in url else f"https://{url}")
    tls = ssl.create_default_context(cadata=joined.root_pem)
    _, status, answer = _exchange(
        parts, tls, timeout, "POST", path, 1 << 16, failure, "Tell the instructor.",
        body=json.dumps(body), headers={"Content-Type": "application/json", HEADER: token.strip()},
    )
    why = answer[:200].decode(errors="replace")
    with_json = None
    try:
        with_json = json.loads(why).get("error")
    except (ValueError, AttributeError):
        pass
    return status, str(with_json or why)


def claim_seat(joined: Joined, url: str, token: str, name: str, email: str, timeout: float = 30) -> None:
    """Bind this trainee's name and e-mail to the seat whose token the instructor gave."""
    status, why = _post(joined, url, token, "/onboard/seat", {"name": name, "email": email},
                        "could not take your seat at the sandbox", timeout)
    if status != 200:
        raise JoinError(f"the sandbox refused your seat token: {why}.",
                        "Check the token with the instructor (each seat's token is for one person).")


def register_ssh_key(joined: Joined, url: str, user: str, public_key: str, token: str,
                     timeout: float = 30) -> str:
    """Ask the sandbox to let this key in for the seat's account `user`; returns the login name the
    sandbox answers (a sandbox run as root names a real account, obx-<user>), else `user`."""
    status, why = _post(joined, url, token, "/portal/ssh-key", {"user": user, "public_key": public_key},
                        "could not register your SSH key with the sandbox", timeout)
    if status != 200:
        raise JoinError(f"the sandbox refused your SSH key: {why}.", "Tell the instructor.")
    try:
        answered = json.loads(why).get("user")
    except (ValueError, AttributeError):
        answered = None
    # only a plain login name is taken from the server (it goes into the configuration)
    if isinstance(answered, str) and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}", answered):
        return answered
    return user


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
