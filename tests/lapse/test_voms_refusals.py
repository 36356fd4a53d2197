"""A suspended or expired member is refused by the real voms-server (the sandbox marks the suspension as
VOMS-Admin does, voms-mysql-plugin honours it), and what voms-proxy-init then prints is the text the
explain table and the verify step map to its cause."""

from __future__ import annotations

import os
import subprocess

import pytest

pytestmark = [pytest.mark.servers, pytest.mark.slow]

PASSPHRASE = "lapse test passphrase 42"


def _proxy_init(tmp_path, voms_server, pki, user) -> subprocess.CompletedProcess:
    """voms-proxy-init run locally, as on a submit host: the real client against the real server."""
    cert, key = tmp_path / "usercert.pem", tmp_path / "userkey.pem"
    cert.write_bytes(user.pem())
    fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(user.key_pem(PASSPHRASE))
    vomses = tmp_path / "vomses"
    vomses.write_text(voms_server.vomses_line + "\n")
    vomsdir = tmp_path / "vomsdir" / voms_server.vo
    vomsdir.mkdir(parents=True)
    (vomsdir / "localhost.lsc").write_text("\n".join(voms_server.lsc["localhost"]) + "\n")
    rand = tmp_path / "rnd"
    subprocess.run(["openssl", "rand", "-writerand", str(rand)], check=True, capture_output=True)
    env = {**os.environ, "X509_VOMS_DIR": str(tmp_path / "vomsdir"), "X509_CERT_DIR": str(pki["trust"]),
           "RANDFILE": str(rand)}
    return subprocess.run(
        ["voms-proxy-init", "-voms", voms_server.vo, "-pwstdin", "-cert", str(cert), "-key", str(key),
         "-certdir", str(pki["trust"]), "-vomses", str(vomses), "-out", str(tmp_path / "proxy")],
        input=PASSPHRASE + "\n", capture_output=True, text=True, env=env, timeout=120,
    )


def test_a_suspended_member_is_refused_by_the_real_voms_server(tmp_path, voms_server, grid_pki):
    pki = grid_pki
    user = pki["ca"].user("Sam Suspended")
    voms_server.add_member(user.dn)
    (tmp_path / "a").mkdir()
    active = _proxy_init(tmp_path / "a", voms_server, pki, user)
    assert active.returncode == 0, active.stdout + active.stderr
    voms_server.set_status(user.dn, suspended=True, reason="User failed to sign the AUP in time.",
                           reason_code="FAILED_TO_SIGN_AUP")
    (tmp_path / "s").mkdir()
    refused = _proxy_init(tmp_path / "s", voms_server, pki, user)
    out = refused.stdout + refused.stderr
    print(out)
    assert refused.returncode != 0
    assert "User is currently suspended!" in out
    assert "User failed to sign the AUP in time." in out
    # the real text is what `onboard explain` maps to the cause and whom to ask
    from onboard.commands.explain import explain_message

    found = explain_message(out)
    assert found and found[0].key == "voms-suspended-aup"
    assert "sign" in found[0].todo.lower()


def _deliver_and_verify(sshd, client_key, known_hosts, tmp_path, voms_server, user):
    from onboard.delivery import deliver
    from onboard.delivery.local import load_package
    from onboard.delivery.verify import VOTrust, verify
    from onboard.state import utcnow
    from tests.delivery.helpers import connect
    from tests.lib.context import captured_ui

    p = tmp_path / "package.p12"
    p.write_bytes(user.p12(PASSPHRASE))
    conn = connect(sshd, client_key, known_hosts)
    try:
        deliver(conn, load_package(p, PASSPHRASE), PASSPHRASE, ui=captured_ui())
        return verify(conn, voms_server.vo, PASSPHRASE,
                      trust=VOTrust(vomses=[voms_server.vomses_line], lsc=voms_server.lsc),
                      cert_dir=str(voms_server.cert_dir), now=utcnow())
    finally:
        conn.close()


