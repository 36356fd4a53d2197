"""Why a PKCS#12 did not open: not a PKCS#12 at all, a wrong passphrase, or an algorithm we cannot use.

cryptography answers every failure with the same ValueError. When it does, this module reads the PFX
structure (RFC 7292) itself and checks the integrity MAC with the passphrase: a MAC that does not match
means the passphrase is wrong; a MAC that matches means the passphrase is right and the failure lies in
an encryption algorithm (e.g. RC2-40 in a build of OpenSSL without the legacy provider).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field

from onboard.pki import der

DATA = "1.2.840.113549.1.7.1"
ENCRYPTED_DATA = "1.2.840.113549.1.7.6"
SHROUDED_KEY_BAG = "1.2.840.113549.1.12.10.1.2"
PBES2 = "1.2.840.113549.1.5.13"
PBMAC1 = "1.2.840.113549.1.5.14"

ALGORITHM_NAMES = {
    "1.2.840.113549.1.12.1.1": "pbeWithSHA1And128BitRC4",
    "1.2.840.113549.1.12.1.2": "pbeWithSHA1And40BitRC4",
    "1.2.840.113549.1.12.1.3": "pbeWithSHA1And3-KeyTripleDES-CBC",
    "1.2.840.113549.1.12.1.4": "pbeWithSHA1And2-KeyTripleDES-CBC",
    "1.2.840.113549.1.12.1.5": "pbeWithSHA1And128BitRC2-CBC",
    "1.2.840.113549.1.12.1.6": "pbeWithSHA1And40BitRC2-CBC",
    "1.2.840.113549.1.5.3": "pbeWithMD5AndDES-CBC",
    "1.2.840.113549.1.5.10": "pbeWithSHA1AndDES-CBC",
    "2.16.840.1.101.3.4.1.2": "aes-128-cbc",
    "2.16.840.1.101.3.4.1.22": "aes-192-cbc",
    "2.16.840.1.101.3.4.1.42": "aes-256-cbc",
    "1.2.840.113549.3.7": "des-ede3-cbc",
    "1.3.14.3.2.7": "des-cbc",
    "1.2.840.113549.3.2": "rc2-cbc",
    "1.2.392.200011.61.1.1.1.2": "camellia-128-cbc",
    "1.2.392.200011.61.1.1.1.4": "camellia-256-cbc",
    "1.2.410.200004.1.4": "seed-cbc",
    "1.2.156.10197.1.104.2": "sm4-cbc",
}
# what a stock cryptography build decrypts; anything else is named as the likely culprit
USUAL = {
    "pbeWithSHA1And3-KeyTripleDES-CBC",
    "pbeWithSHA1And40BitRC2-CBC",
    "pbeWithSHA1And128BitRC2-CBC",
    "aes-128-cbc",
    "aes-192-cbc",
    "aes-256-cbc",
    "des-ede3-cbc",
}
LEGACY = {
    "pbeWithSHA1And40BitRC2-CBC",
    "pbeWithSHA1And128BitRC2-CBC",
    "pbeWithSHA1And40BitRC4",
    "pbeWithSHA1And128BitRC4",
    "rc2-cbc",
    "des-cbc",
    "seed-cbc",
    "pbeWithMD5AndDES-CBC",
    "pbeWithSHA1AndDES-CBC",
    "pbeWithSHA1And2-KeyTripleDES-CBC",
}

_HASHES = {  # digest OID -> (hashlib name, block size in bytes for the PKCS#12 KDF)
    "1.3.14.3.2.26": ("sha1", 64),
    "2.16.840.1.101.3.4.2.4": ("sha224", 64),
    "2.16.840.1.101.3.4.2.1": ("sha256", 64),
    "2.16.840.1.101.3.4.2.2": ("sha384", 128),
    "2.16.840.1.101.3.4.2.3": ("sha512", 128),
}


@dataclass
class Structure:
    mac_digest: str | None = None  # hashlib name; None: no MAC or a MAC kind we do not verify
    has_mac: bool = False
    mac_value: bytes = b""
    mac_salt: bytes = b""
    mac_iterations: int = 1
    auth_safe: bytes = b""
    algorithms: list[str] = field(default_factory=list)  # encryption algorithms used inside

    def mac_matches(self, passphrase: str) -> bool | None:
        """True/False when the MAC could be checked; None when it cannot (no MAC, PBMAC1, odd digest)."""
        if not self.has_mac or self.mac_digest is None:
            return None
        name, block = next((n, b) for n, b in _HASHES.values() if n == self.mac_digest)
        size = hashlib.new(name).digest_size
        for pw in _password_forms(passphrase):
            key = pkcs12_kdf(name, block, pw, self.mac_salt, 3, self.mac_iterations, size)
            if hmac.compare_digest(hmac.new(key, self.auth_safe, name).digest(), self.mac_value):
                return True
        return False


def _password_forms(passphrase: str) -> list[bytes]:
    # RFC 7292: BMPString with a trailing NUL pair. OpenSSL before 1.1.0 used each byte as a character.
    forms = [passphrase.encode("utf-16-be") + b"\0\0"]
    raw = passphrase.encode("utf-8")
    legacy = b"".join(b"\0" + bytes([c]) for c in raw) + b"\0\0"
    if legacy not in forms:
        forms.append(legacy)
    return forms


def pkcs12_kdf(
    hash_name: str, v: int, password: bytes, salt: bytes, ident: int, iterations: int, length: int
) -> bytes:
    """RFC 7292 appendix B.2 key derivation."""
    u = hashlib.new(hash_name).digest_size
    d = bytes([ident]) * v

    def fill(data: bytes) -> bytes:
        if not data:
            return b""
        n = v * ((len(data) + v - 1) // v)
        return (data * (n // len(data) + 1))[:n]

    i = bytearray(fill(salt) + fill(password))
    out = b""
    while len(out) < length:
        a = hashlib.new(hash_name, d + bytes(i)).digest()
        for _ in range(iterations - 1):
            a = hashlib.new(hash_name, a).digest()
        out += a
        b = int.from_bytes((a * (v // u + 1))[:v], "big")
        for j in range(0, len(i), v):
            block = (int.from_bytes(i[j : j + v], "big") + b + 1) % (1 << (8 * v))
            i[j : j + v] = block.to_bytes(v, "big")
    return out[:length]


def _algorithm(alg: der.TLV) -> str:
    parts = der.expect(alg, der.SEQUENCE, "algorithm").children()
    dotted = der.oid(parts[0])
    if dotted == PBES2 and len(parts) > 1:
        scheme = der.expect(parts[1], der.SEQUENCE, "PBES2 parameters").children()[1]
        return _algorithm(scheme)
    return ALGORITHM_NAMES.get(dotted, dotted)


def _bags(safe_contents: bytes, algorithms: list[str]) -> None:
    for bag in der.expect(der.read(safe_contents), der.SEQUENCE, "safe contents").children():
        items = der.expect(bag, der.SEQUENCE, "safe bag").children()
        if der.oid(items[0]) == SHROUDED_KEY_BAG:
            epki = der.expect(items[1].children()[0], der.SEQUENCE, "encrypted key")  # [0] EXPLICIT
            algorithms.append(_algorithm(epki.children()[0]))


def parse(data: bytes) -> Structure:
    """Read the outer PFX structure; raises der.DERError if these bytes are not a PKCS#12."""
    top = der.read(data)
    if top.end != len(data):
        if data[top.end :].strip(b"\0\r\n ") != b"":
            raise der.DERError("trailing data after the PKCS#12 structure")
    parts = der.expect(top, der.SEQUENCE, "PFX").children()
    if len(parts) < 2 or der.integer(parts[0]) != 3:
        raise der.DERError("not a PFX version 3 structure")
    info = der.expect(parts[1], der.SEQUENCE, "authSafe").children()
    if der.oid(info[0]) != DATA:
        raise der.DERError("public-key integrity mode PKCS#12 (signed) is not supported")
    auth_safe = der.octets(info[1].children()[0], "authSafe content")
    st = Structure(auth_safe=auth_safe)
    if len(parts) > 2:
        st.has_mac = True
        mac = der.expect(parts[2], der.SEQUENCE, "MAC data").children()
        digest_info = mac[0].children()
        alg = der.oid(digest_info[0].children()[0])
        st.mac_value = der.octets(digest_info[1], "MAC")
        st.mac_salt = der.octets(mac[1], "MAC salt")
        st.mac_iterations = der.integer(mac[2]) if len(mac) > 2 else 1
        st.mac_digest = _HASHES[alg][0] if alg in _HASHES else None
        if alg == PBMAC1:
            st.mac_digest = None
    for ci in der.expect(der.read(auth_safe), der.SEQUENCE, "authenticated safe").children():
        items = ci.children()
        kind = der.oid(items[0])
        if kind == DATA:
            _bags(der.octets(items[1].children()[0], "safe contents"), st.algorithms)
        elif kind == ENCRYPTED_DATA:
            enc = items[1].children()[0].children()  # EncryptedData: version, EncryptedContentInfo
            eci = enc[1].children()
            st.algorithms.append(_algorithm(eci[1]))
    return st


def looks_like_pkcs12(data: bytes) -> bool:
    try:
        parse(data)
    except (der.DERError, IndexError, KeyError):
        return False
    return True
