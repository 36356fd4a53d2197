"""Distinguished names: the one place that renders, parses and hashes them.

Which rendering for whom (measured against the real tools, tests/pki):

* `oneline(name)` -- OpenSSL 3's `X509_NAME_oneline`, byte for byte: `/DC=org/O=A\\/B/CN=Jos\\xC3\\xA9`.
  Bytes outside printable ASCII as `\\xHH`, a `/` or `+` inside a value as `\\/` `\\+`, the members of a
  multi-valued RDN joined by `+`. It is what `openssl x509 -subject -nameopt compat`, `grid-proxy-init`
  ("Your identity") and `voms-proxy-info --identity` print, and the string voms-server looks up in its
  database (`usr.dn`, `ca.ca`): a member stored in any other form is "unknown to this VO". So the VOMS
  database, VOMS-Admin's `user-info?dn=&ca=`, LSC and vomses files, signing_policy files and the journey
  record all take this form.
* `readable(dn)` -- the same with the `\\xHH` runs shown as the letters they encode (`CN=José`), for
  messages to the user only: never match or store it.
* `rfc2253(name)` -- RFC 4514/2253 text (`CN=José,DC=org`, last RDN first), as INDIGO IAM shows a
  certificate's subject.

`parse_oneline` reads the slash form back (also the older forms: unescaped `/` in a value, letters not
escaped), `dn_key` compares two DNs as OpenSSL does (case and spaces folded), `subject_hash` is
`openssl x509 -hash` (the `<hash>.0` names of a trust directory).
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING

from onboard.pki import der

if TYPE_CHECKING:
    from cryptography import x509

    NameLike = x509.Name | bytes

# OID -> the short name OpenSSL prints (others print as the dotted OID, as OpenSSL does)
ATTRIBUTES = {
    "2.5.4.3": "CN",
    "2.5.4.6": "C",
    "2.5.4.7": "L",
    "2.5.4.8": "ST",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "2.5.4.4": "SN",
    "2.5.4.42": "GN",
    "2.5.4.43": "initials",
    "2.5.4.44": "generationQualifier",
    "2.5.4.5": "serialNumber",
    "2.5.4.12": "title",
    "2.5.4.9": "street",
    "2.5.4.17": "postalCode",
    "2.5.4.46": "dnQualifier",
    "2.5.4.65": "pseudonym",
    "2.5.4.15": "businessCategory",
    "2.5.4.97": "organizationIdentifier",
    "2.5.4.41": "name",
    "2.5.4.13": "description",
    "0.9.2342.19200300.100.1.25": "DC",
    "0.9.2342.19200300.100.1.1": "UID",
    "1.2.840.113549.1.9.1": "emailAddress",
    "1.2.840.113549.1.9.2": "unstructuredName",
    "1.3.6.1.4.1.311.60.2.1.3": "jurisdictionC",
}
# short name (lower case), and the spellings older grid tools and VOMS-Admin use, -> OID
_OIDS = {v.lower(): k for k, v in ATTRIBUTES.items()}
_OIDS.update(
    {
        "email": "1.2.840.113549.1.9.1",
        "e": "1.2.840.113549.1.9.1",
        "userid": "0.9.2342.19200300.100.1.1",
        "s": "2.5.4.8",
    }
)

_GENERAL_STRING = 0x1B
# the string types OpenSSL canonicalises for the hash (ASN1_MASK_CANON), with how their bytes decode
_CANON = {
    0x0C: "utf-8",
    0x1E: "utf-16-be",
    0x1C: "utf-32-be",
    0x13: "latin-1",
    0x14: "latin-1",
    0x16: "latin-1",
    0x1A: "latin-1",
}
_SPACE = " \t\n\v\f\r"


def _name_der(name: NameLike) -> bytes:
    return name if isinstance(name, (bytes, bytearray)) else name.public_bytes()


def _rdns(name: NameLike) -> list[list[tuple[str, int, bytes]]]:
    """[(OID, string tag, raw value bytes), ...] per RDN, in DER order (the order OpenSSL prints)."""
    seq = der.expect(der.read(_name_der(name)), der.SEQUENCE, "name")
    out = []
    for rdn in seq.children():
        der.expect(rdn, der.SET, "relative distinguished name")
        members = []
        for atv in rdn.children():
            typ, val = der.expect(atv, der.SEQUENCE, "attribute").children()[:2]
            members.append((der.oid(typ), val.tag, val.value))
        out.append(members)
    return out


# ---- the slash form ----------------------------------------------------------------------------------


def _oneline_value(tag: int, data: bytes) -> str:
    keep = [True] * 4
    if tag == _GENERAL_STRING and len(data) % 4 == 0:
        # OpenSSL prints 4-byte-wide strings whose first three bytes are all zero as their last byte
        nonzero = [any(data[j] for j in range(i, len(data), 4)) for i in range(4)]
        keep = [True] * 4 if any(nonzero[:3]) else [False, False, False, True]
    out = []
    for j, b in enumerate(data):
        if not keep[j & 3]:
            continue
        if b < 0x20 or b > 0x7E:
            out.append(f"\\x{b:02X}")
        elif b in (0x2F, 0x2B):  # '/' and '+' (OpenSSL 3)
            out.append("\\" + chr(b))
        else:
            out.append(chr(b))
    return "".join(out)


def oneline(name: NameLike) -> str:
    """`/DC=org/DC=x/CN=Jane Doe` exactly as OpenSSL's X509_NAME_oneline (an x509.Name or its DER)."""
    return "".join(
        "/" + "+".join(f"{ATTRIBUTES.get(oid, oid)}={_oneline_value(tag, raw)}" for oid, tag, raw in rdn)
        for rdn in _rdns(name)
    )


