"""The "Onboard Sandbox" CA: an IGTF-like hierarchy, its trust directory, and the certificates it hands out.

    Onboard Sandbox Root CA          /DC=org/DC=onboard-sandbox/CN=Onboard Sandbox Root CA
      +- Onboard Sandbox Personal CA /DC=org/DC=onboard-sandbox/CN=Onboard Sandbox Personal CA
      |    +- people                 /DC=org/DC=onboard-sandbox/O=Onboard Sandbox/OU=Personal/CN=Jane Doe
      +- hosts                       /DC=org/DC=onboard-sandbox/O=Onboard Sandbox/OU=Hosts/CN=localhost
      +- the VOMS server             /DC=org/DC=onboard-sandbox/O=Onboard Sandbox/OU=VOMS/CN=localhost

Layout of ca/ (0700):
    certificates/      the trust directory grid tools read (X509_CERT_DIR): <alias>.pem, <hash>.0 ->
                       <alias>.pem, <hash>.signing_policy (Globus EACL) and <hash>.namespaces (EUGridPMA)
    private/           the CA keys and host keys (0600; a sandbox CA keeps its keys unencrypted)
    hosts/<name>/      hostcert.pem, hostkey.pem;  voms/ vomscert.pem, vomskey.pem (the VOMS server)
    issued.jsonl       one line per personal certificate issued (serial, subject, issuer, notAfter)

A personal certificate comes the way a CA portal hands it out: a key made on the server, inside a
password-protected PKCS#12 download (legacy RC2-40/3DES like Sectigo's, or modern AES-256), with the
extensions of an IGTF personal certificate (client auth + e-mail protection, SAN e-mail, policy OIDs).
The user's key is never stored by the sandbox.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from onboard.atomicfile import write_atomic, write_new
from onboard.errors import SandboxError
from onboard.pki.names import oneline, subject_hash
from onboard.sandbox.ca_switch import current_issuer
from onboard.secret_pipes import fd_numbers, secret_fds

BASE = [
    x509.NameAttribute(NameOID.DOMAIN_COMPONENT, "org"),
    x509.NameAttribute(NameOID.DOMAIN_COMPONENT, "onboard-sandbox"),
]
ROOT_NAME = x509.Name([*BASE, x509.NameAttribute(NameOID.COMMON_NAME, "Onboard Sandbox Root CA")])
PERSONAL_NAME = x509.Name([*BASE, x509.NameAttribute(NameOID.COMMON_NAME, "Onboard Sandbox Personal CA")])
NAMESPACE = "/DC=org/DC=onboard-sandbox"
# IGTF policy OIDs as a TCS personal certificate carries them (1.2.840.113612.5.2.2.5: MICS authentication
# profile; 1.2.840.113612.5.2.3.3.2: assurance "Cedar"), next to the sandbox's own policy (a 2.25 UUID arc).
POLICY_OIDS = [
    "1.2.840.113612.5.2.2.5",
    "1.2.840.113612.5.2.3.3.2",
    "2.25.311620467466178962331869113066125428843",
]
CA_DAYS = 3650
LEAF_DAYS = 395  # IGTF personal certificates live at most 13 months


class CAError(Exception):
    pass


@dataclass
class IssuedCredential:
    subject: str  # OpenSSL slash form
    issuer: str
    serial: int
    not_after: dt.datetime
    p12_path: Path | None
    legacy: bool


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _ski(key) -> x509.SubjectKeyIdentifier:
    return x509.SubjectKeyIdentifier.from_public_key(key.public_key())


class SandboxCA:
    def __init__(self, dir: Path, hostname: str = "localhost"):
        self.dir = Path(dir)
        self.hostname = hostname
        self.trust_dir = self.dir / "certificates"
        self.private = self.dir / "private"
        self._lock = threading.RLock()
        self._cache: dict[str, object] = {}

    # -- the hierarchy -------------------------------------------------------------------------------------
    def ensure(self) -> SandboxCA:
        """Create the CA on first use (idempotent); later calls only load it."""
        with self._lock:
            if not (self.private / "root.key").exists():
                self._create()
        return self

    def _create(self) -> None:
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.private.mkdir(mode=0o700, exist_ok=True)
        self.trust_dir.mkdir(mode=0o755, exist_ok=True)
        now = _now()
        root_key = rsa.generate_private_key(65537, 2048)
        root = (
            x509.CertificateBuilder()
            .subject_name(ROOT_NAME)
            .issuer_name(ROOT_NAME)
            .public_key(root_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
            )
            .add_extension(_ski(root_key), critical=False)
            .sign(root_key, hashes.SHA256())
        )
        pers_key = rsa.generate_private_key(65537, 2048)
        personal = (
            x509.CertificateBuilder()
            .subject_name(PERSONAL_NAME)
            .issuer_name(ROOT_NAME)
            .public_key(pers_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=CA_DAYS - 1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
            )
            .add_extension(_ski(pers_key), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False
            )
            .add_extension(
                x509.CertificatePolicies(
                    [x509.PolicyInformation(ObjectIdentifier(o), None) for o in POLICY_OIDS]
                ),
                critical=False,
            )
            .sign(root_key, hashes.SHA256())
        )
        # each file whole or not at all, root.key last: ensure() takes it as the sign of a complete CA
        for name, key, cert in (("personal", pers_key, personal), ("root", root_key, root)):
            write_atomic(self.dir / f"{name}.pem", _pem(cert), 0o644)
            write_atomic(self.private / f"{name}.key", _key_pem(key))
        self._write_trust_dir(root, personal)

    def _write_trust_dir(self, root: x509.Certificate, personal: x509.Certificate) -> None:
        for alias, cert in (("OnboardSandboxRootCA", root), ("OnboardSandboxPersonalCA", personal)):
            subject = oneline(cert.subject)
            h = subject_hash(cert.subject)
            files = {
                f"{alias}.pem": _pem(cert),
                f"{alias}.signing_policy": (
                    f"# Signing policy of {subject} (EACL format, read by Globus GSI)\n"
                    f"access_id_CA      X509         '{subject}'\n"
                    f"pos_rights        globus        CA:sign\n"
                    f"cond_subjects     globus       '\"{NAMESPACE}/*\"'\n"
                ).encode(),
                f"{alias}.namespaces": (
                    f"# Namespaces of {subject} (EUGridPMA format)\n"
                    f'TO Issuer "{subject}" \\\n'
                    f'  PERMIT Subject "{NAMESPACE}/.*"\n'
                ).encode(),
                f"{alias}.info": (
                    f"alias = {alias}\nversion = 1.0-1\nca_url = https://{self.hostname}/ca/{alias}.pem\n"
                    f"email = ca@{self.hostname}\nstatus = sandbox:unaccredited\n"
                    f"subjectdn = {subject}\n"
                ).encode(),
            }
            for fname, data in files.items():
                write_atomic(self.trust_dir / fname, data, 0o644)
            for suffix, target in (
                (".0", f"{alias}.pem"),
                (".signing_policy", f"{alias}.signing_policy"),
                (".namespaces", f"{alias}.namespaces"),
            ):
                link = self.trust_dir / f"{h}{suffix}"
                if link.is_symlink() or link.exists():
                    link.unlink()
                link.symlink_to(target)

    def _load_cert(self, name: str) -> x509.Certificate:
        key = f"cert:{name}"
        if key not in self._cache:
            self.ensure()
            self._cache[key] = x509.load_pem_x509_certificate((self.dir / f"{name}.pem").read_bytes())
        return self._cache[key]  # type: ignore[return-value]

    def _load_key(self, name: str):
        key = f"key:{name}"
        if key not in self._cache:
            self.ensure()
            self._cache[key] = serialization.load_pem_private_key(
                (self.private / f"{name}.key").read_bytes(), None
            )
        return self._cache[key]

    @property
    def root(self) -> x509.Certificate:
        return self._load_cert("root")

    @property
    def personal(self) -> x509.Certificate:
        return self._load_cert("personal")

    @property
    def root_dn(self) -> str:
        return oneline(ROOT_NAME)

    @property
    def personal_dn(self) -> str:
        return oneline(PERSONAL_NAME)

    @property
    def bundle_path(self) -> Path:
        """Root + personal CA in one PEM file (for clients that want a CA file rather than a directory)."""
        path = self.dir / "ca-bundle.pem"
        if not path.exists():
            write_atomic(path, _pem(self.root) + _pem(self.personal), 0o644)
        return path

    # -- host and service certificates ---------------------------------------------------------------------
    def host_credential(self, kind: str = "host", names: list[str] | None = None) -> tuple[Path, Path]:
        """(cert, key) of a sandbox server: kind "host" (EC P-256, TLS servers) or "voms" (RSA, signs ACs).

        Made once and reused; made again when the host names it must cover change.
        """
        names = names or [self.hostname]
        sub = self.dir / ("voms" if kind == "voms" else "hosts")
        stem = "voms" if kind == "voms" else "host"
        cert_path, key_path = sub / f"{stem}cert.pem", sub / f"{stem}key.pem"
        with self._lock:
            if cert_path.exists() and key_path.exists():
                cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
                if self._covers(cert, names) and cert.not_valid_after_utc > _now() + dt.timedelta(days=1):
                    return cert_path, key_path
            sub.mkdir(mode=0o700, parents=True, exist_ok=True)
            key = (
                rsa.generate_private_key(65537, 2048)
                if kind == "voms"
                else ec.generate_private_key(ec.SECP256R1())
            )
            ou = "VOMS" if kind == "voms" else "Hosts"
            subject = x509.Name(
                [
                    *BASE,
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Onboard Sandbox"),
                    x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou),
                    x509.NameAttribute(NameOID.COMMON_NAME, names[0]),
                ]
            )
            sans: list[x509.GeneralName] = []
            for n in dict.fromkeys([*names, "localhost", "127.0.0.1"]):
                try:
                    sans.append(x509.IPAddress(ipaddress.ip_address(n)))
                except ValueError:
                    sans.append(x509.DNSName(n))
            now = _now()
            usage = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            cert = (
                x509.CertificateBuilder()
                .subject_name(subject)
                .issuer_name(ROOT_NAME)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(hours=1))
                .not_valid_after(now + dt.timedelta(days=LEAF_DAYS))
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(
                    x509.KeyUsage(True, False, kind == "voms", False, False, False, False, False, False),
                    critical=True,
                )
                .add_extension(x509.ExtendedKeyUsage(usage), critical=False)
                .add_extension(x509.SubjectAlternativeName(sans), critical=False)
                .add_extension(_ski(key), critical=False)
                .add_extension(
                    x509.AuthorityKeyIdentifier.from_issuer_public_key(self.root.public_key()), critical=False
                )
                .sign(self._load_key("root"), hashes.SHA256())
            )
            cert_path.unlink(missing_ok=True)  # a crash before the new pair is whole: made again next time
            write_atomic(key_path, _key_pem(key), 0o600)
            # the server's chain up to (not including) the root: a leaf issued by the root itself
            write_atomic(cert_path, _pem(cert), 0o644)
            return cert_path, key_path

    @staticmethod
    def _covers(cert: x509.Certificate, names: list[str]) -> bool:
        try:
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            return False
        have = set(san.get_values_for_type(x509.DNSName)) | {
            str(i) for i in san.get_values_for_type(x509.IPAddress)
        }
        cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        return bool(cn) and cn[0].value == names[0] and set(names) <= have

    def voms_dn(self, names: list[str] | None = None) -> str:
        cert_path, _ = self.host_credential("voms", names)
        return oneline(x509.load_pem_x509_certificate(cert_path.read_bytes()).subject)

    # -- personal certificates ------------------------------------------------------------------------------
    def issue_user(
        self,
        name: str,
        email: str,
        passphrase: bytes,
        *,
        out: Path | None = None,
        legacy: bool = False,
        key_size: int = 2048,
        days: int = LEAF_DAYS,
        once: bool = False,
    ) -> tuple[bytes, IssuedCredential]:
        """A personal certificate in a password-protected PKCS#12, as a CA portal's download.

        Returns the PKCS#12 bytes (and writes them to `out`, created 0600 with O_EXCL, if given). `once`: a
        DN issued here before is refused (the portal: a second certificate with a member's name would be
        that member).
        """
        if not passphrase:
            raise CAError("an empty passphrase would leave the key unprotected")
        if not name.strip() or any(c in name for c in "/=\n\r"):
            raise CAError(f"{name!r} cannot be a certificate name (no '/', '=' or line breaks)")
        issuer, name = current_issuer(self.dir, name)  # `onboard sandbox ca-switch`: the second CA
        key = rsa.generate_private_key(65537, key_size)
        subject = x509.Name(
            [
                *BASE,
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Onboard Sandbox"),
                x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Personal"),
                x509.NameAttribute(NameOID.COMMON_NAME, name.strip()),
            ]
        )
        if once and oneline(subject) in {r.get("subject") for r in self.issued()}:
            raise CAError(f"a certificate for {name.strip()!r} was issued already; ask the instructor")
        now = _now()
        ca_key, ca_cert = self._load_key(issuer), self._load_cert(issuer)
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(True, True, True, False, False, False, False, False, False), critical=True
            )
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.EMAIL_PROTECTION]
                ),
                critical=False,
            )
            .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(email)]), critical=False)
            .add_extension(
                x509.CertificatePolicies(
                    [x509.PolicyInformation(ObjectIdentifier(o), None) for o in POLICY_OIDS]
                ),
                critical=False,
            )
            .add_extension(_ski(key), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
            )
            .sign(ca_key, hashes.SHA256())
        )
        friendly = f"{name.strip()} issued {now:%Y-%m-%d}".encode()
        chain = [ca_cert, self.root]
        if legacy:
            data = _legacy_p12(friendly, key, cert, chain, passphrase)
        else:
            data = pkcs12.serialize_key_and_certificates(
                friendly, key, cert, chain, serialization.BestAvailableEncryption(passphrase)
            )
        info = IssuedCredential(
            oneline(subject),
            oneline(ca_cert.subject),
            cert.serial_number,
            cert.not_valid_after_utc,
            out,
            legacy,
        )
        if out is not None:
            write_new(Path(out), data, 0o600)  # never over an existing file
        self._record(info, email)
        return data, info

    def _record(self, info: IssuedCredential, email: str) -> None:
        line = json.dumps(
            {
                "serial": f"{info.serial:x}",
                "subject": info.subject,
                "issuer": info.issuer,
                "email": email,
                "not_after": info.not_after.isoformat(),
                "legacy": info.legacy,
            }
        )
        with self._lock:
            with open(self.dir / "issued.jsonl", "a", encoding="utf-8") as f:
                f.write(line + "\n")
            self._cache.pop("index", None)

    def issued(self) -> list[dict]:
        path = self.dir / "issued.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]

    def subject_issuer_index(self) -> dict[str, str]:
        """subject -> issuer of every certificate issued here (to name the EEC behind a proxy)."""
        if "index" not in self._cache:
            self._cache["index"] = {r["subject"]: r["issuer"] for r in self.issued()}
        return self._cache["index"]  # type: ignore[return-value]


def _legacy_p12(friendly: bytes, key, cert, chain, passphrase: bytes) -> bytes:
    """RC2-40 for the certificates, 3DES for the key, SHA-1 MAC: what Sectigo and browsers exported.

    cryptography cannot write RC2, so `openssl pkcs12 -export -legacy` does it; the key reaches openssl
    encrypted, through its standard input, and the passphrase through pipes of its own (never argv, never
    its environment, never disk).
    """
    exe = shutil.which("openssl")
    if exe is None:
        raise CAError("a legacy (RC2-40) PKCS#12 needs the openssl command, which is not installed")
    enc_key = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase),
    )
    stdin = enc_key + _pem(cert) + b"".join(_pem(c) for c in chain)
    secret = passphrase.decode("utf-8")
    with secret_fds(secret, secret, error=SandboxError) as (pin, pout):  # -passin, then -passout
        proc = subprocess.run(
            [exe, "pkcs12", "-export", "-legacy", "-name", friendly.decode(),
             "-passin", f"fd:{fd_numbers([pin])[0]}", "-passout", f"fd:{fd_numbers([pout])[0]}"],
            input=stdin,
            capture_output=True,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
            pass_fds=fd_numbers([pin, pout]),
            timeout=60,
        )
    if proc.returncode != 0 or not proc.stdout:
        last = (proc.stderr.decode("utf-8", "replace").strip().splitlines() or ["no output"])[-1]
        raise CAError(f"openssl could not write a legacy PKCS#12: {last}")
    return proc.stdout
