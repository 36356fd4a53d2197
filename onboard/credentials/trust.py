"""The grid trust directory (IGTF CA certificates as `<hash>.0` files) and whether it holds an issuer.

Lookup order as GCT's: the configured directory, X509_CERT_DIR, ~/.globus/certificates,
/etc/grid-security/certificates. The `<hash>` is OpenSSL's subject name hash (`openssl x509 -hash`),
computed here from the canonical name encoding so that no openssl process is needed.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from onboard.credentials import der

SYSTEM_DIR = Path("/etc/grid-security/certificates")
# string types OpenSSL canonicalises (ASN1_MASK_CANON): UTF8, BMP, Universal, Printable, T61, IA5, Visible
_CANON = {
    0x0C: "utf-8",
    0x1E: "utf-16-be",
    0x1C: "utf-32-be",
    0x13: "latin-1",
    0x14: "latin-1",
    0x16: "latin-1",
    0x1A: "latin-1",
}
_SPACE = b" \t\n\v\f\r"


def candidates(
    configured: Path | None = None, environ: dict[str, str] | None = None
) -> list[tuple[str, Path]]:
    env = os.environ if environ is None else environ
    out: list[tuple[str, Path]] = []
    if configured:
        out.append(("config trust.cert_dir", Path(configured).expanduser()))
    if env.get("X509_CERT_DIR"):
        out.append(("X509_CERT_DIR", Path(env["X509_CERT_DIR"])))
    home = Path(env.get("HOME") or Path.home())
    out.append(("~/.globus/certificates", home / ".globus" / "certificates"))
    out.append(("/etc/grid-security/certificates", SYSTEM_DIR))
    return out


def find_dir(configured: Path | None = None, environ: dict[str, str] | None = None) -> Path | None:
    """The trust directory grid tools would use: the first candidate that exists."""
    for _, path in candidates(configured, environ):
        if path.is_dir():
            return path
    return None


def _der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def _tlv(tag: int, value: bytes) -> bytes:
    return bytes([tag]) + _der_len(len(value)) + value


def _canon_value(tag: int, value: bytes) -> bytes:
    codec = _CANON.get(tag)
    if codec is None:
        return _tlv(tag, value)
    text = value.decode(codec, "replace").encode("utf-8")
    text = text.strip(_SPACE)
    text = re.sub(rb"[ \t\n\v\f\r]+", b" ", text)
    text = bytes(b + 32 if 0x41 <= b <= 0x5A else b for b in text)
    return _tlv(0x0C, text)


def subject_hash(name_der: bytes) -> str:
    """OpenSSL's X509_NAME_hash (the `<hash>` of `<hash>.0`), eight lowercase hex digits."""
    canon = b""
    for rdn in der.expect(der.read(name_der), der.SEQUENCE, "name").children():
        members = []
        for atv in rdn.children():
            typ, val = atv.children()[:2]
            members.append(_tlv(der.SEQUENCE, _tlv(der.OID, typ.value) + _canon_value(val.tag, val.value)))
        canon += _tlv(der.SET, b"".join(sorted(members)))
    digest = hashlib.sha1(canon).digest()
    return f"{int.from_bytes(digest[:4], 'little'):08x}"


def find_issuer(cert, directory: Path):
    """The CA certificate in `directory` that issued `cert` (by hash file, then by scanning), or None."""
    from cryptography import x509

    def issued(ca) -> bool:
        if ca.subject != cert.issuer:
            return False
        try:
            cert.verify_directly_issued_by(ca)
        except Exception:  # wrong key, unsupported algorithm: not this one
            return False
        return True

    h = subject_hash(cert.issuer.public_bytes())
    tried: set[Path] = set()
    for i in range(10):
        path = directory / f"{h}.{i}"
        if not path.exists():
            break
        tried.add(path.resolve())
        for ca in _read_certs(path, x509):
            if issued(ca):
                return ca
    for path in sorted(directory.iterdir()) if directory.is_dir() else []:
        if path.suffix not in (".pem", ".crt") or path.resolve() in tried:
            continue
        for ca in _read_certs(path, x509):
            if issued(ca):
                return ca
    return None


def _read_certs(path: Path, x509) -> list:
    try:
        data = path.read_bytes()
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(data)]
    except (OSError, ValueError):
        return []
