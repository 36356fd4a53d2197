"""The CMS journey as a newcomer has it, against the sandbox's IAM with CERN's profile, to the end.

`onboard start --vo cms` and `onboard resume` run as a person runs them (the CLI, exit 75 while waiting);
each browser step is done in a real browser (Debian's chromium, headless, through selenium) the way a
person does it: the "sandbox SSO — not CERN" login with the link from the mail, the registration form,
the confirmation link onboard shows, the certificate imported with `onboard browser-import` into the
browser's own NSS database (~/.pki/nssdb, where the sandbox CA is trusted for the server too), a new login
presenting it, and "Link certificate". The instructor approves with `onboard sandbox iam-approve`. The
journey ends `done` with the FQAN the real voms-server (MariaDB + Debian's voms) issued on the submit
host. Along the way: onboard never POSTs a registration, and never reports a step that did not happen.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import pytest

from onboard.errors import Exit
from tests.lib.tools import require_tool

pytestmark = [pytest.mark.servers, pytest.mark.slow]  # sandbox, sshd of the sandbox, MariaDB + voms, chromium

VO = "cms"
PASSPHRASE = "cern journey passphrase 42"
DB_PASSWORD = "browser primary password 7"
USERNAME = "dana"


def _secret_file(path: Path, text: str) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")
    return path


class Recorder:
    """Every request the sandbox answers: (method, path, who) where who is "browser" or "onboard"."""

    def __init__(self, app):
        self.seen: list[tuple[str, str, str]] = []
        inner = app.dispatch

        def record(req):
            agent = req.headers.get("User-Agent") or ""
            self.seen.append((req.method, req.path, "browser" if "Chrome" in agent else "onboard"))
            return inner(req)

        app.dispatch = record

    def by(self, who: str, method: str, contains: str) -> int:
        return sum(1 for m, p, w in self.seen if w == who and m == method and contains in p)


def _nssdb(home: Path, ca_bundle: Path, tmp: Path, pw: Path) -> Path:
    """The browser's NSS database as a person's chromium has it, with a primary password (onboard's
    browser-import insists on one) and the sandbox CA trusted for web servers."""
    certutil = require_tool("certutil")
    db = home / ".pki" / "nssdb"
    db.mkdir(parents=True)
    subprocess.run([certutil, "-N", "-d", f"sql:{db}", "-f", str(pw)], check=True, capture_output=True)
    pems = re.findall(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", ca_bundle.read_text(), re.S)
    for i, pem in enumerate(pems):
        one = tmp / f"ca-{i}.pem"
        one.write_text(pem + "\n")
        subprocess.run([certutil, "-A", "-d", f"sql:{db}", "-n", f"onboard sandbox CA {i}", "-t", "C,,",
                        "-i", str(one), "-f", str(pw)], check=True, capture_output=True)
    return db


def _mail_link(maildir: Path, subject_part: str, pattern: str, after: float = 0.0) -> str:
    """The link in the newest mail whose subject says `subject_part` (what the person opens)."""
    from onboard.adapters.mail import MaildirBox

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = [(m.received.timestamp() if m.received else 0, m) for m in MaildirBox(maildir).messages()
                 if subject_part in m.subject]
        found = [(t, m) for t, m in found if t >= after]
        if found:
            msg = max(found, key=lambda tm: tm[0])[1]
            return re.search(pattern, msg.message.get_content()).group(0)
        time.sleep(0.2)
    raise AssertionError(f"no mail '{subject_part}' in {maildir}")


def _sso_login(driver, base: str, maildir: Path, nxt: str) -> None:
    """What a person does at the "sandbox SSO — not CERN" page: names and address, then the mailed link."""
    from selenium.webdriver.common.by import By

    sent = time.time() - 1
    driver.get(f"{base}/{'start-registration' if nxt == 'registration' else 'login'}")
    driver.find_element(By.ID, "sso-login").click()
    assert "sandbox SSO — not CERN" in driver.title
    if nxt == "registration":
        from tests.lib.browser import keep_screenshot

        keep_screenshot(driver, "cern-iam-sandbox-sso")
    driver.find_element(By.ID, "givenname").send_keys("Dana")
    driver.find_element(By.ID, "familyname").send_keys("Demo")
    driver.find_element(By.ID, "email").send_keys("dana.demo@example.org")
    driver.find_element(By.ID, "send-link").click()
    assert driver.find_element(By.ID, "link-sent")
    driver.get(_mail_link(maildir, "sandbox SSO - not CERN", r"https://\S+/sandbox-sso/callback/\S+", sent))


@contextmanager
def _browser(home: Path, **kw):
    """The test's chromium, waiting up to 10 s for an element as a person waits for a page."""
    from tests.lib.browser import chromium

    with chromium(home, **kw) as driver:
        driver.implicitly_wait(10)
        yield driver


