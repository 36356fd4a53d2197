"""Resuming: a run killed (SIGKILL) right after submitting submits nothing twice; expiry of an unconfirmed
VOMS-Admin request ends the journey; `onboard confirm URL` applies the same link checks; with IMAP IDLE,
`resume --wait` picks the confirmation mail up as it arrives."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from onboard.registration import flow
from onboard.sandbox import voms_admin as voms_sandbox
from tests.lib.regkit import EMAIL, VO, make_config, make_journey
from tests.lib.servers.dovecot import start_dovecot
from tests.lib.tools import child_env, require_tool, run_onboard

HERE = Path(__file__).resolve().parent

KILLED_RUN = textwrap.dedent("""
    import json, os, signal, sys
    from tests.lib.clock import Clock
    from tests.lib.regkit import UserCred, make_journey
    from onboard.config import Config
    p = json.loads(os.environ["KILL_PARAMS"])
    paths = ("cert", "key", "chain", "passphrase_file")
    cred = UserCred(**{k: __import__("pathlib").Path(v) if k in paths else v
                        for k, v in p["cred"].items()})
    cfg = Config.model_validate(p["config"])
    box = {}
    def checkpoint():
        # the POST went out; die before anything is saved, as with kill -9 or a power cut
        os.kill(os.getpid(), signal.SIGKILL)
    d = __import__("pathlib").Path(p["dir"])
    j = make_journey(d, cfg, cred, Clock(), "voms-admin", checkpoint=checkpoint)
    j.run()
""")


def test_killed_after_submitting_then_resumed_submits_nothing_twice(tmp_path, sandbox, user, clock):
    cfg = make_config(sandbox)
    params = {
        "dir": str(tmp_path / "j"),
        "config": cfg.model_dump(mode="json"),
        "cred": {k: str(v) for k, v in user.__dict__.items()},
    }
    proc = subprocess.run(
        [sys.executable, "-c", KILLED_RUN],
        env=child_env({"KILL_PARAMS": json.dumps(params)}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    assert sandbox.count("POST", "submit-request.action") == 1
    j = make_journey(tmp_path / "j", cfg, user, clock, "voms-admin")
    assert j.record.state == "register" and not flow.extra(j.ctx)  # nothing of the killed run was saved
    res = j.run()  # resume
    assert sandbox.count("POST", "submit-request.action") == 1  # the server's count: still one submission
    assert len(voms_sandbox.requests(sandbox.ctx, VO)) == 1
    assert res.state in ("await_approval", "confirm_email")
    assert "already has your request" in j.ctx.ui.out.getvalue()


def test_unconfirmed_voms_admin_request_expires(tmp_path, sandbox, user, clock):
    cfg = make_config(sandbox, mail={"kind": "none"})
    j = make_journey(tmp_path / "j", cfg, user, clock, "voms-admin")
    assert j.run().state == "confirm_email"
    clock.advance(8 * 24 * 3600)  # past the 7-day lifetime: the sandbox purges the request
    res = j.run()
    assert res.finished and res.state == "expired"
    assert "not confirmed in time" in j.record.outcome


def test_expiry_mail_ends_the_journey(tmp_path, sandbox, user, clock):
    cfg = make_config(sandbox)
    j = make_journey(tmp_path / "j", cfg, user, clock, "voms-admin")
    flow_mailbox = sandbox.maildir()
    # register only: keep the confirmation mail away from onboard by reading another Maildir first
    j.ctx.config.mail.maildir = tmp_path / "empty"
    import mailbox

    mailbox.Maildir(tmp_path / "empty", create=True)
    assert j.run().state == "confirm_email"
    clock.advance(8 * 24 * 3600)
    assert voms_sandbox.purge_expired(sandbox.ctx) != []  # the purger sends "has expired"
    j.ctx.config.mail.maildir = flow_mailbox
    j.ctx.resources.clear()
    # the confirmation mail is there too, but its request is gone: the expiry mail decides
    import email.utils

    res = j.run()
    assert res.finished and res.state == "expired", j.record.outcome
    assert email.utils  # (imported for clarity of the mail-date handling above)


def _write_config(path: Path, cfg) -> None:
    def toml(v):
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, list):
            return "[" + ", ".join(toml(x) for x in v) + "]"
        return str(v)

    data = cfg.model_dump(mode="json", exclude_none=True)
    lines = [f"vo = {toml(data['vo'])}"]
    for section in ("user", "mail", "registration", "trust", "credentials"):
        lines.append(f"[{section}]")
        lines += [f"{k} = {toml(v)}" for k, v in data[section].items() if not isinstance(v, dict)]
    for vo, entry in data["vos"].items():
        lines.append(f"[vos.{vo}]")
        lines += [f"{k} = {toml(v)}" for k, v in entry.items() if not isinstance(v, dict) and v != []]
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.slow
def test_onboard_confirm_command_checks_the_link(tmp_path, sandbox, user, clock, onboard_env):
    from onboard.store import Store

    cfg = make_config(sandbox, mail={"kind": "none"})
    j = make_journey(tmp_path / "j", cfg, user, clock, "voms-admin")
    assert j.run().state == "confirm_email"
    # the journey lives in the CLI's state directory
    store = Store(Path(onboard_env["ONBOARD_STATE_DIR"]))
    j.record.state = ["enrol/vo/confirm_email", "enrol/host/delivered"]  # as in the shipped workflow
    store.save(j.record)
    conf = tmp_path / "config.toml"
    _write_config(conf, cfg)
    from onboard.adapters.mail import MaildirBox
    from onboard.registration.links import extract_links

    [msg] = [m for m in MaildirBox(sandbox.maildir()).messages() if "Your membership request" in m.subject]
    link = next(u for u in extract_links(msg.message) if "confirm-request" in u)
    env = {**onboard_env, "ONBOARD_CONFIG": str(conf)}
    # before the due time, resume does no network I/O and says when to come back
    n = len(sandbox.requests)
    r = run_onboard("resume", "--passphrase-file", str(user.passphrase_file), env=env, timeout=60)
    assert r.returncode == 75, r.stderr
    assert "next check after" in r.stderr and "confirmation mail" in r.stderr
    assert len(sandbox.requests) == n
    evil = link.replace("https://localhost:", "https://127.0.0.1:")
    n = len(sandbox.requests)
    r = run_onboard("confirm", evil, "--passphrase-file", str(user.passphrase_file), env=env, timeout=60)
    assert r.returncode == 24, r.stderr
    assert "refused the link" in r.stderr and "127.0.0.1" in r.stderr
    assert len(sandbox.requests) == n  # never contacted
    r = run_onboard("confirm", link, "--passphrase-file", str(user.passphrase_file), env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    assert [x["status"] for x in voms_sandbox.requests(sandbox.ctx, VO)] == ["CONFIRMED"]
    assert store.load(VO).artifacts.extra["registration"] == "confirmed"


@pytest.mark.slow
def test_idle_picks_the_confirmation_up_while_waiting(tmp_path, sandbox, user, clock):
    """With IDLE and --wait, the step wakes on the server's EXISTS instead of at the next check."""
    require_tool("dovecot")
    (sandbox.dir / "mail").mkdir(mode=0o700, exist_ok=True)
    with start_dovecot(tmp_path / "dovecot", sandbox.dir / "mail", user=EMAIL) as dv:
        pw = tmp_path / "pw"
        pw.write_text(dv.password + "\n")
        cfg = make_config(
            sandbox,
            mail={
                "kind": "imap",
                "host": "localhost",
                "port": dv.port,
                "username": EMAIL,
                "password_file": str(pw),
                "ca_file": str(dv.ca_file),
            },
            registration={"poll_min_seconds": 600},
        )  # a check interval far beyond the test
        j = make_journey(tmp_path / "j", cfg, user, clock, "voms-admin", options={"wait": True})
        # the sandbox's mail is held back and delivered 1 s into the IDLE wait
        mailer = sandbox.ctx.mail
        held = []
        real_send = mailer.send
        mailer.send = lambda to, subject, body: held.append((to, subject, body))
        try:
            from onboard.steps import register

            register.run(j.ctx)
            from onboard.steps import confirm_email

            threading.Timer(1.0, lambda: [real_send(*h) for h in held]).start()
            t0 = time.monotonic()
            j.ctx.state = "confirm_email"
            confirm_email.run(j.ctx)  # the step alone (the engine would go on to idle for the approval)
            elapsed = time.monotonic() - t0
        finally:
            mailer.send = real_send
            j.ctx.close()
        assert flow.extra(j.ctx)["registration"] == "confirmed", j.record.waits
        assert elapsed < 30  # far less than the 600 s check interval


