"""A small grid PKI for tests: a CA, personal and host certificates, a trust directory grid tools read.

Made with cryptography (fast, in memory); the trust directory gets `<hash>.0` names from `openssl x509
-hash` and a signing_policy, as the real IGTF distribution has.
"""

from __future__ import annotations

import datetime as dt
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def name(*parts: tuple[str, str]) -> x509.Name:
    oids = {
        "DC": NameOID.DOMAIN_COMPONENT,
        "O": NameOID.ORGANIZATION_NAME,
        "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
        "CN": NameOID.COMMON_NAME,
        "C": NameOID.COUNTRY_NAME,
    }
    return x509.Name([x509.NameAttribute(oids[k], v) for k, v in parts])


def slash_dn(n: x509.Name) -> str:
    """OpenSSL's one-line form (`-nameopt compat`) for plain ASCII names: /DC=org/DC=x/CN=Jane Doe."""
    short = {
        NameOID.DOMAIN_COMPONENT: "DC",
        NameOID.ORGANIZATION_NAME: "O",
        NameOID.ORGANIZATIONAL_UNIT_NAME: "OU",
        NameOID.COMMON_NAME: "CN",
        NameOID.COUNTRY_NAME: "C",
    }
    return "".join(f"/{short[a.oid]}={a.value}" for a in n)


@dataclass
class Issued:
    cert: x509.Certificate
    key: rsa.RSAPrivateKey

    @property
    def dn(self) -> str:
        return slash_dn(self.cert.subject)

    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self, passphrase: str | None = None) -> bytes:
        enc = (
            serialization.BestAvailableEncryption(passphrase.encode())
            if passphrase
            else serialization.NoEncryption()
        )
        return self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)

    def p12(
        self, passphrase: str, chain: list[x509.Certificate] | None = None, legacy: bool = False
    ) -> bytes:
        """3DES + SHA-1 MAC (what onboard's convert writes: every openssl reads it without -legacy), or
        RC2-40 like a browser / OpenSSL 1.x export (`openssl pkcs12 -export -legacy`) when legacy=True."""
        if legacy:
            import tempfile

            with tempfile.TemporaryDirectory() as d:
                (Path(d) / "c.pem").write_bytes(self.cert_pem())
                kf = Path(d) / "k.pem"
                kf.touch(mode=0o600)
                kf.write_bytes(self.key_pem())
                subprocess.run(
                    [
                        "openssl",
                        "pkcs12",
                        "-export",
                        "-legacy",
                        "-in",
                        f"{d}/c.pem",
                        "-inkey",
                        str(kf),
                        "-passout",
                        "stdin",
                        "-out",
                        f"{d}/p.p12",
                    ],
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
            b"test credential", self.key, self.cert, chain, builder.build(passphrase.encode())
        )


class CA:
    def __init__(self, dn: x509.Name | None = None):
        self.key = _key()
        self.name = dn or name(("DC", "org"), ("DC", "onboard-test"), ("CN", "Onboard Test CA"))
        now = dt.datetime.now(dt.timezone.utc)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(self.name)
            .issuer_name(self.name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), False)
            .sign(self.key, hashes.SHA256())
        )

    @property
    def dn(self) -> str:
        return slash_dn(self.name)

    def issue(self, subject: x509.Name, *, host: str | None = None, days: int = 30) -> Issued:
        key = _key()
        now = dt.datetime.now(dt.timezone.utc)
        b = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, True, False, False, False, False, False, False), True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), False)
            # the VOMS server copies its certificate's key identifier into each AC it signs
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        )
        if host:
            b = b.add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                False,
            ).add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), False)
        else:
            b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False)
        return Issued(b.sign(self.key, hashes.SHA256()), key)

    def user(self, cn: str = "Jane Doe") -> Issued:
        return self.issue(name(("DC", "org"), ("DC", "onboard-test"), ("OU", "People"), ("CN", cn)))

    def host(self, fqdn: str = "localhost") -> Issued:
        return self.issue(
            name(("DC", "org"), ("DC", "onboard-test"), ("OU", "Hosts"), ("CN", fqdn)), host=fqdn
        )

    def trust_dir(self, path: Path) -> Path:
        """The CA in the layout grid tools read: <hash>.0, <hash>.signing_policy, <hash>.namespaces."""
        path.mkdir(parents=True, exist_ok=True)
        pem = self.cert.public_bytes(serialization.Encoding.PEM)
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
