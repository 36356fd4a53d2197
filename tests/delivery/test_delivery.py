"""Delivery to a real OpenSSH submit host: files, modes, backups, resumption, openssl flavours, secrecy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from onboard.delivery import deliver
from onboard.delivery.local import load_package, spki_sha256
from tests.lib.context import captured_ui
from tests.lib.servers.sshd import write_user_file
from tests.lib.tools import child_env

from .conftest import PASSPHRASE
from .helpers import connect, listing, mode

FILES = ["usercert.pem", "usercred.p12", "userkey.pem"]


def _deliver(sshd, client_key, known_hosts, package, ui=None):
    conn = connect(sshd, client_key, known_hosts)
    try:
        return deliver(conn, load_package(package, PASSPHRASE), PASSPHRASE, ui=ui or captured_ui())
    finally:
        conn.close()


def assert_installed(sshd, package, pki):
    home = sshd.home
    g = home / ".globus"
    assert mode(sshd, ".globus") == 0o700
    assert mode(sshd, ".globus/usercert.pem") == 0o644
    assert mode(sshd, ".globus/userkey.pem") == 0o400
    assert mode(sshd, ".globus/usercred.p12") == 0o600
    for name in FILES:
        st = (g / name).stat()
        assert st.st_uid == (home).stat().st_uid, f"{name} not owned by the user"
    assert (g / "usercred.p12").read_bytes() == package.read_bytes()
    cert = x509.load_pem_x509_certificate((g / "usercert.pem").read_bytes())
    assert cert == pki["user"].cert
    key_pem = (g / "userkey.pem").read_bytes()
    assert b"ENCRYPTED" in key_pem  # never a decrypted key on the host
    with pytest.raises(TypeError):
        serialization.load_pem_private_key(key_pem, None)
    key = serialization.load_pem_private_key(key_pem, PASSPHRASE.encode())
    assert spki_sha256(key.public_key()) == spki_sha256(cert.public_key())


def test_fresh_delivery_over_one_connection(sshd, client_key, known_hosts, package, pki):
    report = _deliver(sshd, client_key, known_hosts, package)
    assert listing(sshd) == FILES
    assert_installed(sshd, package, pki)
    assert report.uploaded and not report.backups
    assert report.made_by.startswith("openssl on the host (OpenSSL 3")
    assert sshd.log().count("Accepted publickey") == 1  # one SSH connection did it all
    # the openssl on the host really ran (it wrote the PEM with its own bag attributes)
    assert (sshd.home / ".globus/userkey.pem").read_bytes().startswith(b"Bag Attributes")


def test_second_run_changes_nothing(sshd, client_key, known_hosts, package, pki):
    _deliver(sshd, client_key, known_hosts, package)
    g = sshd.home / ".globus"
    before = {n: ((g / n).stat().st_ino, (g / n).stat().st_mtime_ns, (g / n).read_bytes()) for n in FILES}
    report = _deliver(sshd, client_key, known_hosts, package)
    after = {n: ((g / n).stat().st_ino, (g / n).stat().st_mtime_ns, (g / n).read_bytes()) for n in FILES}
    assert before == after
    assert report.made_by == "already installed" and not report.uploaded and not report.backups
    assert listing(sshd) == FILES


def test_existing_credentials_are_kept_as_backup(sshd, client_key, known_hosts, package, pki):
    other = pki["other"]
    old = {
        "usercert.pem": other.pem(),
        "userkey.pem": other.key_pem("old passphrase"),
        "usercred.p12": other.p12("old passphrase"),
    }
    home = sshd.home
    for name, data in old.items():
        write_user_file(home, f".globus/{name}", data, 0o600 if name != "usercert.pem" else 0o644)
    report = _deliver(sshd, client_key, known_hosts, package)
    assert len(report.backups) == 3
    names = listing(sshd)
    for name, data in old.items():
        backups = [n for n in names if n.startswith("backup.") and n.endswith("." + name)]
        assert len(backups) == 1, names
        assert (home / ".globus" / backups[0]).read_bytes() == data  # the old file, byte for byte
    assert_installed(sshd, package, pki)
    # run again: our files are recognised, no second backup
    _deliver(sshd, client_key, known_hosts, package)
    assert listing(sshd) == names


def test_symlinked_credentials_are_moved_aside_not_followed(sshd, client_key, known_hosts, package, pki):
    home = sshd.home
    target = write_user_file(home, ".globus/cert-Old.pem", pki["other"].pem(), 0o644)
    subprocess.run(
        [
            "runuser",
            "-u",
            "onboard-test",
            "--",
            "ln",
            "-s",
            "cert-Old.pem",
            str(home / ".globus/usercert.pem"),
        ],
        check=True,
    )
    _deliver(sshd, client_key, known_hosts, package)
    assert target.read_bytes() == pki["other"].pem()  # the link's target is untouched
    assert not (home / ".globus/usercert.pem").is_symlink()
    assert any(n.startswith("backup.") and n.endswith(".usercert.pem") for n in listing(sshd))


KILL_SCRIPT = r"""
import json, os, sys
args = json.loads(sys.argv[1])
from onboard.delivery import install, deliver
from onboard.delivery.local import load_package
from tests.delivery.helpers import connect
from tests.lib.servers.sshd import SSHD
from pathlib import Path