def readable(text: str) -> str:
    """OpenSSL's escaped UTF-8 in DNs (CN=Jos\\xC3\\xA9) shown as the letters it stands for, in messages."""

    def decode(m: re.Match[str]) -> str:
        try:
            return bytes.fromhex(m.group(0).replace("\\x", "")).decode("utf-8")
        except UnicodeDecodeError:
            return m.group(0)

    return re.sub(r"(?:\\x[0-9A-Fa-f]{2})+", decode, text)


# a new attribute starts at '/' or '+' followed by a type name (or a dotted OID) and '='
_ATTR_START = re.compile(r"(?:[A-Za-z][A-Za-z0-9-]*|[0-9]+(?:\.[0-9]+)+)=")


def _unescape(raw: str) -> str:
    r"""A value of the slash form: `\xHH` runs are UTF-8 bytes, `\/` and `\+` the characters."""
    buf = bytearray()
    i = 0
    while i < len(raw):
        c = raw[i]
        if c == "\\" and raw[i + 1 : i + 2] in ("/", "+"):
            buf += raw[i + 1].encode()
            i += 2
        elif c == "\\" and re.fullmatch(r"x[0-9A-Fa-f]{2}", raw[i + 1 : i + 4]):
            buf.append(int(raw[i + 2 : i + 4], 16))
            i += 4
        else:
            buf += c.encode("utf-8")
            i += 1
    return buf.decode("utf-8", "replace")


def parse_oneline(dn: str) -> list[list[tuple[str, str]]]:
    """The RDNs of a slash DN as [[(type as written, value), ...], ...]; ValueError if it is not one.

    Reads what OpenSSL 3 prints and the older forms too: a `/` or `+` in a value that is not followed by
    `type=` belongs to the value (OpenSSL 1.x did not escape it), letters may be UTF-8 or `\\xHH`."""
    dn = dn.lstrip().rstrip("\r\n")  # a value may end in a space; a line break is not part of it
    if not dn.startswith("/") or not _ATTR_START.match(dn, 1):
        raise ValueError(f"'{dn}' is not a DN in slash form")
    rdns: list[list[tuple[str, str]]] = []
    start, sep = 1, "/"
    i = 1
    pieces: list[tuple[str, str]] = []  # (separator before it, "type=raw value")
    while i <= len(dn):
        if i == len(dn) or (dn[i] in "/+" and dn[i - 1] != "\\" and _ATTR_START.match(dn, i + 1)):
            pieces.append((sep, dn[start:i]))
            if i < len(dn):
                sep, start = dn[i], i + 1
        i += 1
    for sep, piece in pieces:
        attr, _, raw = piece.partition("=")
        if sep == "/" or not rdns:
            rdns.append([])
        rdns[-1].append((attr, _unescape(raw)))
    return rdns


