"""browser-import/-export against real NSS databases made by `certutil -N`, with and without a primary
password, through the real pk12util."""

from __future__ import annotations

import stat
import subprocess
import warnings
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import pkcs12

from onboard import browser
from onboard.errors import Exit
from tests.lib.pki import portal_p12
from tests.lib.tools import require_tool

P12_PASS = "correct horse battery"
DB_PASS = "primary password 42"


@pytest.fixture
def nss(tmp_path):
    certutil = require_tool("certutil")
    require_tool("pk12util")

    def make(path: Path, password: str | None) -> Path:
        path.mkdir(parents=True)
        if password is None:
            subprocess.run([certutil, "-N", "-d", f"sql:{path}", "--empty-password"], check=True)
        else:
            pw = tmp_path / f"pw-{path.name}"
            pw.write_text(password + "\n")
            subprocess.run([certutil, "-N", "-d", f"sql:{path}", "-f", str(pw)], check=True)
            pw.unlink()
        return path

    return make


def _certs(db: Path) -> str:
    return subprocess.run(["certutil", "-L", "-d", f"sql:{db}"], capture_output=True, text=True).stdout


@pytest.fixture
def files(tmp_path):
    p12 = tmp_path / "package-Jane_Doe.p12"
    p12.write_bytes(portal_p12(P12_PASS))
    (tmp_path / "p12pass").write_text(P12_PASS + "\n")
    (tmp_path / "dbpass").write_text(DB_PASS + "\n")
    return tmp_path


def test_primary_password_is_detected(nss, tmp_path):
    bare = nss(tmp_path / "bare", None)
    locked = nss(tmp_path / "locked", DB_PASS)
    assert browser.has_primary_password(browser.Profile("Firefox", "bare", bare)) is False
    assert browser.has_primary_password(browser.Profile("Firefox", "locked", locked)) is True


def test_import_refused_without_primary_password(nss, files, cli):
    bare = nss(files / "ff-bare", None)
    r = cli("browser-import", "--p12", str(files / "package-Jane_Doe.p12"), "--profile", str(bare),
            "--passphrase-file", str(files / "p12pass"))
    assert r.returncode == Exit.BROWSER, r.stderr
    assert "no primary password" in r.stdout and "Use a Primary Password" in r.stdout
    assert f"certutil -W -d sql:{bare}" in r.stdout
    assert "refused" in r.stderr and "hint:" in r.stderr
    assert "Jane Doe" not in _certs(bare)  # nothing went in