def killed(self, states):
    os.kill(os.getpid(), 9)  # as if the power went: between the upload and the conversion

install.Delivery.convert = killed
server = SSHD(Path(args["workdir"]), Path(args["hostkeys"]), port=args["port"])
conn = connect(server, Path(args["key"]), Path(args["known_hosts"]))
deliver(conn, load_package(Path(args["package"]), args["pw"]), args["pw"])
"""


def test_killed_between_upload_and_conversion_then_resumed(sshd, client_key, known_hosts, package, pki):
    args = {
        "workdir": str(sshd.workdir),
        "hostkeys": str(sshd.host_key_dir),
        "port": sshd.port,
        "key": str(client_key),
        "known_hosts": str(known_hosts),
        "package": str(package),
        "pw": PASSPHRASE,
    }
    proc = subprocess.run(
        [sys.executable, "-c", KILL_SCRIPT, json.dumps(args)], capture_output=True, text=True, timeout=60,
        env=child_env()
    )
    assert proc.returncode == -9, proc.stderr
    assert listing(sshd) == ["usercred.p12"]  # uploaded and renamed; nothing else yet
    report = _deliver(sshd, client_key, known_hosts, package)
    assert not report.uploaded  # recognised by its fingerprint: not sent again
    assert not report.backups  # and not mistaken for someone else's file
    assert listing(sshd) == FILES  # no duplicate, no temporary file left
    assert_installed(sshd, package, pki)


def test_leftover_temporary_file_of_an_interrupted_upload_is_replaced(
    sshd, client_key, known_hosts, package, pki
):
    write_user_file(sshd.home, ".globus/.onboard-usercred.p12.tmp", b"half an upl", 0o600)
    _deliver(sshd, client_key, known_hosts, package)
    assert listing(sshd) == FILES
    assert_installed(sshd, package, pki)


def test_legacy_rc2_package_uses_the_legacy_provider(sshd, client_key, known_hosts, package, pki):
    package.write_bytes(pki["user"].p12(PASSPHRASE, legacy=True))
    report = _deliver(sshd, client_key, known_hosts, package)
    assert "with -legacy" in report.made_by
    assert_installed(sshd, package, pki)


# -- other openssl flavours on the host: wrappers around the real one, put first on the host's PATH --------

FAKE_OPENSSL_1 = """#!/bin/sh
echo "$*" >> "$HOME/openssl-calls.log"
if [ "$1" = version ]; then echo "OpenSSL 1.1.1w  11 Sep 2023"; exit 0; fi
for a in "$@"; do [ "$a" = -legacy ] && { echo "pkcs12: Unrecognized flag legacy" >&2; exit 1; }; done
exec /usr/bin/openssl "$@"
"""

FAKE_OPENSSL_3_NO_LEGACY = """#!/bin/sh
echo "$*" >> "$HOME/openssl-calls.log"
if [ "$1" = version ]; then echo "OpenSSL 3.0.2 15 Mar 2022"; exit 0; fi
for a in "$@"; do
  [ "$a" = legacy ] || [ "$a" = -legacy ] && { echo "unable to load provider legacy" >&2; exit 1; }
