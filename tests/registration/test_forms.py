"""Pages the sandbox does not serve: VOMS-Admin's manager-selection and group-request forms after the
confirmation link, the plugin-validation error, and IAM's older GET confirmation. A scripted HTTP stands
in for the server (pages as the reference documents them)."""

# ruff: noqa: E501  (server pages quoted as they come)
from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from onboard.registration.voms_admin import FormError, Start, VomsAdmin

BASE = "https://voms.example.org:8443/voms/cms"
LINK = (
    f"{BASE}/register/confirm-request.action?requestId=7&confirmationId=0f8fad5b-d9cb-469f-a165-70867728950e"
)


@dataclass
class Resp:
    status_code: int = 200
    text: str = ""
    url: str = ""
    headers: dict = field(default_factory=dict)

    @property
    def is_redirect(self) -> bool:
        return self.status_code in (301, 302, 303, 307, 308)


class Script:
    """Answers requests from a list of (method, url-part, response); records what was sent."""

    def __init__(self, answers):
        self.answers = list(answers)
        self.sent: list[tuple[str, str, list[tuple[str, str]]]] = []

    def request(self, method, url, **kw):
        m, part, resp = self.answers.pop(0)
        assert (m, part in url) == (method, True), (method, url)
        data = kw.get("data") or []
        self.sent.append((method, url, list(data.items()) if isinstance(data, dict) else list(data)))
        resp.url = url
        return resp

    def get(self, url, **kw):
        return self.request("GET", url, **kw)

    def post(self, url, **kw):
        return self.request("POST", url, **kw)


SELECT_MANAGER = """<html><body><h2>Select a group manager</h2>
<form id="select-manager" name="select-manager" action="/voms/cms/register/select-manager.action" method="post">
<input type="hidden" name="requestId" value="7"/>
<input type="hidden" name="confirmationId" value="0f8fad5b-d9cb-469f-a165-70867728950e"/>
<input type="radio" name="managerId" id="m1" value="1"/><label for="m1">Alice Admin (alice@example.org)</label>
<input type="radio" name="managerId" id="m2" value="2"/><label for="m2">Bob Boss (bob@example.org)</label>
<input type="submit" value="Submit"/></form></body></html>"""

REQUEST_ATTRIBUTES = """<html><body><form name="request-attributes" action="request-attributes.action" method="post">
<input type="hidden" name="struts.token.name" value="token"/><input type="hidden" name="token" value="TOK123"/>
<input type="hidden" name="requestId" value="7"/>
<input type="hidden" name="confirmationId" value="0f8fad5b-d9cb-469f-a165-70867728950e"/>
<input type="checkbox" name="requestedGroups" value="/cms/analysis"/>
<input type="checkbox" name="requestedGroups" value="/cms/production"/>
<input type="submit"/></form></body></html>"""

CONFIRMED = (
    "<html><body><h2>VO membership request confirmed.</h2><p>You have succesfully confirmed your VO "
    "membership request.</p></body></html>"
)


def test_manager_and_groups_forms_are_answered():
    http = Script(
        [
            ("GET", "confirm-request.action", Resp(text=SELECT_MANAGER)),
            ("POST", "select-manager.action", Resp(text=REQUEST_ATTRIBUTES)),
            ("POST", "request-attributes.action", Resp(text=CONFIRMED)),
        ]
    )
    client = VomsAdmin(http, BASE)

    def choose(options):
        return next(v for v, t in options if "bob@" in t)

    result = client.confirm(LINK, choose_manager=choose, groups=["production"])
    assert (
        result.kind == "confirmed" and "Bob Boss" in result.manager and result.groups == ["/cms/production"]
    )
    _, url, data = http.sent[1]
    assert url == f"{BASE}/register/select-manager.action"
    assert ("managerId", "2") in data and ("requestId", "7") in data
    _, url, data = http.sent[2]
    assert url == f"{BASE}/register/request-attributes.action"
    assert ("token", "TOK123") in data and ("requestedGroups", "/cms/production") in data
    assert ("requestedGroups", "/cms/analysis") not in data


def test_manager_required_but_not_chosen_names_the_key():
    http = Script([("GET", "confirm-request.action", Resp(text=SELECT_MANAGER))])
    with pytest.raises(FormError) as e:
        VomsAdmin(http, BASE).confirm(LINK, choose_manager=lambda options: None)
    assert "registration.group_manager" in e.value.hint and "Alice Admin" in e.value.hint


def test_plugin_validation_error_and_redirected_member():
    form = (
        '<html><body>Welcome to the registration page for the cms VO.<form action="submit-request" method="post">'
        '<input type="hidden" name="struts.token.name" value="token"/><input type="hidden" name="token" value="T"/>'
        '<input name="name"/><input name="surname"/><input name="emailAddress"/>'
        '<input type="checkbox" name="aupAccepted" value="true"/></form></body></html>'
    )
    err = "<html><body><h2>VO Memberhsip request validation error.</h2><p>Not in the HR database.</p></body></html>"
    http = Script([("GET", "start.action", Resp(text=form)), ("POST", "submit-request", Resp(text=err))])
    from onboard.config import User

    user = User(given_name="Jane", family_name="Doe", email="jane@example.org")
    with pytest.raises(FormError) as e:
        VomsAdmin(http, BASE).submit(user)
    assert "refused the request" in e.value.message
    sent = dict(http.sent[1][2])
    assert sent["token"] == "T" and sent["aupAccepted"] == "true" and sent["__checkbox_aupAccepted"] == "true"
    assert "institution" not in sent  # not rendered: not required by this VO

    http = Script([("GET", "start.action", Resp(302, headers={"Location": "/voms/cms/user/home.action"}))])
    assert VomsAdmin(http, BASE).start().kind is Start.MEMBER


def test_iam_falls_back_to_get_for_old_servers(monkeypatch):
    from onboard.registration import flow, iam

    base = "https://iam.example.org"
    key = "0f8fad5b-d9cb-469f-a165-70867728950e"
    http = Script(
        [
            ("POST", "/registration/verify", Resp(405)),
            ("GET", f"/registration/verify/{key}", Resp(text="<p>Request confirmed</p>")),
        ]
    )

    class Ctx:
        record = type("R", (), {"artifacts": type("A", (), {"registration_url": base, "extra": {}})()})()
        checkpointed = 0

        def checkpoint(self):
            Ctx.checkpointed += 1

        def now(self):
            from datetime import datetime, timezone

            return datetime.now(timezone.utc)

        ui = type("U", (), {"say": staticmethod(lambda *a: None)})()

    ctx = Ctx()
    monkeypatch.setattr(flow, "http", lambda c, url=None, **kw: http)
    monkeypatch.setattr(flow, "server_url", lambda c: base)
    monkeypatch.setattr(flow, "extra", lambda c: c.record.artifacts.extra)
    iam.REGISTRAR.confirm(ctx, f"{base}/registration/verify/{key}")
    assert [m for m, _, _ in http.sent] == ["POST", "GET"]
    assert ("token", key) in http.sent[0][2]
    assert ctx.record.artifacts.extra["registration"] == "confirmed" and Ctx.checkpointed == 1
