"""The sandbox speaking as upstream does, and onboard's journey through it: the group-manager page without
labels (chosen by the visible name), mails in 7bit as JavaMail sends them, IAM's lower-case username rule
and its rejection wording."""

from __future__ import annotations

import pytest

from onboard.errors import Outcome, Waiting
from onboard.registration import flow
from onboard.sandbox import iam as iam_sandbox
from onboard.sandbox.mail import read_maildir
from onboard.steps import await_approval, confirm_email, register
from tests.lib.regkit import (
    EMAIL,
    VO,
    issue_user,
    make_config,
    make_ctx,
    make_record,
    start_registration_servers,
)

pytestmark = pytest.mark.servers

MANAGERS = [
    {"name": "Mario Rossi", "email": "mario@example.org", "description": "Ada Byron's deputy"},
    {"name": "Ada Byron", "email": "ada@example.org", "description": "UK"},
]


def test_the_group_manager_is_chosen_by_name_on_the_upstream_shaped_page(tmp_path, clock):
    sb = start_registration_servers(tmp_path / "sb", clock=clock, group_managers=MANAGERS)
    try:
        cred = issue_user(sb, tmp_path / "cred")
        cfg = make_config(sb, registration={"group_manager": "Ada Byron"})
        ctx = make_ctx(cfg, make_record(cred), cred, clock)
        register.run(ctx)
        confirm_email.run(ctx)
        assert flow.extra(ctx)["registration"] == "confirmed"
        # Mario's description names Ada: matching the row's text would have chosen him
        (m,) = read_maildir(sb.maildir("ada@example.org"))
        assert m["Subject"].endswith("requires your approval.")
        assert not sb.maildir("mario@example.org").exists()
    finally:
        sb.stop()


def test_mails_come_in_7bit_with_the_link_on_one_line(sandbox, user, clock):
    ctx = make_ctx(make_config(sandbox), make_record(user), user, clock)
    register.run(ctx)
    (raw,) = [p.read_bytes() for p in (sandbox.maildir(EMAIL) / "new").iterdir()]
    assert b"Content-Transfer-Encoding: 7bit" in raw and b"=\n" not in raw and b"=3D" not in raw
    assert b"confirm-request.action?requestId=" in raw


def test_the_sandbox_iam_refuses_capitals_like_upstream(sandbox, user, clock):
    ctx = make_ctx(make_config(sandbox, kind="iam"), make_record(user, workflow="iam"), user, clock)
    http = flow.http(ctx, system_roots=False)
    base = sandbox.iam_url(VO).rstrip("/")
    body = {"givenname": "Jane", "familyname": "Doe", "email": EMAIL, "notes": "x"}
    url = f"{base}/registration/create"
    refused = http.post(url, json={**body, "username": "Jane.Doe"}, idempotent=False)
    assert refused.status_code == 400 and "username" in refused.json()["error"]
    ok = http.post(url, json={**body, "username": "jane.doe"}, idempotent=False)
    assert ok.status_code == 200 and ok.json()["username"] == "jane.doe"


def test_iam_username_is_derived_lower_case(sandbox, user, clock):
    cfg = make_config(sandbox, kind="iam")
    cfg.user.email = "Jane.Doe+grid@example.org"
    ctx = make_ctx(cfg, make_record(user, workflow="iam"), user, clock)
    register.run(ctx)
    assert flow.extra(ctx)["iam_username"] == "jane.doegrid"
    assert [r["username"] for r in iam_sandbox.pending(sandbox.ctx, VO)] == ["jane.doegrid"]


def test_iam_rejection_reason_in_the_upstream_wording_is_read(sandbox, user, clock):
    ctx = make_ctx(make_config(sandbox, kind="iam"), make_record(user, workflow="iam"), user, clock)
    register.run(ctx)
    [req] = iam_sandbox.pending(sandbox.ctx, VO)
    iam_sandbox.reject(sandbox.ctx, req["uuid"], "No participation in this VO found.")
    ctx.record.state = "await_approval"
    flow.mark(ctx, "confirmed")
    with pytest.raises((Outcome, Waiting)) as o:
        await_approval.run(ctx)
    assert isinstance(o.value, Outcome) and o.value.trigger == "rejected"
    assert "No participation in this VO found." in o.value.reason
