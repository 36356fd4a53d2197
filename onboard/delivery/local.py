"""What onboard knows locally about the credential it delivers, and the PEM files it can make itself
(in memory only) when the submit host has no usable openssl."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from onboard.errors import CredentialError, Exit


@dataclass
class Package:
    path: Path
    data: bytes
    sha256: str  # of the .p12 file as uploaded
    cert_der: bytes
    cert_sha256: str  # of the DER certificate (what `openssl x509 -fingerprint -sha256` shows)
    spki_sha256: str  # of the public key: a key matches the certificate when its own is the same
    subject: str

    def pem_files(self, passphrase: str) -> tuple[bytes, bytes]:
        """usercert.pem and userkey.pem (PKCS#8, AES-256) made here, in memory."""
        from cryptography.hazmat.primitives import serialization

        key, cert, _chain = _load(self.path, self.data, passphrase)
        cert_pem = cert.public_bytes(serialization.Encoding.PEM)
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(passphrase.encode()),
        )
        return cert_pem, key_pem


def _load(path: Path, data: bytes, passphrase: str):
    from cryptography.hazmat.primitives.serialization import pkcs12

    try:
        key, cert, chain = pkcs12.load_key_and_certificates(data, passphrase.encode())
    except ValueError:
        raise CredentialError(
            f"{path}: the passphrase does not open this package (or it is damaged).",
            "Give the passphrase you chose when onboard converted your certificate.",
            exit_code=Exit.WRONG_PASSPHRASE,
        ) from None
    if key is None or cert is None:
        raise CredentialError(
            f"{path}: the package lacks the private key or the certificate.",
            "Run the convert step again (`onboard reset` then `onboard start`), or give the CA's PKCS#12.",
            exit_code=Exit.NO_PRIVATE_KEY,
        )
    return key, cert, chain


def spki_sha256(public_key) -> str:
    from cryptography.hazmat.primitives import serialization

    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def load_package(path: Path, passphrase: str) -> Package:
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise CredentialError(
            f"{path}: cannot be read ({e.strerror}).",
            "The convert step makes this package; run it again if the file is gone.",
        ) from None
    key, cert, _ = _load(path, data, passphrase)
    return _described(Path(path), data, key, cert)


def made_package(path: Path, key, cert) -> Package:
    """The package the convert step has just written from this key and certificate, described without
    opening it again: opening checks the RSA key (tens of milliseconds), which the convert step did."""
    return _described(Path(path), Path(path).read_bytes(), key, cert)


def _described(path: Path, data: bytes, key, cert) -> Package:
    from cryptography.hazmat.primitives import serialization

    der = cert.public_bytes(serialization.Encoding.DER)
    if spki_sha256(key.public_key()) != spki_sha256(cert.public_key()):
        raise CredentialError(
            f"{path}: the key in the package does not belong to its certificate.",
            "Convert the CA's PKCS#12 again.",
            exit_code=Exit.KEY_MISMATCH,
        )
    return Package(
        path=path,
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
        cert_der=der,
        cert_sha256=hashlib.sha256(der).hexdigest(),
        spki_sha256=spki_sha256(cert.public_key()),
        subject=cert.subject.rfc4514_string(),
    )


def cert_sha256_of_pem(data: bytes) -> str | None:
    """Fingerprint of the first certificate in a PEM file, or None if there is none."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        cert = x509.load_pem_x509_certificate(data)
    except ValueError:
        return None
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def key_spki_sha256(data: bytes, passphrase: str) -> str | None:
    """The public-key hash of an (encrypted) PEM private key, decrypted in memory (None: it does not open)."""
    from cryptography.hazmat.primitives import serialization

    # only the public half is compared: the (slow) RSA consistency check adds nothing here
    try:
        key = serialization.load_pem_private_key(
            data, passphrase.encode(), unsafe_skip_rsa_key_validation=True
        )
    except (ValueError, TypeError):
        try:  # an unencrypted key (someone's old one) loads without a password
            key = serialization.load_pem_private_key(data, None, unsafe_skip_rsa_key_validation=True)
        except (ValueError, TypeError):
            return None
    return spki_sha256(key.public_key())
