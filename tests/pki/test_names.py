"""onboard.pki.names on its own: the slash form read back, DN comparison, readable messages, RFC 2253."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from onboard.pki import names

A = x509.NameAttribute
TYPES = [
    NameOID.COMMON_NAME,
    NameOID.ORGANIZATION_NAME,
    NameOID.ORGANIZATIONAL_UNIT_NAME,
    NameOID.DOMAIN_COMPONENT,
    NameOID.LOCALITY_NAME,
    NameOID.USER_ID,
    NameOID.SERIAL_NUMBER,
    NameOID.TITLE,
]
# any letter but a backslash: OpenSSL prints a backslash as it is, so `\x41` in a value reads back as `A`
# (its form is ambiguous there; no CA issues such names)
VALUE = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\\"), min_size=1, max_size=20
)
# DC (IA5String) and serialNumber (PrintableString) are ASCII: cryptography would write other letters'
# UTF-8 into them, which no CA does
ASCII_ONLY = (NameOID.DOMAIN_COMPONENT, NameOID.SERIAL_NUMBER)
ATTRIBUTE = st.sampled_from(TYPES).flatmap(
    lambda oid: st.tuples(st.just(oid), VALUE.filter(str.isascii) if oid in ASCII_ONLY else VALUE)
)
RDN = st.lists(ATTRIBUTE, min_size=1, max_size=3, unique_by=lambda t: t[0])
NAME = st.lists(RDN, min_size=1, max_size=6).map(
    lambda rdns: x509.Name([x509.RelativeDistinguishedName([A(oid, v) for oid, v in rdn]) for rdn in rdns])
)


@settings(max_examples=300, deadline=None)
@given(NAME)
def test_slash_form_reads_back(name):
    text = names.oneline(name)
    assert text.isascii() and text.isprintable()  # one line, whatever the letters
    parsed = names.parse_oneline(text)
    # the members of a multi-valued RDN are a SET: in DER order, as OpenSSL prints them
    assert [sorted(v for _, v in rdn) for rdn in parsed] == [
        sorted(a.value for a in rdn) for rdn in name.rdns
    ]
    again = names.name_from_oneline(text)
    assert names.oneline(again) == text
    assert names.dn_key(again) == names.dn_key(name) == names.dn_key(text)


@settings(max_examples=200, deadline=None)
@given(NAME)
def test_readable_shows_the_letters(name):
    text = names.readable(names.oneline(name))
    for rdn in name.rdns:
        for a in rdn:
            if a.value.isprintable():
                assert a.value.replace("/", "\\/").replace("+", "\\+") in text


def test_the_forms_of_one_name():
    name = x509.Name(
        [
            A(NameOID.DOMAIN_COMPONENT, "org"),
            A(NameOID.ORGANIZATION_NAME, "A/B"),
            A(NameOID.COMMON_NAME, "José Ñ"),
        ]
    )
    assert names.oneline(name) == "/DC=org/O=A\\/B/CN=Jos\\xC3\\xA9 \\xC3\\x91"
    assert names.readable(names.oneline(name)) == "/DC=org/O=A\\/B/CN=José Ñ"
    assert names.rfc2253(name) == "CN=José Ñ,O=A/B,DC=org"


@pytest.mark.parametrize(
    "old",
    [
        "/DC=org/O=A/B/CN=José Ñ",  # OpenSSL 1.x (no `\/`), letters as they are (VOMS-Admin's pages)
        "/DC=org/O=A/B/CN=Jos\\xC3\\xA9 \\xC3\\x91",  # OpenSSL 1.x
        "/dc=ORG/o=a\\/b/cn=josé  Ñ ",  # ASCII case and spaces as OpenSSL compares them
    ],
)
def test_older_slash_forms_are_the_same_name(old):
    assert names.dn_key(old) == names.dn_key("/DC=org/O=A\\/B/CN=Jos\\xC3\\xA9 \\xC3\\x91")


def test_dn_key_tells_names_apart_and_knows_the_aliases():
    assert names.dn_key("/CN=josé ñ") != names.dn_key("/CN=josé Ñ")  # OpenSSL folds ASCII letters only
    assert (
        names.dn_key("/C=IT/emailAddress=a@b")
        == names.dn_key("/C=IT/Email=a@b")
        == names.dn_key("/C=IT/E=a@b")
    )
    assert names.dn_key("/DC=ch/UID=x") == names.dn_key("/DC=ch/USERID=x")
    assert names.dn_key("/DC=ch/CN=x") != names.dn_key("/DC=ch/CN=y")
    assert names.dn_key("/DC=ch/CN=x") != names.dn_key("/CN=x/DC=ch")  # the order is part of a name
    assert names.dn_key("/CN=x+UID=u") != names.dn_key("/CN=x\\+UID=u")  # an escaped '+' is a letter
    assert names.dn_key("/CN=x+UID=u") == names.dn_key("/UID=u+CN=x")  # an RDN's members are a set
    assert names.dn_key("/CN=x+UID=u") != names.dn_key("/CN=x/UID=u")


def test_multi_valued_rdn():
    name = x509.Name(
        [x509.RelativeDistinguishedName([A(NameOID.COMMON_NAME, "x+y"), A(NameOID.USER_ID, "u=1")])]
    )
    assert names.oneline(name) == "/CN=x\\+y+UID=u=1"
    assert names.parse_oneline("/CN=x\\+y+UID=u=1") == [[("CN", "x+y"), ("UID", "u=1")]]


@pytest.mark.parametrize("bad", ["", "CN=x", "/", "/=x", "/ CN=x"])
def test_not_a_slash_dn(bad):
    with pytest.raises(ValueError):
        names.parse_oneline(bad)
    assert names.dn_key(bad) == ()


def test_unknown_attribute_types():
    assert names.oid_of("2.5.4.3") == "2.5.4.3"
    with pytest.raises(ValueError, match="unknown attribute 'Foo'"):
        names.name_from_oneline("/Foo=bar")
    # an attribute OpenSSL has no short name for prints, and reads back, as its dotted OID
    odd = x509.Name([A(x509.ObjectIdentifier("1.3.6.1.4.1.99999.1"), "v")])
    assert names.oneline(odd) == "/1.3.6.1.4.1.99999.1=v"
    assert names.name_from_oneline("/1.3.6.1.4.1.99999.1=v") == odd


def test_attribute_table_is_openssls_spelling():
    for oid, short in [
        (NameOID.EMAIL_ADDRESS, "emailAddress"),
        (NameOID.DOMAIN_COMPONENT, "DC"),
        (NameOID.USER_ID, "UID"),
        (NameOID.SERIAL_NUMBER, "serialNumber"),
        (NameOID.STATE_OR_PROVINCE_NAME, "ST"),
        (NameOID.COUNTRY_NAME, "C"),
    ]:
        assert names.ATTRIBUTES[oid.dotted_string] == short
        assert names.oid_of(short) == oid.dotted_string
