"""The Onboard Sandbox CA: trust directory layout, certificates, PKCS#12 downloads, real consumers."""

from __future__ import annotations

import os
import stat
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID

from onboard.atomicfile import write_new
from onboard.sandbox.ca import CAError, SandboxCA
from tests.lib.tools import require_tool

from .conftest import PASSPHRASE, VO

ENV_PASS = {**os.environ, "PW": PASSPHRASE.decode()}


def _openssl(*args: str, input: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["openssl", *args], capture_output=True, input=input, env=ENV_PASS, timeout=60)


def test_trust_directory_layout_as_grid_tools_read_it(prepared):
    d = prepared.trust_dir
    for alias in ("OnboardSandboxRootCA", "OnboardSandboxPersonalCA"):
        pem = d / f"{alias}.pem"
        h = _openssl("x509", "-in", str(pem), "-noout", "-hash").stdout.decode().strip()
        assert (d / f"{h}.0").is_symlink() and (d / f"{h}.0").resolve() == pem.resolve()
        subject = _openssl(
            "x509", "-in", str(pem), "-noout", "-subject", "-nameopt", "compat"
        ).stdout.decode()
        subject = subject.strip().removeprefix("subject=")
        policy = (d / f"{h}.signing_policy").read_text()
        assert f"access_id_CA      X509         '{subject}'" in policy
        assert "pos_rights        globus        CA:sign" in policy
        assert "cond_subjects     globus       '\"/DC=org/DC=onboard-sandbox/*\"'" in policy
        ns = (d / f"{h}.namespaces").read_text()
        assert f'TO Issuer "{subject}"' in ns and 'PERMIT Subject "/DC=org/DC=onboard-sandbox/.*"' in ns
    # the CA keys are not in the trust directory, and they are private
    assert not any("key" in p.name for p in d.iterdir())
    for key in (prepared.dir / "ca" / "private").glob("*.key"):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_personal_certificate_has_igtf_client_extensions(prepared, tmp_path):
    data, info = prepared.issue_user_p12("Jane Doe", "jane@example.org", PASSPHRASE, out=tmp_path / "j.p12")
    key, cert, chain = pkcs12.load_key_and_certificates(data, PASSPHRASE)
    assert info.subject == "/DC=org/DC=onboard-sandbox/O=Onboard Sandbox/OU=Personal/CN=Jane Doe"
    assert info.issuer == "/DC=org/DC=onboard-sandbox/CN=Onboard Sandbox Personal CA"
    ext = cert.extensions
    assert ext.get_extension_for_class(x509.BasicConstraints).value.ca is False
    ku = ext.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature and ku.value.key_encipherment
    eku = ext.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.CLIENT_AUTH in eku and ExtendedKeyUsageOID.EMAIL_PROTECTION in eku
    assert ext.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.RFC822Name
    ) == ["jane@example.org"]
    policies = [
        p.policy_identifier.dotted_string for p in ext.get_extension_for_class(x509.CertificatePolicies).value
    ]
    assert "1.2.840.113612.5.2.2.5" in policies
    assert (cert.not_valid_after_utc - cert.not_valid_before_utc).days <= 395
    assert [c.subject for c in chain] == [prepared.ca.personal.subject, prepared.ca.root.subject]
    assert key.key_size == 2048
    # the user's key is not kept by the sandbox
    assert b"PRIVATE KEY" not in b"".join(p.read_bytes() for p in (prepared.dir / "ca").rglob("*.jsonl"))
    pem = tmp_path / "cert.pem"
    pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    r = _openssl("verify", "-CApath", str(prepared.trust_dir), "-purpose", "sslclient", str(pem))
    assert r.returncode == 0, r.stdout + r.stderr


