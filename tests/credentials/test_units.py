"""Small pieces checked against the real openssl: names, DNs, hashes; transliteration; remote files."""

from __future__ import annotations

import subprocess
import sys

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID

from onboard.credentials import naming, pfx, remote
from onboard.errors import CredentialError
from onboard.pki import names
from tests.lib.pki import PASSPHRASE, issue


@pytest.mark.parametrize(
    "cn,expected",
    [
        ("José Pérez", "Jose_Perez"),
        ("Jane Doe jdoe@example.org", "Jane_Doe_jdoe_example_org"),
        ("Øystein Ærø-Straße", "Oystein_AEro-Strasse"),
        ("Łukasz Żółć", "Lukasz_Zolc"),
        ("Ἀθηνᾶ", "_____"),  # no ASCII letters to fall back on: still one '_' per letter, never cut short
        ("Zoë O'Brien (CERN)", "Zoe_O_Brien__CERN_"),
    ],
)
def test_sanitize(cn, expected):
    assert naming.sanitize(cn) == expected


def test_dated_stem_and_friendly_name():
    import datetime as dt

    when = dt.datetime(2026, 3, 5, 10, 0, tzinfo=dt.timezone.utc)
    assert naming.stem("José Pérez", when, "dated", "Certificate") == "Jose_Perez_issued_5_Mar_2026"
    assert naming.stem("José Pérez", when, "cn", "Certificate") == "Jose_Perez"
    assert naming.stem("José Pérez", when, "plain", "Certificate") == "Certificate"
    assert naming.friendly_name("José Pérez", when) == "José Pérez issued 5 Mar 2026"


def _selfsigned(attrs):
    return issue(x509.Name(attrs), key=ec.generate_private_key(ec.SECP256R1())).cert


NAMES = [
    [
        x509.NameAttribute(NameOID.DOMAIN_COMPONENT, "org"),
        x509.NameAttribute(NameOID.COMMON_NAME, "José a/b+c"),
    ],
    [
        x509.NameAttribute(NameOID.COMMON_NAME, "Zoë", _ASN1Type.BMPString),
        x509.NameAttribute(NameOID.EMAIL_ADDRESS, "z@example.org"),
    ],
    [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "NL"),
        x509.NameAttribute(NameOID.COMMON_NAME, "  Mixed   Case  "),
        x509.NameAttribute(NameOID.USER_ID, "jd"),
    ],
    [x509.NameAttribute(NameOID.COMMON_NAME, "Ünïcode", _ASN1Type.UniversalString)],
]


