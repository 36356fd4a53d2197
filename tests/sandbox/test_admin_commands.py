"""`onboard sandbox iam-*` and `vomrs-*`: the IAM and VOMRS imitations' administrators, through onboard's
command line and its one error layer (exit codes and messages from onboard.cli)."""

from __future__ import annotations

import json

import requests

from onboard import cli
from onboard.errors import Exit
from onboard.sandbox.mail import read_maildir

from .conftest import VO


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_iam_requests_approve_and_reject_through_the_cli(sandbox, capsys):
    base = f"{sandbox.app.base_url('open')}/iam/{VO}"
    for name in ("ada", "bob"):
        r = requests.post(f"{base}/registration/create", json={
            "username": name, "givenname": name.title(), "familyname": "Tester",
            "email": f"{name}@example.org"}, verify=str(sandbox.ca.bundle_path), timeout=30)
        assert r.status_code == 200, r.text
    d = str(sandbox.dir)
    code, out, _ = _run(capsys, "sandbox", "iam-requests", "--dir", d, "--json")
    assert code == 0
    waiting = {row["username"]: row["uuid"] for row in json.loads(out)}
    assert set(waiting) == {"ada", "bob"}

    code, out, _ = _run(capsys, "sandbox", "iam-approve", "--dir", d, waiting["ada"])
    assert code == 0 and "account ada is active" in out
    assert any("is now active" in m["Subject"] for m in read_maildir(sandbox.maildir("ada@example.org")))
    code, out, _ = _run(capsys, "sandbox", "iam-reject", "--dir", d, waiting["bob"], "--reason", "unknown")
    assert code == 0 and "rejected IAM request" in out

    code, out, err = _run(capsys, "sandbox", "iam-approve", "--dir", d, waiting["bob"])
    assert code == Exit.SANDBOX and f"no pending IAM request {waiting['bob']}" in err and "hint:" in err
    code, out, _ = _run(capsys, "sandbox", "iam-requests", "--dir", d)
    assert code == 0 and out.strip() == "no requests waiting."


def test_vomrs_requests_approve_and_deny_through_the_cli(sandbox, capsys):
    from onboard.sandbox.vomrs.routes import SCHEMA

    sandbox.ctx.create_tables(SCHEMA)
    with sandbox.ctx.db() as db:
        for n in (1, 2):
            db.execute(
                "INSERT INTO vomrs_member (vo, subject, issuer, first_name, last_name, email, phase, status, "
                "creation_time, expiration_time) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (VO, f"/DC=org/CN=Applicant {n}", "/DC=org/CN=CA", "A", str(n), f"a{n}@example.org",
                 "applicant", "New", 0, 1e12),
            )
    d = str(sandbox.dir)
    code, out, _ = _run(capsys, "sandbox", "vomrs-requests", "--dir", d)
    assert code == 0 and "Applicant 1" in out and "Applicant 2" in out
    code, out, _ = _run(capsys, "sandbox", "vomrs-approve", "--dir", d, "1")
    assert code == 0 and "approved VOMRS registration 1" in out
    code, out, _ = _run(capsys, "sandbox", "vomrs-deny", "--dir", d, "2", "--reason", "not known")
    assert code == 0 and "denied VOMRS registration 2" in out
    assert any("denied" in m["Subject"] for m in read_maildir(sandbox.maildir("a2@example.org")))
    code, _, err = _run(capsys, "sandbox", "vomrs-approve", "--dir", d, "2")
    assert code == Exit.SANDBOX and "no VOMRS registration 2 waiting" in err
    code, out, _ = _run(capsys, "sandbox", "vomrs-requests", "--dir", d, "--json")
    assert code == 0 and json.loads(out) == []