def _status(cli, cfg) -> dict:
    return json.loads(cli("--config", str(cfg), "status", "--vo", VO, "--json").stdout)


def test_cms_journey_with_cern_iam_in_a_real_browser(tmp_path, cli, onboard_env):
    for tool in ("mariadbd", "voms", "voms-proxy-init", "openssl", "pk12util", "chromium", "chromedriver"):
        require_tool(tool)
    from selenium.webdriver.common.by import By

    from onboard.sandbox.demo import DemoSandbox, DemoVOMS
    from onboard.sandbox.manager import to_toml
    from tests.lib.browser import keep_screenshot
    from tests.lib.sandbox import start_sandbox

    sbdir = tmp_path / "sandbox"
    sb = start_sandbox(sbdir, vos=[VO], cern_profile_vos=[VO], hostname="localhost", bind="127.0.0.1")
    voms = DemoVOMS(tmp_path / "voms", VO)
    try:
        voms.start_behind(SimpleNamespace(sandbox=sb))  # the real attribute authority, fed when linked
        recorder = Recorder(sb.app)
        demo = DemoSandbox(sbdir, VO)
        demo.sandbox = sb
        work = tmp_path / "work"
        data = demo.config(work)
        assert data["vos"][VO]["registration"] == "browser-login"
        data["registration"].update({"poll_min_seconds": 1, "poll_max_seconds": 2})
        data["ca"]["open_browser"] = False
        cfg = tmp_path / "config.toml"
        cfg.write_text(to_toml(data))
        pw = _secret_file(tmp_path / "passphrase", PASSPHRASE)
        maildir = sb.maildir("dana.demo@example.org")
        base = sb.iam_url(VO)
        env = {"ONBOARD_NO_BROWSER": "1"}

        def resume():
            time.sleep(2.2)  # the next check is due (poll_max_seconds)
            return cli("--config", str(cfg), "resume", "--vo", VO, "--passphrase-file", str(pw), env=env,
                       timeout=300)

        # -- start: certificate, delivery, and the first two guided steps -------------------------------
        r = cli("--config", str(cfg), "start", "--vo", VO, "--passphrase-file", str(pw), env=env, timeout=300)
        assert r.returncode == Exit.WAITING, r.stdout[-3000:] + r.stderr[-3000:]
        assert "Step 1 of 5" in r.stdout and f"{base}/start-registration" in r.stdout
        assert "Step 2 of 5" in r.stdout
        assert _status(cli, cfg)["artifacts"]["extra"].get("registration") is None

        home = tmp_path / "browser-home"
        dbpw = _secret_file(tmp_path / "db-password", DB_PASSWORD)
        db = _nssdb(home, sb.ca.bundle_path, tmp_path, dbpw)
        with _browser(home) as driver:  # no certificate in the browser yet: IAM registers a person
            _sso_login(driver, base, maildir, "registration")
            assert "Dana Demo" in driver.page_source and "dana.demo@example.org" in driver.page_source
            driver.find_element(By.ID, "username").send_keys(USERNAME)
            driver.find_element(By.ID, "register").click()
            assert driver.find_element(By.ID, "submitted")
            keep_screenshot(driver, "cern-iam-registration-submitted")

        # -- resume: the registration noticed (email-available), the mail found, its link shown --------
        r = resume()
        assert r.returncode == Exit.WAITING, r.stdout[-3000:] + r.stderr[-3000:]
        assert "knows dana.demo@example.org" in r.stdout and "Step 3 of 5" in r.stdout
        assert "Step 4 of 5" in r.stdout  # then it waits for the approval
        link = re.search(r"https://\S+/registration/verify/[0-9a-f-]+", r.stdout).group(0)
        extra = _status(cli, cfg)["artifacts"]["extra"]
        assert extra["registration"] == "submitted"  # onboard cannot see the click: it does not claim it
        with _browser(home) as driver:
            driver.get(link)
            driver.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
            assert "has been confirmed" in driver.page_source

        # -- no approval reported before the instructor approves ---------------------------------------
        r = resume()
        assert r.returncode == Exit.WAITING and "Approved" not in r.stdout
        assert "approval of your request" in r.stdout + r.stderr
        st = _status(cli, cfg)
        assert not st["artifacts"]["extra"].get("iam_approved") and st["state"] != "done"
        pending = json.loads(cli("sandbox", "iam-requests", "--dir", str(sbdir), "--json").stdout)
        [request] = [p for p in pending if p["username"] == USERNAME]
        assert request["status"] == "CONFIRMED"
        r = cli("sandbox", "iam-approve", request["uuid"], "--dir", str(sbdir))
        assert r.returncode == 0, r.stderr

        # -- resume: approved by IAM's mail; the certificate step shown; nothing linked yet -------------
        r = resume()
        assert r.returncode == Exit.WAITING, r.stdout[-3000:] + r.stderr[-3000:]
        assert "Approved" in r.stdout and "Step 5 of 5" in r.stdout and "onboard browser-import" in r.stdout
        assert "linked" in r.stdout  # what it waits for: the link
        assert _status(cli, cfg)["artifacts"]["extra"].get("iam_linked") is None

        # -- the certificate into the browser, as a person does it -------------------------------------
        r = cli("browser-import", "--passphrase-file", str(pw), "--db-password-file", str(dbpw),
                env={"HOME": str(home)})
        assert r.returncode == 0, r.stdout + r.stderr
        assert "Chrome/Chromium" in r.stdout and "imported" in r.stdout
        # A headless browser cannot answer NSS's "password for the certificate database" prompt that a
        # person answers at the first use of the key: the test unlocks the database for it instead.
        empty = tmp_path / "empty-password"
        empty.write_text("\n")
        subprocess.run(["certutil", "-W", "-d", f"sql:{db}", "-f", str(dbpw), "-@", str(empty)],
                       check=True, capture_output=True)
        origin = base.split("/iam/")[0]
        with _browser(home, client_cert_origins=(origin,)) as driver:  # a new browser: a new login
            _sso_login(driver, base, maildir, "login")
            assert "/dashboard" in driver.current_url
            assert "This session presented /" in driver.page_source and "Dana Demo" in driver.page_source
            driver.find_element(By.ID, "link-certificate").click()
            flash = driver.find_element(By.ID, "flash").text
            assert "linked to your account" in flash, flash
            keep_screenshot(driver, "cern-iam-certificate-linked")

        # -- resume: the VOMS attribute authority knows the certificate; verified on the submit host ----
        r = resume()
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
        st = _status(cli, cfg)
        assert st["state"] == "done"
        assert st["artifacts"]["fqans"] == [f"/{VO}/Role=NULL/Capability=NULL"]
        assert st["artifacts"]["extra"]["verification"]["voms"] == "ok"

        # onboard never sent a registration (nor any POST) to the IAM; the browser did, once, logged in
        assert recorder.by("onboard", "POST", "/registration/create") == 0
        assert recorder.by("onboard", "POST", f"/iam/{VO}/") == 0
        assert recorder.by("browser", "POST", "/registration/create") == 1
        voms.check()
    finally:
        voms.stop()
        sb.stop()
