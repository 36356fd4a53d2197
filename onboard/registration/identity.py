"""The user's identity as registration servers see it: OpenSSL slash DNs (VOMS) and RFC 2253 (IAM)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# OpenSSL's short names, as X509_NAME_oneline prints them (what VOMS-Admin and vomsd store)
_SHORT = {
    "2.5.4.6": "C",
    "2.5.4.8": "ST",
    "2.5.4.7": "L",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "2.5.4.3": "CN",
    "0.9.2342.19200300.100.1.25": "DC",
    "1.2.840.113549.1.9.1": "emailAddress",
    "0.9.2342.19200300.100.1.1": "UID",
    "2.5.4.5": "serialNumber",
    "2.5.4.4": "SN",
    "2.5.4.42": "GN",
    "2.5.4.12": "title",
    "2.5.4.9": "street",
    "2.5.4.17": "postalCode",
    "2.5.4.46": "dnQualifier",
    "2.5.4.65": "pseudonym",
    "2.5.4.43": "initials",
}


def openssl_dn(name) -> str:
    """A cryptography x509.Name in OpenSSL's oneline form: /DC=org/DC=example/CN=Jane Doe (DER order)."""
    parts = []
    for rdn in name.rdns:
        for attr in rdn:
            key = _SHORT.get(attr.oid.dotted_string, attr.oid.dotted_string)
            value = attr.value if isinstance(attr.value, str) else attr.value.hex()
            # OpenSSL prints bytes outside printable ASCII as \\xHH
            value = "".join(chr(b) if 0x20 <= b <= 0x7E else f"\\x{b:02X}" for b in value.encode("utf-8"))
            parts.append(f"{key}={value}")
    return "/" + "/".join(parts)


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
        openssl_dn(cert.subject),
        openssl_dn(cert.issuer),
        cert.subject.rfc4514_string(),
        cert.issuer.rfc4514_string(),
        email,
    )
