"""Keys made locally (`onboard keygen`) for CAs that take a CSR, kept encrypted in onboard's data directory.

Layout: <data_dir>/keys/ (0700) with key-<id>.pem (encrypted PKCS#8, 0600) and request-<id>.pem (0644),
where <id> is the key pair's id (credentials.model.key_id). When the CA issues the certificate,
`onboard convert --cert ISSUED.pem` finds the key by the certificate's public key, with no search.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from onboard import paths
from onboard.credentials import files
from onboard.credentials.model import key_id
from onboard.errors import CredentialError, Exit, UsageError

DEFAULT_RSA_BITS = 3072


@dataclass
class StoredKey:
    id: str
    key: Path
    csr: Path
    csr_pem: bytes
    subject: x509.Name


def keys_dir(data_dir: Path | None = None) -> Path:
    return (data_dir or paths.data_dir()) / "keys"


def parse_subject(text: str) -> x509.Name:
    """'/DC=org/DC=example/CN=Jane Doe' (grid slash form) or 'CN=Jane Doe,DC=example,DC=org' (RFC 4514)."""
    text = text.strip()
    if not text:
        raise UsageError("the subject is empty.", "Give e.g. --subject '/DC=org/DC=example/CN=Jane Doe'.")
    try:
        if text.startswith("/"):
            from onboard.pki.names import name_from_oneline

            return name_from_oneline(text)
        return x509.Name.from_rfc4514_string(text, {"emailAddress": x509.NameOID.EMAIL_ADDRESS})
    except ValueError as e:
        raise UsageError(
            f"cannot read the subject '{text}' ({e}).",
            "Write it as /DC=org/DC=example/CN=Jane Doe (or the form your CA shows).",
        ) from None


def generate(
    subject: x509.Name,
    passphrase: str,
    *,
    kind: str = "rsa",
    bits: int = DEFAULT_RSA_BITS,
    data_dir: Path | None = None,
) -> StoredKey:
    """A new key pair (RSA 3072 or EC P-256) and its CSR, the key stored encrypted (0600)."""
    if kind == "rsa":
        if bits < 2048:
            raise UsageError(f"an RSA key of {bits} bits is too weak.", "Use 3072 (the default) or more.")
        key = rsa.generate_private_key(65537, bits)
    elif kind == "ec":
        key = ec.generate_private_key(ec.SECP256R1())
    else:
        raise UsageError(f"unknown key type {kind!r}.", "Use rsa or ec.")
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    kid = key_id(key.public_key())
    directory = paths.ensure_private_dir(keys_dir(data_dir))
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase.encode("utf-8")),
    )
    csr_pem = csr.public_bytes(serialization.Encoding.PEM)
    from datetime import datetime

    with files.Transaction(directory, datetime.now().strftime("%Y%m%d-%H%M%S")) as tx:
        tx.write(f"key-{kid}.pem", key_pem, files.KEY_MODE)
        tx.write(f"request-{kid}.pem", csr_pem, files.CERT_MODE)
        tx.commit()
    return StoredKey(kid, directory / f"key-{kid}.pem", directory / f"request-{kid}.pem", csr_pem, subject)


def find_for(cert: x509.Certificate, data_dir: Path | None = None) -> Path:
    """The stored key of this certificate; a CredentialError saying so if onboard never made it."""
    kid = key_id(cert.public_key())
    path = keys_dir(data_dir) / f"key-{kid}.pem"
    if not path.is_file():
        raise CredentialError(
            f"onboard holds no key for this certificate (key id {kid}) in {keys_dir(data_dir)}.",
            "Give the key with --key FILE, or convert the PKCS#12 the CA gave instead.",
            exit_code=Exit.NO_PRIVATE_KEY,
        )
    return path
