"""A credential in memory: the key, the end-entity certificate and its intermediates, and what it writes.

How one is read from what users have is in readers.py; what is checked before it is installed, in checks.py.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from onboard.credentials import naming
from onboard.errors import CredentialError
from onboard.pki.names import oneline, readable


def credential_error(code: int, message: str, hint: str) -> CredentialError:
    """A CredentialError whose DNs show letters, not OpenSSL's escapes."""
    return CredentialError(readable(message), hint, exit_code=code)


def public_key_der(key) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def key_id(public_key) -> str:
    """A short, stable id of a key pair: the first 16 hex digits of SHA-256 over its SubjectPublicKeyInfo."""
    return hashlib.sha256(public_key_der(public_key)).hexdigest()[:16]


def common_name(name: x509.Name) -> str:
    values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(values[-1].value) if values else ""  # the last CN, as tcsg4 takes it


@dataclass
class Credential:
    key: object  # a cryptography private key
    cert: x509.Certificate
    chain: list[x509.Certificate] = field(default_factory=list)  # intermediates, nearest issuer first
    dropped: list[x509.Certificate] = field(default_factory=list)  # roots and cross-signs left out
    friendly_name: str = ""  # as found in the input (informative only)
    source: Path | None = None

    # -- public facts (all safe to store and show) ----------------------------------------------
    @property
    def cn(self) -> str:
        return common_name(self.cert.subject)

    @property
    def subject_dn(self) -> str:
        """OpenSSL slash form, as `openssl x509 -subject -nameopt compat` prints it (what VOMS stores)."""
        return oneline(self.cert.subject)

    @property
    def issuer_dn(self) -> str:
        return oneline(self.cert.issuer)

    @property
    def serial_hex(self) -> str:
        return format(self.cert.serial_number, "X")

    @property
    def not_before(self) -> datetime:
        return self.cert.not_valid_before_utc

    @property
    def not_after(self) -> datetime:
        return self.cert.not_valid_after_utc

    @property
    def sha256(self) -> str:
        digest = hashlib.sha256(self.cert.public_bytes(serialization.Encoding.DER)).hexdigest().upper()
        return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))

    @property
    def key_id(self) -> str:
        return key_id(self.cert.public_key())

    def name(self, name_format: str, plain: str) -> str:
        return naming.stem(self.cn, self.not_before, name_format, plain)

    def package_friendly_name(self) -> str:
        return naming.friendly_name(self.cn or self.subject_dn, self.not_before)

    # -- serialisations -------------------------------------------------------------------------
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def chain_pem(self) -> bytes:
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in self.chain)

    def key_pem(self, passphrase: str) -> bytes:
        """Encrypted PKCS#8 (PBES2, PBKDF2-HMAC-SHA256, AES-256-CBC): read by GCT, both voms-proxy-inits,
        OpenSSL 1.1+."""
        return self.key.private_bytes(  # type: ignore[attr-defined]
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(_passphrase_bytes(passphrase)),
        )

    def package_p12(self, passphrase: str) -> bytes:
        """End-entity + key + intermediates, 3DES for certificates and key, SHA-1 MAC: macOS Keychain,
        Firefox/NSS and OpenSSL 3 without -legacy all read it (RC2-40 is never written)."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.serialization.pkcs12 import PBES

        enc = (
            serialization.PrivateFormat.PKCS12.encryption_builder()
            .kdf_rounds(2048)
            .key_cert_algorithm(PBES.PBESv1SHA1And3KeyTripleDESCBC)
            .hmac_hash(hashes.SHA1())
            .build(_passphrase_bytes(passphrase))
        )
        return pkcs12.serialize_key_and_certificates(
            self.package_friendly_name().encode("utf-8"), self.key, self.cert, self.chain or None, enc
        )  # type: ignore[arg-type]

    def csr_pem(self) -> bytes:
        """A request with the same key and subject, for renewal with the same key pair."""
        from cryptography.hazmat.primitives import hashes

        algorithm = None if _no_digest(self.key) else hashes.SHA256()
        csr = (
            x509.CertificateSigningRequestBuilder().subject_name(self.cert.subject).sign(self.key, algorithm)
        )  # type: ignore[arg-type]
        return csr.public_bytes(serialization.Encoding.PEM)


def _no_digest(key) -> bool:
    from cryptography.hazmat.primitives.asymmetric import ed448, ed25519

    return isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey)


def _passphrase_bytes(passphrase: str) -> bytes:
    return passphrase.encode("utf-8")
