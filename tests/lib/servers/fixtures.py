"""The real servers as pytest fixtures, for every test area (tests/conftest.py imports them): a test PKI
with its trust directory, an OpenSSH sshd as the submit host, MariaDB + voms-server, and Dovecot.

Using one of them puts a test in the `servers` tier (tests/lib/tiers.py)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.lib.pki import CA
from tests.lib.servers.dovecot import dovecot, dovecot_factory  # noqa: F401  (fixtures)
from tests.lib.servers.sshd import SSHD, make_client_key, make_host_keys, user_home
from tests.lib.tools import require_tool


@pytest.fixture(scope="session")
def shared_dir():
    """A world-readable scratch directory (the submit host's user must read the trust anchors)."""
    d = Path(tempfile.mkdtemp(prefix="onboard-delivery-", dir="/var/tmp"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def grid_pki(shared_dir):
    """A grid CA, Jane Doe's certificate, an older one, and the CA's trust directory (world-readable)."""
    ca = CA()
    return {
        "ca": ca,
        "user": ca.user("Jane Doe"),
        "other": ca.user("Old Credential"),
        "trust": ca.trust_dir(shared_dir / "certificates"),
    }


@pytest.fixture(scope="session")
def client_key(tmp_path_factory) -> Path:
    require_tool("ssh-keygen")
    return make_client_key(tmp_path_factory.mktemp("client") / "id_ed25519")


@pytest.fixture(scope="session")
def host_keys(tmp_path_factory) -> Path:
    return make_host_keys(tmp_path_factory.mktemp("hostkeys"))


@pytest.fixture
def submit_home(client_key):
    require_tool("sshd")
    with user_home(authorized_key=client_key) as home:
        yield home


@pytest.fixture
def sshd_factory(tmp_path, host_keys, submit_home):
    started: list[SSHD] = []

    def make(name: str = "sshd", host_key_dir: Path | None = None, **kw) -> SSHD:
        s = SSHD(tmp_path / name, host_key_dir or host_keys, **kw).start()
        started.append(s)
        return s

    yield make
    for s in started:
        s.stop()


@pytest.fixture
def sshd(sshd_factory) -> SSHD:
    return sshd_factory()


@pytest.fixture
def known_hosts(tmp_path, sshd) -> Path:
    kh = tmp_path / "known_hosts"
    kh.write_text(sshd.known_hosts_line())
    return kh


@pytest.fixture(scope="session")
def voms_server(tmp_path_factory, grid_pki, shared_dir):
    """MariaDB + voms-server for VO testvo, Jane Doe a member (as the on-approval hook makes her)."""
    for tool in ("mariadbd", "voms", "voms-proxy-init", "voms-proxy-info"):
        require_tool(tool)
    from tests.lib.servers.voms import MariaDB, VOMSServer

    work = tmp_path_factory.mktemp("voms")
    host = grid_pki["ca"].host("localhost")
    hc, hk = work / "hostcert.pem", work / "hostkey.pem"
    hc.write_bytes(host.pem())
    fd = os.open(hk, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(host.key_pem())  # the daemon cannot prompt: unencrypted, 0600
    db = MariaDB(work / "db").start()
    server = None
    try:
        server = VOMSServer(
            "testvo", db, work / "voms", hc, hk, host.dn, grid_pki["ca"].dn, grid_pki["trust"]
        ).start()
        server.add_member(grid_pki["user"].dn)
        yield server
    finally:
        if server is not None:
            server.stop()
        db.stop()
