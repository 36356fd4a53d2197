"""The board page against a live session: three trainees joined with `onboard sandbox join` and ran
`onboard start` (new processes; their onboard reports to the board by itself), the instructor opens the
link `onboard sandbox board --web` printed in a real headless chromium that trusts the sandbox CA. The page
shows every trainee, follows the session without a reload, approves from a button, keeps a trainee's
hostile last_error as text; a trainee's seat token or certificate opens nothing, and an action without the
page's CSRF token is refused."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from cryptography.hazmat.primitives import serialization

from onboard.errors import Exit
from tests.lib.browser import chromium, keep_screenshot
from tests.lib.sandbox import VO, start_sandbox
from tests.lib.tools import run_onboard
from tests.lib.trainees import join, open_url, trust_sandbox_ca

pytestmark = pytest.mark.servers  # the sandbox, trainees' onboard processes, chromium

XSS = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>'
NAMES = ["Ada Lovelace", "Grace Hopper", "Zoë Müller"]  # Zoë's DN has her letters as OpenSSL escapes them


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("board")
    sb = start_sandbox(tmp / "sb", vos=(VO,))
    try:
        trainees = [join(sb, tmp, n, f"trainee{i}@example.org") for i, n in enumerate(NAMES)]

        def start(t):
            return t.onboard("start", "--vo", VO, "--passphrase-file", str(t.passphrase_file), timeout=240)

        with ThreadPoolExecutor(len(trainees)) as pool:
            runs = list(pool.map(start, trainees))
        for t, r in zip(trainees, runs, strict=True):  # each waits for the instructor now
            assert r.returncode == Exit.WAITING, (t.name, r.stdout, r.stderr)
        yield sb, trainees, tmp
    finally:
        sb.stop()


def board_link(sb) -> str:
    r = run_onboard("sandbox", "board", "--web", "--json", "--dir", str(sb.dir), timeout=60)
    assert r.returncode == 0, r.stderr
    url = json.loads(r.stdout)["url"]
    assert url.startswith(f"https://localhost:{sb.app.ports['open']}/board#")
    return url


def hostile_report(sb, trainee) -> None:
    """Grace's machine sends the board a report of its own making (her seat, her token): the real route."""
    r = requests.post(f"{open_url(sb)}/onboard/report", timeout=30, verify=str(sb.ctx.ca.bundle_path),
                      headers={"X-Onboard-Seat": trainee.token},
                      json={"vo": VO, "state": ["awaiting_approval"], "done": False, "last_error": XSS})
    assert r.status_code == 200, r.text


def trainee_cert(trainee, tmp):
    """(cert, key) PEM files of a trainee's certificate, the key unencrypted (test files only)."""
    globus = trainee.home / ".globus"
    key = serialization.load_pem_private_key((globus / "userkey.pem").read_bytes(),
                                             trainee.passphrase_file.read_text().strip().encode())
    plain = tmp / f"{trainee.home.name}-key.pem"
    plain.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()))
    return str(globus / "usercert.pem"), str(plain)


def test_the_board_refuses_trainees_and_cross_site_actions(session):
    sb, trainees, tmp = session
    base, ca = open_url(sb), str(sb.ctx.ca.bundle_path)
    link = board_link(sb)
    ada = trainees[0]
    cert = trainee_cert(ada, tmp)
    rid = next(r["request_id"] for r in sb.requests() if r["email"] == ada.email)
    # a trainee: with their seat token, with their certificate, with both; and the token offered as login
    for kw in ({"headers": {"X-Onboard-Seat": ada.token}}, {"cert": cert},
               {"cert": cert, "headers": {"X-Onboard-Seat": ada.token}}):
        assert requests.get(f"{base}/board/state.json", verify=ca, timeout=30, **kw).status_code == 401
        r = requests.post(f"{base}/board/decide", verify=ca, timeout=30,
                          json={"action": "approve", "kind": "voms", "id": rid}, **kw)
        assert r.status_code == 401
    r = requests.post(f"{base}/board/login", json={"token": ada.token}, verify=ca, timeout=30)
    assert r.status_code == 403 and "Set-Cookie" not in r.headers
    # the instructor's session, and an action without the page's CSRF token or from another site's page
    s = requests.Session()
    s.trust_env = False  # else REQUESTS_CA_BUNDLE, when set, wins over s.verify
    s.verify = ca
    r = s.post(f"{base}/board/login", json={"token": link.split("#", 1)[1]}, timeout=30)
    assert r.status_code == 200
    cookie = r.headers["Set-Cookie"]
    assert cookie.startswith("__Host-onboard-board=") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    state = s.get(f"{base}/board/state.json", timeout=30).json()
    assert "frame-ancestors 'none'" in s.get(f"{base}/board", timeout=30).headers["Content-Security-Policy"]
    body = {"action": "approve", "kind": "voms", "id": rid}
    assert s.post(f"{base}/board/decide", json=body, timeout=30).status_code == 403  # no CSRF header
    evil = {"X-Board-CSRF": state["csrf"], "Origin": "https://evil.example"}
    assert s.post(f"{base}/board/decide", json=body, timeout=30, headers=evil).status_code == 403
    assert s.post(f"{base}/board/decide", data=json.dumps(body), timeout=30,  # a form can send text/plain
                  headers={"X-Board-CSRF": state["csrf"], "Content-Type": "text/plain"}).status_code == 403
    assert next(r for r in sb.requests() if r["request_id"] == rid)["status"] == "CONFIRMED"
    # a new link ends the old one's session
    board_link(sb)
    assert s.get(f"{base}/board/state.json", timeout=30).status_code == 401


