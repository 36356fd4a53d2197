"""A credential in memory (key, end-entity certificate, intermediates) and how it is loaded and checked.

Loading decrypts once, in-process, with cryptography: legacy PKCS#12 (RC2-40/3DES, SHA-1 MAC) and modern
ones (PBES2/AES, SHA-256 MAC) alike, no `openssl -legacy` involved. Every failure becomes a
CredentialError with its own exit code, a one-line message and a one-line hint; none names a secret.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from onboard.credentials import naming, pfx
from onboard.errors import CredentialError, Exit
from onboard.pki import der
from onboard.pki.names import oneline, readable

MIN_RSA_BITS = 2048
WARN_DAYS = 30
# Sectigo's cross-signed legacy roots: certificates they issue are dropped from the chain (tcsg4 does too)
CROSS_SIGN_ISSUERS = ("AddTrust External CA Root", "AAA Certificate Services")


def _err(code: int, message: str, hint: str) -> CredentialError:
    return CredentialError(readable(message), hint, exit_code=code)


def public_key_der(key) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def key_id(public_key) -> str:
    """A short, stable id of a key pair: the first 16 hex digits of SHA-256 over its SubjectPublicKeyInfo."""
    return hashlib.sha256(public_key_der(public_key)).hexdigest()[:16]


def _cn(name: x509.Name) -> str:
    values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(values[-1].value) if values else ""  # the last CN, as tcsg4 takes it


def _is_self_issued(c: x509.Certificate) -> bool:
    return c.subject == c.issuer


def _basic_ca(c: x509.Certificate) -> bool | None:
    try:
        return bool(c.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return None


@dataclass
class Credential:
    key: object  # a cryptography private key
    cert: x509.Certificate
    chain: list[x509.Certificate] = field(default_factory=list)  # intermediates, nearest issuer first
    dropped: list[x509.Certificate] = field(default_factory=list)  # roots and cross-signs left out
    friendly_name: str = ""  # as found in the input (informative only)
    source: Path | None = None

    # -- public facts (all safe to store and show) ----------------------------------------------
    @property
    def cn(self) -> str:
        return _cn(self.cert.subject)

    @property
    def subject_dn(self) -> str:
        """OpenSSL slash form, as `openssl x509 -subject -nameopt compat` prints it (what VOMS stores)."""
        return oneline(self.cert.subject)

    @property
    def issuer_dn(self) -> str:
        return oneline(self.cert.issuer)

    @property
    def serial_hex(self) -> str:
        return format(self.cert.serial_number, "X")

    @property
    def not_before(self) -> datetime:
        return self.cert.not_valid_before_utc

    @property
    def not_after(self) -> datetime:
        return self.cert.not_valid_after_utc

    @property
    def sha256(self) -> str:
        digest = hashlib.sha256(self.cert.public_bytes(serialization.Encoding.DER)).hexdigest().upper()
        return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))

    @property
    def key_id(self) -> str:
        return key_id(self.cert.public_key())

    def name(self, name_format: str, plain: str) -> str:
        return naming.stem(self.cn, self.not_before, name_format, plain)

    def package_friendly_name(self) -> str:
        return naming.friendly_name(self.cn or self.subject_dn, self.not_before)

    # -- serialisations -------------------------------------------------------------------------
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def chain_pem(self) -> bytes:
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in self.chain)

    def key_pem(self, passphrase: str) -> bytes:
        """Encrypted PKCS#8 (PBES2, PBKDF2-HMAC-SHA256, AES-256-CBC): read by GCT, both voms-proxy-inits,
        OpenSSL 1.1+."""
        return self.key.private_bytes(  # type: ignore[attr-defined]
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(_passphrase_bytes(passphrase)),
        )

    def package_p12(self, passphrase: str) -> bytes:
        """End-entity + key + intermediates, 3DES for certificates and key, SHA-1 MAC: macOS Keychain,
        Firefox/NSS and OpenSSL 3 without -legacy all read it (RC2-40 is never written)."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.serialization.pkcs12 import PBES

        enc = (
            serialization.PrivateFormat.PKCS12.encryption_builder()
            .kdf_rounds(2048)
            .key_cert_algorithm(PBES.PBESv1SHA1And3KeyTripleDESCBC)
            .hmac_hash(hashes.SHA1())
            .build(_passphrase_bytes(passphrase))
        )
        return pkcs12.serialize_key_and_certificates(
            self.package_friendly_name().encode("utf-8"), self.key, self.cert, self.chain or None, enc
        )  # type: ignore[arg-type]

    def csr_pem(self) -> bytes:
        """A request with the same key and subject, for renewal with the same key pair."""
        from cryptography.hazmat.primitives import hashes

        algorithm = None if _no_digest(self.key) else hashes.SHA256()
        csr = (
            x509.CertificateSigningRequestBuilder().subject_name(self.cert.subject).sign(self.key, algorithm)
        )  # type: ignore[arg-type]
        return csr.public_bytes(serialization.Encoding.PEM)


