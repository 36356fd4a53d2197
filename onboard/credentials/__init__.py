"""Personal grid credentials: from the CA's PKCS#12 to files every grid tool and browser accepts.

Public functions for the rest of onboard (the convert and deliver steps, the sandbox):

- ``load_pkcs12(data, passphrase, *, source=None) -> Credential`` opens any PKCS#12 users really have
  (modern PBES2/AES with a SHA-256 MAC, legacy RC2-40/3DES with a SHA-1 MAC) in-process, with one
  decryption, and picks out the key, the one end-entity certificate and the intermediates (roots and
  Sectigo's cross-signs dropped). Failures are ``CredentialError`` with distinct exit codes: wrong
  passphrase, not a PKCS#12 (or truncated), unsupported algorithm, no private key, no or several
  end-entity certificates, key that does not match.
- ``load_pem(cert_data, key_data, passphrase, ...) -> Credential``: the same from PEM certificate + key.
- ``check(credential, now) -> list[str]`` raises for an expired/not-yet-valid certificate, an RSA key
  under 2048 bits, a certificate not for client authentication; returns warnings (expires within 30 days).
- ``install(credential, dest, key_passphrase=..., name=..., now=..., csr=False, links=True) -> Installed``
  writes cert-/chain-/key-/package-[/request-]<n> (key: encrypted PKCS#8 AES-256, 0600; package: 3DES +
  SHA-1 MAC, 0600, friendly name "<CN> issued <D Mon YYYY>"; certs 0644) and the relative links
  usercert.pem/userkey.pem, all or nothing, moving what it replaces to backup.<YYYYmmdd-HHMMSS>.<name>.
- ``pem_files_for_remote(cert=..., key=..., package=None) -> list[RemoteFile]``: the files a submit host
  needs (usercert.pem 0644, userkey.pem 0600 still encrypted, usercred.p12 0600) with their modes;
  ``pem_files_from_pkcs12(data, passphrase)`` makes the same from a PKCS#12 in memory.
- ``generate_key(subject, passphrase, kind="rsa"|"ec") -> StoredKey``: a key (RSA 3072 or EC P-256)
  stored encrypted in onboard's data directory with its CSR; ``find_stored_key(cert)`` finds it again.
- ``doctor_checks(directory, now=..., vo=None, passphrase=None) -> list[Check]``: grid-cert-diagnostics
  style checklist.

Trust directories, OpenSSL's name hash and slash-form DNs live in ``onboard.pki``.

Importing this package is cheap; cryptography is imported when one of these names is first used.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Credential": "model",
    "load_pkcs12": "readers",
    "load_pem": "readers",
    "check": "checks",
    "diagnose_pkcs12": "readers",
    "key_id": "model",
    "install": "installer",
    "Installed": "installer",
    "pem_files_for_remote": "remote",
    "pem_files_from_pkcs12": "remote",
    "RemoteFile": "remote",
    "StoredKey": "keys",
    "parse_subject": "keys",
    "Check": "doctor",
}
_RENAMED = {
    "generate_key": ("keys", "generate"),
    "find_stored_key": ("keys", "find_for"),
    "doctor_checks": ("doctor", "run_checks"),
}

__all__ = sorted([*_EXPORTS, *_RENAMED])


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        module, attr = _EXPORTS[name], name
    elif name in _RENAMED:
        module, attr = _RENAMED[name]
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), attr)
