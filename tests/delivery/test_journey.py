"""The whole journey as a user runs it: `onboard start`, the VO administrator approves, `onboard resume`.

Real parts on loopback: the sandbox's VOMS-Admin-compatible registration server and CA (the only stand-in:
VOMS-Admin has no Debian package), mail into a Maildir, OpenSSH sshd as the submit host (its own user and
home), MariaDB + voms-server + voms-mysql-plugin fed by the sandbox's on-approval hook
(`onboard sandbox voms-add-member`), and voms-clients on the submit host. Ends with
voms-proxy-info showing the VO's FQAN, issued by the real VOMS server.
"""

from __future__ import annotations

import json
import os
import shutil

import pytest

from onboard.errors import Exit
from tests.lib.servers.sshd import TEST_USER

from .conftest import PASSPHRASE

pytestmark = pytest.mark.slow

VO = "journeyvo"


@pytest.fixture
def grid(tmp_path, shared_dir, voms_server):
    """Sandbox (instructor approves by hand) + a voms-server for VO journeyvo signing with the sandbox's
    VOMS certificate, sharing the session's MariaDB."""
    from tests.lib.sandbox import start_sandbox
    from tests.lib.servers.voms import VOMSServer

    sb = start_sandbox(tmp_path / "sandbox", vos=[VO], auto_approve_after=None)
    try:
        cert, key = sb.ca.host_credential("voms", [sb.settings.hostname])
        server = VOMSServer(VO, voms_server.db, tmp_path / "voms-journey", cert, key,
                            sb.ca.voms_dn([sb.settings.hostname]), sb.ca.personal_dn, sb.trust_dir).start()
        sb.settings.on_approval = server.hook()
        # the submit host's user must read the trust anchors: a world-readable copy
        certs = shared_dir / f"sandbox-certs-{os.getpid()}-{id(sb)}"
        shutil.copytree(sb.trust_dir, certs, symlinks=True)
        for p in [certs, *certs.iterdir()]:
            p.chmod(0o755 if p.is_dir() else 0o644)
        yield sb, server, certs
    finally:
        try:
            server.stop()
        finally:
            sb.stop()


def test_start_approve_resume_ends_with_the_vo_fqan_from_voms_server(tmp_path, onboard_env, cli, grid, sshd,
                                                                      client_key, known_hosts):
    sb, server, certs = grid
    cfg = sb.onboard_config(email="jane.doe@example.org", given_name="Jane", family_name="Doe",
                            identity_file=client_key)
    cfg["submit_host"] = {"host": "127.0.0.1", "user": TEST_USER, "port": sshd.port,
                          "identity_file": str(client_key), "known_hosts": str(tmp_path / "kh"),
                          "x509_cert_dir": str(certs)}
    cfg["vos"][VO]["vomses"] = [server.vomses_line]
    cfg["registration"] = {"poll_min_seconds": 1, "poll_max_seconds": 2}
    from onboard.sandbox.manager import to_toml

    config = tmp_path / "config.toml"
    config.write_text(to_toml(cfg))
    pw = tmp_path / "passphrase"
    fd = os.open(pw, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, (PASSPHRASE + "\n").encode())
    os.close(fd)

    # day 1: certificate, conversion, registration, e-mail confirmation, delivery; then the wait
    r = cli("--config", str(config), "start", "--vo", VO, "--passphrase-file", str(pw),
            "--trust-host-key", sshd.fingerprint, timeout=300)
    assert r.returncode == Exit.WAITING, r.stdout[-3000:] + r.stderr[-3000:]
    assert "approv" in r.stderr.lower()
    status = json.loads(cli("status", "--vo", VO, "--json").stdout)
    assert "enrol/host/delivered" in status["state"]  # delivered while the VO has yet to approve
    globus = sshd.home / ".globus"
    assert sorted(p.name for p in globus.iterdir()) == ["usercert.pem", "usercred.p12", "userkey.pem"]
    assert status["artifacts"]["fqans"] == []
    # a resume now changes nothing: still waiting
    r = cli("--config", str(config), "resume", "--vo", VO, "--passphrase-file", str(pw), timeout=120)
    assert r.returncode == Exit.WAITING

    # the VO administrator approves; the on-approval hook puts the member into voms-server's database
    (req,) = [q for q in sb.requests(VO) if q["status"] == "CONFIRMED"]
    sb.approve(req["request_id"])
    rows = server.db.sql("SELECT dn FROM usr JOIN m ON m.userid = usr.userid", server.database)
    assert "CN=Jane Doe" in rows

    # day 2: resume notices the approval and verifies on the submit host
    r = cli("--config", str(config), "resume", "--vo", VO, "--passphrase-file", str(pw), "--wait",
            "--timeout", "60", timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert f"/{VO}/Role=NULL/Capability=NULL" in r.stdout
    status = json.loads(cli("status", "--vo", VO, "--json").stdout)
    assert status["state"] == "done"
    assert status["artifacts"]["fqans"] == [f"/{VO}/Role=NULL/Capability=NULL"]
    verification = status["artifacts"]["extra"]["verification"]
    assert verification["voms"] == "ok"
    for text in (r.stdout, r.stderr, (tmp_path / "state" / f"{VO}.json").read_text(),
                 (tmp_path / "state" / f"{VO}.history.jsonl").read_text()):
        assert PASSPHRASE not in text
    assert f"/{VO}/Role=NULL/Capability=NULL" in server.log()  # issued by the real voms-server
