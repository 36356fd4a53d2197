"""The submit host's own vomses and vomsdir first, against OpenSSH sshd and the real voms-server.

The host's configuration is given the way sites give it to a login shell: $VOMS_USERCONF (a vomses file
voms-proxy-init reads besides /etc/vomses) and $X509_VOMS_DIR (the vomsdir), here set by sshd's SetEnv as
a site's profile or software bundle sets them."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from onboard.delivery import deliver
from onboard.delivery.local import load_package
from onboard.delivery.verify import VerifyError, VOTrust, verify
from onboard.state import utcnow
from tests.lib.context import captured_ui

from .conftest import PASSPHRASE
from .helpers import connect

pytestmark = [pytest.mark.slow, pytest.mark.servers]

WRONG_CA = "/DC=org/DC=example/CN=Some Other CA"


@pytest.fixture
def host_etc():
    """A directory the submit host's user can read, standing for the host's VOMS configuration."""
    d = Path(tempfile.mkdtemp(prefix="onboard-host-etc-"))
    d.chmod(0o755)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _host_files(d: Path, vomses_line: str, lsc: list[str]) -> None:
    (d / "vomses").write_text(vomses_line + "\n")
    vo_dir = d / "vomsdir" / "testvo"
    vo_dir.mkdir(parents=True)
    (vo_dir / "localhost.lsc").write_text("\n".join(lsc) + "\n")
    for p in (d / "vomses", vo_dir / "localhost.lsc"):
        p.chmod(0o644)
    for p in (d / "vomsdir", vo_dir):
        p.chmod(0o755)


def _sshd(sshd_factory, d: Path):
    env = f"SetEnv PATH=/usr/local/bin:/usr/bin:/bin VOMS_USERCONF={d}/vomses X509_VOMS_DIR={d}/vomsdir"
    return sshd_factory("sshd-host-etc", extra_config=[env])


def _known_hosts(tmp_path, sshd) -> Path:
    p = tmp_path / "known_hosts-host-etc"
    p.write_text(sshd.known_hosts_line())
    return p


def _run(sshd, client_key, tmp_path, package, pki, trust):
    conn = connect(sshd, client_key, _known_hosts(tmp_path, sshd))
    try:
        deliver(conn, load_package(package, PASSPHRASE), PASSPHRASE, ui=captured_ui())
        return verify(conn, "testvo", PASSPHRASE, trust=trust, cert_dir=str(pki["trust"]), now=utcnow())
    finally:
        conn.close()


def test_the_hosts_right_files_are_used_and_a_wrong_catalog_reported(
    sshd_factory, client_key, tmp_path, package, pki, voms_server, host_etc
):
    _host_files(host_etc, voms_server.vomses_line, voms_server.lsc["localhost"])
    sshd = _sshd(sshd_factory, host_etc)
    wrong = VOTrust([voms_server.vomses_line], {"localhost": [voms_server.host_dn, WRONG_CA]})
    result = _run(sshd, client_key, tmp_path, package, pki, wrong)
    assert result.voms == "ok" and result.trust_from == "host"
    assert "/testvo/Role=NULL/Capability=NULL" in result.fqans
    assert result.installed == [] and not (sshd.home / ".glite").exists()
    [diff] = result.disagreements
    assert f"{host_etc}/vomsdir/testvo/localhost.lsc" in diff and WRONG_CA in diff
    assert voms_server.lsc["localhost"][1] in diff


def test_stale_host_files_fall_back_to_onboards_and_are_named(
    sshd_factory, client_key, tmp_path, package, pki, voms_server, host_etc
):
    _host_files(host_etc, voms_server.vomses_line, [voms_server.host_dn, WRONG_CA])
    sshd = _sshd(sshd_factory, host_etc)
    right = VOTrust([voms_server.vomses_line], voms_server.lsc)
    result = _run(sshd, client_key, tmp_path, package, pki, right)
    assert result.voms == "ok" and result.trust_from == "onboard"
    assert result.stale == [f"{host_etc}/vomsdir/testvo/localhost.lsc"]
    assert (sshd.home / ".voms/vomsdir/testvo/localhost.lsc").read_text().splitlines() == voms_server.lsc[
        "localhost"
    ]
    assert any(WRONG_CA in d for d in result.disagreements)


def test_a_host_without_the_vo_gets_the_users_own_files(
    sshd_factory, client_key, tmp_path, package, pki, voms_server, host_etc
):
    (host_etc / "vomses").write_text('"other" "voms.example.org" "15000" "/CN=voms.example.org" "other"\n')
    os.chmod(host_etc / "vomses", 0o644)
    sshd = _sshd(sshd_factory, host_etc)
    right = VOTrust([voms_server.vomses_line], voms_server.lsc)
    result = _run(sshd, client_key, tmp_path, package, pki, right)
    assert result.voms == "ok" and result.trust_from == "onboard" and result.stale == []
    assert (sshd.home / ".glite/vomses/testvo").read_text().strip() == voms_server.vomses_line


def test_both_wrong_is_an_error_that_says_both_were_tried(
    sshd_factory, client_key, tmp_path, package, pki, voms_server, host_etc
):
    _host_files(host_etc, voms_server.vomses_line, [voms_server.host_dn, WRONG_CA])
    sshd = _sshd(sshd_factory, host_etc)
    wrong = VOTrust([voms_server.vomses_line], {"localhost": [voms_server.host_dn, WRONG_CA]})
    with pytest.raises(VerifyError) as e:
        _run(sshd, client_key, tmp_path, package, pki, wrong)
    message = e.value.message
    assert "with the host's own files too" in message and "Cannot verify AC signature" in message
    # what the AC really carried, against each LSC that was used
    ca = voms_server.lsc["localhost"][1]
    assert f"the AC was signed by DN {voms_server.host_dn} (CA {ca})" in message
    assert f"~/.voms/vomsdir/testvo/localhost.lsc says DN {voms_server.host_dn} (CA {WRONG_CA})" in message
    assert f"{host_etc}/vomsdir/testvo/localhost.lsc says DN {voms_server.host_dn} (CA {WRONG_CA})" in message


def test_a_wrong_lsc_of_onboards_names_the_dn_and_ca_the_ac_carried(
    sshd, client_key, known_hosts, package, pki, voms_server
):
    wrong = VOTrust([voms_server.vomses_line], {"localhost": [voms_server.host_dn, WRONG_CA]})
    conn = connect(sshd, client_key, known_hosts)
    try:
        deliver(conn, load_package(package, PASSPHRASE), PASSPHRASE, ui=captured_ui())
        with pytest.raises(VerifyError) as e:
            verify(conn, "testvo", PASSPHRASE, trust=wrong, cert_dir=str(pki["trust"]), now=utcnow())
    finally:
        conn.close()
    ca = voms_server.lsc["localhost"][1]
    assert e.value.message.endswith(
        f"Cannot verify AC signature! (the AC was signed by DN {voms_server.host_dn} (CA {ca}), but "
        f"~/.voms/vomsdir/testvo/localhost.lsc says DN {voms_server.host_dn} (CA {WRONG_CA}))"
    )


def test_the_verify_step_tells_which_host_file_is_stale_and_whom_to_tell(
    sshd_factory, client_key, tmp_path, package, pki, voms_server, host_etc, monkeypatch
):
    from onboard.state import JourneyRecord
    from onboard.steps import deliver as deliver_step
    from onboard.steps import verify as verify_step
    from tests.lib.context import output

    from .test_verify_voms import _ctx

    _host_files(host_etc, voms_server.vomses_line, [voms_server.host_dn, WRONG_CA])
    sshd = _sshd(sshd_factory, host_etc)
    monkeypatch.setattr("onboard.adapters.ssh_target.SYSTEM_KNOWN_HOSTS", ())
    record = JourneyRecord(vo="testvo", workflow="voms-admin", state="deliver")
    ctx = _ctx(sshd, client_key, _known_hosts(tmp_path, sshd), package, pki, voms_server, record)
    try:
        deliver_step.run(ctx)
        verify_step.run(ctx)
    finally:
        ctx.close()
    said = output(ctx)
    lsc = f"{host_etc}/vomsdir/testvo/localhost.lsc"
    assert f"own VOMS files for VO testvo are stale ({lsc})" in said and "administrators" in said
    assert f"and onboard's catalog differ: {lsc}" in said
    verification = record.artifacts.extra["verification"]
    assert verification["trust_from"] == "onboard" and verification["stale"] == [lsc]