def test_the_verify_step_names_an_ended_membership_and_whom_to_ask(
    sshd, client_key, known_hosts, tmp_path, voms_server, grid_pki
):
    from onboard.delivery.verify import VerifyError
    from onboard.errors import Exit

    user = grid_pki["ca"].user("Erin Expired")
    voms_server.add_member(user.dn)
    assert _deliver_and_verify(sshd, client_key, known_hosts, tmp_path, voms_server, user).voms == "ok"
    # VOMS-Admin's membership check suspends an ended membership after the grace period, so
    voms_server.set_status(user.dn, suspended=True, reason="User membership has expired.",
                           reason_code="MEMBERSHIP_EXPIRATION", end_time=1.0)
    with pytest.raises(VerifyError) as e:
        _deliver_and_verify(sshd, client_key, known_hosts, tmp_path, voms_server, user)
    assert e.value.exit_code == Exit.LAPSED
    assert "your VO membership has ended" in e.value.message
    assert "Suspension reason: User membership has expired." in e.value.message  # the server's words
    assert "VO's administrators" in e.value.hint and "extend" in e.value.hint
    # restored: the same certificate works again (nothing else was changed)
    voms_server.set_status(user.dn, suspended=False)
    assert _deliver_and_verify(sshd, client_key, known_hosts, tmp_path, voms_server, user).voms == "ok"


def test_the_sandbox_carries_a_suspension_into_the_real_voms_server(tmp_path, voms_server, grid_pki):
    """The instructor suspends a member in the sandbox's VOMS-Admin; its status-change hook (`onboard
    sandbox voms-set-status`, a child process) marks the certificate in the voms-server's database, and
    voms-proxy-init is refused with VOMS-Admin's reason; restoring lets it through again."""
    from onboard.sandbox.voms_admin import lapses
    from tests.lib.sandbox import prepare_sandbox

    pki = grid_pki
    user = pki["ca"].user("Hal Hooked")
    voms_server.add_member(user.dn)  # what the on-approval hook did
    sb = prepare_sandbox(tmp_path / "sb", vos=[voms_server.vo])
    sb.settings.on_status_change = voms_server.status_hook()
    with sb.ctx.db() as db:
        uid = db.execute("INSERT INTO usr (vo, name, surname, email, creation_time, end_time) "
                         "VALUES (?, 'Hal', 'Hooked', 'hal@example.org', 0, 1)", (voms_server.vo,)).lastrowid
        db.execute("INSERT INTO certificate (usr_id, subject, issuer, creation_time) VALUES (?,?,?,0)",
                   (uid, user.dn, pki["ca"].dn))
    lapses.check_due(sb.ctx)  # the membership ended in 1970: suspended for MEMBERSHIP_EXPIRATION
    (tmp_path / "s").mkdir()
    refused = _proxy_init(tmp_path / "s", voms_server, pki, user)
    out = refused.stdout + refused.stderr
    assert refused.returncode != 0 and "Suspension reason: User membership has expired." in out
    from onboard.commands.explain import explain_message

    assert explain_message(out)[0].key == "voms-suspended-expired"
    lapses.restore(sb.ctx, uid)
    (tmp_path / "r").mkdir()
    again = _proxy_init(tmp_path / "r", voms_server, pki, user)
    assert again.returncode == 0, again.stdout + again.stderr


def test_a_failing_status_hook_leaves_the_member_as_it_was(tmp_path):
    from onboard.sandbox.voms_admin import lapses
    from onboard.sandbox.voms_admin.hook import HookFailed
    from tests.lib.sandbox import prepare_sandbox

    sb = prepare_sandbox(tmp_path / "sb", vos=["testvo"])
    sb.settings.on_status_change = "sh -c 'echo database down >&2; exit 3'"
    with sb.ctx.db() as db:
        uid = db.execute("INSERT INTO usr (vo, email, creation_time) VALUES ('testvo', 'x@example.org', 0)"
                         ).lastrowid
        db.execute("INSERT INTO certificate (usr_id, subject, issuer, creation_time) VALUES (?, '/CN=X', "
                   "'/CN=CA', 0)", (uid,))
    with pytest.raises(HookFailed, match="database down"):
        lapses.suspend(sb.ctx, uid, "OTHER")
    with sb.ctx.db() as db:
        assert db.execute("SELECT suspended FROM usr WHERE id=?", (uid,)).fetchone()[0] == 0
