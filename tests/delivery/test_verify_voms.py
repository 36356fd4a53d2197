"""Delivery + verification against real grid middleware on loopback: OpenSSH sshd as the submit host,
MariaDB + voms-server + voms-mysql-plugin as the VO's VOMS server, voms-clients on the submit host."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from onboard.config import Config
from onboard.delivery import deliver
from onboard.delivery.local import load_package
from onboard.delivery.verify import VerifyError, VOTrust, verify
from onboard.errors import Exit
from onboard.secrets import Secrets
from onboard.state import JourneyRecord, utcnow
from onboard.steps.context import StepContext
from tests.lib.context import captured_ui, step_context
from tests.lib.servers.sshd import TEST_USER

from .conftest import PASSPHRASE
from .helpers import connect

pytestmark = pytest.mark.slow


def _trust(voms_server) -> VOTrust:
    return VOTrust(vomses=[voms_server.vomses_line], lsc=voms_server.lsc)


def test_deliver_then_voms_proxy_init_gets_the_vo_fqan(
    sshd, client_key, known_hosts, package, pki, voms_server
):
    conn = connect(sshd, client_key, known_hosts)
    try:
        deliver(conn, load_package(package, PASSPHRASE), PASSPHRASE, ui=captured_ui())
        result = verify(
            conn, "testvo", PASSPHRASE, trust=_trust(voms_server), cert_dir=str(pki["trust"]), now=utcnow()
        )
    finally:
        conn.close()
    assert result.voms == "ok"
    assert "/testvo/Role=NULL/Capability=NULL" in result.fqans
    assert "issuer    : " + voms_server.host_dn in result.output  # the AC came from our voms-server
    assert all(c.ok for c in result.checks) and len(result.checks) == 4
    home = sshd.home
    assert (home / ".glite/vomses/testvo").read_text().strip() == voms_server.vomses_line
    assert (home / ".voms/vomsdir/testvo/localhost.lsc").read_text().splitlines() == voms_server.lsc[
        "localhost"
    ]
    assert sshd.log().count("Accepted publickey") == 1
    # the user's own proxy location is left alone, and the temporary proxy is gone
    uid = home.stat().st_uid
    assert not Path(f"/tmp/x509up_u{uid}").exists()
    assert not [p for p in Path("/tmp").glob("onboard-verify.*") if p.stat().st_uid == uid]


def test_a_certificate_the_vo_does_not_know_is_reported_clearly(
    sshd, client_key, known_hosts, tmp_path, pki, voms_server
):
    stranger = pki["ca"].user("Not Yet Approved")
    p = tmp_path / "stranger.p12"
    p.write_bytes(stranger.p12(PASSPHRASE))
    conn = connect(sshd, client_key, known_hosts)
    try:
        deliver(conn, load_package(p, PASSPHRASE), PASSPHRASE, ui=captured_ui())
        with pytest.raises(VerifyError) as e:
            verify(
                conn,
                "testvo",
                PASSPHRASE,
                trust=_trust(voms_server),
                cert_dir=str(pki["trust"]),
                now=utcnow(),
            )
    finally:
        conn.close()
    assert e.value.exit_code == Exit.VERIFY
    assert "User unknown to this VO" in e.value.message
    assert "approval" in e.value.hint


def test_wrong_mode_on_the_host_fails_verification(sshd, client_key, known_hosts, package, pki, voms_server):
    conn = connect(sshd, client_key, known_hosts)
    try:
        deliver(conn, load_package(package, PASSPHRASE), PASSPHRASE, ui=captured_ui())
        sshd.ssh_as_user("chmod", "0644", ".globus/userkey.pem")
        with pytest.raises(VerifyError) as e:
            verify(
                conn,
                "testvo",
                PASSPHRASE,
                trust=_trust(voms_server),
                cert_dir=str(pki["trust"]),
                now=utcnow(),
            )
    finally:
        conn.close()
    assert "userkey.pem" in e.value.message and "0644" in e.value.message


def _ctx(sshd, client_key, known_hosts, package, pki, voms_server, record: JourneyRecord) -> StepContext:
    cfg = Config.model_validate(
        {
            "vo": "testvo",
            "submit_host": {
                "host": "127.0.0.1",
                "user": TEST_USER,
                "port": sshd.port,
                "identity_file": str(client_key),
                "known_hosts": str(known_hosts),
                "x509_cert_dir": str(pki["trust"]),
            },
            "vos": {"testvo": {"vomses": [voms_server.vomses_line], "lsc": voms_server.lsc}},
        }
    )
    ui = captured_ui()
    secrets = Secrets(ui)
    secrets.remember("passphrase", PASSPHRASE)
    record.artifacts.package = package
    return step_context(record=record, config=cfg, ui=ui, secrets=secrets)


def test_deliver_and_verify_steps_fill_the_journey_record(
    sshd, client_key, known_hosts, package, pki, voms_server, monkeypatch
):
    from onboard.steps import deliver as deliver_step
    from onboard.steps import verify as verify_step

    monkeypatch.setattr("onboard.adapters.ssh_target.SYSTEM_KNOWN_HOSTS", ())
    record = JourneyRecord(vo="testvo", workflow="voms-admin", state="deliver")
    ctx = _ctx(sshd, client_key, known_hosts, package, pki, voms_server, record)
    try:
        deliver_step.run(ctx)
        assert record.artifacts.remote["phase"] == "delivered"
        assert record.artifacts.remote["usercred.p12"] == load_package(package, PASSPHRASE).sha256
        verify_step.run(ctx)
    finally:
        ctx.close()
    assert record.artifacts.fqans == ["/testvo/Role=NULL/Capability=NULL"]
    assert record.artifacts.extra["verification"]["voms"] == "ok"
    assert sshd.log().count("Accepted publickey") == 1  # both steps shared the run's one connection
    assert PASSPHRASE not in record.model_dump_json()


def test_voms_add_member_hook_feeds_the_database(voms_server, pki, tmp_path):
    """The on-approval hook, `onboard sandbox voms-add-member`: values in argv, or from the environment the
    sandbox gives a hook; idempotent; a database password only through a file."""
    import subprocess
    import sys

    newcomer = pki["ca"].user("Hook Fed")
    argv = [sys.executable, "-m", "onboard", "sandbox", "voms-add-member",
            "--socket", str(voms_server.db.socket), "--database", voms_server.database,
            "--dn", newcomer.dn, "--ca", pki["ca"].dn, "--vo", "testvo"]
    for _ in range(2):  # idempotent
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr

    def members(dn: str) -> str:
        return voms_server.db.sql(
            f"SELECT COUNT(*) FROM usr JOIN m ON m.userid = usr.userid WHERE usr.dn = '{dn}'",
            voms_server.database,
        ).strip()

    assert members(newcomer.dn) == "1"

    # `onboard sandbox voms-add-member`, over TCP with a password account, everything else from the hook's env
    password = "hook-pw-" + "x" * 12
    voms_server.db.sql(f"CREATE USER 'hooktest'@'127.0.0.1' IDENTIFIED BY '{password}'; "
                       f"GRANT SELECT, INSERT ON {voms_server.database}.* TO 'hooktest'@'127.0.0.1';")
    pwfile = tmp_path / "db.pass"
    pwfile.write_text(password + "\n")
    other = pki["ca"].user("Env Fed")
    env = {**os.environ, "ONBOARD_DN": other.dn, "ONBOARD_CA_DN": pki["ca"].dn, "ONBOARD_VO": "testvo",
           "VOMS_DB_PASSWORD_FILE": str(pwfile)}
    hook = [sys.executable, "-m", "onboard", "sandbox", "voms-add-member", "--host", "127.0.0.1", "--port",
            str(voms_server.db.port), "--user", "hooktest"]
    proc = subprocess.run(hook, capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    assert members(other.dn) == "1" and password not in proc.stdout + proc.stderr
    pwfile.write_text("wrong\n")
    proc = subprocess.run(hook, capture_output=True, text=True, timeout=60,
                          env={**env, "ONBOARD_DN": "/DC=org/CN=Nobody"})
    assert proc.returncode == 1 and "Access denied" in proc.stderr and "wrong" not in proc.stderr
    bare = {k: v for k, v in os.environ.items() if not k.startswith(("ONBOARD_", "VOMS_"))}
    proc = subprocess.run([sys.executable, "-m", "onboard", "sandbox", "voms-add-member", "--socket", "/x"],
                          capture_output=True, text=True, timeout=60, env=bare)
    assert proc.returncode == 2 and "missing --database, --dn, --ca" in proc.stderr
