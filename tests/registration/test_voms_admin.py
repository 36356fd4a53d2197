"""VOMS-Admin: the whole register -> confirm -> approve path against the sandbox's VOMS-Admin emulation,
with the mail read from the sandbox's Maildir or over IMAP from a real Dovecot serving that Maildir."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from onboard.errors import Outcome, Waiting
from onboard.registration import flow
from onboard.registration.voms_admin import FormError, Start, VomsAdmin
from onboard.sandbox import voms_admin as voms_sandbox
from onboard.steps import await_approval, confirm_email, register
from tests.lib.recorded import Page, RecordedAdapter, RecordedServers
from tests.lib.regkit import EMAIL, VO, make_config, make_ctx, make_record, output
from tests.lib.servers.dovecot import group_alive, start_dovecot
from tests.lib.tools import require_tool, run_onboard

NOT_ALLOWED_REPORT = (
    '{"exceptionClass": "org.glite.security.voms.admin.error.VOMSAuthorizationException", '
    '"exceptionMessage": "Insufficient privileges to execute \'FindUserOperation\'."}'
)


def _ctx(sandbox, user, clock, *, mail=None, registration=None, user_over=None):
    cfg = make_config(sandbox, kind="voms-admin", mail=mail, registration=registration)
    if user_over:
        for k, v in user_over.items():
            setattr(cfg.user, k, v)
    return make_ctx(cfg, make_record(user), user, clock)


def _answer_user_info(ctx, page: Page) -> None:
    """apiv2/user-info answered with `page`; every other request still goes to the sandbox."""
    session = flow.http(ctx).session
    real = session.get_adapter("https://")

    class OneRecordedPage(RecordedAdapter):
        def send(self, request, **kw):
            if urlsplit(request.url).path.endswith("apiv2/user-info.action"):
                return super().send(request, **kw)
            return real.send(request, **kw)

    session.mount("https://", OneRecordedPage([("GET", "apiv2/user-info.action", page)]))


@pytest.fixture
def recorded(tmp_path) -> RecordedServers:
    """VOMS-Admin as recorded pages: no sandbox, no socket."""
    return RecordedServers(tmp_path / "recorded")


def _pending(sandbox):
    return [r for r in voms_sandbox.requests(sandbox.ctx, VO)]


def _whole_path(sandbox, user, ctx, approve_by_command=False):
    register.run(ctx)
    assert flow.extra(ctx)["registration"] == "submitted"
    assert sandbox.count("POST", "submit-request.action") == 1
    [req] = _pending(sandbox)
    assert req["status"] == "SUBMITTED"

    confirm_email.run(ctx)
    assert flow.extra(ctx)["registration"] == "confirmed"
    assert ctx.record.artifacts.request_id == str(req["request_id"])
    assert [r["status"] for r in _pending(sandbox)] == ["CONFIRMED"]

    with pytest.raises(Waiting) as w:
        await_approval.run(ctx)
    assert "approval" in w.value.what
    if approve_by_command:  # the instructor's command, as in an orientation session
        r = run_onboard("sandbox", "approve", str(req["request_id"]), "--dir", str(sandbox.dir), timeout=60)
        assert r.returncode == 0, r.stderr
        assert f"approved request {req['request_id']}" in r.stdout
    else:
        voms_sandbox.approve(sandbox.ctx, req["request_id"])  # the instructor approves
    await_approval.run(ctx)
    assert flow.extra(ctx)["registration"] == "member"
    assert sandbox.count("POST", "submit-request.action") == 1


def test_whole_path_with_the_maildir_adapter(sandbox, user, clock):
    ctx = _ctx(sandbox, user, clock)
    _whole_path(sandbox, user, ctx)
    assert ctx.record.artifacts.certificate.subject_dn == user.subject


@pytest.mark.slow
def test_whole_path_with_imap_from_dovecot_serving_the_sandbox_maildir(sandbox, user, clock, tmp_path):
    require_tool("dovecot")
    (sandbox.dir / "mail").mkdir(mode=0o700, exist_ok=True)
    with start_dovecot(tmp_path / "dovecot", sandbox.dir / "mail", user=EMAIL) as dv:
        pw = tmp_path / "imap-password"
        pw.write_text(dv.password + "\n")
        mail = {
            "kind": "imap",
            "host": "localhost",
            "port": dv.port,
            "username": EMAIL,
            "password_file": str(pw),
            "ca_file": str(dv.ca_file),
        }
        ctx = _ctx(sandbox, user, clock, mail=mail)
        try:
            _whole_path(sandbox, user, ctx, approve_by_command=True)
        finally:
            ctx.close()
        assert "Login: user=<jane@example.org>" in dv.log.read_text()
    assert not group_alive(dv.process.pid)


def test_start_page_classification_and_api(sandbox, user, clock):
    ctx = _ctx(sandbox, user, clock)
    client = VomsAdmin(flow.http(ctx), flow.server_url(ctx))
    assert client.start().kind is Start.FORM
    assert client.user_info(user.subject, user.issuer).status == 404
    register.run(ctx)
    assert client.start().kind is Start.WAITS_CONFIRMATION
    confirm_email.run(ctx)
    assert client.start().kind is Start.LIMBO
    voms_sandbox.approve(sandbox.ctx, int(ctx.record.artifacts.request_id))
    assert client.start().kind is Start.MEMBER
    info = client.user_info(user.subject, user.issuer)
    assert info.status == 200 and f"/{VO}" in info.user["fqans"]


@pytest.mark.parametrize(
    ("body", "verdict", "fqans"),
    [
        ("[1, 2]", "pending", []),
        ('"member"', "pending", []),
        ('{"userInfo": [1]}', "pending", []),
        ('{"id": 3, "fqans": "/cms"}', "approved", []),  # not a list: no FQANs claimed
        ('{"id": 3, "fqans": ["/cms", 7]}', "approved", ["/cms", "7"]),
        # the record stands at the top level (UserInfoAction's JSON root); a wrapper is another shape
        ('{"userInfo": {"id": 3, "fqans": ["/cms"]}}', "pending", []),
        ('{"count": 0}', "pending", []),
        # an exception report is never a member's record, whatever the status line says
        (NOT_ALLOWED_REPORT, "not-allowed", []),
        ('{"exceptionClass": "org.glite.security.voms.admin.error.NoSuchUserException"}', "pending", []),
        (
            '{"exceptionClass": "x.VOMSAuthorizationException", "userInfo": {"fqans": ["/cms"]}}',
            "not-allowed",
            [],
        ),
    ],
)
def test_user_info_of_an_odd_shape_is_no_answer_not_a_crash(recorded, clock, body, verdict, fqans):
    """A server answering apiv2/user-info with JSON of another shape leaves the journey waiting."""
    from onboard.registration.voms_admin_registrar import check_voms_admin

    user = recorded.user()
    ctx = _ctx(recorded, user, clock)
    recorded.answer(ctx, [("GET", "apiv2/user-info.action", Page(body))])
    client = VomsAdmin(flow.http(ctx), flow.server_url(ctx))
    got = check_voms_admin(client, "api", user.subject, user.issuer)
    assert (got.status, got.fqans) == (verdict, fqans)


def test_a_200_that_says_you_may_not_ask_is_not_an_approval(sandbox, user, clock):
    """VOMS-Admin with read access removed answers apiv2/user-info with HTTP 200 and an exception report:
    the journey keeps waiting, and asks the start page from now on."""
    ctx = _ctx(sandbox, user, clock, registration={"poll_method": "api"})
    _answer_user_info(ctx, Page(NOT_ALLOWED_REPORT))
    register.run(ctx)
    confirm_email.run(ctx)
    with pytest.raises(Waiting):
        await_approval.run(ctx)
    assert flow.extra(ctx)["registration"] == "confirmed" and not ctx.record.artifacts.fqans
    assert flow.extra(ctx)["approval_method"] == "start"
    voms_sandbox.approve(sandbox.ctx, int(ctx.record.artifacts.request_id))
    await_approval.run(ctx)  # the start page now
    assert flow.extra(ctx)["registration"] == "member"


def test_user_info_nested_past_the_stack_is_not_json(recorded, clock):
    from onboard.errors import RegistrationError

    user = recorded.user()
    ctx = _ctx(recorded, user, clock)
    recorded.answer(ctx, [("GET", "apiv2/user-info.action", Page("[" * 100_000))])
    with pytest.raises(RegistrationError, match="apiv2/user-info did not answer JSON"):
        VomsAdmin(flow.http(ctx), flow.server_url(ctx)).user_info(user.subject, user.issuer)


def test_a_start_page_redirecting_to_itself_forever_is_an_error_not_a_recursion(recorded, clock):
    """start.action -> start.action?n=1 -> ?n=2 ...: a few hops are followed, then a clear error."""
    from onboard.errors import RegistrationError
    from onboard.registration.voms_admin import MAX_START_REDIRECTS

    seen = []

    def looping(req):
        seen.append(req.path_url)
        return Page.redirect(f"/voms/{VO}/register/start.action?n={len(seen)}")

    user = recorded.user()
    ctx = _ctx(recorded, user, clock)
    recorded.answer(ctx, [("GET", "register/start.action", looping)])
    with pytest.raises(RegistrationError, match="the start page redirected to .*start.action\\?n="):
        VomsAdmin(flow.http(ctx), flow.server_url(ctx)).start()
    assert len(seen) == 1 + MAX_START_REDIRECTS


def test_field_errors_come_back_as_the_server_said(sandbox, user, clock):
    ctx = _ctx(sandbox, user, clock, user_over={"email": "jane@localhost"})  # Struts' EmailValidator refuses
    with pytest.raises(FormError) as e:
        register.run(ctx)
    assert "Email address" in e.value.message or "email" in e.value.message.lower()
    assert _pending(sandbox) == []


def test_bad_characters_are_caught_before_submitting(sandbox, user, clock):
    ctx = _ctx(sandbox, user, clock, user_over={"family_name": "Doe <script>"})
    with pytest.raises(FormError) as e:
        register.run(ctx)
    assert "Family name" in e.value.message and "user.family_name" in e.value.message
    assert sandbox.count("POST") == 0


def test_rejection_is_seen_and_ends_with_the_reason(sandbox, user, clock):
    ctx = _ctx(sandbox, user, clock)
    register.run(ctx)
    confirm_email.run(ctx)
    voms_sandbox.reject(sandbox.ctx, int(ctx.record.artifacts.request_id), "not part of the collaboration")
    with pytest.raises(Outcome) as o:
        await_approval.run(ctx)
    assert o.value.trigger == "rejected"
    assert "onboard start" in o.value.reason


def test_rejection_without_mail_is_seen_on_the_start_page(sandbox, user, clock):
    ctx = _ctx(sandbox, user, clock)
    register.run(ctx)
    confirm_email.run(ctx)
    ctx.config.mail.kind = "none"
    ctx.resources.pop("mailbox", None)
    voms_sandbox.reject(sandbox.ctx, int(ctx.record.artifacts.request_id))
    n = len(sandbox.requests)
    with pytest.raises(Outcome) as o:
        await_approval.run(ctx)
    assert o.value.trigger == "rejected" and len(sandbox.requests) == n + 1


def test_output_names_what_happened(sandbox, user, clock):
    ctx = _ctx(sandbox, user, clock)
    register.run(ctx)
    assert "Registration request sent" in output(ctx)


def _phish(real_link: str) -> str:
    # same path and parameters, another host: 127.0.0.1 is not the configured "localhost"
    return real_link.replace("https://localhost:", "https://127.0.0.1:")


def _confirm_mail(sandbox) -> str:
    from onboard.adapters.mail import MaildirBox
    from onboard.registration.links import extract_links

    msgs = [m for m in MaildirBox(sandbox.maildir()).messages() if "Your membership request" in m.subject]
    return next(u for u in extract_links(msgs[-1].message) if "confirm-request" in u)


def test_phishing_mail_is_refused_and_the_real_one_used(sandbox, user, clock):
    import mailbox
    from email.message import EmailMessage

    ctx = _ctx(sandbox, user, clock)
    register.run(ctx)
    evil = _phish(_confirm_mail(sandbox))
    m = EmailMessage()
    m["Subject"] = f"[VOMS Admin] Your membership request for VO {VO}"
    m["From"] = "voms-admin@localhost"
    m.set_content(f"Urgent: confirm within the hour or lose access:\n\n{evil}\n")
    mailbox.Maildir(sandbox.maildir()).add(m)  # arrives after the real one
    n = len(sandbox.requests)
    confirm_email.run(ctx)
    assert flow.extra(ctx)["registration"] == "confirmed"
    assert any("127.0.0.1" in r for r in flow.extra(ctx)["refused_links"])
    assert "127.0.0.1" in output(ctx) and "not opened" in output(ctx)
    assert len(sandbox.requests) == n + 1  # only the real link was opened


def test_phishing_mail_alone_is_never_followed(sandbox, user, clock, tmp_path):
    import mailbox
    from email.message import EmailMessage

    other = tmp_path / "other-mailbox"
    ctx = _ctx(sandbox, user, clock, mail={"kind": "maildir", "maildir": str(other)})
    box = mailbox.Maildir(other, create=True)
    register.run(ctx)
    evil = _phish(_confirm_mail(sandbox))
    m = EmailMessage()
    m["Subject"] = f"[VOMS Admin] Your membership request for VO {VO}"
    m.set_content(evil)
    box.add(m)
    n = len(sandbox.requests)
    with pytest.raises(Waiting) as w:
        confirm_email.run(ctx)
    assert "suspicious" in w.value.what
    assert len(sandbox.requests) == n + 1  # the start-page check only; the phishing link was not opened
    assert [r["status"] for r in _pending(sandbox)] == ["SUBMITTED"]


def test_confirmed_by_hand_is_noticed(sandbox, user, clock):
    ctx = _ctx(sandbox, user, clock, mail={"kind": "none"})
    register.run(ctx)
    with pytest.raises(Waiting) as w:
        confirm_email.run(ctx)
    assert "onboard confirm URL" in w.value.hint
    # the user opens the link in a browser
    h = flow.http(ctx)
    link = _confirm_mail(sandbox)
    from onboard import registration

    checked = registration.get("voms-admin").check_link(link, flow.server_url(ctx))
    assert h.get(checked.url).status_code == 200
    confirm_email.run(ctx)
    assert flow.extra(ctx)["registration"] == "confirmed"


def test_mail_from_another_sender_is_ignored(sandbox, user, clock):
    ctx = _ctx(sandbox, user, clock, registration={"mail_from": "@voms.example.org"})
    register.run(ctx)
    with pytest.raises(Waiting):
        confirm_email.run(ctx)  # the sandbox sends from voms-admin@localhost: not the configured sender
    assert flow.extra(ctx)["registration"] == "submitted"
    ctx.config.registration.mail_from = "voms-admin@localhost"
    confirm_email.run(ctx)
    assert flow.extra(ctx)["registration"] == "confirmed"


def test_a_request_someone_else_made_with_my_address_is_never_confirmed(sandbox, user, clock, tmp_path):
    """Reproduced: with Carol's own request and a second one that someone else submitted with her address,
    her resume followed "the newest" link and confirmed the stranger's (VOMS-Admin confirms whichever
    request a link names, whoever opens it). Now neither is opened; she is told, and confirms hers by hand."""
    from onboard.errors import Exit, RegistrationError
    from tests.lib.regkit import issue_user

    ctx = _ctx(sandbox, user, clock)
    register.run(ctx)
    [hers] = _pending(sandbox)
    stranger = issue_user(sandbox, tmp_path / "stranger", "Mallory Stranger", email=EMAIL)
    register.run(_ctx(sandbox, stranger, clock))
    assert len(_pending(sandbox)) == 2
    with pytest.raises(RegistrationError) as e:
        confirm_email.run(ctx)
    assert e.value.exit_code == Exit.AMBIGUOUS and "2 different requests" in e.value.message
    assert "onboard confirm URL" in e.value.hint
    assert [r["status"] for r in _pending(sandbox)] == ["SUBMITTED", "SUBMITTED"]  # nobody's was opened
    assert flow.extra(ctx)["registration"] == "submitted"
    # the link of her own request, by hand: checked and opened like the mail reader would
    link = next(u for u in _links_in_mails(sandbox) if f"requestId={hers['request_id']}&" in u)
    confirm_email.confirm(ctx, link)
    statuses = {r["request_id"]: r["status"] for r in _pending(sandbox)}
    assert statuses[hers["request_id"]] == "CONFIRMED" and list(statuses.values()).count("SUBMITTED") == 1


def _links_in_mails(sandbox) -> list[str]:
    import mailbox

    from onboard.registration.links import extract_links

    box = mailbox.Maildir(sandbox.maildir(), create=False)
    return [u for m in box for u in extract_links(m) if "confirm-request" in u]
