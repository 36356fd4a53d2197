"""The upstream-shaped corpus (tests/registration/corpus/, README there) replayed through onboard's clients:
pages, JSON answers and mails as the real VOMS-Admin and IAM produce them, not as our sandbox does."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

import pytest

from onboard.errors import Exit, MailError
from onboard.registration import approval, flow, links, mails
from onboard.registration.iam import REGISTRAR as IAM
from onboard.registration.iam import _voms_error
from onboard.registration.voms_admin import VomsAdmin
from onboard.registration.voms_admin_registrar import REGISTRAR as VOMS_ADMIN
from onboard.registration.voms_admin_registrar import check_voms_admin
from tests.lib.recorded import Page, RecordedServers
from tests.lib.regkit import make_config, make_ctx, make_record
from tests.registration.test_forms import BASE, CONFIRMED, LINK, Resp, Script

CORPUS = Path(__file__).parent / "corpus"
REGISTRATION_URL = "https://voms.example.org:8443/voms/cms/register/start.action"
CONFIRM_LINK = (
    "https://voms.example.org:8443/voms/cms/register/confirm-request.action?requestId=7"
    "&confirmationId=0f8fad5b-d9cb-469f-a165-70867728950e"
)


def text(name: str) -> str:
    return (CORPUS / name).read_text(encoding="utf-8")


def mail(name: str):
    return email.message_from_bytes((CORPUS / "mails" / name).read_bytes(), policy=email.policy.default)


# -- VOMS-Admin: the group-manager page ------------------------------------------------------------


def _chooser(wanted: str):
    from onboard.registration.voms_admin_registrar import _manager_chooser

    class Ui:
        interactive = False

    class Ctx:
        ui = Ui()

    return _manager_chooser(Ctx(), wanted)


@pytest.mark.parametrize(
    ("wanted", "value", "name"),
    [("Bob Boss", "5", "Bob Boss"), ("alice admin", "3", "Alice Admin"), ("Bob", "5", "Bob Boss")],
)
def test_the_manager_is_chosen_by_the_name_the_real_page_shows(wanted, value, name):
    http = Script(
        [
            ("GET", "confirm-request.action", Resp(text=text("voms-admin/select-manager.html"))),
            ("POST", "select-manager.action", Resp(text=CONFIRMED)),
        ]
    )
    result = VomsAdmin(http, BASE).confirm(LINK, choose_manager=_chooser(wanted))
    assert result.kind == "confirmed" and result.manager == name
    _, url, data = http.sent[1]
    assert url == f"{BASE}/register/select-manager.action"
    assert ("managerId", value) in data and ("requestId", "7") in data


def test_a_description_is_shown_but_never_matched():
    from onboard.registration.voms_admin import FormError

    http = Script([("GET", "confirm-request.action", Resp(text=text("voms-admin/select-manager.html")))])
    with pytest.raises(FormError) as e:  # "Physics" is Bob's description, not a manager's name
        VomsAdmin(http, BASE).confirm(LINK, choose_manager=_chooser("Physics"))
    assert "Alice Admin (Computing coordination)" in e.value.hint and "Bob Boss" in e.value.hint


# -- VOMS-Admin: apiv2/user-info ---------------------------------------------------------------------


@pytest.fixture
def recorded(tmp_path) -> RecordedServers:
    return RecordedServers(tmp_path / "recorded")


def _check(recorded, clock, body: str) -> approval.Verdict:
    user = recorded.user()
    ctx = make_ctx(make_config(recorded), make_record(user), user, clock)
    recorded.answer(ctx, [("GET", "apiv2/user-info.action", Page(body))])
    from onboard.registration import flow

    client = VomsAdmin(flow.http(ctx), flow.server_url(ctx))
    return check_voms_admin(client, "api", user.subject, user.issuer)


def test_a_members_record_as_upstream_writes_it_is_an_approval(recorded, clock):
    got = _check(recorded, clock, text("voms-admin/user-info-member.json"))
    assert got.status == approval.APPROVED and got.fqans == ["/cms", "/cms/analysis"]


def test_the_refusal_as_upstream_writes_it_is_never_an_approval(recorded, clock):
    got = _check(recorded, clock, text("voms-admin/user-info-refused.json"))
    assert got.status == approval.NOT_ALLOWED and got.switch_to == "start"
    assert "VOMSAuthorizationException" in got.reason


# -- mails -------------------------------------------------------------------------------------------


def test_voms_admin_rejection_reason_from_the_real_template():
    event = VOMS_ADMIN.classify_mail(mail("voms-admin-rejected.eml"), "cms")
    assert event is not None and event.what == mails.REJECTED
    assert event.reason == "We could not find you in the CMS member database."


def test_iam_rejection_reason_from_the_real_template():
    event = IAM.classify_mail(mail("iam-rejected.eml"), "cms")
    assert event is not None and event.what == mails.REJECTED
    assert event.reason == "No participation in CMS found for this person."


@pytest.mark.parametrize("encoding", ["7bit", "8bit", "quoted-printable", "base64"])
def test_the_confirmation_link_is_read_in_every_transfer_encoding(encoding):
    msg = mail(f"voms-admin-confirm-{encoding}.eml")
    assert msg["Content-Transfer-Encoding"] == encoding
    event = VOMS_ADMIN.classify_mail(msg, "cms")
    assert event is not None and event.what == mails.CONFIRM
    good, refused = VOMS_ADMIN.find_confirmation(msg, REGISTRATION_URL)
    assert good is not None and good.url == CONFIRM_LINK and good.request_id == "7" and refused == []


def test_an_unknown_transfer_encoding_is_a_one_line_mail_error():
    msg = mail("voms-admin-confirm-unknown-encoding.eml")
    with pytest.raises(MailError) as e:
        links.extract_links(msg)
    assert e.value.exit_code == Exit.MAIL and "'x-gzip64'" in e.value.message
    assert "\n" not in e.value.message and "quoted-printable" in e.value.hint


def test_a_mail_in_an_unknown_encoding_is_reported_and_the_others_still_read(tmp_path, clock, recorded):
    """Anyone can mail the inbox: such a mail must not stop the journey, and is named."""
    from onboard.adapters.mail import MaildirBox
    from onboard.registration import flow
    from tests.lib.context import output

    box_dir = tmp_path / "box"
    for sub in ("new", "cur", "tmp"):
        (box_dir / sub).mkdir(parents=True)
    for i, name in enumerate(["voms-admin-confirm-unknown-encoding.eml", "voms-admin-confirm-7bit.eml"]):
        data = (CORPUS / "mails" / name).read_bytes()
        (box_dir / "new" / f"{1796029964 + i}.M{i}P1.host").write_bytes(data)
    user = recorded.user()
    cfg = make_config(recorded, mail={"kind": "maildir", "maildir": str(box_dir)})
    cfg.vos["sandbox"].url = REGISTRATION_URL
    ctx = make_ctx(cfg, make_record(user), user, clock)
    ctx.record.vo = ctx.config.vo = "cms"
    cfg.vos["cms"] = cfg.vos.pop("sandbox")
    scan = VOMS_ADMIN.scan_mail(ctx, MaildirBox(box_dir))
    assert [e.what for e in scan.events] == [mails.CONFIRM]
    assert len(scan.refused) == 1 and "'x-gzip64'" in scan.refused[0]
    flow.report_refused(ctx, scan.refused)
    assert "x-gzip64" in output(ctx)


# -- IAM: the VOMS attribute authority ---------------------------------------------------------------


def test_the_voms_aa_refusal_with_its_numeric_code_means_not_linked_yet(recorded, clock):
    body = text("iam/voms-aa-refused.xml")
    assert _voms_error(body) == ("1001", "User unknown to this VO")
    user = recorded.user()
    ctx = make_ctx(make_config(recorded, kind="iam"), make_record(user, workflow="iam"), user, clock)
    recorded.answer(ctx, [("GET", "generate-ac", Page(body, 403, "text/xml"))])
    assert IAM.aa_status(ctx) == ("unknown-user", "1001")


# -- IAM with CERN's profile: the refusal of a registration without a login ---------------------------


def test_the_cern_refusal_of_an_anonymous_registration_says_log_in_first(recorded, clock):
    """A CERN-like IAM configured as a plain one (vos.<vo>.registration left out) answers onboard's JSON
    request as upstream does; onboard says the fix (the guided journey), not "fix your [user] values"."""
    from onboard.errors import ConfigError
    from onboard.steps import register

    body = text("iam/registration-create-not-authenticated.json")
    user = recorded.user()
    ctx = make_ctx(make_config(recorded, kind="iam"), make_record(user, workflow="iam"), user, clock)
    recorded.answer(ctx, [("GET", "email-available", Page("true")),
                          ("POST", "/registration/create", Page(body, 400))])
    with pytest.raises(ConfigError) as e:
        register.run(ctx)
    assert e.value.exit_code == Exit.CONFIG
    assert "registers only people logged in with its single sign-on" in e.value.message
    assert 'registration = "browser-login"' in e.value.hint
    assert not ctx.record.artifacts.request_id and flow.extra(ctx).get("registration") is None
