"""IAM: JSON registration, mail confirmation (POST, with the GET fallback), approval by mail, and the
certificate link noticed through the VOMS-AA — against the sandbox's IAM emulation."""

from __future__ import annotations

import pytest

from onboard.errors import Outcome, Waiting
from onboard.registration import flow
from onboard.sandbox import iam as iam_sandbox
from onboard.steps import await_approval, confirm_email, link_certificate, register
from tests.lib.recorded import Page, RecordedServers
from tests.lib.regkit import VO, make_config, make_ctx, make_record, output


def _ctx(sandbox, user, clock, **kw):
    cfg = make_config(sandbox, kind="iam", **kw)
    rec = make_record(user, workflow="iam")
    return make_ctx(cfg, rec, user, clock)


def test_iam_whole_path_with_maildir(sandbox, user, clock):
    ctx = _ctx(sandbox, user, clock)
    register.run(ctx)
    rid = ctx.record.artifacts.request_id
    assert rid and flow.extra(ctx)["registration"] == "submitted"
    assert sandbox.count("POST", "/registration/create") == 1

    register.run(ctx)  # idempotent: nothing sent again
    assert sandbox.count("POST", "/registration/create") == 1

    confirm_email.run(ctx)  # the mail is in the Maildir already
    assert flow.extra(ctx)["registration"] == "confirmed"
    assert sandbox.count("POST", "/registration/verify") == 1
    assert [r["status"] for r in iam_sandbox.pending(sandbox.ctx)] == ["CONFIRMED"]

    with pytest.raises(Waiting):
        await_approval.run(ctx)
    iam_sandbox.approve(sandbox.ctx, rid)
    await_approval.run(ctx)  # the "account is now active" mail
    assert flow.extra(ctx)["iam_approved"] is True

    before = len(sandbox.requests)
    with pytest.raises(Waiting) as w:
        link_certificate.run(ctx)
    assert len(sandbox.requests) == before + 1  # one request to the VOMS-AA per check
    assert "linked" in w.value.what
    assert "Link certificate" in output(ctx)  # the browser steps were explained
    iam_sandbox.link_certificate(sandbox.ctx, VO, flow.extra(ctx)["iam_username"], user.subject, user.issuer)
    link_certificate.run(ctx)
    assert flow.extra(ctx)["iam_linked"] is True


def test_iam_confirmation_answered_with_a_relative_redirect_is_followed(sandbox, user, clock):
    from onboard.sandbox.web import Response

    inner, landed = sandbox.app.dispatch, []

    def relative(req):
        if req.path.endswith("/registration/verify"):
            inner(req)  # the sandbox confirms; the answer is a redirect with a path only
            return Response.redirect("/confirmed-page")
        if req.path == "/confirmed-page":
            landed.append(req.method)
            return Response.html("<p>Your registration request has been confirmed.</p>")
        return inner(req)

    sandbox.app.dispatch = relative
    ctx = _ctx(sandbox, user, clock)
    register.run(ctx)
    confirm_email.run(ctx)
    assert flow.extra(ctx)["registration"] == "confirmed"
    assert landed == ["GET"]


def test_iam_rejection_ends_with_reason(sandbox, user, clock):
    ctx = _ctx(sandbox, user, clock)
    register.run(ctx)
    confirm_email.run(ctx)
    iam_sandbox.reject(sandbox.ctx, ctx.record.artifacts.request_id, "not a member of the collaboration")
    with pytest.raises(Outcome) as o:
        await_approval.run(ctx)
    assert o.value.trigger == "rejected"
    assert "not a member of the collaboration" in o.value.reason


def test_iam_refused_form_shows_server_error(sandbox, user, clock):
    ctx = _ctx(sandbox, user, clock)
    ctx.config.user.given_name = "J"  # IAM wants 2 to 128 characters; onboard does not check this itself
    from onboard.registration.voms_admin import FormError

    with pytest.raises(FormError) as e:
        register.run(ctx)
    assert "givenname" in e.value.message
    assert not ctx.record.artifacts.request_id
    assert sandbox.count("POST", "/registration/create") == 1


