"""A minimal DER reader: enough to tell a PKCS#12 apart from other data and to print names as OpenSSL does.

cryptography parses certificates and PKCS#12 files for real; this module only looks inside when
cryptography gives a single "invalid password or data" answer, to say which of the two it is, and to
reproduce `X509_NAME_oneline` byte for byte (VOMS stores DNs in that form).
"""

from __future__ import annotations

from dataclasses import dataclass


class DERError(ValueError):
    """The bytes are not well-formed DER (or are cut short)."""

    def __init__(self, message: str, truncated: bool = False):
        super().__init__(message)
        self.truncated = truncated


@dataclass(frozen=True)
class TLV:
    tag: int  # the identifier octet (class, constructed bit and number; low tag numbers only)
    value: bytes
    end: int  # offset just past this element in the buffer it was read from

    @property
    def constructed(self) -> bool:
        return bool(self.tag & 0x20)

    def children(self) -> list[TLV]:
        return read_all(self.value)


SEQUENCE, SET, INTEGER, OCTET_STRING, OID, NULL = 0x30, 0x31, 0x02, 0x04, 0x06, 0x05


def read(buf: bytes, pos: int = 0) -> TLV:
    """One element at `pos`. BER's indefinite length (NSS and Firefox write PKCS#12 that way) is accepted
    for constructed elements: the value then spans the children up to the end-of-contents octets."""
    if pos >= len(buf):
        raise DERError("unexpected end of data", truncated=True)
    tag = buf[pos]
    if tag & 0x1F == 0x1F:
        raise DERError("high tag numbers are not used in these structures")
    pos += 1
    if pos >= len(buf):
        raise DERError("unexpected end of data", truncated=True)
    first = buf[pos]
    pos += 1
    if first == 0x80:
        if not tag & 0x20:
            raise DERError("indefinite length on a primitive element")
        cur = pos
        while True:
            if cur + 2 > len(buf):
                raise DERError("unexpected end of data (no end-of-contents)", truncated=True)
            if buf[cur] == 0 and buf[cur + 1] == 0:
                return TLV(tag, buf[pos:cur], cur + 2)
            cur = read(buf, cur).end
    if first < 0x80:
        length = first
    else:
        n = first & 0x7F
        if n > 4:
            raise DERError("length field too long")
        if pos + n > len(buf):
            raise DERError("unexpected end of data", truncated=True)
        length = int.from_bytes(buf[pos : pos + n], "big")
        pos += n
    if pos + length > len(buf):
        raise DERError(f"element needs {length} bytes, only {len(buf) - pos} remain", truncated=True)
    return TLV(tag, buf[pos : pos + length], pos + length)


def octets(t: TLV, what: str = "octet string") -> bytes:
    """The bytes of an OCTET STRING, primitive (DER) or constructed from segments (BER)."""
    if t.tag == OCTET_STRING:
        return t.value
    if t.tag == OCTET_STRING | 0x20:
        return b"".join(octets(c, what) for c in t.children())
    raise DERError(f"{what}: expected an octet string, found tag 0x{t.tag:02x}")


def read_all(buf: bytes) -> list[TLV]:
    out, pos = [], 0
    while pos < len(buf):
        t = read(buf, pos)
        out.append(t)
        pos = t.end
    return out


def expect(t: TLV, tag: int, what: str) -> TLV:
    if t.tag != tag:
        raise DERError(f"{what}: expected tag 0x{tag:02x}, found 0x{t.tag:02x}")
    return t


def oid(t: TLV) -> str:
    expect(t, OID, "object identifier")
    v = t.value
    if not v:
        raise DERError("empty object identifier")
    arcs: list[int] = []
    n = 0
    for b in v:
        n = (n << 7) | (b & 0x7F)
        if not b & 0x80:
            arcs.append(n)
            n = 0
    first = arcs[0]
    head = [0, first] if first < 40 else [1, first - 40] if first < 80 else [2, first - 80]
    return ".".join(str(a) for a in head + arcs[1:])


def integer(t: TLV) -> int:
    expect(t, INTEGER, "integer")
    return int.from_bytes(t.value, "big", signed=True)


# --- names the way OpenSSL's X509_NAME_oneline prints them ----------------------------------------

# OpenSSL short names of the attribute types met in grid DNs (others print as dotted OIDs, like OpenSSL)
SHORT_NAMES = {
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
_GENERAL_STRING = 0x1B


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
        elif b in (0x2F, 0x2B):  # '/' and '+' are escaped (OpenSSL 3)
            out.append("\\" + chr(b))
        else:
            out.append(chr(b))
    return "".join(out)


def name_oneline(name_der: bytes) -> str:
    """`/DC=org/DC=x/CN=Jane Doe` exactly as `openssl x509 -noout -subject -nameopt compat` prints it."""
    seq = expect(read(name_der), SEQUENCE, "name")
    parts = []
    for rdn in seq.children():
        expect(rdn, SET, "relative distinguished name")
        members = []
        for atv in rdn.children():
            typ, val = expect(atv, SEQUENCE, "attribute").children()[:2]
            dotted = oid(typ)
            members.append(f"{SHORT_NAMES.get(dotted, dotted)}={_oneline_value(val.tag, val.value)}")
        parts.append("+".join(members))
    return "".join("/" + p for p in parts)
