"""A registration server under a room's load: the sandbox's VOMS-Admin answers the first try of every request
with 503 and a Retry-After (an overloaded server, or the proxy in front of one, saying it did not handle the
request). The journey comes back as told and completes, the registration sent once."""

from __future__ import annotations

import pytest

from onboard.errors import RegistrationError
from onboard.sandbox.web import Response
from tests.lib.regkit import make_config, make_journey


def _busy_first(sandbox, retry_after: str = "0") -> list[tuple[str, str]]:
    """Every (method, path) refused once with 503; returns the refusals."""
    inner = sandbox.manager.app.dispatch
    refused: list[tuple[str, str]] = []

    def busy(req):
        key = (req.method, req.path)
        if key not in refused:
            refused.append(key)
            return Response("<h1>503 Service Unavailable</h1>", 503, [("Retry-After", retry_after)])
        return inner(req)

    sandbox.manager.app.dispatch = busy
    return refused


def test_a_journey_through_a_busy_registration_server_completes(tmp_path, sandbox, user, clock):
    refused = _busy_first(sandbox)
    cfg = make_config(sandbox, kind="voms-admin")
    j = make_journey(tmp_path / "j", cfg, user, clock, "voms-admin")
    res = j.run()  # register, confirm by mail, first approval check
    assert res.state == "await_approval" and not res.finished, j.record.last_error
    posts = [p for m, p in refused if m == "POST"]
    assert posts, refused  # the registration itself was refused once (the test tests the POST path)
    # each refused request was sent again once, and the registration reached the server exactly once
    for method, path in refused:
        assert sandbox.count(method, path) == 1, (method, path)


def test_a_post_refused_without_retry_after_is_not_sent_again(tmp_path, sandbox, user, clock):
    """503 without Retry-After: the server did not say it left the registration alone; never sent twice."""
    inner = sandbox.manager.app.dispatch
    posts: list[str] = []

    def busy(req):
        if req.method == "POST":
            posts.append(req.method)
            return Response("busy", 503)
        return inner(req)

    sandbox.manager.app.dispatch = busy
    cfg = make_config(sandbox, kind="voms-admin")
    j = make_journey(tmp_path / "j", cfg, user, clock, "voms-admin")
    with pytest.raises(RegistrationError) as e:
        j.run()
    assert "503" in e.value.message
    assert posts == ["POST"]  # tried once: the registration is never sent twice on a bare 503
