"""A tiny PKI for these tests: a CA, a personal certificate, its PKCS#12 as a portal hands it out."""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

OIDS = {"DC": NameOID.DOMAIN_COMPONENT, "C": NameOID.COUNTRY_NAME, "O": NameOID.ORGANIZATION_NAME,
        "OU": NameOID.ORGANIZATIONAL_UNIT_NAME, "CN": NameOID.COMMON_NAME, "L": NameOID.LOCALITY_NAME}


def name(*parts: tuple[str, str]) -> x509.Name:
    return x509.Name([x509.NameAttribute(OIDS[k], v) for k, v in parts])


def key(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def ca(subject: x509.Name, signer=None, signer_key=None, days: int = 365):
    k = key()
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(signer.subject if signer else subject)
            .public_key(k.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(signer_key or k, hashes.SHA256()))
    return cert, k


def leaf(subject: x509.Name, issuer, issuer_key, public_key=None):
    k = None if public_key else key()
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer.subject)
            .public_key(public_key or k.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=300))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(issuer_key, hashes.SHA256()))
    return cert, k


def p12(cert, k, passphrase: str, chain=None) -> bytes:
    enc = (serialization.PrivateFormat.PKCS12.encryption_builder()
           .key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC).hmac_hash(hashes.SHA1())
           .build(passphrase.encode()))
    return pkcs12.serialize_key_and_certificates(b"Jane Doe", k, cert, chain, enc)


def pem(cert) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def user_p12(passphrase: str = "correct horse battery") -> bytes:
    root, root_key = ca(name(("DC", "org"), ("DC", "example"), ("CN", "Example Personal CA")))
    cert, k = leaf(name(("DC", "org"), ("DC", "example"), ("CN", "Jane Doe")), root, root_key)
    return p12(cert, k, passphrase, [root])
