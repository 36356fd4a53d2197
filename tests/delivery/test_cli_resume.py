"""`onboard resume` as a user runs it, from the moment the VO has approved: delivery to a real sshd and
verification against a real voms-server, through the CLI (config file, flags, state file, exit codes)."""

from __future__ import annotations

import json
import os

import pytest

from onboard.errors import Exit
from onboard.state import JourneyRecord
from onboard.store import Store
from tests.lib.servers.sshd import TEST_USER

from .conftest import PASSPHRASE

pytestmark = pytest.mark.slow


def _setup(tmp_path, onboard_env, sshd, client_key, package, pki, voms_server, known_hosts=None):
    kh = known_hosts or (tmp_path / "home" / ".ssh" / "known_hosts")
    cfg = tmp_path / "config.toml"
    cfg.write_text(f"""
vo = "testvo"
[submit_host]
host = "127.0.0.1"
user = "{TEST_USER}"
port = {sshd.port}
identity_file = "{client_key}"
known_hosts = "{kh}"
x509_cert_dir = "{pki["trust"]}"
[vos.testvo]
vomses = ['{voms_server.vomses_line}']
lsc = {{ "localhost" = ["{voms_server.host_dn}", "{voms_server.ca_dn}"] }}
""")
    pw = tmp_path / "pw"
    fd = os.open(pw, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, (PASSPHRASE + "\n").encode())
    os.close(fd)
    # the journey as it stands once the VO administrators approved and the host is still to be served
    record = JourneyRecord(
        vo="testvo", workflow="voms-admin", state=["enrol/vo/approved", "enrol/host/deliver"]
    )
    record.artifacts.package = package
    Store(tmp_path / "state").save(record)
    return cfg, pw


def test_resume_delivers_and_verifies_through_the_cli(
    tmp_path, onboard_env, cli, sshd, client_key, package, pki, voms_server, monkeypatch
):
    cfg, pw = _setup(tmp_path, onboard_env, sshd, client_key, package, pki, voms_server)
    # first without confirming the unknown host key: refused, nothing delivered, the journey keeps its place
    r = cli("--config", str(cfg), "resume", "--vo", "testvo", "--passphrase-file", str(pw))
    assert r.returncode == Exit.HOST_KEY_UNKNOWN, r.stderr
    assert sshd.fingerprint in r.stderr and "--trust-host-key" in r.stderr
    assert not (sshd.home / ".globus").exists()
    r = cli(
        "--config",
        str(cfg),
        "resume",
        "--vo",
        "testvo",
        "--passphrase-file",
        str(pw),
        "--trust-host-key",
        sshd.fingerprint,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Done" in r.stdout
    assert PASSPHRASE not in r.stdout + r.stderr
    st = cli("status", "--vo", "testvo", "--json")
    data = json.loads(st.stdout)
    assert data["state"] == "done"
    assert data["artifacts"]["fqans"] == ["/testvo/Role=NULL/Capability=NULL"]
    assert data["artifacts"]["remote"]["phase"] == "delivered"
    assert data["artifacts"]["extra"]["verification"]["voms"] == "ok"
    human = cli("status", "--vo", "testvo")
    assert "/testvo/Role=NULL/Capability=NULL" in human.stdout
    state_text = (tmp_path / "state" / "testvo.json").read_text()
    assert (
        PASSPHRASE not in state_text
        and PASSPHRASE not in (tmp_path / "state" / "testvo.history.jsonl").read_text()
    )
    assert sshd.log().count("Accepted publickey") == 1  # deliver and verify shared one connection


def test_resume_with_a_changed_host_key_stops_with_its_exit_code(
    tmp_path, onboard_env, cli, sshd, client_key, package, pki, voms_server
):
    kh = tmp_path / "kh"
    other = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"  # some other host key
    kh.write_text(f"[127.0.0.1]:{sshd.port} ssh-ed25519 {other}\n")
    cfg, pw = _setup(tmp_path, onboard_env, sshd, client_key, package, pki, voms_server, known_hosts=kh)
    r = cli(
        "--config",
        str(cfg),
        "resume",
        "--vo",
        "testvo",
        "--passphrase-file",
        str(pw),
        "--trust-host-key",
        sshd.fingerprint,
    )
    assert r.returncode == Exit.HOST_KEY_CHANGED, r.stderr
    assert "CHANGED" in r.stderr and sshd.fingerprint in r.stderr
    assert not (sshd.home / ".globus").exists()
    status = json.loads(cli("status", "--vo", "testvo", "--json").stdout)
    assert status["last_error"]["exit_code"] == Exit.HOST_KEY_CHANGED