@pytest.mark.slow
def test_idle_picks_the_approval_mail_up_while_waiting(tmp_path, sandbox, user, clock, dovecot_factory):
    (sandbox.dir / "mail").mkdir(mode=0o700, exist_ok=True)
    dv = dovecot_factory(sandbox.dir / "mail", user=EMAIL)
    pw = tmp_path / "pw"
    pw.write_text(dv.password + "\n")
    mail = {
        "kind": "imap",
        "host": "localhost",
        "port": dv.port,
        "username": EMAIL,
        "password_file": str(pw),
        "ca_file": str(dv.ca_file),
    }
    cfg = make_config(sandbox, mail=mail, registration={"poll_min_seconds": 600})
    j = make_journey(tmp_path / "j", cfg, user, clock, "voms-admin")
    try:
        assert j.run().state == "await_approval"  # registered and confirmed; the first check found nothing
        j.ctx.options["wait"] = True
        clock.t = j.record.waits["await_approval"].next_check_after
        rid = int(j.record.artifacts.request_id)
        threading.Timer(1.0, voms_sandbox.approve, args=(sandbox.ctx, rid)).start()
        n = len(sandbox.requests)
        t0 = time.monotonic()
        res = j.run()
        elapsed = time.monotonic() - t0
    finally:
        j.ctx.close()
    assert res.finished and res.state == "approved"
    assert elapsed < 30  # woken by the approval mail, not by the 1200 s check interval
    assert len(sandbox.requests) == n + 1  # still one request for this check