def _no_digest(key) -> bool:
    from cryptography.hazmat.primitives.asymmetric import ed448, ed25519

    return isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey)


def _passphrase_bytes(passphrase: str) -> bytes:
    return passphrase.encode("utf-8")


# --- loading -------------------------------------------------------------------------------------


def _what(source: Path | str | None) -> str:
    return str(source) if source else "the PKCS#12 file"


def diagnose_pkcs12(data: bytes, passphrase: str, source: Path | str | None = None) -> CredentialError:
    """The specific error for a PKCS#12 that cryptography refused to open."""
    what = _what(source)
    try:
        st = pfx.parse(data)
    except der.DERError as e:
        if not data.strip():
            return _err(
                Exit.NOT_PKCS12,
                f"{what} is empty ({len(data)} bytes).",
                "Download or export the certificate again; the file was never written.",
            )
        if data.lstrip()[:64].lower().startswith((b"<!doctype html", b"<html", b"<?xml", b"<head")):
            return _err(
                Exit.NOT_PKCS12,
                f"{what} is a web page, not a PKCS#12 (a login or error page saved under that name?).",
                "Download the certificate again from the CA portal, after logging in.",
            )
        if data.lstrip().startswith(b"-----BEGIN"):
            return _err(
                Exit.NOT_PKCS12,
                f"{what} is a PEM file, not a PKCS#12.",
                "Give it with --cert FILE (and --key FILE if the key is separate).",
            )
        if e.truncated and len(data) > 0 and data[0] == der.SEQUENCE:
            return _err(
                Exit.NOT_PKCS12,
                f"{what} is cut short ({len(data)} bytes; {e}).",
                "Download or copy the file again; the transfer was incomplete.",
            )
        return _err(
            Exit.NOT_PKCS12,
            f"{what} is not a PKCS#12 file ({e}).",
            "Give the .p12 or .pfx file the CA's portal or your browser exported.",
        )
    except (IndexError, KeyError):
        return _err(
            Exit.NOT_PKCS12,
            f"{what} is not a valid PKCS#12 file (its structure is damaged).",
            "Download or export the file again.",
        )
    matches = st.mac_matches(passphrase)
    algos = ", ".join(dict.fromkeys(st.algorithms)) or "unknown"
    legacy = [a for a in st.algorithms if a in pfx.LEGACY]
    if matches is False:
        return _err(
            Exit.WRONG_PASSPHRASE,
            f"wrong passphrase for {what} (or the file is damaged: its integrity check fails either way).",
            "Type the passphrase you chose when you downloaded or exported the certificate; if it is right, "
            "download or export the file again.",
        )
    if matches is None and all(a in pfx.USUAL for a in st.algorithms):
        return _err(
            Exit.WRONG_PASSPHRASE,
            f"wrong passphrase for {what} (or the file is damaged).",
            "Type the passphrase you chose when you downloaded or exported the certificate.",
        )
    if legacy:
        return _err(
            Exit.UNSUPPORTED_ALGORITHM,
            f"{what} uses {', '.join(dict.fromkeys(legacy))}, which this build of cryptography/OpenSSL "
            "cannot decrypt (legacy provider missing).",
            "Install cryptography from PyPI (pip install -U cryptography), whose OpenSSL has the legacy "
            "provider, or install openssl-provider-legacy.",
        )
    return _err(
        Exit.UNSUPPORTED_ALGORITHM,
        f"{what} is encrypted with an algorithm onboard cannot use ({algos}).",
        "Export the certificate again from the browser or portal with the default (AES or 3DES) encryption.",
    )


