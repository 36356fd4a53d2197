"""`onboard check` reads the certificate the submit host holds (a real OpenSSH sshd, read-only over the
journey's SSH connection) and compares it with the local one: a host still holding an older certificate
is exit 50 (51 once that one has ended); the same certificate is fine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from onboard.errors import Exit
from onboard.state import JourneyRecord
from onboard.store import Store
from tests.lib.pki import name
from tests.lib.servers.sshd import TEST_USER

pytestmark = pytest.mark.servers


def _jane(ca, days):
    return ca.issue(name(("DC", "org"), ("DC", "onboard-test"), ("OU", "People"), ("CN", "Jane Doe")),
                    days=days)


def _setup(tmp_path, onboard_env, sshd, client_key, known_hosts, grid_pki, local, remote) -> Path:
    globus = tmp_path / "globus"
    globus.mkdir()
    (globus / "usercert.pem").write_bytes(local.pem())
    there = sshd.home / ".globus"
    there.mkdir(exist_ok=True)
    (there / "usercert.pem").write_bytes(remote.pem())
    record = JourneyRecord(vo="testvo", workflow="voms-admin", state="done")
    record.artifacts.remote = {"host": "127.0.0.1", "usercert.pem": remote.sha256}  # what was delivered
    Store(Path(onboard_env["ONBOARD_STATE_DIR"])).save(record)
    config = tmp_path / "config.toml"
    config.write_text(
        f'[credentials]\ndir = "{globus}"\n\n[trust]\ncert_dir = "{grid_pki["trust"]}"\n\n'
        f'[submit_host]\nhost = "127.0.0.1"\nport = {sshd.port}\nuser = "{TEST_USER}"\n'
        f'identity_file = "{client_key}"\nknown_hosts = "{known_hosts}"\n'
    )
    return config


def _host_item(r) -> dict:
    return next(i for i in json.loads(r.stdout)["items"] if i["what"].startswith("usercert.pem on"))


def test_a_host_still_holding_the_older_certificate_is_exit_50(
    cli, tmp_path, onboard_env, sshd, client_key, known_hosts, grid_pki
):
    ca = grid_pki["ca"]
    config = _setup(tmp_path, onboard_env, sshd, client_key, known_hosts, grid_pki,
                    local=_jane(ca, 300), remote=_jane(ca, 100))
    before = sorted(p.name for p in (sshd.home / ".globus").iterdir())
    r = cli("--config", str(config), "check", "--json", "--warn-days", "10")
    assert r.returncode == Exit.LAPSING, r.stdout + r.stderr
    item = _host_item(r)
    assert item["state"] == "lapsing" and "another certificate" in item["detail"]
    assert "onboard renew" in item["todo"]
    assert sorted(p.name for p in (sshd.home / ".globus").iterdir()) == before  # read-only


def test_the_same_certificate_on_the_host_is_fine(
    cli, tmp_path, onboard_env, sshd, client_key, known_hosts, grid_pki
):
    same = _jane(grid_pki["ca"], 300)
    config = _setup(tmp_path, onboard_env, sshd, client_key, known_hosts, grid_pki, local=same, remote=same)
    r = cli("--config", str(config), "check", "--json", "--warn-days", "10")
    assert r.returncode == Exit.OK, r.stdout + r.stderr
    assert _host_item(r)["state"] == "ok" and "the same certificate" in _host_item(r)["detail"]