done
exec /usr/bin/openssl "$@"
"""

FAKE_LIBRESSL_BROKEN = """#!/bin/sh
echo "$*" >> "$HOME/openssl-calls.log"
if [ "$1" = version ]; then echo "LibreSSL 3.8.2"; exit 0; fi
if [ "$1" = pkcs12 ]; then echo "pkcs12: unsupported algorithm" >&2; exit 1; fi
exec /usr/bin/openssl "$@"
"""


def _fake_bin(shared_dir: Path, name: str, script: str) -> Path:
    d = shared_dir / name
    d.mkdir(exist_ok=True)
    f = d / "openssl"
    f.write_text(script)
    f.chmod(0o755)
    return d


def _no_openssl_bin(shared_dir: Path) -> Path:
    d = shared_dir / "no-openssl-bin"
    if not d.exists():
        d.mkdir()
        for entry in os.scandir("/usr/bin"):
            if entry.name != "openssl":
                (d / entry.name).symlink_to(entry.path)
    return d


def _calls(sshd) -> list[str]:
    p = sshd.home / "openssl-calls.log"
    return p.read_text().splitlines() if p.exists() else []


def test_openssl_1_host_gets_no_legacy_flag(sshd_factory, shared_dir, client_key, tmp_path, package, pki):
    server = sshd_factory(path_env=f"{_fake_bin(shared_dir, 'ossl1', FAKE_OPENSSL_1)}:/usr/bin:/bin")
    kh = tmp_path / "kh"
    kh.write_text(server.known_hosts_line())
    report = _deliver(server, client_key, kh, package)
    assert "OpenSSL 1.1.1w" in report.made_by and "legacy" not in report.made_by
    calls = _calls(server)
    assert any(c.startswith("pkcs12") for c in calls)
    assert not any("-legacy" in c.split() for c in calls)
    assert not any(PASSPHRASE in c for c in calls)
    assert_installed(server, package, pki)


def test_openssl_3_without_legacy_provider_reads_onboards_package(
    sshd_factory, shared_dir, client_key, tmp_path, package, pki
):
    server = sshd_factory(
        path_env=f"{_fake_bin(shared_dir, 'ossl3', FAKE_OPENSSL_3_NO_LEGACY)}:/usr/bin:/bin"
    )
    kh = tmp_path / "kh"
    kh.write_text(server.known_hosts_line())
    report = _deliver(server, client_key, kh, package)
    assert report.made_by == "openssl on the host (OpenSSL 3.0.2)"  # 3DES package: no -legacy needed
    assert_installed(server, package, pki)


def test_openssl_3_without_legacy_provider_and_rc2_package_falls_back(
    sshd_factory, shared_dir, client_key, tmp_path, package, pki
):
    package.write_bytes(pki["user"].p12(PASSPHRASE, legacy=True))
    server = sshd_factory(
        path_env=f"{_fake_bin(shared_dir, 'ossl3', FAKE_OPENSSL_3_NO_LEGACY)}:/usr/bin:/bin"
    )
    kh = tmp_path / "kh"
    kh.write_text(server.known_hosts_line())
    ui = captured_ui()
    report = _deliver(server, client_key, kh, package, ui=ui)
    assert report.made_by.startswith("onboard, uploaded") and "no legacy provider" in report.made_by
    assert "no usable openssl" in ui.err.getvalue()  # said so
    assert_installed(server, package, pki)
    assert not any(n.startswith(".onboard") for n in listing(server))


def test_host_whose_openssl_cannot_read_the_package_gets_pems_made_locally(
    sshd_factory, shared_dir, client_key, tmp_path, package, pki
):
    server = sshd_factory(path_env=f"{_fake_bin(shared_dir, 'libressl', FAKE_LIBRESSL_BROKEN)}:/usr/bin:/bin")
    kh = tmp_path / "kh"
    kh.write_text(server.known_hosts_line())
    report = _deliver(server, client_key, kh, package)
    assert "LibreSSL 3.8.2" in report.made_by and report.made_by.startswith("onboard")
    assert_installed(server, package, pki)


def test_host_without_openssl_gets_pems_made_locally(
    sshd_factory, shared_dir, client_key, tmp_path, package, pki
):
    server = sshd_factory(path_env=str(_no_openssl_bin(shared_dir)))
    kh = tmp_path / "kh"
    kh.write_text(server.known_hosts_line())
    ui = captured_ui()
    report = _deliver(server, client_key, kh, package, ui=ui)
    assert report.made_by == "onboard, uploaded (host: it has no openssl)"
    assert "no usable openssl" in ui.err.getvalue()
    assert_installed(server, package, pki)
    assert server.log().count("Accepted publickey") == 1


# -- the passphrase in no process's command line (or environment), on either side --------------------------


class ProcScanner(threading.Thread):
    """Reads /proc/*/cmdline and /proc/*/environ of every process, over and over, while the run goes on.
    Client and submit host are the same machine here, so this sees both sides."""

    def __init__(self, secret: str):
        super().__init__(daemon=True)
        self.secret = secret.encode()
        self.stop = threading.Event()
        self.hits: list[str] = []
        self.seen_openssl = 0
        self.seen_voms = 0
        self.rounds = 0

    def run(self) -> None:
        while not self.stop.is_set():
            self.rounds += 1
            for pid in os.listdir("/proc"):
                if not pid.isdigit():
                    continue
                for what in ("cmdline", "environ"):
                    try:
                        with open(f"/proc/{pid}/{what}", "rb") as f:
                            data = f.read()
                    except OSError:
                        continue
                    if self.secret in data:
                        self.hits.append(f"{pid}/{what}: {data[:200]!r}")
                    if what == "cmdline" and b"openssl\x00pkcs12" in data:
                        self.seen_openssl += 1
                    if what == "cmdline" and b"voms-proxy-init\x00-voms" in data:
                        self.seen_voms += 1


def test_passphrase_never_in_any_command_line(sshd, client_key, known_hosts, package, pki):
    from onboard.delivery.verify import check_files

    scanner = ProcScanner(PASSPHRASE)
    scanner.start()
    try:
        for _ in range(3):  # the remote openssl runs are short: give the scanner several chances
            conn = connect(sshd, client_key, known_hosts)
            try:
                deliver(conn, load_package(package, PASSPHRASE), PASSPHRASE, ui=captured_ui())
                assert all(c.ok for c in check_files(conn, PASSPHRASE, None))
            finally:
                conn.close()
            sshd.ssh_as_user("rm", "-rf", ".globus")
    finally:
        scanner.stop.set()
        scanner.join(timeout=10)
    assert scanner.hits == []
    assert scanner.rounds > 10
    assert scanner.seen_openssl > 0, "the scan never caught the host's openssl: it proves nothing"


def test_login_shell_tcsh_is_no_obstacle(sshd, client_key, known_hosts, package, pki):
    """Many submit hosts give users tcsh: the one-line /bin/sh script must survive it."""
    from tests.lib.servers.sshd import TEST_USER
    from tests.lib.tools import require_tool

    tcsh = require_tool("tcsh")
    subprocess.run(["usermod", "-s", tcsh, TEST_USER], check=True)
    try:
        assert sshd.ssh_as_user("getent", "passwd", TEST_USER).stdout.strip().endswith(tcsh)
        report = _deliver(sshd, client_key, known_hosts, package)
        assert report.made_by.startswith("openssl on the host")
        assert_installed(sshd, package, pki)
    finally:
        subprocess.run(["usermod", "-s", "/bin/sh", TEST_USER], check=True)


def test_sftp_only_account_gets_pems_made_locally(sshd, client_key, known_hosts, package, pki):
    """An account whose shell runs nothing (nologin: SFTP only) still gets working files."""
    from tests.lib.servers.sshd import TEST_USER

    subprocess.run(["usermod", "-s", "/usr/sbin/nologin", TEST_USER], check=True)
    try:
        ui = captured_ui()
        report = _deliver(sshd, client_key, known_hosts, package, ui=ui)
        assert report.made_by.startswith("onboard, uploaded") and "did not run" in report.made_by
        assert "no usable openssl" in ui.err.getvalue()
        assert_installed(sshd, package, pki)
    finally:
        subprocess.run(["usermod", "-s", "/bin/sh", TEST_USER], check=True)
