"""The real consumers read what `onboard convert` wrote: grid-proxy-init (GCT) and voms-proxy-init (C++)
make a plain proxy from usercert.pem/userkey.pem (the links), with the key's passphrase on stdin."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from conftest import require_tool

from .pkiutil import PASSPHRASE


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
