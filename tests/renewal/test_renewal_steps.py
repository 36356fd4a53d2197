"""The renewal's VO steps against the sandbox's registration servers (in this process, a test clock):
IAM (the new certificate linked to the same account, noticed through the VOMS-AA), a rejected VOMS-Admin
certificate request (the renewal ends in `rejected`, with whom to ask), and a previous credential that is
gone (one line and a hint, nothing sent)."""

from __future__ import annotations

import pytest

from onboard import workflow
from onboard.commands.renew import begin
from onboard.errors import CredentialError, Outcome, Waiting
from onboard.registration import flow
from onboard.sandbox import ca_switch
from onboard.sandbox import iam as iam_sandbox
from onboard.sandbox.voms_admin import cert_requests
from onboard.steps import add_certificate, await_approval, await_certificate, confirm_email, register
from tests.lib.context import output
from tests.lib.regkit import VO, issue_user, make_config, make_ctx, make_record

pytestmark = pytest.mark.servers  # the sandbox's registration servers


@pytest.fixture
def sandbox(tmp_path, clock):
    from tests.lib.regkit import start_registration_servers

    sb = start_registration_servers(tmp_path / "sandbox", clock=clock)
    try:
        yield sb
    finally:
        sb.stop()


def _first_year(sandbox, tmp_path, clock, kind: str):
    """A member of VO through the first journey's steps; returns its step context."""
    user = issue_user(sandbox, tmp_path / "cred")
    ctx = make_ctx(make_config(sandbox, kind=kind), make_record(user, workflow=kind), user, clock)
    from onboard.credentials.installer import read_cert
    from onboard.credentials.model import Credential

    c = ctx.record.artifacts.certificate
    c.subject_dn, c.issuer_dn = user.subject, user.issuer
    c.sha256 = Credential(key=None, cert=read_cert(user.cert)).sha256
    register.run(ctx)
    confirm_email.run(ctx)
    if kind == "iam":
        iam_sandbox.approve(sandbox.ctx, ctx.record.artifacts.request_id)
        await_approval.run(ctx)
        name = flow.extra(ctx)["iam_username"]
        iam_sandbox.link_certificate(sandbox.ctx, VO, name, user.subject, user.issuer)
    return ctx, user


def _renewal(ctx, sandbox, tmp_path, name: str = "Jane Doe"):
    """The record turned into its renewal (as `onboard renew` does), with the new certificate installed (as
    the convert step leaves it): here from the second CA."""
    wf = workflow.load(f"renew-{ctx.record.workflow}")
    begin(ctx.record, wf, ctx.now())
    ca_switch.switch(sandbox.ctx.ca)
    new = issue_user(sandbox, tmp_path / "new", name=name)
    arts = ctx.record.artifacts
    arts.cert, arts.key, arts.chain = new.cert, new.key, new.chain
    arts.certificate.subject_dn, arts.certificate.issuer_dn = new.subject, new.issuer
    ctx.resources.clear()  # a new run: sessions are made again
    return new


def test_iam_renewal_links_the_new_certificate_to_the_same_account(sandbox, tmp_path, clock):
    ctx, old = _first_year(sandbox, tmp_path, clock, "iam")
    username = flow.extra(ctx)["iam_username"]
    accounts = len(iam_sandbox.pending(sandbox.ctx))
    new = _renewal(ctx, sandbox, tmp_path)
    add_certificate.run(ctx)
    said = output(ctx)
    assert "Link certificate" in said and "/iam/account-linking/X509" in said
    assert "Open the link of the mail" not in said  # not the first year's steps
    with pytest.raises(Waiting) as w:
        await_certificate.run(ctx)
    assert "linked" in w.value.what
    iam_sandbox.link_certificate(sandbox.ctx, VO, username, new.subject, new.issuer)
    await_certificate.run(ctx)
    assert ctx.record.artifacts.extra["renewal"]["vo_change"] == "known"
    assert len(iam_sandbox.pending(sandbox.ctx)) == accounts  # no second registration
    assert sandbox.count("POST", "/registration/create") == 1


def _voms_admin_member(sandbox, tmp_path, clock):
    from onboard.sandbox.voms_admin import approve, requests

    ctx, old = _first_year(sandbox, tmp_path, clock, "voms-admin")
    (req,) = [r for r in requests(sandbox.ctx, VO) if r["status"] == "CONFIRMED"]
    approve(sandbox.ctx, req["request_id"])
    return ctx, old


def test_a_rejected_certificate_request_ends_the_renewal_with_whom_to_ask(sandbox, tmp_path, clock):
    ctx, old = _voms_admin_member(sandbox, tmp_path, clock)
    _renewal(ctx, sandbox, tmp_path)
    add_certificate.run(ctx)
    add_certificate.run(ctx)  # idempotent: nothing sent again
    (req,) = cert_requests.pending(sandbox.ctx, VO)
    assert req["member_subject"] == old.subject
    with pytest.raises(Waiting):
        await_certificate.run(ctx)
    cert_requests.reject(sandbox.ctx, req["request_id"])
    with pytest.raises(Outcome) as o:
        await_certificate.run(ctx)
    assert o.value.trigger == "rejected" and "did not add" in o.value.reason


def test_the_previous_credential_gone_is_one_line_and_nothing_is_sent(sandbox, tmp_path, clock):
    ctx, old = _voms_admin_member(sandbox, tmp_path, clock)
    _renewal(ctx, sandbox, tmp_path)
    old.cert.unlink()
    before = len(sandbox.requests)
    with pytest.raises(CredentialError) as e:
        add_certificate.run(ctx)
    assert "previous certificate" in e.value.message and e.value.hint
    assert len(sandbox.requests) == before
    assert "vo_change" not in ctx.record.artifacts.extra["renewal"]


def test_an_expired_previous_certificate_cannot_ask_and_says_whom_to_ask(sandbox, tmp_path, clock):
    from datetime import timedelta

    from onboard.errors import Exit

    ctx, old = _voms_admin_member(sandbox, tmp_path, clock)
    new = _renewal(ctx, sandbox, tmp_path)
    prev = ctx.record.artifacts.extra["renewal"]["previous"]["certificate"]
    prev["not_after"] = (clock() - timedelta(days=1)).isoformat()
    before = len(sandbox.requests)
    with pytest.raises(CredentialError) as e:
        add_certificate.run(ctx)
    assert e.value.exit_code == Exit.VALIDITY and "expired" in e.value.message
    assert new.subject in e.value.hint and "never register a second time" in e.value.hint
    assert len(sandbox.requests) == before