def oid_of(attr: str) -> str:
    """The dotted OID of an attribute type as written in a DN (CN, emailAddress, Email, 2.5.4.3...)."""
    if re.fullmatch(r"[0-9]+(?:\.[0-9]+)+", attr):
        return attr
    try:
        return _OIDS[attr.lower()]
    except KeyError:
        raise ValueError(f"unknown attribute '{attr}' in a DN") from None


def name_from_oneline(dn: str) -> x509.Name:
    """An x509.Name from a slash DN (UTF8String values; for the hash of a CA known only by its DN)."""
    from cryptography import x509
    from cryptography.x509.oid import ObjectIdentifier

    return x509.Name(
        [
            x509.RelativeDistinguishedName(
                [x509.NameAttribute(ObjectIdentifier(oid_of(a)), v) for a, v in rdn]
            )
            for rdn in parse_oneline(dn)
        ]
    )


def _canon_text(value: str) -> str:
    """OpenSSL's canonical form of a string value: trimmed, inner whitespace runs to one space, ASCII
    letters in lower case."""
    value = re.sub(f"[{_SPACE}]+", " ", value.strip(_SPACE))
    return "".join(ch.lower() if "A" <= ch <= "Z" else ch for ch in value)


def dn_key(dn: str | NameLike) -> tuple[tuple[tuple[str, str], ...], ...]:
    """A comparable form of a DN given as slash text or as a name: per RDN, sorted (OID, canonical value).
    Two DNs that OpenSSL would hash alike compare equal (case, spaces, `\\xHH` against letters, Email=)."""
    if isinstance(dn, str):
        try:
            rdns = [[(oid_of(a), v) for a, v in rdn] for rdn in parse_oneline(dn)]
        except ValueError:
            return ()
    else:
        rdns = [[(oid, _decode(tag, raw)) for oid, tag, raw in rdn] for rdn in _rdns(dn)]
    return tuple(tuple(sorted((oid, _canon_text(v)) for oid, v in rdn)) for rdn in rdns)


def _decode(tag: int, raw: bytes) -> str:
    return raw.decode(_CANON.get(tag, "latin-1"), "replace")


# ---- RFC 2253 ----------------------------------------------------------------------------------------


def rfc2253(name: x509.Name) -> str:
    """RFC 4514 (RFC 2253's successor) text of a name, last RDN first, letters as they are: what INDIGO
    IAM shows for a certificate's subject and issuer."""
    return name.rfc4514_string()


# ---- OpenSSL's subject hash --------------------------------------------------------------------------


def _der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def _tlv(tag: int, value: bytes) -> bytes:
    return bytes([tag]) + _der_len(len(value)) + value


def _der_oid(dotted: str) -> bytes:
    nums = [int(x) for x in dotted.split(".")]
    body = bytearray()
    for n in [40 * nums[0] + nums[1], *nums[2:]]:
        chunk = [n & 0x7F]
        n >>= 7
        while n:
            chunk.append(0x80 | (n & 0x7F))
            n >>= 7
        body += bytes(reversed(chunk))
    return _tlv(der.OID, bytes(body))


def _canon_value(tag: int, raw: bytes) -> bytes:
    codec = _CANON.get(tag)
    if codec is None:  # not a string type OpenSSL canonicalises: kept as it is
        return _tlv(tag, raw)
    text = raw.decode(codec, "replace").encode("utf-8")
    text = re.sub(rb"[ \t\n\v\f\r]+", b" ", text.strip(_SPACE.encode()))
    return _tlv(0x0C, bytes(b + 32 if 0x41 <= b <= 0x5A else b for b in text))


def subject_hash(name: NameLike) -> str:
    """OpenSSL's X509_NAME_hash (`openssl x509 -hash`, the `<hash>` of `<hash>.0`), eight hex digits.

    SHA-1 over the canonical encoding: each RDN a DER SET of (OID, UTF8String of the canonical value),
    concatenated without the outer SEQUENCE; the first four digest bytes, little-endian."""
    canon = b""
    for rdn in _rdns(name):
        members = sorted(_tlv(der.SEQUENCE, _der_oid(oid) + _canon_value(tag, raw)) for oid, tag, raw in rdn)
        canon += _tlv(der.SET, b"".join(members))
    digest = hashlib.sha1(canon).digest()
    return f"{int.from_bytes(digest[:4], 'little'):08x}"
