"""`onboard check` against the sandbox's VOMS-Admin over HTTPS with the member's own certificate (the
CLI as cron runs it): a suspended membership is exit 51, an AUP to sign again exit 50, each with what to
do; without a terminal and without a passphrase source it never prompts (the item is "skipped")."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
    PrivateFormat,
    pkcs12,
)

from onboard.errors import Exit
from onboard.sandbox.voms_admin import lapses
from onboard.state import JourneyRecord
from onboard.store import Store

from .conftest import PASSPHRASE, VO

pytestmark = pytest.mark.servers


@pytest.fixture
def member(trainee, sandbox, tmp_path, onboard_env):
    """The trainee as a member whose onboard journey is done: PEM files, a record, a configuration."""
    trainee.submit()
    trainee.session.get(trainee.confirm_link(), timeout=30)
    uid = sandbox.approve(sandbox.requests()[0]["request_id"])["user_id"]
    key, cert, _ = pkcs12.load_key_and_certificates(trainee.p12.read_bytes(), PASSPHRASE)
    globus = tmp_path / "globus"
    globus.mkdir()
    (globus / "usercert.pem").write_bytes(cert.public_bytes(Encoding.PEM))
    fd = os.open(globus / "userkey.pem", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, BestAvailableEncryption(PASSPHRASE)))
    url = sandbox.registration_url(VO)
    record = JourneyRecord(vo=VO, workflow="voms-admin", state="done")
    record.artifacts.registration_url = url
    record.artifacts.extra["registration"] = "member"
    Store(Path(onboard_env["ONBOARD_STATE_DIR"])).save(record)
    config = tmp_path / "config.toml"
    config.write_text(
        f'[credentials]\ndir = "{globus}"\n\n[trust]\ncert_dir = "{sandbox.trust_dir}"\n\n'
        f'[vos.{VO}]\nkind = "voms-admin"\nurl = "{url}"\n'
    )
    pw = tmp_path / "passphrase"
    pw.write_text(PASSPHRASE.decode() + "\n")
    return {"uid": uid, "config": config, "passphrase": pw}


def _check(cli, m, *extra):
    r = cli("--config", str(m["config"]), "check", "--json", "--warn-days", "10", *extra)
    return r, json.loads(r.stdout) if r.stdout.startswith("{") else None


def _membership(out) -> dict:
    return {i["what"]: i for i in out["items"] if i["vo"] == VO}


def test_an_active_member_is_fine_then_a_suspension_is_exit_51(cli, sandbox, member):
    r, out = _check(cli, member, "--passphrase-file", str(member["passphrase"]))
    assert r.returncode == Exit.OK, r.stdout + r.stderr
    items = _membership(out)
    assert items[f"membership of {VO}"]["state"] == "ok"
    assert items[f"membership end ({VO})"]["state"] == "ok"  # a year from approval
    assert items[f"AUP signature ({VO})"]["state"] == "ok"
    lapses.suspend(sandbox.ctx, member["uid"], "SECURITY_INCIDENT")
    r, out = _check(cli, member, "--passphrase-file", str(member["passphrase"]))
    assert r.returncode == Exit.LAPSED
    item = _membership(out)[f"membership of {VO}"]
    assert item["state"] == "lapsed"
    assert "suspended after a security incident" in item["detail"] and "administrators" in item["todo"]


def test_an_aup_to_sign_again_is_exit_50(cli, sandbox, member):
    lapses.request_aup_signature(sandbox.ctx, member["uid"], days=15)
    r, out = _check(cli, member, "--passphrase-file", str(member["passphrase"]))
    assert r.returncode == Exit.LAPSING, r.stdout + r.stderr
    item = _membership(out)[f"AUP of {VO}"]
    assert item["state"] == "lapsing" and "sign its AUP again" in item["detail"]
    assert "Request to sign" in item["todo"]


def test_an_ended_membership_in_its_grace_period_is_exit_51(cli, sandbox, member):
    lapses.set_end_time(sandbox.ctx, member["uid"], sandbox.ctx.now() - 2 * 86400)
    r, out = _check(cli, member, "--passphrase-file", str(member["passphrase"]))
    assert r.returncode == Exit.LAPSED
    items = _membership(out)
    assert items[f"membership end ({VO})"]["state"] == "lapsed"
    assert items[f"membership of {VO}"]["state"] == "ok"  # not suspended yet: the grace period


def test_without_a_terminal_or_a_passphrase_source_the_network_check_is_skipped(cli, member):
    r, out = _check(cli, member)  # stdin is /dev/null: no prompt can be answered, none may be shown
    assert r.returncode == Exit.CHECK_UNKNOWN, r.stdout + r.stderr
    item = _membership(out)[f"membership of {VO}"]
    assert item["state"] == "skipped" and "passphrase" in item["detail"]
    assert "passphrase_command" in item["todo"]
    assert "Passphrase" not in r.stderr  # no prompt was written


def test_a_vo_that_refuses_to_tell_is_unknown_never_fine(cli, sandbox, trainee, tmp_path, onboard_env):
    """voms-configure --disable-ro-access-for-authenticated-clients: the refusal is an HTTP 200 whose body
    reports a VOMSAuthorizationException (it reaches a certificate that is not, or no longer, a member)."""
    sandbox.settings.no_read_access_vos = [VO]
    key, cert, _ = pkcs12.load_key_and_certificates(trainee.p12.read_bytes(), PASSPHRASE)
    globus = tmp_path / "globus"
    globus.mkdir()
    (globus / "usercert.pem").write_bytes(cert.public_bytes(Encoding.PEM))
    fd = os.open(globus / "userkey.pem", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, BestAvailableEncryption(PASSPHRASE)))
    url = sandbox.registration_url(VO)
    record = JourneyRecord(vo=VO, workflow="voms-admin", state="done")
    record.artifacts.registration_url = url
    record.artifacts.extra["registration"] = "member"  # once; the VO no longer tells (or knows) it
    Store(Path(onboard_env["ONBOARD_STATE_DIR"])).save(record)
    config = tmp_path / "config.toml"
    config.write_text(f'[credentials]\ndir = "{globus}"\n\n[trust]\ncert_dir = "{sandbox.trust_dir}"\n\n'
                      f'[vos.{VO}]\nkind = "voms-admin"\nurl = "{url}"\n')
    pw = tmp_path / "passphrase"
    pw.write_text(PASSPHRASE.decode() + "\n")
    r, out = _check(cli, {"config": config}, "--passphrase-file", str(pw))
    assert r.returncode == Exit.CHECK_UNKNOWN, r.stdout + r.stderr
    item = _membership(out)[f"membership of {VO}"]
    assert item["state"] == "unknown" and "VOMSAuthorizationException" in item["detail"]


def test_a_sign_aup_mail_is_not_repeated_where_user_info_tells_the_aup(cli, sandbox, member, tmp_path):
    """Signed since the mail came: user-info says the signature is valid, and it is newer than any mail."""
    import mailbox
    from email.message import EmailMessage
    from email.utils import formatdate

    box = mailbox.Maildir(tmp_path / "Maildir", create=True)
    msg = EmailMessage()
    msg["Subject"], msg["Date"] = f"Request to sign VO {VO} acceptable usage policy (AUP).", formatdate()
    msg.set_content("you are requested to sign the VO AUP")
    box.add(msg)
    cfg = member["config"]
    cfg.write_text(cfg.read_text() + f'\n[mail]\nkind = "maildir"\nmaildir = "{tmp_path / "Maildir"}"\n')
    r, out = _check(cli, member, "--passphrase-file", str(member["passphrase"]))
    assert r.returncode == Exit.OK, r.stdout + r.stderr
    assert not [i for i in out["items"] if i["what"].startswith("mail")]