def test_modern_pkcs12_is_aes_and_file_is_0600(prepared, tmp_path):
    out = tmp_path / "modern.p12"
    prepared.issue_user_p12("Jane Doe", "jane@example.org", PASSPHRASE, out=out)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    info = _openssl("pkcs12", "-in", str(out), "-passin", "env:PW", "-info", "-noout")
    text = (info.stdout + info.stderr).decode()
    assert info.returncode == 0, text
    assert "AES-256-CBC" in text and "MAC: sha256" in text


def test_legacy_pkcs12_is_rc2_40_like_sectigo(prepared, tmp_path):
    out = tmp_path / "legacy.p12"
    prepared.issue_user_p12("Jane Doe", "jane@example.org", PASSPHRASE, out=out, legacy=True)
    plain = _openssl("pkcs12", "-in", str(out), "-passin", "env:PW", "-nokeys")
    assert (
        plain.returncode != 0 and b"RC2-40-CBC" in plain.stderr
    )  # OpenSSL 3 needs -legacy, as with Sectigo's
    legacy = _openssl("pkcs12", "-in", str(out), "-passin", "env:PW", "-info", "-noout", "-legacy")
    text = (legacy.stdout + legacy.stderr).decode()
    assert legacy.returncode == 0, text
    assert "pbeWithSHA1And40BitRC2-CBC" in text and "MAC: sha1" in text
    key, cert, _ = pkcs12.load_key_and_certificates(out.read_bytes(), PASSPHRASE)
    assert key is not None and cert is not None
    with pytest.raises(ValueError):
        pkcs12.load_key_and_certificates(out.read_bytes(), b"wrong passphrase")


def test_openssl_gets_the_passphrase_through_pipes_not_its_environment(prepared, tmp_path, monkeypatch):
    """Reproduced: the legacy PKCS#12 writer gave openssl the passphrase in an environment variable
    (/proc/PID/environ is readable by the same user while it runs)."""
    import shutil

    real = shutil.which("openssl")
    seen = tmp_path / "seen"
    wrapper = tmp_path / "bin" / "openssl"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\nenv > {seen}.env\necho "$@" > {seen}.argv\nexec {real} "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{wrapper.parent}:{os.environ['PATH']}")
    out = tmp_path / "legacy.p12"
    prepared.issue_user_p12("Jane Doe", "jane@example.org", PASSPHRASE, out=out, legacy=True)
    for part in ("env", "argv"):
        assert PASSPHRASE not in (tmp_path / f"seen.{part}").read_bytes()
    assert "-legacy" in (tmp_path / "seen.argv").read_text()  # it was this openssl that wrote the file
    key, cert, _ = pkcs12.load_key_and_certificates(out.read_bytes(), PASSPHRASE)
    assert key is not None and cert is not None


def test_issue_never_overwrites_and_needs_a_passphrase(prepared, tmp_path):
    out = tmp_path / "x.p12"
    out.write_bytes(b"precious")
    with pytest.raises(FileExistsError):
        prepared.issue_user_p12("Jane Doe", "jane@example.org", PASSPHRASE, out=out)
    assert out.read_bytes() == b"precious"
    with pytest.raises(CAError):
        prepared.issue_user_p12("Jane Doe", "jane@example.org", b"")
    with pytest.raises(CAError):
        prepared.issue_user_p12("Jane/CN=Admin", "jane@example.org", PASSPHRASE)


