"""The files a submit host needs (for the delivery step and the sandbox), as bytes and modes.

The key travels as it is stored: encrypted PKCS#8. No function here writes a decrypted key anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from onboard.credentials import files
from onboard.errors import CredentialError, Exit


@dataclass(frozen=True)
class RemoteFile:
    name: str  # file name under ~/.globus on the remote side
    data: bytes
    mode: int


def _read(source: bytes | Path | str) -> bytes:
    if isinstance(source, bytes):
        return source
    try:
        return Path(source).expanduser().read_bytes()
    except OSError as e:
        raise CredentialError(
            f"cannot read {source}: {e.strerror}.", "Run `onboard convert` first.", exit_code=Exit.CREDENTIAL
        ) from None


def pem_files_for_remote(
    *, cert: bytes | Path | str, key: bytes | Path | str, package: bytes | Path | str | None = None
) -> list[RemoteFile]:
    """usercert.pem (0644), userkey.pem (0600, still encrypted) and, if given, usercred.p12 (0600).

    `cert`/`key`/`package` are the converted files (paths) or their contents. An unencrypted key is refused:
    a decrypted key must never be written, here or on the submit host.
    """
    cert_data, key_data = _read(cert), _read(key)
    if b"-----BEGIN CERTIFICATE-----" not in cert_data:
        raise CredentialError(
            f"{cert if not isinstance(cert, bytes) else 'the certificate'} is not a PEM certificate.",
            "Give cert-<n>.pem as written by `onboard convert`.",
            exit_code=Exit.CREDENTIAL,
        )
    encrypted = b"-----BEGIN ENCRYPTED PRIVATE KEY-----" in key_data or (
        b"PRIVATE KEY-----" in key_data and b"Proc-Type: 4,ENCRYPTED" in key_data
    )
    if not encrypted:
        raise CredentialError(
            "the key to deliver is not encrypted; onboard never copies a key in the clear.",
            "Convert again with `onboard convert` (it writes an encrypted key).",
            exit_code=Exit.CREDENTIAL,
        )
    out = [
        RemoteFile("usercert.pem", cert_data, files.CERT_MODE),
        RemoteFile("userkey.pem", key_data, files.KEY_MODE),
    ]
    if package is not None:
        out.append(RemoteFile("usercred.p12", _read(package), files.P12_MODE))
    return out


def pem_files_from_pkcs12(
    data: bytes, passphrase: str, *, key_passphrase: str | None = None
) -> list[RemoteFile]:
    """Same files made in memory from a PKCS#12 (the sandbox hands out p12s); the key stays encrypted."""
    from onboard.credentials.readers import load_pkcs12

    cred = load_pkcs12(data, passphrase)
    kp = key_passphrase or passphrase
    return [
        RemoteFile("usercert.pem", cred.cert_pem(), files.CERT_MODE),
        RemoteFile("userkey.pem", cred.key_pem(kp), files.KEY_MODE),
    ]
