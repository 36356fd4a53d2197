"""Every refusal of point 6: its own exit code, a line of what and one of what to do, and no file changed."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
from pathlib import Path

import pytest
from cryptography.x509.oid import ExtendedKeyUsageOID

from onboard.errors import Exit
from tests.lib.files import snapshot
from tests.lib.pki import NOW, PASSPHRASE, new_key
from tests.lib.tools import require_tool


@pytest.fixture
def installed(cli, pki, jose, pwfile):
    """An earlier conversion in ~/.globus that a failing run would otherwise replace."""
    require_tool("openssl")
    r = cli(
        "convert",
        str(pki.p12(jose, "earlier.p12")),
        "--passphrase-file",
        str(pwfile),
        "--name-format",
        "cn",
        "--csr",
    )
    assert r.returncode == 0, r.stderr
    dest = Path(os.environ["HOME"]) / ".globus"
    return dest, snapshot(dest)


def assert_refused(r, code: Exit, *fragments: str, installed=None):
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("error: ") and lines[1].startswith("hint: "), r.stderr
    for f in fragments:
        assert f in lines[0], lines[0]
    assert "Traceback" not in r.stderr
    assert PASSPHRASE not in r.stderr + r.stdout
    if installed:
        dest, before = installed
        assert snapshot(dest) == before
        assert not [p for p in dest.iterdir() if p.name.startswith(".onboard-")]  # no temporary file left


def convert(cli, path, pwfile, *extra, **kw):
    return cli("convert", str(path), "--passphrase-file", str(pwfile), "--name-format", "cn", *extra, **kw)


@pytest.mark.parametrize("legacy", [True, False])
def test_wrong_passphrase(cli, pki, jose, tmp_path, installed, legacy):
    wrong = tmp_path / "wrong"
    wrong.write_text("not the passphrase\n")
    r = convert(cli, pki.p12(jose, f"w{legacy}.p12", legacy=legacy), wrong)
    assert_refused(r, Exit.WRONG_PASSPHRASE, "wrong passphrase", installed=installed)


def test_not_a_pkcs12(cli, tmp_path, pwfile, installed):
    junk = tmp_path / "notes.p12"
    junk.write_text("these are my notes, not a certificate\n")
    assert_refused(convert(cli, junk, pwfile), Exit.NOT_PKCS12, "not a PKCS#12", installed=installed)


def test_truncated_pkcs12(cli, pki, jose, tmp_path, pwfile, installed):
    whole = pki.p12(jose, "whole.p12", legacy=True).read_bytes()
    cut = tmp_path / "cut.p12"
    cut.write_bytes(whole[: len(whole) // 2])
    assert_refused(convert(cli, cut, pwfile), Exit.NOT_PKCS12, "cut short", installed=installed)


def test_unsupported_algorithm(cli, pki, jose, pwfile, installed):
    """RC2-40 with a cryptography/OpenSSL that lacks the legacy provider (as distro builds may)."""
    r = convert(
        cli, pki.p12(jose, "rc2.p12", legacy=True), pwfile, env={"CRYPTOGRAPHY_OPENSSL_NO_LEGACY": "1"}
    )
    assert_refused(r, Exit.UNSUPPORTED_ALGORITHM, "pbeWithSHA1And40BitRC2-CBC", "legacy", installed=installed)


def test_no_private_key(cli, pki, jose, pwfile, installed):
    r = convert(cli, pki.p12(jose, "nokey.p12", nokeys=True), pwfile)
    assert_refused(r, Exit.NO_PRIVATE_KEY, "no private key", installed=installed)


def test_no_end_entity(cli, pki, pwfile, installed):
    # a CA certificate with its key: no personal certificate at all
    r = convert(cli, pki.p12(pki.int2, "ca-only.p12", chain=False), pwfile)
    assert_refused(r, Exit.END_ENTITY, "no personal", installed=installed)


def test_several_end_entities(cli, pki, jose, pwfile, installed):
    other = pki.user("Someone Else")
    r = convert(cli, pki.p12(jose, "two.p12", extra=[other]), pwfile)
    assert_refused(r, Exit.END_ENTITY, "2 personal certificates", installed=installed)


def test_key_does_not_match(cli, pki, jose, pwfile, tmp_path, installed):
    (tmp_path / "cert.pem").write_bytes(jose.pem())
    (tmp_path / "other-key.pem").write_bytes(pki.user("Someone Else").key_pem(PASSPHRASE))
    r = cli(
        "convert",
        "--cert",
        str(tmp_path / "cert.pem"),
        "--key",
        str(tmp_path / "other-key.pem"),
        "--passphrase-file",
        str(pwfile),
        "--name-format",
        "cn",
    )
    assert_refused(r, Exit.KEY_MISMATCH, "does not belong", installed=installed)


def test_expired(cli, pki, pwfile, installed):
    old = pki.user("José Pérez", not_before=NOW - dt.timedelta(days=400), days=395)
    assert_refused(
        convert(cli, pki.p12(old, "expired.p12"), pwfile), Exit.VALIDITY, "expired", installed=installed
    )


def test_not_yet_valid(cli, pki, pwfile, installed):
    future = pki.user("José Pérez", not_before=NOW + dt.timedelta(days=3))
    assert_refused(
        convert(cli, pki.p12(future, "future.p12"), pwfile),
        Exit.VALIDITY,
        "not valid yet",
        installed=installed,
    )


def test_weak_rsa_key(cli, pki, pwfile, installed):
    weak = pki.user("José Pérez", key=new_key(1024))
    assert_refused(
        convert(cli, pki.p12(weak, "weak.p12"), pwfile), Exit.WEAK_KEY, "1024 bits", installed=installed
    )


def test_not_for_client_auth(cli, pki, pwfile, installed):
    server = pki.user("José Pérez", eku=(ExtendedKeyUsageOID.SERVER_AUTH,))
    assert_refused(
        convert(cli, pki.p12(server, "server.p12"), pwfile),
        Exit.NOT_CLIENT_AUTH,
        "client authentication",
        installed=installed,
    )


def test_no_digital_signature(cli, pki, pwfile, installed):
    enc_only = pki.user("José Pérez", digital_signature=False)
    assert_refused(
        convert(cli, pki.p12(enc_only, "enc.p12"), pwfile),
        Exit.NOT_CLIENT_AUTH,
        "digitalSignature",
        installed=installed,
    )


def test_warnings_are_not_errors(cli, pki, pwfile, tmp_path):
    """Fewer than 30 days left, and an issuer missing from the trust directory: warnings, exit 0."""
    short = pki.user("Short Lived", days=10)
    empty_trust = tmp_path / "trust"
    empty_trust.mkdir()
    r = convert(cli, pki.p12(short, "short.p12"), pwfile, env={"X509_CERT_DIR": str(empty_trust)})
    assert r.returncode == 0, r.stderr
    assert "expires in" in r.stderr and "renew" in r.stderr
    assert "not in the trust directory" in r.stderr
    r = convert(
        cli, pki.p12(pki.user("Long Lived"), "long.p12"), pwfile, env={"X509_CERT_DIR": str(pki.trust)}
    )
    assert r.returncode == 0 and "warning" not in r.stderr, r.stderr


def test_missing_file_and_usage(cli, pwfile, tmp_path):
    r = cli("convert", str(tmp_path / "nope.p12"), "--passphrase-file", str(pwfile))
    assert r.returncode == Exit.CREDENTIAL and "no such file" in r.stderr
    r = cli("convert")
    assert r.returncode == Exit.USAGE
    r = cli("convert", str(tmp_path / "x.p12"))  # no passphrase source and no terminal
    assert r.returncode in (Exit.USAGE, Exit.CREDENTIAL)


def test_no_terminal_names_the_flag(cli, pki, jose):
    r = cli("convert", str(pki.p12(jose, "tty.p12")))
    assert r.returncode == Exit.USAGE and "--passphrase-file" in r.stderr


def test_failure_while_committing_restores_everything(pki, jose, tmp_path, monkeypatch):
    """A crash in the middle of putting files in place: the new files go, the old ones come back."""
    from onboard.credentials import installer, readers
    from onboard.errors import CredentialError

    cred = readers.load_pkcs12(pki.p12(jose, "tx.p12").read_bytes(), PASSPHRASE)
    dest = tmp_path / "dest"
    installer.install(cred, dest, key_passphrase=PASSPHRASE, name="n", now=NOW)
    before = snapshot(dest)
    real_link, calls = os.link, []

    def flaky_link(src, dst, **kw):
        calls.append(dst)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return real_link(src, dst, **kw)

    monkeypatch.setattr(os, "link", flaky_link)
    with pytest.raises(CredentialError) as e:
        installer.install(
            cred, dest, key_passphrase=PASSPHRASE, name="n", now=NOW + dt.timedelta(seconds=5), force=True
        )
    assert "nothing was changed" in e.value.message
    assert len(calls) == 3
    assert snapshot(dest) == before


def test_openssl_agrees_the_file_is_unreadable_without_legacy(pki, jose, pwfile):
    """Sanity: the RC2 input really is the legacy kind (OpenSSL 3 refuses it without -legacy)."""
    require_tool("openssl")
    p = pki.p12(jose, "check.p12", legacy=True)
    r = subprocess.run(
        ["openssl", "pkcs12", "-in", str(p), "-passin", f"file:{pwfile}", "-nokeys", "-noout"],
        capture_output=True,
        text=True,
    )
    assert r.returncode != 0 and "RC2" in r.stderr


@pytest.fixture
def nss_backup(pki, jose, pwfile, tmp_path):
    """A PKCS#12 as Firefox's "Backup" writes it: exported by NSS pk12util (BER, indefinite lengths)."""
    require_tool("pk12util")
    require_tool("certutil")
    db = tmp_path / "profile"
    db.mkdir()
    subprocess.run(["certutil", "-N", "-d", f"sql:{db}", "--empty-password"], check=True, capture_output=True)
    subprocess.run(
        [
            "pk12util",
            "-i",
            str(pki.p12(jose, "to-nss.p12", friendly="Jose in Firefox")),
            "-d",
            f"sql:{db}",
            "-w",
            str(pwfile),
        ],
        check=True,
        capture_output=True,
    )
    out = tmp_path / "firefox-backup.p12"
    subprocess.run(
        ["pk12util", "-o", str(out), "-n", "Jose in Firefox", "-d", f"sql:{db}", "-w", str(pwfile)],
        check=True,
        capture_output=True,
    )
    assert out.read_bytes()[1] == 0x80  # indefinite length: BER, not DER
    return out


