"""The grid trust directory (IGTF CA certificates as `<hash>.0` files) in use, and the CAs in it.

Looked for where the grid tools look (GCT's order): the configured directory (config trust.cert_dir),
X509_CERT_DIR, ~/.globus/certificates, /etc/grid-security/certificates. `find` is the first that exists
(for what only informs: `onboard trust`, the doctor, warnings); `require` is strict, for what must verify
a server: a directory named explicitly (configuration or X509_CERT_DIR) that is missing is an error,
never silently replaced by the next one. A CA is found by its subject hash (`<hash>.0`, `<hash>.1`, ...
as c_rehash names them) and confirmed by its DN or its signature.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from onboard.errors import Exit, OnboardError
from onboard.pki import names

SYSTEM_DIR = Path("/etc/grid-security/certificates")
EXPLICIT = ("config trust.cert_dir", "X509_CERT_DIR")  # named by the user: missing is an error
_HASH_NAME = re.compile(r"[0-9a-f]{8}\.\d")


class TrustError(OnboardError):
    exit_code = Exit.TRUST


@dataclass
class Candidate:
    path: Path
    why: str


def candidates(
    configured: str | Path | None = None, environ: dict[str, str] | None = None
) -> list[Candidate]:
    env = os.environ if environ is None else environ
    out = []
    if configured:
        out.append(Candidate(Path(configured).expanduser(), "config trust.cert_dir"))
    if env.get("X509_CERT_DIR"):
        out.append(Candidate(Path(env["X509_CERT_DIR"]).expanduser(), "X509_CERT_DIR"))
    home = Path(env.get("HOME") or Path.home())
    out.append(Candidate(home / ".globus" / "certificates", "~/.globus/certificates"))
    out.append(Candidate(SYSTEM_DIR, "/etc/grid-security/certificates"))
    return out


def find(configured: str | Path | None = None, environ: dict[str, str] | None = None) -> Candidate | None:
    """The first trust directory that exists, in the order grid tools use."""
    return next((c for c in candidates(configured, environ) if c.path.is_dir()), None)


def require(
    configured: str | Path | None = None,
    environ: dict[str, str] | None = None,
    error: type[OnboardError] = TrustError,
) -> Path:
    """The trust directory to verify servers against; `error` (a one-line message and a hint) when the
    directory named in the configuration or X509_CERT_DIR is missing, or when there is none at all."""
    for c in candidates(configured, environ):
        if c.path.is_dir():
            return c.path
        if c.why in EXPLICIT:
            raise error(
                f"the trust directory {c.path} ({c.why}) does not exist.",
                "Point it at a directory of CA certificates (<hash>.0 files), e.g. the IGTF bundle; "
                "`onboard trust` says how to install one.",
            )
    raise error(
        "no grid trust directory found (X509_CERT_DIR, ~/.globus/certificates, "
        "/etc/grid-security/certificates).",
        "Install the IGTF trust anchors (`onboard trust` says how), or set trust.cert_dir.",
    )


def load_cert(path: Path) -> Any:
    """The first certificate in a PEM or DER file."""
    import warnings

    from cryptography import x509

    data = path.read_bytes()
    with warnings.catch_warnings():  # old roots with odd serials are still roots
        warnings.simplefilter("ignore")
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)


def _load_all(path: Path) -> list:
    from cryptography import x509

    try:
        data = path.read_bytes()
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(data)]
    except (OSError, ValueError):
        return []


def count_cas(directory: Path) -> int:
    try:
        return sum(1 for p in directory.iterdir() if _HASH_NAME.fullmatch(p.name))
    except OSError:
        return 0


@dataclass
class Found:
    path: Path
    subject: str
    not_after: datetime | None


def find_ca(directory: Path, dn: str | Any) -> Found | None:
    """The CA certificate with this subject (slash DN or x509.Name) in `directory`: looked up by hash,
    confirmed by DN; a directory without hash links is searched whole."""
    try:
        h = names.subject_hash(dn if not isinstance(dn, str) else names.name_from_oneline(dn))
    except ValueError:
        h = None
    want = names.dn_key(dn)
    paths = [p for p in (directory / f"{h}.{i}" for i in range(10)) if p.exists()] if h else []
    if not paths:
        try:
            paths = sorted(
                p for p in directory.iterdir() if p.suffix == ".pem" or _HASH_NAME.fullmatch(p.name)
            )
        except OSError:
            return None
    for p in paths:
        try:
            cert = load_cert(p)
        except (OSError, ValueError):
            continue
        if names.dn_key(cert.subject) == want:
            return Found(p, names.oneline(cert.subject), cert.not_valid_after_utc)
    return None


def require_ca(configured: str | Path | None, dn: str, what: str = "the server's CA") -> Found:
    """The CA with this DN from the trust directory in use, or a TrustError saying how to get it."""
    where = find(configured)
    if where is None:
        raise TrustError(
            "no grid trust directory: none of X509_CERT_DIR, ~/.globus/certificates, "
            "/etc/grid-security/certificates exists.",
            "Run `onboard trust` for how to install the IGTF trust anchors on this system.",
        )
    found = find_ca(where.path, dn)
    if found is None:
        raise TrustError(
            f"{what} ({dn}) is not in the trust directory {where.path}.",
            "Run `onboard trust` for how to install the IGTF trust anchors, or "
            "`onboard trust --install TARBALL`.",
        )
    return found


def find_issuer(cert: Any, directory: Path) -> Any:
    """The CA certificate in `directory` that issued `cert` (by hash file, then by scanning), or None."""

    def issued(ca) -> bool:
        if ca.subject != cert.issuer:
            return False
        try:
            cert.verify_directly_issued_by(ca)
        except Exception:  # wrong key, unsupported algorithm: not this one
            return False
        return True

    h = names.subject_hash(cert.issuer)
    tried: set[Path] = set()
    for i in range(10):
        path = directory / f"{h}.{i}"
        if not path.exists():
            break
        tried.add(path.resolve())
        for ca in _load_all(path):
            if issued(ca):
                return ca
    for path in sorted(directory.iterdir()) if directory.is_dir() else []:
        if path.suffix not in (".pem", ".crt") or path.resolve() in tried:
            continue
        for ca in _load_all(path):
            if issued(ca):
                return ca
    return None


def configured(cfg: Any) -> Path | None:
    """trust.cert_dir of a configuration (None when there is no configuration or no such key)."""
    return getattr(getattr(cfg, "trust", None), "cert_dir", None)
