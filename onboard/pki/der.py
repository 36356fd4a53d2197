"""A minimal DER reader: enough to tell a PKCS#12 apart from other data and to read names as OpenSSL does.

cryptography parses certificates and PKCS#12 files for real; this module only looks inside when
cryptography gives a single "invalid password or data" answer, to say which of the two it is, and where
a name's raw string types matter (`pki.names`: X509_NAME_oneline byte for byte, the subject hash).
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
