"""The browser way, as the OSG guide teaches it, against the sandbox: the trainee downloads Certificate.p12
from the CA portal, imports it into the browser with `onboard browser-import` (Chromium's NSS database,
~/.pki/nssdb, with a primary password), trusts the CA for web sites, and registers on the VO's VOMS-Admin
pages in a real headless chromium with that client certificate: the form, submit, and the confirmation
link from the e-mail. A journey started afterwards notices what was done in the browser instead of doing
it again: the sandbox holds one request, and `onboard resume` ends with the FQAN the real voms-server
signs."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
import requests

from onboard.errors import Exit
from tests.lib.browser import chromium, keep_screenshot
from tests.lib.sandbox import start_sandbox
from tests.lib.tools import require_tool
from tests.lib.trainees import PASSPHRASE, join, open_url

pytestmark = pytest.mark.servers  # the sandbox, MariaDB + voms-server, chromium, the trainee's onboard

VO = "browservo"
DB_PASSWORD = "primary password of the browser"


@pytest.fixture
def grid(tmp_path, voms_server):
    """The sandbox (the instructor approves) and a real voms-server for VO browservo, fed on approval."""
    from onboard.sandbox.processes import free_port
    from tests.lib.servers.voms import VOMSServer

    port = free_port()
    sb = start_sandbox(tmp_path / "sb", vos=(VO,), voms_port_base=port)
    try:
        cert, key = sb.ca.host_credential("voms", [sb.settings.hostname])
        server = VOMSServer(VO, voms_server.db, tmp_path / "voms", cert, key,
                            sb.ca.voms_dn([sb.settings.hostname]), sb.ca.personal_dn, sb.trust_dir,
                            port=port).start()
        sb.settings.on_approval = server.hook()
        yield sb
    finally:
        try:
            server.stop()
        finally:
            sb.stop()


def certificate_from_portal(sb, trainee) -> str:
    """Certificate.p12 as the CA portal hands it out (a download; the seat's token names the trainee)."""
    r = requests.post(f"{open_url(sb)}/portal/issue", timeout=60, verify=str(sb.ca.bundle_path),
                      headers={"X-Onboard-Seat": trainee.token},
                      json={"name": trainee.name, "email": trainee.email, "passphrase": PASSPHRASE})
    assert r.status_code == 200, r.text
    p12 = trainee.home / "Downloads" / "Certificate.p12"
    p12.parent.mkdir()
    p12.write_bytes(r.content)
    return str(p12)


def into_the_browser(trainee, p12: str) -> None:
    """`onboard browser-import` into HOME's Chromium database (it refuses one without a primary password):
    the certificate with its key, and the CA of the VO's registration site trusted for web sites."""
    certutil = require_tool("certutil")
    nssdb = trainee.home / ".pki" / "nssdb"
    nssdb.mkdir(parents=True)
    pw = trainee.home / "db-password"
    pw.write_text(DB_PASSWORD + "\n")
    pw.chmod(0o600)
    subprocess.run([certutil, "-N", "-d", f"sql:{nssdb}", "-f", str(pw)], check=True, capture_output=True)
    r = trainee.onboard("browser-import", "--p12", p12, "--passphrase-file", str(trainee.passphrase_file),
                        "--db-password-file", str(pw))
    assert r.returncode == 0, r.stdout + r.stderr
    listed = subprocess.run([certutil, "-L", "-d", f"sql:{nssdb}"], capture_output=True, text=True,
                            check=True).stdout
    assert re.search(r"u,u,u\s*$", listed, re.M), listed  # a certificate with its key
    # pk12util brings the CAs of the .p12 without trust; browser-import trusts the site's root for web sites
    assert re.search(r"^Onboard Sandbox Root CA[^\n]*\s+C,,\s*$", listed, re.M), listed + r.stdout
    # A headless browser cannot answer the "password for the security device" prompt (nor the chooser):
    # for the test only, the database's password is taken off again after the import.
    empty = trainee.home / "empty"
    empty.write_text("\n")
    subprocess.run([certutil, "-W", "-d", f"sql:{nssdb}", "-f", str(pw), "-@", str(empty)], check=True,
                   capture_output=True)


def register_in_the_browser(driver, sb, trainee) -> None:
    from selenium.webdriver.common.by import By

    driver.get(f"{sb.registration_url(VO)}/register/start.action")
    assert trainee.name in driver.find_element(By.CSS_SELECTOR, ".highlight").text  # the DN of the browser's
    first, _, last = trainee.name.partition(" ")
    for name, value in (("name", first), ("surname", last), ("institution", "Sandbox University"),
                        ("phoneNumber", "+41 22 000 0000"), ("address", "1 Grid Road")):
        field = driver.find_element(By.NAME, name)
        field.clear()
        field.send_keys(value)
    driver.find_element(By.ID, "submit-request_aupAccepted").click()
    driver.find_element(By.ID, "submit-request_0").click()
    assert "confirm" in driver.page_source.lower(), driver.page_source[-2000:]


def confirm_in_the_browser(driver, sb, trainee) -> None:
    from onboard.sandbox.mail import read_maildir

    (mail,) = [m for m in read_maildir(sb.maildir(trainee.email)) if "membership request" in m["Subject"]]
    link = re.search(r"https://\S+confirm-request\.action\S*", mail.get_content())
    assert link, mail.get_content()
    driver.get(link.group(0))
    keep_screenshot(driver, "voms-admin-confirmed-in-browser")
    assert "error" not in driver.title.lower(), driver.page_source[-2000:]


@pytest.mark.parametrize("done_in_browser", ["registered", "confirmed", "member"])
def test_the_browser_way_then_onboard_goes_on_from_there(tmp_path, grid, done_in_browser):
    """Registered (not confirmed) in the browser: onboard confirms from the mail. Confirmed: onboard waits
    for the approval. A member already: onboard delivers and verifies. Never a second request."""
    sb = grid
    trainee = join(sb, tmp_path, "Bea Browser", "bea@example.org")
    p12 = certificate_from_portal(sb, trainee)
    into_the_browser(trainee, p12)
    origin = f"https://localhost:{sb.app.ports['voms']}"
    with chromium(trainee.home, client_cert_origins=(origin,)) as driver:
        register_in_the_browser(driver, sb, trainee)
        keep_screenshot(driver, "voms-admin-registered-in-browser")
        if done_in_browser != "registered":
            confirm_in_the_browser(driver, sb, trainee)
    (req,) = sb.requests(VO)
    assert "Bea Browser" in req["subject"]
    assert req["status"] == ("SUBMITTED" if done_in_browser == "registered" else "CONFIRMED")
    if done_in_browser == "member":
        sb.approve(req["request_id"])

    # the journey, started afterwards, goes on from what the browser did instead of sending another
    r = trainee.onboard("start", "--vo", VO, "--p12", p12, "--passphrase-file", str(trainee.passphrase_file),
                        timeout=300)
    said = r.stdout + r.stderr
    if done_in_browser == "member":
        assert r.returncode == Exit.OK, said[-3000:]
        assert "already a member" in said
    else:
        assert r.returncode == Exit.WAITING, said[-3000:]
        assert ("already has your request" in said and "confirmed" in said.lower()
                if done_in_browser == "registered" else "already has your confirmed request" in said), said
        (req,) = sb.requests(VO)
        assert req["status"] == "CONFIRMED"
        sb.approve(req["request_id"])
        r = trainee.onboard("resume", "--vo", VO, "--wait", "--timeout", "120",
                            "--passphrase-file", str(trainee.passphrase_file), timeout=300)
        assert r.returncode == Exit.OK, r.stdout[-3000:] + r.stderr[-3000:]
    status = json.loads(trainee.onboard("status", "--vo", VO, "--json").stdout)
    assert status["state"] == "done", status
    assert f"/{VO}/Role=NULL/Capability=NULL" in status["artifacts"]["fqans"]
    assert len(sb.requests(VO)) == 1
