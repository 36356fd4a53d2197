"""What is checked of a credential before it is installed: what makes it unusable (an error), what deserves
attention (a warning), and whether its issuer is in the grid trust directory.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import dsa, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from onboard.credentials.model import Credential
from onboard.credentials.model import credential_error as _err
from onboard.errors import Exit

MIN_RSA_BITS = 2048
WARN_DAYS = 30


def check(cred: Credential, now: datetime) -> list[str]:
    """Raise for what makes the credential unusable; return warnings for what merely deserves attention."""
    what = cred.subject_dn
    if now < cred.not_before:
        raise _err(
            Exit.VALIDITY,
            f"the certificate {what} is not valid yet (from {cred.not_before:%Y-%m-%d %H:%M} UTC).",
            "Check this computer's clock, or wait until then.",
        )
    if now > cred.not_after:
        raise _err(
            Exit.VALIDITY,
            f"the certificate {what} expired on {cred.not_after:%Y-%m-%d} (UTC).",
            "Request a new certificate from your CA (onboard start --vo VO walks you through it).",
        )
    pub = cred.cert.public_key()
    if isinstance(pub, rsa.RSAPublicKey | dsa.DSAPublicKey) and pub.key_size < MIN_RSA_BITS:
        kind = "RSA" if isinstance(pub, rsa.RSAPublicKey) else "DSA"
        raise _err(
            Exit.WEAK_KEY,
            f"the certificate's {kind} key has {pub.key_size} bits; grid services require "
            f"at least {MIN_RSA_BITS}.",
            "Request a new certificate with a 3072-bit RSA key (onboard keygen makes one).",
        )
    try:
        eku = cred.cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        eku = None
    if eku is not None and not (
        {ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE} & set(eku)
    ):
        raise _err(
            Exit.NOT_CLIENT_AUTH,
            f"the certificate {what} is not for client authentication "
            "(its extended key usage lacks clientAuth).",
            "This is a server or e-mail-only certificate; request a personal (IGTF) certificate instead.",
        )
    try:
        ku = cred.cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        ku = None
    if ku is not None and not ku.digital_signature:
        raise _err(
            Exit.NOT_CLIENT_AUTH,
            f"the certificate {what} may not sign (no digitalSignature key usage), "
            "so it cannot authenticate a client or sign a proxy.",
            "Request a personal (IGTF) certificate for client authentication instead.",
        )
    warnings = []
    left = cred.not_after - now
    if left < timedelta(days=WARN_DAYS):
        warnings.append(
            f"the certificate expires in {max(left.days, 0)} days ({cred.not_after:%Y-%m-%d}); renew it soon."
        )
    return warnings


def trust_warning(cred: Credential, configured: Path | None) -> str | None:
    """A warning when grid tools will not find the credential's issuer in a trust directory."""
    from onboard.pki import trustdirs

    found = trustdirs.find(configured)
    if found is None:
        return (
            "no grid trust directory found (X509_CERT_DIR, ~/.globus/certificates, "
            "/etc/grid-security/certificates); grid tools will need your CA's IGTF bundle."
        )
    if trustdirs.find_issuer(cred.cert, found.path) is None:
        return (
            f"the issuer {cred.issuer_dn} is not in the trust directory {found.path}; "
            "install your CA's IGTF bundle there."
        )
    return None
