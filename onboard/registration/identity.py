"""The user's identity as registration servers see it: OpenSSL slash DNs (VOMS) and RFC 2253 (IAM),
both rendered by onboard.pki.names."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from onboard.pki.names import oneline, rfc2253


@dataclass
class CertIdentity:
    subject: str  # OpenSSL slash form
    issuer: str
    rfc2253_subject: str
    rfc2253_issuer: str
    email: str = ""


def read_identity(cert_path: Path) -> CertIdentity:
    """Subject and issuer of the end-entity certificate in `cert_path` (the first certificate in it)."""
    from cryptography import x509
    from cryptography.x509.oid import ExtensionOID, NameOID

    data = Path(cert_path).read_bytes()
    cert = (
        x509.load_pem_x509_certificates(data)[0]
        if b"-----BEGIN" in data
        else x509.load_der_x509_certificate(data)
    )
    email = ""
    mails = cert.subject.get_attributes_for_oid(NameOID.EMAIL_ADDRESS)
    if mails:
        email = str(mails[0].value)
    else:
        try:
            san = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
            names = san.get_values_for_type(x509.RFC822Name)
            email = names[0] if names else ""
        except x509.ExtensionNotFound:
            pass
    return CertIdentity(
        oneline(cert.subject),
        oneline(cert.issuer),
        rfc2253(cert.subject),
        rfc2253(cert.issuer),
        email,
    )