def test_nss_backup_converts_quietly(cli, nss_backup, pwfile):
    r = cli("convert", str(nss_backup), "--passphrase-file", str(pwfile), "--name-format", "cn")
    assert r.returncode == 0, r.stderr
    assert "Warning" not in r.stderr and "BER" not in r.stderr


def test_nss_backup_wrong_passphrase(cli, nss_backup, tmp_path, installed):
    wrong = tmp_path / "wrong"
    wrong.write_text("not the passphrase\n")
    assert_refused(
        convert(cli, nss_backup, wrong), Exit.WRONG_PASSPHRASE, "wrong passphrase", installed=installed
    )


def test_issued_cert_without_a_stored_key(cli, pki, pwfile, tmp_path, installed):
    (tmp_path / "issued.pem").write_bytes(pki.user("José Pérez").pem())
    r = cli(
        "convert",
        "--cert",
        str(tmp_path / "issued.pem"),
        "--passphrase-file",
        str(pwfile),
        "--name-format",
        "cn",
    )
    assert_refused(r, Exit.NO_PRIVATE_KEY, "holds no key for this certificate", installed=installed)
    assert "--key" in r.stderr


def test_empty_pkcs12_passphrase_needs_a_new_one(pki, jose, tmp_path, onboard_env):
    """A PKCS#12 without passphrase: without a terminal onboard refuses rather than write a clear key."""
    import io

    from onboard.errors import UsageError
    from onboard.secrets import Secrets, key_passphrase
    from onboard.ui import UI

    ui = UI(interactive=False, out=io.StringIO(), err=io.StringIO())
    secrets = Secrets(ui)
    secrets.remember("passphrase", "")
    with pytest.raises(UsageError) as e:
        key_passphrase(secrets, ui, False)
    assert "--new-passphrase" in e.value.hint
