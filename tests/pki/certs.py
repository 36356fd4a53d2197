"""Self-signed certificates with any subject, and the real openssl's view of them."""

from __future__ import annotations

import datetime as dt
import subprocess
from functools import lru_cache

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec


@lru_cache(maxsize=1)
def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def selfsigned(subject: x509.Name) -> x509.Certificate:
    now = dt.datetime.now(dt.timezone.utc)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(_key().public_key())
        .serial_number(1)
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(_key(), hashes.SHA256())
    )


def openssl_subject(openssl: str, cert: x509.Certificate, nameopt: str = "compat") -> tuple[str, str]:
    """(subject as `openssl x509 -subject -nameopt NAMEOPT` prints it, `-hash`)."""
    out = subprocess.run(
        [openssl, "x509", "-noout", "-subject", "-nameopt", nameopt, "-hash"],
        input=cert.public_bytes(serialization.Encoding.PEM),
        capture_output=True,
        check=True,
    ).stdout.decode("utf-8")
    subject, digest = out.splitlines()
    return subject.removeprefix("subject="), digest