@pytest.mark.parametrize("attrs", NAMES)
def test_oneline_and_hash_match_openssl(attrs, tmp_path):
    from cryptography.hazmat.primitives import serialization

    cert = _selfsigned(attrs)
    pem = cert.public_bytes(serialization.Encoding.PEM)
    out = (
        subprocess.run(
            ["openssl", "x509", "-noout", "-subject", "-nameopt", "compat", "-subject_hash"],
            input=pem,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .splitlines()
    )
    assert out[0] == "subject=" + names.oneline(cert.subject.public_bytes())
    assert out[0] == "subject=" + names.oneline(cert.subject)
    assert out[1] == names.subject_hash(cert.subject.public_bytes()) == names.subject_hash(cert.subject)


def test_pkcs12_kdf_mac_check_on_openssl_files(pki, jose):
    for legacy, digest in ((True, "sha1"), (False, "sha256")):
        st = pfx.parse(pki.p12(jose, f"mac{legacy}.p12", legacy=legacy).read_bytes())
        assert st.mac_digest == digest
        assert st.mac_matches(PASSPHRASE) is True
        assert st.mac_matches(PASSPHRASE + "x") is False
    assert pfx.parse(pki.p12(jose, "algs.p12", legacy=True).read_bytes()).algorithms == [
        "pbeWithSHA1And40BitRC2-CBC",
        "pbeWithSHA1And3-KeyTripleDES-CBC",
    ]


def test_non_ascii_passphrase(pki, jose):
    from onboard.credentials import load_pkcs12

    p12 = pki.p12(jose, "utf8pw.p12", passphrase="pässwörd ünïcode")
    assert load_pkcs12(p12.read_bytes(), "pässwörd ünïcode").cert == jose.cert
    with pytest.raises(CredentialError) as e:
        load_pkcs12(p12.read_bytes(), "passwort unicode")
    assert e.value.exit_code == 10


def test_remote_files(pki, jose, tmp_path):
    from onboard.credentials import pem_files_for_remote, pem_files_from_pkcs12

    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_bytes(jose.pem())
    key.write_bytes(jose.key_pem(PASSPHRASE))
    files = {f.name: f for f in pem_files_for_remote(cert=cert, key=key, package=b"p12-bytes")}
    assert {n: oct(f.mode) for n, f in files.items()} == {
        "usercert.pem": "0o644",
        "userkey.pem": "0o600",
        "usercred.p12": "0o600",
    }
    assert files["userkey.pem"].data == key.read_bytes()
    with pytest.raises(CredentialError):
        pem_files_for_remote(cert=cert, key=jose.key_pem(None))  # a clear key is never shipped
    made = pem_files_from_pkcs12(pki.p12(jose, "r.p12").read_bytes(), PASSPHRASE)
    assert [f.name for f in made] == ["usercert.pem", "userkey.pem"]
    assert made[1].data.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert isinstance(made[0], remote.RemoteFile)


def test_help_does_not_import_cryptography():
    code = (
        "import argparse, sys; from onboard.commands import credentials as c; "
        "[c.add_arguments(n, argparse.ArgumentParser()) for n in ('convert', 'keygen', 'doctor')]; "
        "import onboard.credentials; print('cryptography' in sys.modules, 'pydantic' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_config_shortcut_matches_config_defaults(monkeypatch, onboard_env):
    """convert skips pydantic when there is no configuration; its defaults must be the real ones."""
    import argparse

    from onboard import config
    from onboard.commands import credentials as cmd

    args = argparse.Namespace(config=None)
    fast = cmd._load_config(args)
    real = config.Config()
    assert not isinstance(fast, config.Config)
    for key in ("dir", "name_format", "passphrase_command", "passphrase_file"):
        assert getattr(fast.credentials, key) == getattr(real.credentials, key)
    assert fast.trust.cert_dir == real.trust.cert_dir
    monkeypatch.setenv("ONBOARD_CREDENTIALS__NAME_FORMAT", "cn")
    assert cmd._load_config(args).credentials.name_format == "cn"


def test_chain_drops_root_and_sectigo_cross_sign(pki, jose):
    """Sectigo blobs carry the root cross-signed by "AAA Certificate Services": never in the chain."""
    from onboard.credentials.readers import assemble
    from tests.lib.pki import issue, name

    aaa = issue(
        name(("C", "GB"), ("O", "Comodo CA Limited"), ("CN", "AAA Certificate Services")), None, ca=True
    )
    cross = issue(pki.root.cert.subject, aaa, ca=True, key=pki.root.key)  # the root, cross-signed by AAA
    cred = assemble(jose.key, [pki.root.cert, cross.cert, pki.int1.cert, jose.cert, pki.int2.cert, aaa.cert])
    assert cred.cert == jose.cert
    assert cred.chain == [pki.int2.cert, pki.int1.cert]
    assert {c.subject.rfc4514_string() for c in cred.dropped} == {
        pki.root.cert.subject.rfc4514_string(),
        aaa.cert.subject.rfc4514_string(),
    }
    assert len(cred.dropped) == 3


def test_leftovers_of_gone_writers_are_removed_and_live_ones_kept(tmp_path):
    """A transaction killed halfway leaves .onboard-<pid>-<n>.<name>.tmp: removed once its writer is gone
    (exited, or a zombie nobody reaped), kept while it runs; other files are never touched."""
    import os
    import time

    from onboard.credentials import files

    exited = subprocess.Popen([sys.executable, "-c", "pass"])
    exited.wait()
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    # not waited for: it stays a zombie until reaped
    for _ in range(200):
        with open(f"/proc/{zombie.pid}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                break
        time.sleep(0.01)
    names = {
        "gone": f".onboard-{exited.pid}-0.userkey.pem.tmp",
        "zombie": f".onboard-{zombie.pid}-1.usercert.pem.tmp",
        "live": f".onboard-{os.getpid()}-2.usercred.p12.tmp",
        "other": "userkey.pem",
    }
    for n in names.values():
        (tmp_path / n).write_text("x")
    try:
        removed = files.remove_stale(tmp_path)
    finally:
        zombie.wait()
    assert sorted(removed) == sorted([names["gone"], names["zombie"]])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([names["live"], names["other"]])
