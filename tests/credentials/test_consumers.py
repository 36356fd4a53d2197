"""The real consumers read what `onboard convert` wrote: grid-proxy-init (GCT) and voms-proxy-init (C++)
make a plain proxy from usercert.pem/userkey.pem (the links), with the key's passphrase on stdin."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.lib.pki import PASSPHRASE
from tests.lib.tools import require_tool


@pytest.fixture
def converted(cli, pki, jose, pwfile, request):
    legacy = request.param
    r = cli(
        "convert",
        str(pki.p12(jose, f"consumer-{legacy}.p12", legacy=legacy)),
        "--passphrase-file",
        str(pwfile),
    )
    assert r.returncode == 0, r.stderr
    return Path(os.environ["HOME"]) / ".globus"


def _env(tmp_path: Path, pki, globus: Path) -> dict[str, str]:
    rnd = tmp_path / "rnd"
    subprocess.run(["openssl", "rand", "-writerand", str(rnd)], check=True, capture_output=True)
    # GCT takes the home directory from the password database, not $HOME: name the links explicitly
    return {
        "PATH": os.environ["PATH"],
        "HOME": os.environ["HOME"],
        "RANDFILE": str(rnd),
        "X509_CERT_DIR": str(pki.trust),
        "X509_USER_CERT": str(globus / "usercert.pem"),
        "X509_USER_KEY": str(globus / "userkey.pem"),
    }


def _proxy_subject(proxy: Path) -> str:
    return subprocess.run(
        ["openssl", "x509", "-in", str(proxy), "-noout", "-subject", "-nameopt", "compat"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


@pytest.mark.parametrize("converted", [True, False], ids=["from-legacy", "from-modern"], indirect=True)
def test_grid_proxy_init(converted, pki, tmp_path):
    exe = require_tool("grid-proxy-init")
    require_tool("openssl")
    proxy = tmp_path / "x509up"
    r = subprocess.run(
        [exe, "-pwstdin", "-bits", "2048", "-out", str(proxy)],
        input=PASSPHRASE + "\n",
        text=True,
        capture_output=True,
        env=_env(tmp_path, pki, converted),
        timeout=120,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Your identity: /DC=org/DC=onboard-test/O=Test Users/CN=Jos\\xC3\\xA9 P\\xC3\\xA9rez" in r.stdout
    assert _proxy_subject(proxy).startswith("subject=/DC=org/DC=onboard-test/O=Test Users/CN=Jos\\xC3\\xA9")
    assert oct(proxy.stat().st_mode & 0o777) == "0o600"


@pytest.mark.parametrize("converted", [True, False], ids=["from-legacy", "from-modern"], indirect=True)
def test_voms_proxy_init_plain(converted, pki, tmp_path):
    exe = require_tool("voms-proxy-init")
    require_tool("openssl")
    proxy = tmp_path / "x509up_voms"
    env = _env(tmp_path, pki, converted)
    r = subprocess.run(
        [
            exe,
            "-pwstdin",
            "-cert",
            env["X509_USER_CERT"],
            "-key",
            env["X509_USER_KEY"],
            "-certdir",
            str(pki.trust),
            "-out",
            str(proxy),
        ],
        input=PASSPHRASE + "\n",
        text=True,
        capture_output=True,
        env=env,
        timeout=120,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert proxy.is_file()
    assert "CN=Jos\\xC3\\xA9 P\\xC3\\xA9rez" in _proxy_subject(proxy)


@pytest.mark.parametrize("converted", [False], indirect=True)
def test_consumers_refuse_wrong_passphrase(converted, pki, tmp_path):
    """The control: the same files with a wrong passphrase do not make a proxy (the tests above can fail)."""
    exe = require_tool("grid-proxy-init")
    r = subprocess.run(
        [exe, "-pwstdin", "-out", str(tmp_path / "p")],
        input="wrong passphrase\n",
        text=True,
        capture_output=True,
        env=_env(tmp_path, pki, converted),
        timeout=120,
    )
    assert r.returncode != 0
    assert not (tmp_path / "p").exists() or (tmp_path / "p").stat().st_size == 0


@pytest.mark.parametrize("converted", [True], ids=["from-legacy"], indirect=True)
def test_grid_proxy_init_reads_package_as_usercred_p12(converted, pki, jose, pwfile, tmp_path):
    """gridcf/gct#202: GCT on OpenSSL 3 cannot read an RC2-40 usercred.p12; onboard's 3DES package it can."""
    exe = require_tool("grid-proxy-init")
    env = _env(tmp_path, pki, converted)
    for label, source in (
        ("package", next(converted.glob("package-*.p12"))),
        ("original", pki.p12(jose, "gct202.p12", legacy=True)),
    ):
        usercred = tmp_path / f"{label}" / "usercred.p12"
        usercred.parent.mkdir()
        usercred.write_bytes(source.read_bytes())
        os.chmod(usercred, 0o600)
        env.update(X509_USER_CERT=str(usercred), X509_USER_KEY=str(usercred))
        r = subprocess.run(
            [exe, "-pwstdin", "-out", str(tmp_path / f"proxy-{label}")],
            input=PASSPHRASE + "\n",
            text=True,
            capture_output=True,
            env=env,
            timeout=120,
        )
        if label == "package":
            assert r.returncode == 0, r.stdout + r.stderr
        else:
            assert r.returncode != 0 and "PKCS12" in r.stdout + r.stderr, r.stdout + r.stderr


def test_traditional_encrypted_key_input(cli, pki, jose, pwfile, tmp_path):
    """A traditional 'RSA PRIVATE KEY' with Proc-Type headers (tcsg4 chokes on it) converts fine."""
    require_tool("openssl")
    pw_out = tmp_path / "pw-out"
    pw_out.write_text(PASSPHRASE + "\n")
    (tmp_path / "pkcs8.pem").write_bytes(jose.key_pem(PASSPHRASE))
    subprocess.run(
        [
            "openssl",
            "pkey",
            "-in",
            str(tmp_path / "pkcs8.pem"),
            "-passin",
            f"file:{pwfile}",
            "-traditional",
            "-aes256",
            "-passout",
            f"file:{pw_out}",
            "-out",
            str(tmp_path / "trad.pem"),
        ],
        check=True,
        capture_output=True,
    )
    assert b"Proc-Type: 4,ENCRYPTED" in (tmp_path / "trad.pem").read_bytes()
    (tmp_path / "cert.pem").write_bytes(jose.pem())
    r = cli(
        "convert",
        "--cert",
        str(tmp_path / "cert.pem"),
        "--key",
        str(tmp_path / "trad.pem"),
        "--passphrase-file",
        str(pwfile),
    )
    assert r.returncode == 0, r.stderr
    key = (Path(os.environ["HOME"]) / ".globus" / "userkey.pem").read_bytes()
    assert key.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
