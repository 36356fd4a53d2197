"""Test PKI for the credential tests: a root, two intermediates, personal certificates, and PKCS#12 files
made by the real `openssl pkcs12 -export` (with and without -legacy)."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PASSPHRASE = "correct horse battery"  # 21 characters, with spaces
NOW = dt.datetime.now(dt.timezone.utc)


def dn(*parts: tuple[str, str]) -> x509.Name:
    oids = {
        "DC": NameOID.DOMAIN_COMPONENT,
        "O": NameOID.ORGANIZATION_NAME,
        "CN": NameOID.COMMON_NAME,
        "C": NameOID.COUNTRY_NAME,
    }
    return x509.Name([x509.NameAttribute(oids[k], v) for k, v in parts])


_KEYS: dict[int, list] = {}


def new_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


@dataclass
class Cert:
    cert: x509.Certificate
    key: rsa.RSAPrivateKey

    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self, passphrase: str | None = None) -> bytes:
        enc = (
            serialization.BestAvailableEncryption(passphrase.encode())
            if passphrase
            else serialization.NoEncryption()
        )
        return self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def issue(
    subject: x509.Name,
    issuer: Cert | None,
    *,
    ca: bool = False,
    key: rsa.RSAPrivateKey | None = None,
    not_before: dt.datetime | None = None,
    days: int = 395,
    eku=(ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.EMAIL_PROTECTION),
    digital_signature: bool = True,
    serial: int | None = None,
) -> Cert:
    key = key or new_key()
    nb = not_before or (NOW - dt.timedelta(days=1))
    b = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(serial or x509.random_serial_number())
        .not_valid_before(nb)
        .not_valid_after(nb + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if ca:
        b = b.add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    else:
        b = b.add_extension(
            x509.KeyUsage(
                digital_signature=digital_signature,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=True,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        if eku:
            b = b.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
    signer = issuer.key if issuer else key
    return Cert(b.sign(signer, hashes.SHA256()), key)


@dataclass
class PKI:
    root: Cert
    int1: Cert
    int2: Cert
    dir: Path
    trust: Path

    def user(self, cn: str, **kw) -> Cert:
        return issue(
            dn(("DC", "org"), ("DC", "onboard-test"), ("O", "Test Users"), ("CN", cn)), self.int2, **kw
        )

    def p12(
        self,
        user: Cert,
        name: str,
        *,
        legacy: bool = False,
        chain: bool = True,
        passphrase: str = PASSPHRASE,
        friendly: str | None = None,
        extra: list[Cert] | None = None,
        nokeys: bool = False,
    ) -> Path:
        """`openssl pkcs12 -export` the way a CA portal or OpenSSL 1.x (-legacy) would."""
        work = self.dir / f"work-{name}"
        work.mkdir(exist_ok=True)
        (work / "cert.pem").write_bytes(user.pem())
        (work / "key.pem").write_bytes(user.key_pem(passphrase))
        certs = ([self.int2, self.int1, self.root] if chain else []) + (extra or [])
        pw, pw_out = work / "pw", work / "pw-out"  # openssl reads line 2 when both name the same file
        pw.write_text(passphrase + "\n")
        pw_out.write_text(passphrase + "\n")
        out = self.dir / name
        cmd = [
            "openssl",
            "pkcs12",
            "-export",
            "-in",
            str(work / "cert.pem"),
            "-out",
            str(out),
            "-passin",
            f"file:{pw}",
            "-passout",
            f"file:{pw_out}",
        ]
        if nokeys:
            cmd.append("-nokeys")
        else:
            cmd += ["-inkey", str(work / "key.pem")]
        if certs:
            (work / "chain.pem").write_bytes(b"".join(c.pem() for c in certs))
            cmd += ["-certfile", str(work / "chain.pem")]
        if legacy:
            cmd.append("-legacy")
        if friendly:
            cmd += ["-name", friendly]
        subprocess.run(cmd, check=True, capture_output=True)
        return out


def make_pki(base: Path) -> PKI:
    base.mkdir(parents=True, exist_ok=True)
    root = issue(
        dn(("DC", "org"), ("DC", "onboard-test"), ("CN", "Onboard Test Root CA")), None, ca=True, days=3650
    )
    int1 = issue(
        dn(("DC", "org"), ("DC", "onboard-test"), ("CN", "Onboard Test Intermediate 1")),
        root,
        ca=True,
        days=3000,
    )
    int2 = issue(
        dn(("DC", "org"), ("DC", "onboard-test"), ("CN", "Onboard Test Issuing CA 2")),
        int1,
        ca=True,
        days=2000,
    )
    trust = base / "certificates"
    trust.mkdir()
    for c in (root, int1, int2):
        path = trust / f"{hashlib.sha256(c.pem()).hexdigest()[:8]}.pem"
        path.write_bytes(c.pem())
    subprocess.run(
        ["openssl", "rehash", str(trust)],
        check=True,
        capture_output=True,
        env={**os.environ, "OPENSSL_CONF": "/dev/null"},
    )
    return PKI(root, int1, int2, base, trust)


def snapshot(directory: Path) -> dict[str, tuple]:
    """Every entry of a directory: (kind, mode, content hash or link target, mtime_ns)."""
    out: dict[str, tuple] = {}
    if not directory.exists():
        return out
    for p in sorted(directory.iterdir()):
        st = p.lstat()
        if p.is_symlink():
            out[p.name] = ("link", os.readlink(p))
        else:
            out[p.name] = ("file", st.st_mode, hashlib.sha256(p.read_bytes()).hexdigest(), st.st_mtime_ns)
    return out
