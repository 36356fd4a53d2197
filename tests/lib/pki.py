"""The test PKI, one certificate builder for every area: `issue()` makes any certificate (root, intermediate,
personal, host); `CA` is a one-level grid CA with its trust directory as grid tools read it; `PKI` is a
root with two intermediates and PKCS#12 files made by the real `openssl pkcs12 -export`.

Made with cryptography (fast, in memory); trust directories get `<hash>.0` names from openssl.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import os
import subprocess
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from onboard.pki.names import oneline

PASSPHRASE = "correct horse battery"  # 21 characters, with spaces
NOW = dt.datetime.now(dt.timezone.utc)

OIDS = {
    "DC": NameOID.DOMAIN_COMPONENT,
    "C": NameOID.COUNTRY_NAME,
    "O": NameOID.ORGANIZATION_NAME,
    "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "CN": NameOID.COMMON_NAME,
    "L": NameOID.LOCALITY_NAME,
}
PERSONAL = (ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.EMAIL_PROTECTION)


def name(*parts: tuple[str, str]) -> x509.Name:
    return x509.Name([x509.NameAttribute(OIDS[k], v) for k, v in parts])


def new_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


@dataclass
class Cert:
    cert: x509.Certificate
    key: rsa.RSAPrivateKey | None  # None when the certificate was issued for a public key alone (a CSR)

    @property
    def dn(self) -> str:
        return oneline(self.cert.subject)  # the one rendering onboard and VOMS use

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.cert.public_bytes(serialization.Encoding.DER)).hexdigest()

    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self, passphrase: str | None = None) -> bytes:
        enc = (
            serialization.BestAvailableEncryption(passphrase.encode())
            if passphrase
            else serialization.NoEncryption()
        )
        return self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)

    def p12(
        self,
        passphrase: str,
        chain: list[x509.Certificate] | None = None,
        legacy: bool = False,
        friendly: bytes = b"test credential",
    ) -> bytes:
        """3DES + SHA-1 MAC (what onboard's convert writes and CA portals hand out: every openssl reads it
        without -legacy), or RC2-40 like a browser / OpenSSL 1.x export (`openssl pkcs12 -export -legacy`)
        when legacy=True."""
        if legacy:
            with tempfile.TemporaryDirectory() as d:
                (Path(d) / "c.pem").write_bytes(self.pem())
                kf = Path(d) / "k.pem"
                kf.touch(mode=0o600)
                kf.write_bytes(self.key_pem())
                subprocess.run(
                    ["openssl", "pkcs12", "-export", "-legacy", "-in", f"{d}/c.pem", "-inkey", str(kf),
                     "-passout", "stdin", "-out", f"{d}/p.p12"],
                    input=(passphrase + "\n").encode(),
                    check=True,
                    capture_output=True,
                )
                return (Path(d) / "p.p12").read_bytes()
        builder = (
            serialization.PrivateFormat.PKCS12.encryption_builder()
            .key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC)
            .hmac_hash(hashes.SHA1())
        )
        return pkcs12.serialize_key_and_certificates(
            friendly, self.key, self.cert, chain, builder.build(passphrase.encode())
        )


def issue(
    subject: x509.Name,
    issuer: Cert | None = None,
    *,
    ca: bool = False,
    key: rsa.RSAPrivateKey | None = None,
    public_key=None,
    not_before: dt.datetime | None = None,
    days: int = 395,
    eku=PERSONAL,
    digital_signature: bool = True,
    serial: int | None = None,
    host: str | None = None,
    ips: tuple[str, ...] = (),
) -> Cert:
    """A certificate for `subject`, signed by `issuer` (self-signed without one). A CA when ca=True, a host
    certificate (server and client auth; the name, and `ips`, in subjectAltName) for host=NAME, personal
    otherwise."""
    if public_key is None:
        key = key or new_key()
        public_key = key.public_key()
    nb = not_before or (NOW - dt.timedelta(days=1))
    b = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(public_key)
        .serial_number(serial or x509.random_serial_number())
        .not_valid_before(nb)
        .not_valid_after(nb + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        # the VOMS server copies its certificate's key identifier into each AC it signs
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )
    if issuer is not None:
        b = b.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False
        )
    b = b.add_extension(
        x509.KeyUsage(
            digital_signature=digital_signature and not ca,
            content_commitment=False,
            key_encipherment=not ca,
            data_encipherment=not ca,
            key_agreement=False,
            key_cert_sign=ca,
            crl_sign=ca,
            encipher_only=False,
            decipher_only=False,
        ),
        critical=True,
    )
    if host:
        b = b.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), False
        ).add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(host), *(x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips)]
            ),
            False,
        )
    elif eku and not ca:
        b = b.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
    signer = issuer.key if issuer else key
    return Cert(b.sign(signer, hashes.SHA256()), key)


class CA:
    """A one-level grid CA: personal and host certificates, and its trust directory."""

    def __init__(self, dn: x509.Name | None = None):
        self.name = dn or name(("DC", "org"), ("DC", "onboard-test"), ("CN", "Onboard Test CA"))
        self.signer = issue(self.name, ca=True, days=365)
        self.cert, self.key = self.signer.cert, self.signer.key

    @property
    def dn(self) -> str:
        return oneline(self.name)

    def issue(self, subject: x509.Name, *, host: str | None = None, days: int = 30) -> Cert:
        return issue(subject, self.signer, host=host, days=days, eku=(ExtendedKeyUsageOID.CLIENT_AUTH,))

    def user(self, cn: str = "Jane Doe") -> Cert:
        return self.issue(name(("DC", "org"), ("DC", "onboard-test"), ("OU", "People"), ("CN", cn)))

    def host(self, fqdn: str = "localhost") -> Cert:
        return self.issue(
            name(("DC", "org"), ("DC", "onboard-test"), ("OU", "Hosts"), ("CN", fqdn)), host=fqdn
        )

    def trust_dir(self, path: Path) -> Path:
        """The CA in the layout grid tools read: <hash>.0, <hash>.signing_policy, <hash>.namespaces."""
        path.mkdir(parents=True, exist_ok=True)
        pem = self.signer.pem()
        src = path / "onboard-test-ca.pem"
        src.write_bytes(pem)
        h = subprocess.run(
            ["openssl", "x509", "-hash", "-noout", "-in", str(src)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        (path / f"{h}.0").write_bytes(pem)
        src.unlink()
        dn = self.dn
        (path / f"{h}.signing_policy").write_text(
            f"access_id_CA X509 '{dn}'\npos_rights globus CA:sign\n"
            "cond_subjects globus '\"/DC=org/DC=onboard-test/*\"'\n"
        )
        (path / f"{h}.namespaces").write_text(
            f'TO Issuer "{dn}" PERMIT Subject "/DC=org/DC=onboard-test/.*"\n'
        )
        for p in [path, *path.iterdir()]:
            p.chmod(0o755 if p.is_dir() else 0o644)
        return path


@dataclass
class PKI:
    """A root, two intermediates below it, and their trust directory (`openssl rehash`)."""

    root: Cert
    int1: Cert
    int2: Cert
    dir: Path
    trust: Path

    def user(self, cn: str, **kw) -> Cert:
        return issue(
            name(("DC", "org"), ("DC", "onboard-test"), ("O", "Test Users"), ("CN", cn)), self.int2, **kw
        )

    def p12(
        self,
        user: Cert,
        filename: str,
        *,
        legacy: bool = False,
        chain: bool = True,
        passphrase: str = PASSPHRASE,
        friendly: str | None = None,
        extra: list[Cert] | None = None,
        nokeys: bool = False,
    ) -> Path:
        """`openssl pkcs12 -export` the way a CA portal or OpenSSL 1.x (-legacy) would."""
        work = self.dir / f"work-{filename}"
        work.mkdir(exist_ok=True)
        (work / "cert.pem").write_bytes(user.pem())
        (work / "key.pem").write_bytes(user.key_pem(passphrase))
        certs = ([self.int2, self.int1, self.root] if chain else []) + (extra or [])
        pw, pw_out = work / "pw", work / "pw-out"  # openssl reads line 2 when both name the same file
        pw.write_text(passphrase + "\n")
        pw_out.write_text(passphrase + "\n")
        out = self.dir / filename
        cmd = ["openssl", "pkcs12", "-export", "-in", str(work / "cert.pem"), "-out", str(out),
               "-passin", f"file:{pw}", "-passout", f"file:{pw_out}"]
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
    def test_ca(cn: str, issuer: Cert | None, days: int) -> Cert:
        return issue(name(("DC", "org"), ("DC", "onboard-test"), ("CN", cn)), issuer, ca=True, days=days)

    root = test_ca("Onboard Test Root CA", None, 3650)
    int1 = test_ca("Onboard Test Intermediate 1", root, 3000)
    int2 = test_ca("Onboard Test Issuing CA 2", int1, 2000)
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


def portal_p12(passphrase: str = PASSPHRASE) -> bytes:
    """A personal certificate with its CA, as a CA portal hands it out (3DES, friendly name Jane Doe)."""
    root = issue(name(("DC", "org"), ("DC", "example"), ("CN", "Example Personal CA")), ca=True, days=365)
    user = issue(name(("DC", "org"), ("DC", "example"), ("CN", "Jane Doe")), root, days=300)
    return user.p12(passphrase, [root.cert], friendly=b"Jane Doe")


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


@lru_cache(maxsize=1)
def _shared_key() -> rsa.RSAPrivateKey:
    return new_key()


def selfsigned(subject: x509.Name) -> x509.Certificate:
    """A CA certificate for any subject, quickly (one key for all): for the tests of names and hashes."""
    return issue(subject, ca=True, key=_shared_key()).cert


def openssl_subject(openssl: str, cert: x509.Certificate, nameopt: str = "compat") -> tuple[str, str]:
    """(subject as `openssl x509 -subject -nameopt NAMEOPT` prints it, `-hash`)."""
    import subprocess

    out = subprocess.run(
        [openssl, "x509", "-noout", "-subject", "-nameopt", nameopt, "-hash"],
        input=cert.public_bytes(serialization.Encoding.PEM),
        capture_output=True,
        check=True,
    ).stdout.decode("utf-8")
    subject, digest = out.splitlines()
    return subject.removeprefix("subject="), digest
