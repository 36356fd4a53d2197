"""A busy submit host (a room of trainees at once), played by a real OpenSSH sshd that refuses: MaxStartups
drops new connections while others are still logging in, MaxSessions refuses channels beyond its count.
Onboard tries again with backoff; only a refusal that lasts is an error, and it says "busy", never
"offers no SFTP"."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from onboard.adapters import ssh
from onboard.adapters.backoff import Backoff
from onboard.delivery import deliver
from onboard.delivery.local import load_package
from onboard.delivery.verify import check_files
from onboard.errors import Exit, SSHError
from tests.lib.context import captured_ui
from tests.lib.servers.sshd import SSHD

from .conftest import PASSPHRASE
from .helpers import target

FAST = Backoff(attempts=4, base=0.05, cap=0.2)


def _connect(server, key, tmp_path, retry: Backoff = ssh.DEFAULT_BACKOFF, ui=None) -> ssh.Connection:
    kh = tmp_path / "known_hosts"
    kh.write_text(server.known_hosts_line())
    t = target(server, key, kh)
    t.global_known_hosts = []
    return ssh.connect(t, ui or captured_ui(), retry=retry)


def _hold_a_login_slot(port: int) -> socket.socket:
    """A connection that never logs in: with MaxStartups 1, sshd drops every other new one meanwhile."""
    for _ in range(50):  # sshd's readiness probe may still hold the slot for a moment
        s = socket.create_connection(("127.0.0.1", port))
        s.settimeout(5)
        if s.recv(4) == b"SSH-":  # sshd took it (and counts it as a startup)
            return s
        s.close()
        time.sleep(0.1)
    raise AssertionError("sshd never gave the test a login slot")


def test_a_host_allowing_one_session_takes_a_whole_delivery(sshd_factory, client_key, tmp_path, package, pki):
    """MaxSessions 1: the SFTP session of the delivery leaves no room for its commands; the refused
    channel is given room (SFTP closed, opened again later) and the delivery completes."""
    server = sshd_factory(extra_config=["MaxSessions 1"])
    ui = captured_ui()
    conn = _connect(server, client_key, tmp_path, ui=ui)
    try:
        report = deliver(conn, load_package(package, PASSPHRASE), PASSPHRASE, ui=captured_ui())
        checks = check_files(conn, PASSPHRASE, None, report.remote["usercert.pem"])
    finally:
        conn.close()
    assert conn.refusals >= 1  # sshd did refuse (the test tests something)
    assert "is busy" in ui.out.getvalue()
    assert report.made_by.startswith("openssl on the host")  # the exec channel got through in the end
    assert checks and all(c.ok for c in checks), checks
    assert conn.tcp_connections == 1  # room was made on the same connection, no new login


def test_a_connection_dropped_before_login_is_tried_again(sshd_factory, client_key, tmp_path):
    server = sshd_factory(extra_config=["MaxStartups 1:100:1"])
    slot = _hold_a_login_slot(server.port)
    threading.Timer(1.0, slot.close).start()  # the room's other login finishes after a second
    started = time.monotonic()
    ui = captured_ui()
    conn = _connect(server, client_key, tmp_path, ui=ui)
    try:
        assert conn.run("echo in").out.strip() == "in"
    finally:
        conn.close()
    assert time.monotonic() - started >= 0.5  # it did have to wait for the slot
    assert "dropped the connection before login" in ui.out.getvalue()  # the wait is said, not a hang
    assert "MaxStartups" in server.log() or "drop connection" in server.log()


def test_a_host_that_keeps_dropping_logins_is_named_busy(sshd_factory, client_key, tmp_path):
    server = sshd_factory(extra_config=["MaxStartups 1:100:1"])
    slot = _hold_a_login_slot(server.port)
    try:
        with pytest.raises(SSHError) as e:
            _connect(server, client_key, tmp_path, retry=FAST)
    finally:
        slot.close()
    assert e.value.exit_code == Exit.NETWORK
    assert "kept dropping the connection before login" in e.value.message
    assert "MaxStartups" in e.value.message
    assert server.log().count("drop connection") >= FAST.attempts  # every try reached sshd


def test_a_host_refusing_every_session_is_busy_not_without_sftp(sshd_factory, client_key, tmp_path):
    """MaxSessions 0: every session channel refused. That is a host that will not open a session now,
    not one without SFTP (what onboard wrongly said when a busy sandbox refused the channel)."""
    server = sshd_factory(extra_config=["MaxSessions 0"])
    conn = _connect(server, client_key, tmp_path, retry=FAST)
    try:
        with pytest.raises(SSHError) as e:
            conn.sftp  # noqa: B018 - opening it is the test
        with pytest.raises(SSHError) as e_run:
            conn.run("true")
    finally:
        conn.close()
    assert "offers no SFTP" not in e.value.message
    assert "kept refusing a new SSH session (to open SFTP)" in e.value.message
    assert "(to run a command)" in e_run.value.message
    assert e.value.exit_code == e_run.value.exit_code == Exit.NETWORK
    assert conn.refusals == 2 * (FAST.attempts)


class _NoSFTP(SSHD):
    """sshd with no sftp subsystem configured: it refuses the subsystem request itself."""

    def write_config(self):
        cfg = super().write_config()
        lines = cfg.read_text().splitlines(keepends=True)
        cfg.write_text("".join(ln for ln in lines if not ln.startswith("Subsystem")))
        return cfg


def test_a_host_without_the_sftp_subsystem_is_still_said_so(host_keys, submit_home, client_key, tmp_path):
    """The other side of the line: a refused subsystem on a live connection is "offers no SFTP"."""
    server = _NoSFTP(tmp_path / "nosftp", host_keys).start()
    try:
        conn = _connect(server, client_key, tmp_path, retry=FAST)
        try:
            with pytest.raises(SSHError) as e:
                conn.sftp  # noqa: B018 - opening it is the test
            assert conn.run("echo still").out.strip() == "still"  # the connection itself is fine
        finally:
            conn.close()
    finally:
        server.stop()
    assert "offers no SFTP" in e.value.message
    assert e.value.exit_code == Exit.REMOTE
    assert "subsystem not found" in server.log() or "subsystem request for sftp" in server.log()


def test_a_connection_lost_halfway_through_a_delivery_is_logged_into_again(
    sshd, client_key, tmp_path, package, pki
):
    """The step's retry: the connection dies after the inspection (a busy host dropping it); the delivery
    runs again on a new connection and, being idempotent, completes."""
    conn = _connect(sshd, client_key, tmp_path, retry=FAST)
    phases: list[str] = []

    def progress(phase: str) -> None:
        phases.append(phase)
        if phases.count("inspected") == 1 and phase == "inspected":
            conn.client.get_transport().close()  # the host drops us here, once

    try:
        report = conn.retrying(
            lambda: deliver(conn, load_package(package, PASSPHRASE), PASSPHRASE, on_progress=progress)
        )
        checks = check_files(conn, PASSPHRASE, None, report.remote["usercert.pem"])
    finally:
        conn.close()
    assert phases.count("inspected") == 2  # it was done again, after the drop
    assert conn.tcp_connections == 2
    assert all(c.ok for c in checks), checks
