"""The client of a sandbox server as VOMS-Admin sees it: its DN (onboard.pki.names.oneline, the form
VOMS stores), its e-mail, and for a proxy the end-entity certificate it derives from."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.x509.oid import NameOID, ObjectIdentifier

from onboard.pki.names import oneline

if TYPE_CHECKING:
    from onboard.sandbox.identity import ClientIdentity

PROXY_CERT_INFO = ObjectIdentifier("1.3.6.1.5.5.7.1.14")


# -- the client as VOMS-Admin sees it -----------------------------------------------------------------


def email_of(cert: x509.Certificate) -> str | None:
    for attr in cert.subject.get_attributes_for_oid(NameOID.EMAIL_ADDRESS):
        return str(attr.value)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    emails = san.get_values_for_type(x509.RFC822Name)
    return emails[0] if emails else None


def is_proxy(cert: x509.Certificate) -> bool:
    try:
        cert.extensions.get_extension_for_oid(PROXY_CERT_INFO)
        return True
    except x509.ExtensionNotFound:
        pass
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return bool(cns) and cns[-1].value in ("proxy", "limited proxy")


def identity_from_der(der: bytes, index: dict[str, str]) -> ClientIdentity:
    """The requester: subject/issuer of the end-entity certificate; for a proxy, the EEC it derives from.

    Python's ssl module exposes only the leaf of the verified chain, so for a proxy the EEC subject is the
    proxy's issuer with proxy CN components removed, and its issuer comes from `index` (subject -> issuer
    of every certificate the sandbox CA issued).
    """
    from onboard.sandbox.identity import ClientIdentity

    cert = x509.load_der_x509_certificate(der)
    if not is_proxy(cert):
        return ClientIdentity(oneline(cert.subject), oneline(cert.issuer), email_of(cert), der)
    subject = oneline(cert.issuer)
    while subject not in index and "/CN=" in subject:
        subject = subject.rsplit("/CN=", 1)[0]
    return ClientIdentity(subject, index.get(subject, ""), None, der, is_proxy=True)