def _rows(driver) -> dict[str, dict]:
    return driver.execute_script(
        "const out = {}; for (const tr of document.querySelectorAll('#trainees tbody tr')) {"
        " out[tr.querySelector('td.name').textContent] = {stage: tr.dataset.stage,"
        " error: tr.querySelector('td.err').textContent,"
        " waiting: tr.querySelector('td.waiting').textContent,"
        " imgs: tr.querySelectorAll('img').length}; } return out;")


def _wait(predicate, timeout: float = 30.0, what: str = ""):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = predicate()
        if got:
            return got
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def test_the_board_page_in_a_real_browser(session):
    sb, trainees, tmp = session
    ada, grace, zoe = trainees
    hostile_report(sb, grace)
    home = tmp / "instructor-browser"
    trust_sandbox_ca(home, sb)
    link = board_link(sb)
    with chromium(home) as driver:
        driver.get(link)
        rows = _wait(lambda: (r := _rows(driver)) and len(r) == 3 and r, what="three rows")
        assert set(rows) == set(NAMES)
        assert all(r["stage"] == "confirmed" for r in rows.values()), rows
        assert "#" not in driver.current_url  # the token left the address bar
        # Grace's made-up error is shown as text: no element made of it, no script of it ran
        assert rows["Grace Hopper"]["error"] == XSS and rows["Grace Hopper"]["imgs"] == 0
        assert driver.execute_script("return window.pwned === undefined")
        room = driver.execute_script(
            "return [...document.querySelectorAll('#room .stage')].map(d => [d.dataset.stage,"
            " d.querySelector('.count').textContent])")
        assert ["confirmed", "3"] in room
        driver.execute_script("window.notReloaded = true")
        # the instructor approves Ada in the terminal: the page follows by itself
        ada_id = next(r["request_id"] for r in sb.requests() if r["email"] == ada.email)
        r = run_onboard("sandbox", "approve", str(ada_id), "--dir", str(sb.dir), timeout=60)
        assert r.returncode == 0, r.stderr
        # her credential reached the submit host while she waited (delivery runs beside registration)
        _wait(lambda: _rows(driver)["Ada Lovelace"]["stage"] == "delivered", what="Ada advancing")
        assert "approval" not in _rows(driver)["Ada Lovelace"]["waiting"]  # her report from before is stale
        # and approves Zoë with the page's own button
        zoe_id = next(r["request_id"] for r in sb.requests() if r["email"] == zoe.email)
        driver.find_element("css selector", f'tr[data-request="{zoe_id}"] button.approve').click()
        _wait(lambda: _rows(driver)["Zoë Müller"]["stage"] in ("approved", "delivered"),
              what="Zoë approved from the page")
        assert next(r for r in sb.requests() if r["request_id"] == zoe_id)["status"] == "APPROVED"
        keep_screenshot(driver, "board-page")
        # and rejects Grace, with a reason the page asks for
        grace_id = next(r["request_id"] for r in sb.requests() if r["email"] == grace.email)
        driver.find_element("css selector", f'tr[data-request="{grace_id}"] button.reject').click()
        prompt = driver.switch_to.alert
        prompt.send_keys("not in this school")
        prompt.accept()
        _wait(lambda: _rows(driver)["Grace Hopper"]["stage"] == "rejected", what="Grace rejected")
        assert not [r for r in sb.requests() if r["email"] == grace.email]  # VOMS-Admin deletes it
        assert driver.execute_script("return window.notReloaded === true")
        assert driver.execute_script("return window.pwned === undefined")


def test_an_iam_registration_is_decided_from_the_board(session):
    from onboard.sandbox import iam

    sb, _, _ = session
    base, ca = open_url(sb), str(sb.ctx.ca.bundle_path)
    r = requests.post(f"{base}/iam/{VO}/registration/create", verify=ca, timeout=30,
                      json={"username": "ivy", "givenname": "Ivy", "familyname": "Iam",
                            "email": "ivy@example.org"})
    assert r.status_code == 200, r.text
    uuid = r.json()["uuid"]
    s = requests.Session()
    s.trust_env = False
    s.verify = ca
    assert s.post(f"{base}/board/login", json={"token": board_link(sb).split("#", 1)[1]}, timeout=30).ok
    state = s.get(f"{base}/board/state.json", timeout=30).json()
    assert [q["id"] for q in state["iam"]] == [uuid]
    r = s.post(f"{base}/board/decide", json={"action": "approve", "kind": "iam", "id": uuid}, timeout=30,
               headers={"X-Board-CSRF": state["csrf"]})
    assert r.status_code == 200, r.text
    assert iam.pending(sb.ctx) == [] and s.get(f"{base}/board/state.json", timeout=30).json()["iam"] == []
    again = s.post(f"{base}/board/decide", json={"action": "reject", "kind": "iam", "id": uuid}, timeout=30,
                   headers={"X-Board-CSRF": state["csrf"]})
    assert again.status_code == 409 and "no pending IAM request" in again.json()["error"]
