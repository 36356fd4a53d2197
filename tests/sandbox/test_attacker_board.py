"""The instructor's board page attacked by trainees (issue 14, red-team pass 2), over HTTPS against a
running sandbox on loopback: each test is a finding reproduced with the real routes."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from onboard.sandbox.board import access
from tests.lib.sandbox import VO, start_sandbox
from tests.lib.trainees import open_url

pytestmark = pytest.mark.servers  # the sandbox, in this process


@pytest.fixture(scope="module")
def sb(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("boardattack")
    sandbox = start_sandbox(tmp / "sb", vos=(VO,), ssh=False)
    try:
        yield sandbox
    finally:
        sandbox.stop()


def instructor(sb) -> tuple[requests.Session, str]:
    """The instructor's browser, signed in with a fresh token (what `sandbox board --web` makes)."""
    s = requests.Session()
    s.verify, s.trust_env = str(sb.ctx.ca.bundle_path), False
    token = access.new_token(sb.ctx)
    r = s.post(f"{open_url(sb)}/board/login", json={"token": token}, timeout=30)
    assert r.status_code == 200, r.text
    return s, r.headers["Set-Cookie"].split(";")[0]


def test_another_sites_form_cannot_sign_the_instructor_out(sb):
    s, cookie = instructor(sb)
    # a page anywhere (a trainee's) that posts a form to /board/logout: the browser sends no cookie
    # (SameSite=Strict) but would obey a Set-Cookie that clears it, signing the projector out mid-session
    r = requests.post(f"{open_url(sb)}/board/logout", data={"x": "1"}, timeout=30,
                      verify=str(sb.ctx.ca.bundle_path),
                      headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"})
    assert "Set-Cookie" not in r.headers, r.headers
    assert s.get(f"{open_url(sb)}/board/state.json", timeout=30).status_code == 200
    # the page's own sign-out still clears it
    r = s.post(f"{open_url(sb)}/board/logout", json={}, timeout=30)
    assert r.headers["Set-Cookie"].startswith(f"{access.COOKIE}=;")


def test_a_flood_of_wrong_tokens_does_not_grow_the_log_with_it(sb):
    log = sb.dir.parent / f"{sb.dir.name}.log"  # where start_sandbox has the sandbox log
    before = log.read_text().count("wrong instructor token")

    def guess(i: int) -> int:
        return requests.post(f"{open_url(sb)}/board/login", json={"token": f"guess-{i:04d}-" + "x" * 30},
                             timeout=60, verify=str(sb.ctx.ca.bundle_path)).status_code

    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(guess, range(40))) == {403}
    after = log.read_text().count("wrong instructor token")
    assert after - before <= 2, after - before  # one line per address and minute, with the count