def test_a_username_iam_would_refuse_is_caught_before_sending(sandbox, user, clock):
    from onboard.registration.voms_admin import FormError

    ctx = _ctx(sandbox, user, clock, registration={"username": "Jane.Doe"})  # capitals: IAM refuses
    with pytest.raises(FormError) as e:
        register.run(ctx)
    assert "'Jane.Doe' is not a username IAM accepts" in e.value.message and "'jane.doe'" in e.value.hint
    assert sandbox.count("POST", "/registration/create") == 0


@pytest.mark.parametrize(
    ("body", "shown"),
    [
        ('["username taken"]', "['username taken']"),
        ("42", "42"),
        pytest.param("[" * 100_000, "[" * 200, id="nested-past-the-stack"),
    ],
)
def test_iam_refusal_in_json_of_another_shape_is_still_shown(tmp_path, clock, body, shown):
    from onboard.registration.voms_admin import FormError

    recorded = RecordedServers(tmp_path / "recorded")
    user = recorded.user()
    ctx = _ctx(recorded, user, clock)
    recorded.answer(ctx, [("POST", "/registration/create", Page(body, 400))])
    with pytest.raises(FormError) as e:
        register.run(ctx)
    assert f"refused the registration: {shown}." in e.value.message


def test_iam_journey_through_the_engine(tmp_path, sandbox, user, clock):
    from tests.lib.regkit import make_journey

    cfg = make_config(sandbox, kind="iam")
    j = make_journey(tmp_path / "j", cfg, user, clock, "iam")
    res = j.run()  # register, confirm (mail already there), first approval check
    assert res.state == "await_approval" and not res.finished
    iam_sandbox.approve(sandbox.ctx, j.record.artifacts.request_id)
    clock.t = j.record.waits["await_approval"].next_check_after
    res = j.run()
    assert res.state == "link_certificate" and "linked" in res.waiting_for[0]
    user_name = flow.extra(j.ctx)["iam_username"]
    iam_sandbox.link_certificate(sandbox.ctx, VO, user_name, user.subject, user.issuer)
    clock.t = j.record.waits["link_certificate"].next_check_after
    res = j.run()
    assert res.finished and res.state == "approved"
    assert [e["to"] for e in j.store.history(VO)][-1].endswith("approved")


def test_sandbox_iam_browser_steps_link_the_certificate(sandbox, user, clock):
    """What the trainee does in the browser: set the password from the mail, log in, link the certificate."""
    import re

    from onboard.adapters.mail import MaildirBox
    from onboard.registration import iam

    ctx = _ctx(sandbox, user, clock)
    register.run(ctx)
    confirm_email.run(ctx)
    iam_sandbox.approve(sandbox.ctx, ctx.record.artifacts.request_id)
    [mail] = [m for m in MaildirBox(sandbox.maildir()).messages() if "is now active" in m.subject]
    reset = re.search(r"https://\S+/iam/password-reset/token/\S+", mail.message.get_content()).group(0)
    http = flow.http(ctx, sandbox.iam_url())
    assert http.post(reset, data={"password": "short"}).status_code == 400
    assert http.post(reset, data={"password": "a good long password"}).status_code == 200
    base = sandbox.iam_url()
    user_name = flow.extra(ctx)["iam_username"]
    assert (
        http.post(f"{base}/login", data={"username": user_name, "password": "wrong password"}).status_code
        == 401
    )
    assert http.post(
        f"{base}/login", data={"username": user_name, "password": "a good long password"}
    ).is_redirect
    assert iam.REGISTRAR.aa_status(ctx)[0] == "unknown-user"
    assert http.post(f"{base}/iam/account-linking/X509").is_redirect  # the session's TLS client certificate
    assert iam.REGISTRAR.aa_status(ctx) == ("linked", "")