def load_pkcs12(data: bytes, passphrase: str, *, source: Path | str | None = None) -> Credential:
    """Open a PKCS#12 (one decryption) and pick out key, end-entity certificate and intermediates."""
    pw = _passphrase_bytes(passphrase) if passphrase else None
    try:
        with warnings.catch_warnings():
            # NSS/Firefox exports are BER; cryptography reads them but warns, which users need not see
            warnings.simplefilter("ignore", UserWarning)
            bundle = pkcs12.load_pkcs12(data, pw)
    except (ValueError, UnsupportedAlgorithm, x509.InvalidVersion):
        raise diagnose_pkcs12(data, passphrase, source) from None
    certs: list[x509.Certificate] = []
    friendly = ""
    if bundle.cert is not None:
        certs.append(bundle.cert.certificate)
        friendly = (bundle.cert.friendly_name or b"").decode("utf-8", "replace")
    certs += [c.certificate for c in bundle.additional_certs]
    if bundle.key is None:
        raise _err(
            Exit.NO_PRIVATE_KEY,
            f"{_what(source)} holds no private key, only certificates.",
            "Export again from the browser choosing 'with private key' (a backup), or use the file the "
            "portal gave when you made the request.",
        )
    return assemble(bundle.key, certs, friendly=friendly, source=Path(source) if source else None)


def load_pem(
    cert_data: bytes,
    key_data: bytes | None,
    passphrase: str,
    *,
    cert_source: Path | str | None = None,
    key_source: Path | str | None = None,
) -> Credential:
    """A PEM certificate (optionally followed by its chain) and an encrypted PEM key, in one file or two."""
    try:
        certs = x509.load_pem_x509_certificates(cert_data)
    except (ValueError, x509.InvalidVersion):
        certs = []
    if not certs:
        raise _err(
            Exit.END_ENTITY,
            f"{_what(cert_source)} holds no PEM certificate.",
            "Give the certificate file the CA issued (it starts with -----BEGIN CERTIFICATE-----).",
        )
    key_data = cert_data if key_data is None else key_data
    key_what = str(key_source or cert_source or "the key file")
    if b"PRIVATE KEY-----" not in key_data:
        raise _err(
            Exit.NO_PRIVATE_KEY,
            f"{key_what} holds no private key.",
            "Give the key that goes with this certificate with --key FILE.",
        )
    key = load_pem_key(key_data, passphrase, key_what)
    return assemble(key, certs, source=Path(cert_source) if cert_source else None)


def load_pem_key(data: bytes, passphrase: str, what: str = "the key file"):
    try:
        return serialization.load_pem_private_key(data, _passphrase_bytes(passphrase) if passphrase else None)
    except TypeError:  # not encrypted, but a passphrase was given (or the reverse)
        try:
            return serialization.load_pem_private_key(data, None)
        except TypeError:
            raise _err(
                Exit.WRONG_PASSPHRASE,
                f"{what} is encrypted and no passphrase was given.",
                "Give the key's passphrase (prompt, --passphrase-file or --passphrase-stdin).",
            ) from None
        except (ValueError, UnsupportedAlgorithm):
            pass
    except UnsupportedAlgorithm:
        raise _err(
            Exit.UNSUPPORTED_ALGORITHM,
            f"{what} is encrypted with an algorithm onboard cannot use.",
            "Re-encrypt it: openssl pkey -in KEY -aes256 -out NEW (you will be asked for passphrases).",
        ) from None
    except ValueError as e:
        text = str(e).lower()
        if "decrypt" in text or "password" in text:
            raise _err(
                Exit.WRONG_PASSPHRASE,
                f"wrong passphrase for {what}.",
                "Type the passphrase that protects this key.",
            ) from None
        if "unsupported" in text:
            raise _err(
                Exit.UNSUPPORTED_ALGORITHM,
                f"{what} uses an algorithm onboard cannot use.",
                "Re-encrypt it: openssl pkey -in KEY -aes256 -out NEW.",
            ) from None
    raise _err(
        Exit.NO_PRIVATE_KEY,
        f"{what} holds no private key that can be read.",
        "Give the PEM key (-----BEGIN ENCRYPTED PRIVATE KEY-----) that goes with the certificate.",
    )


