"""The CA switch: a second personal CA standing for "the new TCS", so a session can rehearse a new issuer.

In 2025 GÉANT TCS moved from Sectigo to HARICA: every European grid user's next certificate came from a
new issuer, often with the same subject, and names with non-ASCII letters came back transliterated (a new
subject too). `onboard sandbox ca-switch` makes the sandbox do the same: a second intermediate under the
same root ("Onboard Sandbox Personal CA 2", its files in the trust directory so every server and client
trusts it at once), from then on the issuer of every personal certificate; with --transliterate it writes
names in ASCII ("Jürgen Müller" becomes "Juergen Mueller"). `--back` returns to the first CA.

    ca/issuer.json    {"name": "personal2", "transliterate": true}   (absent: the first CA, names as given)
    ca/personal2.pem, ca/private/personal2.key

The SandboxCA is passed in (never imported here: ca.py reads current_issuer from this module).
"""

from __future__ import annotations

import datetime as dt
import json
import unicodedata
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID, ObjectIdentifier

from onboard.atomicfile import write_atomic
from onboard.pki.names import oneline, subject_hash

SECOND = "personal2"
SECOND_CN = "Onboard Sandbox Personal CA 2"
ALIAS = "OnboardSandboxPersonalCA2"
NAMESPACE = "/DC=org/DC=onboard-sandbox"
FOLD = {"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ß": "ss", "æ": "ae", "ø": "oe",
        "å": "aa", "Æ": "Ae", "Ø": "Oe", "Å": "Aa", "ł": "l", "Ł": "L", "đ": "d", "Đ": "D"}


def transliterate(name: str) -> str:
    """ASCII as a CA that refuses non-ASCII letters writes a name (German/Nordic folds, then accents off)."""
    folded = "".join(FOLD.get(c, c) for c in name)
    return unicodedata.normalize("NFKD", folded).encode("ascii", "ignore").decode("ascii")


def current_issuer(ca_dir: Path, name: str) -> tuple[str, str]:
    """(the CA that issues now: "personal" or SECOND, the name as it writes it)."""
    try:
        data = json.loads((Path(ca_dir) / "issuer.json").read_text())
    except (OSError, ValueError):
        return "personal", name
    issuer = SECOND if data.get("name") == SECOND else "personal"
    return issuer, transliterate(name) if data.get("transliterate") else name


def issuer_subjects(ca: Any) -> list[str]:
    """The personal CAs' subjects (OpenSSL form), the first CA first."""
    out = [ca.personal_dn]
    second = Path(ca.dir) / f"{SECOND}.pem"
    if second.exists():
        out.append(oneline(x509.load_pem_x509_certificate(second.read_bytes()).subject))
    return out


def switch(ca: Any, *, transliterate_names: bool = False, back: bool = False) -> str:
    """Make the second CA (once) and let it issue from now on; or, `back`, the first one again. Returns the
    issuing CA's subject."""
    ca.ensure()
    if back:
        write_atomic(Path(ca.dir) / "issuer.json", json.dumps({"name": "personal"}).encode(), 0o644)
        return ca.personal_dn
    cert = _ensure_second(ca)
    write_atomic(Path(ca.dir) / "issuer.json",
                 json.dumps({"name": SECOND, "transliterate": transliterate_names}).encode(), 0o644)
    return oneline(cert.subject)


def _ensure_second(ca: Any) -> x509.Certificate:
    path, key_path = Path(ca.dir) / f"{SECOND}.pem", Path(ca.private) / f"{SECOND}.key"
    if path.exists() and key_path.exists():
        cert = x509.load_pem_x509_certificate(path.read_bytes())
        _write_trust(ca, cert)  # idempotent: a switch killed halfway is finished
        return cert
    root, root_key = ca.root, ca._load_key("root")
    key = rsa.generate_private_key(65537, 2048)
    now = dt.datetime.now(dt.timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.DOMAIN_COMPONENT, "org"),
                      x509.NameAttribute(NameOID.DOMAIN_COMPONENT, "onboard-sandbox"),
                      x509.NameAttribute(NameOID.COMMON_NAME, SECOND_CN)])
    policies = root.extensions.get_extension_for_class(x509.CertificatePolicies).value \
        if _has(root, x509.CertificatePolicies) else ca.personal.extensions.get_extension_for_class(
            x509.CertificatePolicies).value
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(root.subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(root.not_valid_after_utc)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                       critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()),
                       critical=False)
        .add_extension(x509.CertificatePolicies(
            [x509.PolicyInformation(ObjectIdentifier(p.policy_identifier.dotted_string), None)
             for p in policies]), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    # the key first, the certificate last: the pair counts as made only when both are there
    write_atomic(key_path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption()), 0o600)
    write_atomic(path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    _write_trust(ca, cert)
    return cert


def _has(cert: x509.Certificate, ext: type) -> bool:
    try:
        cert.extensions.get_extension_for_class(ext)
        return True
    except x509.ExtensionNotFound:
        return False


def _write_trust(ca: Any, cert: x509.Certificate) -> None:
    """The second CA in the trust directory as IGTF ships a CA: <alias>.pem, its signing policy and
    namespaces, and the <hash>.* links OpenSSL and Globus look up (capath lookups see it at once)."""
    trust = Path(ca.trust_dir)
    subject = oneline(cert.subject)
    files = {
        f"{ALIAS}.pem": cert.public_bytes(serialization.Encoding.PEM),
        f"{ALIAS}.signing_policy": (
            f"# Signing policy of {subject} (EACL format, read by Globus GSI)\n"
            f"access_id_CA      X509         '{subject}'\npos_rights        globus        CA:sign\n"
            f"cond_subjects     globus       '\"{NAMESPACE}/*\"'\n").encode(),
        f"{ALIAS}.namespaces": (
            f"# Namespaces of {subject} (EUGridPMA format)\n"
            f'TO Issuer "{subject}" \\\n  PERMIT Subject "{NAMESPACE}/.*"\n').encode(),
        f"{ALIAS}.info": (f"alias = {ALIAS}\nversion = 1.0-1\nstatus = sandbox:unaccredited\n"
                          f"subjectdn = {subject}\n").encode(),
    }
    for fname, data in files.items():
        write_atomic(trust / fname, data, 0o644)
    h = subject_hash(cert.subject)
    for suffix in (".0", ".signing_policy", ".namespaces"):
        link, target = trust / f"{h}{suffix}", f"{ALIAS}{'.pem' if suffix == '.0' else suffix}"
        if link.is_symlink() and str(link.readlink()) == target:
            continue
        link.unlink(missing_ok=True)
        link.symlink_to(target)
