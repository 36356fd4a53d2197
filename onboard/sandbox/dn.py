"""Distinguished names the way grid software writes them, and OpenSSL's subject hash.

* `oneline(name)`: OpenSSL's `X509_NAME_oneline` form, `/DC=org/DC=x/CN=Jane Doe`, which vomsd, the VOMS
  database, VOMS-Admin, LSC files and vomses lines use (bytes outside printable ASCII as `\\xHH`).
* `subject_hash(name)`: what `openssl x509 -hash` prints, the `<hash>.0` name in a trust directory.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.x509.oid import NameOID, ObjectIdentifier

if TYPE_CHECKING:
    from onboard.sandbox.identity import ClientIdentity

# OpenSSL short names for the attributes that occur in grid DNs
_SHORT = {
    NameOID.COUNTRY_NAME: "C",
    NameOID.STATE_OR_PROVINCE_NAME: "ST",
    NameOID.LOCALITY_NAME: "L",
    NameOID.ORGANIZATION_NAME: "O",
    NameOID.ORGANIZATIONAL_UNIT_NAME: "OU",
    NameOID.COMMON_NAME: "CN",
    NameOID.EMAIL_ADDRESS: "emailAddress",
    NameOID.DOMAIN_COMPONENT: "DC",
    NameOID.USER_ID: "UID",
    NameOID.SERIAL_NUMBER: "serialNumber",
    NameOID.GIVEN_NAME: "GN",
    NameOID.SURNAME: "SN",
    NameOID.TITLE: "title",
    NameOID.STREET_ADDRESS: "street",
    NameOID.POSTAL_CODE: "postalCode",
}
PROXY_CERT_INFO = ObjectIdentifier("1.3.6.1.5.5.7.1.14")


def _escape(value: str) -> str:
    out = []
    for b in value.encode("utf-8"):
        out.append(chr(b) if 0x20 <= b <= 0x7E else f"\\x{b:02X}")
    return "".join(out)


def oneline(name: x509.Name) -> str:
    parts = []
    for rdn in name.rdns:
        for attr in rdn:
            key = _SHORT.get(attr.oid, attr.oid.dotted_string)
            value = attr.value if isinstance(attr.value, str) else attr.value.hex()
            parts.append(f"/{key}={_escape(value)}")
    return "".join(parts)


def parse_oneline(dn: str) -> x509.Name:
    """`/DC=org/CN=Jane Doe` -> Name (for names we make: no '/' or '=' inside values)."""
    rev = {v: k for k, v in _SHORT.items()}
    attrs = []
    for part in dn.strip("/").split("/"):
        key, _, value = part.partition("=")
        attrs.append(x509.NameAttribute(rev[key], value))
    return x509.Name(attrs)


# -- OpenSSL subject hash (X509_NAME_hash_ex: SHA-1 of the canonical encoding) --------------------------

_CANON_TYPES = {
    0x0C,
    0x13,
    0x14,
    0x16,
    0x1A,
    0x1E,
    0x1C,
}  # UTF8, Printable, T61, IA5, Visible, BMP, Universal


def _der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def _tlv(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + _der_len(len(content)) + content


def _oid_der(oid: ObjectIdentifier) -> bytes:
    nums = [int(x) for x in oid.dotted_string.split(".")]
    body = [40 * nums[0] + nums[1], *nums[2:]]
    out = bytearray()
    for n in body:
        chunk = [n & 0x7F]
        n >>= 7
        while n:
            chunk.append(0x80 | (n & 0x7F))
            n >>= 7
        out += bytes(reversed(chunk))
    return _tlv(0x06, bytes(out))


def _canon_value(value: str) -> bytes:
    data = value.encode("utf-8")
    ws = b" \t\n\v\f\r"
    data = data.strip(ws)
    out = bytearray()
    prev_space = False
    for b in data:
        if b in ws:
            if not prev_space:
                out.append(0x20)
            prev_space = True
            continue
        prev_space = False
        out.append(b + 32 if 0x41 <= b <= 0x5A else b)
    return bytes(out)


def subject_hash(name: x509.Name) -> str:
    canon = bytearray()
    for rdn in name.rdns:
        avas = []
        for attr in rdn:
            tag = attr._type.value if hasattr(attr, "_type") else 0x0C
            if isinstance(attr.value, str) and tag in _CANON_TYPES:
                val = _tlv(0x0C, _canon_value(attr.value))
            else:  # not a string type OpenSSL canonicalises: kept as it is
                raw = attr.value if isinstance(attr.value, bytes) else attr.value.encode("utf-8")
                val = _tlv(tag, raw)
            avas.append(_tlv(0x30, _oid_der(attr.oid) + val))
        canon += _tlv(0x31, b"".join(sorted(avas)))
    md = hashlib.sha1(bytes(canon)).digest()
    return f"{int.from_bytes(md[:4], 'little'):08x}"


# -- the client as VOMS-Admin sees it -----------------------------------------------------------------


def email_of(cert: x509.Certificate) -> str | None:
    for attr in cert.subject.get_attributes_for_oid(NameOID.EMAIL_ADDRESS):
        return str(attr.value)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    emails = san.get_values_for_type(x509.RFC822Name)
    return emails[0] if emails else None


def is_proxy(cert: x509.Certificate) -> bool:
    try:
        cert.extensions.get_extension_for_oid(PROXY_CERT_INFO)
        return True
    except x509.ExtensionNotFound:
        pass
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return bool(cns) and cns[-1].value in ("proxy", "limited proxy")


def identity_from_der(der: bytes, index: dict[str, str]) -> ClientIdentity:
    """The requester: subject/issuer of the end-entity certificate; for a proxy, the EEC it derives from.

    Python's ssl module exposes only the leaf of the verified chain, so for a proxy the EEC subject is the
    proxy's issuer with proxy CN components removed, and its issuer comes from `index` (subject -> issuer
    of every certificate the sandbox CA issued).
    """
    from onboard.sandbox.identity import ClientIdentity

    cert = x509.load_der_x509_certificate(der)
    if not is_proxy(cert):
        return ClientIdentity(oneline(cert.subject), oneline(cert.issuer), email_of(cert), der)
    subject = oneline(cert.issuer)
    while subject not in index and "/CN=" in subject:
        subject = subject.rsplit("/CN=", 1)[0]
    return ClientIdentity(subject, index.get(subject, ""), None, der, is_proxy=True)