def test_ca_is_made_once_and_survives(tmp_path):
    ca = SandboxCA(tmp_path / "ca").ensure()
    root = (tmp_path / "ca" / "root.pem").read_bytes()
    again = SandboxCA(tmp_path / "ca").ensure()
    assert (tmp_path / "ca" / "root.pem").read_bytes() == root
    assert again.root.serial_number == ca.root.serial_number
    cert, key = again.host_credential("host", ["localhost"])
    assert again.host_credential("host", ["localhost"]) == (cert, key)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_grid_proxy_init_accepts_the_personal_certificate(prepared, tmp_path):
    """Globus reads the trust dir with its signing policies: a real consumer of the layout."""
    exe = require_tool("grid-proxy-init")
    data, _ = prepared.issue_user_p12("Jane Doe", "jane@example.org", PASSPHRASE)
    key, cert, _ = pkcs12.load_key_and_certificates(data, PASSPHRASE)
    certfile, keyfile = tmp_path / "usercert.pem", tmp_path / "userkey.pem"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    encrypted = serialization.BestAvailableEncryption(PASSPHRASE)
    write_new(keyfile, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         encrypted), 0o400)
    proxy = tmp_path / "proxy"
    r = subprocess.run(
        [
            exe,
            "-cert",
            str(certfile),
            "-key",
            str(keyfile),
            "-certdir",
            str(prepared.trust_dir),
            "-out",
            str(proxy),
            "-pwstdin",
            "-verify",
        ],
        input=PASSPHRASE + b"\n",
        capture_output=True,
        timeout=60,
        env={**os.environ, "X509_CERT_DIR": str(prepared.trust_dir)},
    )
    assert r.returncode == 0, (r.stdout + r.stderr).decode()
    assert proxy.exists()


def test_proxy_certificate_is_accepted_as_the_end_entity(sandbox, tmp_path, trainee):
    """VOMS-Admin identifies a proxy's owner by the end-entity certificate; so does the sandbox."""
    exe = require_tool("grid-proxy-init")
    key, cert, _ = pkcs12.load_key_and_certificates(trainee.p12.read_bytes(), PASSPHRASE)
    certfile, keyfile = tmp_path / "usercert.pem", tmp_path / "userkey.pem"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    encrypted = serialization.BestAvailableEncryption(PASSPHRASE)
    write_new(keyfile, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         encrypted), 0o400)
    proxy = tmp_path / "x509up"
    r = subprocess.run(
        [
            exe,
            "-rfc",
            "-cert",
            str(certfile),
            "-key",
            str(keyfile),
            "-certdir",
            str(sandbox.trust_dir),
            "-out",
            str(proxy),
            "-pwstdin",
        ],
        input=PASSPHRASE + b"\n",
        capture_output=True,
        timeout=60,
    )
    assert r.returncode == 0, (r.stdout + r.stderr).decode()
    trainee.session.cert = str(proxy)  # the proxy file holds proxy cert, its key, and the user cert
    trainee.session.cookies.clear()
    page = trainee.get(VO, "register/start.action").text
    assert trainee.subject in page and trainee.issuer in page


def test_subject_hash_matches_openssl_for_odd_names(tmp_path):
    from cryptography.x509.oid import NameOID

    from onboard.pki.names import subject_hash

    names = [
        x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "DE"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "  Grid   Lab  "),
                x509.NameAttribute(NameOID.COMMON_NAME, "José MÜLLER"),
            ]
        ),
        x509.Name(
            [
                x509.NameAttribute(NameOID.DOMAIN_COMPONENT, "ORG"),
                x509.NameAttribute(NameOID.EMAIL_ADDRESS, "Ca@Example.ORG"),
                x509.NameAttribute(NameOID.COMMON_NAME, "Tab\tCA"),
            ]
        ),
    ]
    from cryptography.hazmat.primitives.asymmetric import ec

    from tests.lib.pki import issue

    key = ec.generate_private_key(ec.SECP256R1())
    for i, name in enumerate(names):
        p = tmp_path / f"{i}.pem"
        p.write_bytes(issue(name, key=key, ca=True).pem())
        assert (
            subject_hash(name) == _openssl("x509", "-in", str(p), "-noout", "-hash").stdout.decode().strip()
        )


def test_dn_oneline_escapes_like_openssl():
    from cryptography.x509.oid import NameOID

    from onboard.pki.names import oneline

    name = x509.Name(
        [x509.NameAttribute(NameOID.DOMAIN_COMPONENT, "org"), x509.NameAttribute(NameOID.COMMON_NAME, "José")]
    )
    assert oneline(name) == "/DC=org/CN=Jos\\xC3\\xA9"
