"""The guided registrar against the sandbox's CERN-profile IAM, the browser's part done over HTTPS by a
requests session (the real-browser journey is test_cern_journey_browser.py): onboard waits until IAM
knows the address, shows the mail's link without claiming the click, and a rejection ends the journey
with the administrator's reason; nothing along the way reports approval."""

from __future__ import annotations

import re

import pytest
import requests

from onboard.adapters.mail import MaildirBox
from onboard.errors import Outcome, Waiting
from onboard.registration import flow
from onboard.sandbox import iam as iam_sandbox
from onboard.steps import await_approval, confirm_email, register
from tests.lib.context import output
from tests.lib.regkit import EMAIL, issue_user, make_config, make_ctx, make_record, start_registration_servers

VO = "cms"  # the catalog's cms: registration = "browser-login"
pytestmark = pytest.mark.servers  # the sandbox, in this process


@pytest.fixture
def cern(tmp_path, clock):
    sb = start_registration_servers(tmp_path / "sb", vos=(VO,), clock=clock, cern_profile_vos=[VO])
    try:
        yield sb
    finally:
        sb.stop()


def _browser_registers(sb, username: str) -> None:
    """The person's browser: the sandbox SSO (the mailed link), then the form."""
    s = requests.Session()
    s.verify, s.trust_env = str(sb.manager.ca.bundle_path), False
    base = sb.iam_url(VO)
    page = s.get(f"{base}/sandbox-sso/login").text
    csrf = re.search(r'name="_csrf" value="([^"]+)"', page).group(1)
    s.post(f"{base}/sandbox-sso/login", data={"_csrf": csrf, "next": "registration", "givenname": "Jane",
                                              "familyname": "Doe", "email": EMAIL}).raise_for_status()
    [mail] = [m for m in MaildirBox(sb.maildir(EMAIL)).messages() if "sandbox SSO" in m.subject]
    form = s.get(re.search(r"https://\S+/callback/\S+", mail.message.get_content()).group(0)).text
    csrf = re.search(r'name="_csrf" value="([^"]+)"', form).group(1)
    r = s.post(f"{base}/registration/create", data={"_csrf": csrf, "username": username})
    assert r.url.endswith("/registration/submitted"), r.text


def test_guided_registration_then_a_rejection(cern, tmp_path, clock, monkeypatch):
    monkeypatch.setenv("ONBOARD_NO_BROWSER", "1")
    user = issue_user(cern, tmp_path / "cred")
    cfg = make_config(cern, kind="iam", vo=VO)
    ctx = make_ctx(cfg, make_record(user, workflow="iam-browser-login", vo=VO), user, clock)
    assert flow.kind(ctx) == "iam-browser-login"

    with pytest.raises(Waiting):
        register.run(ctx)
    assert cern.count("POST") == 0 and cern.count("GET", "/registration/email-available/") == 1

    _browser_registers(cern, "jdoe")
    register.run(ctx)
    assert flow.extra(ctx)["registration"] == "submitted" and not ctx.record.artifacts.request_id

    ctx.state = "confirm_email"
    confirm_email.run(ctx)  # the confirmation mail is there: its link is shown, not followed
    said = output(ctx)
    assert "Step 3 of 5" in said and re.search(r"https://\S+/registration/verify/[0-9a-f-]+", said)
    assert flow.extra(ctx)["registration"] == "submitted"
    assert cern.count("POST", "/registration/verify") == 0  # onboard did not confirm for the person
    [pending] = iam_sandbox.pending(cern.ctx, VO)
    assert pending["status"] == "NEW"

    ctx.state = "await_approval"
    with pytest.raises(Waiting):
        await_approval.run(ctx)
    iam_sandbox.reject(cern.ctx, pending["uuid"], "No valid experiment participation found")
    with pytest.raises(Outcome) as o:
        await_approval.run(ctx)
    assert o.value.trigger == "rejected" and "No valid experiment participation found" in o.value.reason
    assert "Approved" not in output(ctx) and not flow.extra(ctx).get("iam_approved")
    # the browser's two (the SSO form, the registration form), and nothing from onboard
    assert cern.count("POST") == 2 and cern.count("POST", "/registration/create") == 1
