"""Reading a credential from what users have: any PKCS#12 (legacy RC2-40/3DES with a SHA-1 MAC, modern
PBES2/AES with a SHA-256 MAC) or PEM certificate and key, decrypted once, in-process, with cryptography (no
`openssl -legacy`). Every failure becomes a CredentialError with its own exit code, a one-line message and a
one-line hint; none names a secret.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from onboard.credentials import pfx
from onboard.credentials.model import Credential, _passphrase_bytes, common_name, public_key_der
from onboard.credentials.model import credential_error as _err
from onboard.errors import CredentialError, Exit
from onboard.pki import der
from onboard.pki.names import oneline

# Sectigo's cross-signed legacy roots: certificates they issue are dropped from the chain (tcsg4 does too)
CROSS_SIGN_ISSUERS = ("AddTrust External CA Root", "AAA Certificate Services")


def read_input(path: Path) -> bytes:
    """The bytes of the file the CA or the browser saved, or an error that says what is wrong with it."""
    try:
        return path.expanduser().read_bytes()
    except FileNotFoundError:
        raise CredentialError(
            f"{path}: no such file.",
            "Give the path of the file the CA or your browser saved.",
            exit_code=Exit.CREDENTIAL,
        ) from None
    except IsADirectoryError:
        raise CredentialError(f"{path} is a directory.", "Give the .p12/.pfx file itself.") from None
    except OSError as e:
        raise CredentialError(f"{path} cannot be read: {e.strerror}.", "Check its permissions.") from None


def _is_self_issued(c: x509.Certificate) -> bool:
    return c.subject == c.issuer


def _basic_ca(c: x509.Certificate) -> bool | None:
    try:
        return bool(c.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return None


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
        if _is_self_issued(c) or common_name(c.issuer) in CROSS_SIGN_ISSUERS:
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