def test_import_with_primary_password(nss, files, cli):
    locked = nss(files / "firefox-profile", DB_PASS)
    r = cli("browser-import", "--p12", str(files / "package-Jane_Doe.p12"), "--profile", str(locked),
            "--passphrase-file", str(files / "p12pass"), "--db-password-file", str(files / "dbpass"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "imported package-Jane_Doe.p12" in r.stdout
    listing = _certs(locked)
    assert "Jane Doe" in listing and "u,u,u" in listing
    # the key is there too (certutil -K needs the primary password)
    keys = subprocess.run(["certutil", "-K", "-d", f"sql:{locked}", "-f", str(files / "dbpass")],
                          capture_output=True, text=True).stdout
    assert "rsa" in keys
    # the steps for OS-store browsers are shown as well
    assert "Chrome" in r.stdout


def test_wrong_passwords_are_told_apart(nss, files, cli):
    locked = nss(files / "ff", DB_PASS)
    (files / "bad").write_text("not it at all\n")
    r = cli("browser-import", "--p12", str(files / "package-Jane_Doe.p12"), "--profile", str(locked),
            "--passphrase-file", str(files / "p12pass"), "--db-password-file", str(files / "bad"))
    assert r.returncode == Exit.BROWSER and "primary password is not right" in r.stderr
    r = cli("browser-import", "--p12", str(files / "package-Jane_Doe.p12"), "--profile", str(locked),
            "--passphrase-file", str(files / "bad"), "--db-password-file", str(files / "dbpass"))
    assert r.returncode == Exit.WRONG_PASSPHRASE and "passphrase is not right" in r.stderr
    assert "Jane Doe" not in _certs(locked)


def test_passwords_never_on_a_command_line(nss, files, monkeypatch):
    locked = nss(files / "ff", DB_PASS)
    seen = []
    real = subprocess.run

    def spy(args, *a, **k):
        seen.append(list(args))
        return real(args, *a, **k)

    monkeypatch.setattr(subprocess, "run", spy)
    prof = browser.Profile("Firefox", "ff", locked)
    browser.import_p12(prof, files / "package-Jane_Doe.p12", P12_PASS, DB_PASS)
    out = files / "exported.p12"
    browser.export_p12(prof, browser.user_certs(prof)[0], out, DB_PASS, "a new export passphrase")
    flat = " ".join(" ".join(a) for a in seen)
    assert "pk12util" in flat
    for secret in (P12_PASS, DB_PASS, "a new export passphrase"):
        assert secret not in flat
    assert "/dev/fd/" in flat


def test_profiles_found_in_home(nss, files, onboard_env, cli):
    home = Path(onboard_env["HOME"])
    ff = home / ".mozilla" / "firefox"
    nss(ff / "abcd1234.default-release", DB_PASS)
    (ff / "profiles.ini").write_text("[Profile0]\nName=default-release\nIsRelative=1\n"
                                     "Path=abcd1234.default-release\nDefault=1\n")
    nss(home / ".thunderbird" / "xyz.default", None)
    found = browser.find_profiles(home)
    assert {(p.app, p.name) for p in found} == {("Firefox", "default-release"),
                                                ("Thunderbird", "xyz.default")}
    r = cli("browser-import", "--list")
    assert "Firefox profile 'default-release'" in r.stdout and "NO primary password" in r.stdout
    # without --profile: every profile; the one with a password gets it, the other is refused
    r = cli("browser-import", "--p12", str(files / "package-Jane_Doe.p12"),
            "--passphrase-file", str(files / "p12pass"), "--db-password-file", str(files / "dbpass"))
    assert r.returncode == Exit.BROWSER
    assert "imported" in r.stdout and "Thunderbird" in r.stdout and "(1 imported)" in r.stderr
    assert "Jane Doe" in _certs(ff / "abcd1234.default-release")


def test_export_from_browser_into_onboard(nss, files, cli, onboard_env):
    locked = nss(files / "ff", DB_PASS)
    browser.import_p12(browser.Profile("Firefox", "ff", locked), files / "package-Jane_Doe.p12", P12_PASS,
                       DB_PASS)
    (files / "newpass").write_text("a new export passphrase\n")
    r = cli("browser-export", "--profile", str(locked), "--db-password-file", str(files / "dbpass"),
            "--passphrase-file", str(files / "newpass"))
    assert r.returncode == 0, r.stderr
    out = next((Path(onboard_env["ONBOARD_DATA_DIR"]) / "obtained").glob("*.p12"))
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    with warnings.catch_warnings():  # NSS writes BER (indefinite lengths); cryptography reads it, warning
        warnings.simplefilter("ignore", UserWarning)
        key, cert, _ = pkcs12.load_key_and_certificates(out.read_bytes(), b"a new export passphrase")
    assert key is not None and "Jane Doe" in cert.subject.rfc4514_string()
    assert f"--p12 {out}" in r.stdout
    # never over an existing file
    r = cli("browser-export", "--profile", str(locked), "--db-password-file", str(files / "dbpass"),
            "--passphrase-file", str(files / "newpass"), "--out", str(out))
    assert r.returncode == Exit.USAGE and "does not overwrite" in r.stderr


def test_export_short_passphrase_refused(nss, files, cli):
    locked = nss(files / "ff", DB_PASS)
    browser.import_p12(browser.Profile("Firefox", "ff", locked), files / "package-Jane_Doe.p12", P12_PASS,
                       DB_PASS)
    (files / "short").write_text("short\n")
    r = cli("browser-export", "--profile", str(locked), "--db-password-file", str(files / "dbpass"),
            "--passphrase-file", str(files / "short"))
    assert r.returncode == Exit.USAGE and "at least 12" in r.stderr


def test_os_store_steps():
    mac = "\n".join(browser.os_store_steps("darwin"))
    win = "\n".join(browser.os_store_steps("win32"))
    assert "Keychain" in mac and "login" in mac
    assert "Certificate Import Wizard" in win and "strong private key protection" in win