def _ca_like(c: x509.Certificate, key_spki: bytes) -> bool:
    ca = _basic_ca(c)
    if ca is not None:
        return ca
    # v1 roots carry no extensions: self-issued and not ours means a CA
    return _is_self_issued(c) and public_key_der(c.public_key()) != key_spki


def assemble(
    key, certs: list[x509.Certificate], *, friendly: str = "", source: Path | None = None
) -> Credential:
    """Classify certificates: exactly one end-entity (matching the key), intermediates ordered upwards."""
    what = _what(source)
    spki = public_key_der(key.public_key())
    for c in certs:
        _readable(c, what)
    unique: list[x509.Certificate] = []
    for c in certs:
        if all(c != u for u in unique):
            unique.append(c)
    eecs = [c for c in unique if not _ca_like(c, spki)]
    if not eecs:
        raise _err(
            Exit.END_ENTITY,
            f"{what} holds no personal (end-entity) certificate, only CA certificates.",
            "Use the file with your own certificate: the one downloaded after the CA issued it.",
        )
    if len(eecs) > 1:
        names = "; ".join(oneline(c.subject) for c in eecs)
        raise _err(
            Exit.END_ENTITY,
            f"{what} holds {len(eecs)} personal certificates ({names}).",
            "Export one certificate at a time from the browser, then convert each file separately.",
        )
    leaf = eecs[0]
    if public_key_der(leaf.public_key()) != spki:
        raise _err(
            Exit.KEY_MISMATCH,
            f"the private key in {what} does not belong to its certificate "
            f"{oneline(leaf.subject)}.",
            "Use the key that was made with this certificate's request (or export both together again).",
        )
    cas = [c for c in unique if c is not leaf]
    chain: list[x509.Certificate] = []
    dropped: list[x509.Certificate] = []
    for c in cas:
        if _is_self_issued(c) or _cn(c.issuer) in CROSS_SIGN_ISSUERS:
            dropped.append(c)
        else:
            chain.append(c)
    return Credential(
        key=key, cert=leaf, chain=_order(leaf, chain), dropped=dropped, friendly_name=friendly, source=source
    )


def _readable(c: x509.Certificate, what: str) -> None:
    """cryptography parses a certificate's parts lazily: read them all now, so damage is one clear error."""
    try:
        c.public_key()
        c.extensions  # noqa: B018
        oneline(c.subject)
        oneline(c.issuer)
        c.not_valid_before_utc, c.not_valid_after_utc  # noqa: B018
    # TypeError: cryptography's verdict on a name attribute of the wrong ASN.1 type (a BIT STRING OU)
    except (
        ValueError,
        TypeError,
        UnsupportedAlgorithm,
        x509.DuplicateExtension,
        x509.UnsupportedGeneralNameType,
    ) as e:
        raise _err(
            Exit.CREDENTIAL,
            f"a certificate in {what} is damaged or uses what onboard cannot read ({type(e).__name__}).",
            "Download or export the certificate again from the CA's portal or your browser.",
        ) from None


def _order(leaf: x509.Certificate, cas: list[x509.Certificate]) -> list[x509.Certificate]:
    ordered, rest, current = [], list(cas), leaf
    while True:
        nxt = next((c for c in rest if c.subject == current.issuer), None)
        if nxt is None:
            break
        ordered.append(nxt)
        rest.remove(nxt)
        current = nxt
    return ordered + rest


# --- checks --------------------------------------------------------------------------------------


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
