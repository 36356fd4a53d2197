"""onboard.pki.names against the real openssl: the slash form is `-nameopt compat` (X509_NAME_oneline) to
the byte, the hash is `-hash` (the c_rehash name), also for a name known only by its slash form."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID

from onboard.pki import names
from tests.lib.pki import openssl_subject, selfsigned
from tests.lib.tools import require_tool

A = x509.NameAttribute
RDN = x509.RelativeDistinguishedName
ODD = {
    "slash-in-value": x509.Name(
        [
            A(NameOID.DOMAIN_COMPONENT, "org"),
            A(NameOID.ORGANIZATION_NAME, "A/B"),
            A(NameOID.COMMON_NAME, "x/CN=y"),
        ]
    ),
    "non-ascii-cn": x509.Name(
        [A(NameOID.DOMAIN_COMPONENT, "org"), A(NameOID.COMMON_NAME, "José Ñ Müller 李")]
    ),
    "email": x509.Name(
        [
            A(NameOID.COUNTRY_NAME, "IT"),
            A(NameOID.COMMON_NAME, "Jane"),
            A(NameOID.EMAIL_ADDRESS, "Jane.Doe@Example.ORG"),
        ]
    ),
    "dc-components": x509.Name(
        [
            A(NameOID.DOMAIN_COMPONENT, "org"),
            A(NameOID.DOMAIN_COMPONENT, "terena"),
            A(NameOID.DOMAIN_COMPONENT, "tcs"),
            A(NameOID.COUNTRY_NAME, "NL"),
            A(NameOID.ORGANIZATION_NAME, "Nikhef"),
            A(NameOID.COMMON_NAME, "Jane Doe jdoe@nikhef.nl"),
        ]
    ),
    "multi-valued-rdn": x509.Name(
        [
            RDN([A(NameOID.DOMAIN_COMPONENT, "org")]),
            RDN([A(NameOID.COMMON_NAME, "Jane+Doe"), A(NameOID.USER_ID, "jdoe")]),
        ]
    ),
    "plus-and-specials": x509.Name(
        [A(NameOID.ORGANIZATION_NAME, 'A+B, "C"; <D> #E = F'), A(NameOID.COMMON_NAME, "back\\slash")]
    ),
    "spaces-and-case": x509.Name(
        [A(NameOID.ORGANIZATION_NAME, "  Grid   LAB  "), A(NameOID.COMMON_NAME, "Tab\tCA")]
    ),
    "bmp-string": x509.Name([A(NameOID.COMMON_NAME, "Zoë", _ASN1Type.BMPString)]),
    "universal-string": x509.Name([A(NameOID.COMMON_NAME, "Ünïcode", _ASN1Type.UniversalString)]),
    "serial-and-uid": x509.Name(
        [
            A(NameOID.SERIAL_NUMBER, "12345"),
            A(NameOID.USER_ID, "u1"),
            A(NameOID.STATE_OR_PROVINCE_NAME, "Noord-Holland"),
            A(NameOID.LOCALITY_NAME, "Amsterdam"),
        ]
    ),
}


@pytest.mark.parametrize("case", list(ODD))
def test_oneline_and_hash_are_openssls(case):
    openssl = require_tool("openssl")
    cert = selfsigned(ODD[case])
    subject, digest = openssl_subject(openssl, cert)
    assert names.oneline(cert.subject) == subject
    assert names.oneline(cert.subject.public_bytes()) == subject
    assert names.subject_hash(cert.subject) == digest


@pytest.mark.parametrize("case", [c for c in ODD if "string" not in c and c != "plus-and-specials"])
def test_a_name_known_by_its_slash_form_hashes_the_same(case):
    """An LSC file or the VO catalog gives a CA only as slash text: its `<hash>.0` is found from that."""
    openssl = require_tool("openssl")
    cert = selfsigned(ODD[case])
    subject, digest = openssl_subject(openssl, cert)
    assert names.subject_hash(names.name_from_oneline(subject)) == digest
    assert names.dn_key(subject) == names.dn_key(cert.subject)


def test_backslash_is_printed_as_it_is():
    """OpenSSL escapes only '/', '+' and bytes outside printable ASCII: a backslash stays one, which
    makes `\\x41` in a value ambiguous (parse_oneline reads it as a byte, like every grid tool)."""
    openssl = require_tool("openssl")
    cert = selfsigned(ODD["plus-and-specials"])
    subject, digest = openssl_subject(openssl, cert)
    assert subject == '/O=A\\+B, "C"; <D> #E = F/CN=back\\slash'
    assert names.parse_oneline(subject) == [[("O", 'A+B, "C"; <D> #E = F')], [("CN", "back\\slash")]]
    assert names.subject_hash(names.name_from_oneline(subject)) == digest


@pytest.mark.parametrize("case", ["slash-in-value", "non-ascii-cn", "dc-components", "plus-and-specials"])
def test_rfc2253_is_openssls_without_escaping_letters(case):
    """RFC 2253 as OpenSSL prints it with UTF-8 letters kept (`-nameopt RFC2253,-esc_msb`). Where the two
    differ: OpenSSL calls 1.2.840.113549.1.9.1 emailAddress, lists a multi-valued RDN's members in reverse
    and escapes control characters (\\09); IAM takes the subject as cryptography writes it."""
    openssl = require_tool("openssl")
    cert = selfsigned(ODD[case])
    subject, _ = openssl_subject(openssl, cert, "RFC2253,-esc_msb")
    assert names.rfc2253(cert.subject) == subject
