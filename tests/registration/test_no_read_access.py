"""A VOMS-Admin VO configured with `voms-configure --disable-ro-access-for-authenticated-clients`: the
sandbox answers apiv2/user-info as upstream does (HTTP 200 with the exception report for anyone but a
member reading itself), and a whole journey never reports an approval before it happened."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest

from onboard.errors import Waiting
from onboard.registration import flow
from onboard.registration.voms_admin import VomsAdmin
from onboard.sandbox import voms_admin as voms_sandbox
from onboard.steps import await_approval, confirm_email, register
from tests.lib.context import output
from tests.lib.regkit import VO, issue_user, make_config, make_ctx, make_record, start_registration_servers

pytestmark = pytest.mark.servers

REFUSAL = "org.glite.security.voms.admin.error.VOMSAuthorizationException"


@pytest.fixture
def closed(tmp_path, clock):
    """The sandbox serving VO as voms-configure's --disable-ro-access-for-authenticated-clients leaves it."""
    sb = start_registration_servers(tmp_path / "sandbox", clock=clock, no_read_access_vos=[VO])
    try:
        yield sb
    finally:
        sb.stop()


@pytest.fixture
def jane(closed, tmp_path):
    return issue_user(closed, tmp_path / "jane")


def _ctx(sb, cred, clock, **registration):
    return make_ctx(make_config(sb, registration=registration), make_record(cred), cred, clock)


def _raw_user_info(ctx, dn: str, ca: str):
    client = VomsAdmin(flow.http(ctx), flow.server_url(ctx))
    url = client.url("apiv2/user-info.action") + "?" + urlencode({"dn": dn, "ca": ca})
    return flow.http(ctx).get(url, headers={"X-VOMS-CSRF-GUARD": "1"})


def test_the_sandbox_refuses_as_upstream_and_lets_a_member_read_itself(closed, jane, clock, tmp_path):
    ctx = _ctx(closed, jane, clock)
    # not yet a member, asking about itself: 200, the exception report, no record
    resp = _raw_user_info(ctx, jane.subject, jane.issuer)
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "application/json"
    assert json.loads(resp.text) == {
        "exceptionClass": REFUSAL,
        "exceptionMessage": "Insufficient privileges to execute 'FindUserOperation'.",
    }
    # an unknown certificate is refused too (the permission check comes before the lookup), not 404
    assert _raw_user_info(ctx, "/CN=nobody", jane.issuer).status_code == 200
    register.run(ctx)
    confirm_email.run(ctx)
    voms_sandbox.approve(closed.ctx, int(ctx.record.artifacts.request_id))
    # a member reading itself: its record at the top level
    record = json.loads(_raw_user_info(ctx, jane.subject, jane.issuer).text)
    assert "userInfo" not in record and "exceptionClass" not in record
    assert record["fqans"] == [f"/{VO}"] and record["certificates"][0]["subjectString"] == jane.subject
    # a member reading someone else: refused
    other = issue_user(closed, tmp_path / "bob", name="Bob Roe", email="bob@example.org")
    assert json.loads(_raw_user_info(ctx, other.subject, other.issuer).text)["exceptionClass"] == REFUSAL


def test_the_default_profile_still_answers_404_for_an_unknown_user(tmp_path, clock):
    sb = start_registration_servers(tmp_path / "open", clock=clock)
    try:
        cred = issue_user(sb, tmp_path / "cred")
        assert _raw_user_info(_ctx(sb, cred, clock), cred.subject, cred.issuer).status_code == 404
    finally:
        sb.stop()


def test_journey_with_mail_waits_says_why_and_the_approval_mail_decides(closed, jane, clock):
    ctx = _ctx(closed, jane, clock)  # poll_method auto with a mailbox: apiv2/user-info first
    register.run(ctx)
    confirm_email.run(ctx)
    with pytest.raises(Waiting):
        await_approval.run(ctx)
    assert flow.extra(ctx)["registration"] == "confirmed" and not ctx.record.artifacts.fqans
    said = output(ctx)
    assert "VOMSAuthorizationException" in said and "start page" in said and "approval mail" in said
    assert "Approved" not in said
    assert flow.extra(ctx)["approval_method"] == "start"
    with pytest.raises(Waiting):  # still not approved: the start page says limbo
        await_approval.run(ctx)
    assert closed.count("GET", "apiv2/user-info.action") == 1  # asked once, never again
    voms_sandbox.approve(closed.ctx, int(ctx.record.artifacts.request_id))
    n = len(closed.requests)
    await_approval.run(ctx)
    assert flow.extra(ctx)["registration"] == "member"
    assert len(closed.requests) == n  # the approval mail decided: no request to the server
    assert "has been approved" in output(ctx)


def test_journey_without_mail_falls_back_to_the_start_page(closed, jane, clock):
    ctx = _ctx(closed, jane, clock, poll_method="api")
    register.run(ctx)
    confirm_email.run(ctx)
    # from now on no mailbox: nothing but the server tells
    ctx = make_ctx(make_config(closed, mail={"kind": "none"}, registration={"poll_method": "api"}),
                   ctx.record, jane, clock)
    with pytest.raises(Waiting):
        await_approval.run(ctx)
    assert "VOMSAuthorizationException" in output(ctx) and "approval mail" not in output(ctx)
    voms_sandbox.approve(closed.ctx, int(ctx.record.artifacts.request_id))
    await_approval.run(ctx)
    assert flow.extra(ctx)["registration"] == "member"
    assert "start page sends the certificate to the member's home" in output(ctx)
    assert closed.count("GET", "apiv2/user-info.action") == 1


def test_sandbox_up_refuses_the_option_for_a_vo_it_does_not_serve(tmp_path):
    from tests.lib.tools import run_onboard

    r = run_onboard(
        "sandbox", "up", "--dir", str(tmp_path / "sb"), "--vo", "alpha",
        "--disable-ro-access-for-authenticated-clients", "beta", timeout=60,
    )
    assert r.returncode == 2, r.stderr
    assert "'beta'" in r.stderr and "not one of the VOs served" in r.stderr
    assert not (tmp_path / "sb" / "sandbox.json").exists()
