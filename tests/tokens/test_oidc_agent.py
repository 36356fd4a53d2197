"""The token step against the running sandbox IAM, with Debian's real oidc-agent, oidc-gen and oidc-token.

`onboard tokens` runs as a user runs it (a new process, its own HOME so oidc-agent's account directory
is the test's); the device login is approved at the IAM while it waits; the token oidc-token prints is
checked by onboard over TLS against the sandbox IAM's JWKS. Then tokens that must be refused, each for
its own reason: a user outside the VO, an expired one, one signed by another key, one of another issuer.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests
from joserfc import jwk

from onboard.errors import Exit
from onboard.sandbox import iam
from onboard.sandbox.iam import oidc_tokens
from onboard.sandbox.manager import to_toml
from tests.lib.sandbox import VO, start_sandbox
from tests.lib.tools import require_tool, run_onboard

pytestmark = pytest.mark.servers
PASSWORD = "an account password for oidc-agent"


@pytest.fixture
def world(tmp_path):
    for tool in ("oidc-agent", "oidc-gen", "oidc-token", "oidc-add"):
        require_tool(tool)
    sb = start_sandbox(tmp_path / "sb", ssh=False)
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    config = tmp_path / "config.toml"
    cfg = sb.onboard_config(vo=VO, tokens=True)
    cfg.pop("submit_host")  # no SSH host in this test
    config.write_text(to_toml(cfg))
    pw = tmp_path / "pw"
    pw.write_text(PASSWORD + "\n")
    pw.chmod(0o600)
    env = {
        "HOME": str(home),
        "ONBOARD_STATE_DIR": str(home / "state"),
        "ONBOARD_DATA_DIR": str(home / "data"),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "ONBOARD_NO_BROWSER": "1",
    }
    env.pop("OIDC_SOCK", None)
    world = {"sb": sb, "home": home, "config": config, "pw": pw, "env": env}
    try:
        yield world
    finally:
        _stop_agent(home / "state" / "tokens" / "oidc-agent.sock")
        sb.stop()


def _stop_agent(sock: Path) -> None:
    """onboard's own oidc-agent of this test: the process whose command line names its socket."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"oidc-agent") and f"--socket-path={sock}".encode() in argv:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(proc.name), signal.SIGTERM)


def _account(sb, username: str, vo: str = VO) -> dict:
    base = f"{sb.app.base_url('open')}/iam/{vo}"
    r = requests.post(
        f"{base}/registration/create",
        json={
            "username": username,
            "givenname": username.title(),
            "familyname": "Tester",
            "email": f"{username}@example.org",
        },
        verify=str(sb.ca.bundle_path),
        timeout=30,
    )
    assert r.status_code == 200, r.text
    iam.approve(sb.ctx, r.json()["uuid"])
    with sb.ctx.db() as db:
        return dict(
            db.execute("SELECT * FROM iam_request WHERE vo=? AND username=?", (vo, username)).fetchone()
        )


def _user_code(sb, timeout: float = 60) -> str:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with sb.ctx.db() as db:
            row = db.execute("SELECT user_code FROM oidc_device WHERE status='pending'").fetchone()
        if row:
            return row[0]
        time.sleep(0.3)
    raise AssertionError("oidc-gen never asked the sandbox IAM for a device code")


def _tokens(world, *extra: str, input: str | None = None, timeout: float = 150):
    return run_onboard(
        "--config",
        str(world["config"]),
        "tokens",
        "--vo",
        VO,
        *extra,
        env=world["env"],
        input=input,
        timeout=timeout,
    )


def test_device_login_with_real_oidc_agent_then_refusals(world):
    sb = world["sb"]
    alice = _account(sb, "alice")
    approved = {}

    def instructor():  # approves as the sandbox's IAM administrator, with onboard's command
        code = _user_code(sb)
        approved["code"] = code
        approved["run"] = run_onboard(
            "sandbox", "iam-device-approve", "--dir", str(sb.dir), "--vo", VO, code, "alice"
        )

    t = threading.Thread(target=instructor)
    t.start()
    done = _tokens(world, "--password-file", str(world["pw"]), "--wait", "90")
    t.join(timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert approved["run"].returncode == 0, approved["run"].stderr
    assert f"enter the code {approved['code']}" in done.stdout
    assert f"/iam/{VO}/device" in done.stdout
    assert "token accepted" in done.stdout and f"/{VO}" in done.stdout and alice["uuid"] in done.stdout
    assert PASSWORD not in done.stdout + done.stderr

    # the account is oidc-agent's: oidc-token gives a token onboard accepts (and again without a login)
    sock = str(world["home"] / "state" / "tokens" / "oidc-agent.sock")
    env = {"PATH": os.environ["PATH"], "HOME": str(world["home"]), "OIDC_SOCK": sock}
    tok = subprocess.run(["oidc-token", VO], env=env, capture_output=True, text=True, timeout=60)
    assert tok.returncode == 0, tok.stderr
    ok = _tokens(world, "--verify", "-", input=tok.stdout)
    assert ok.returncode == 0 and "token accepted" in ok.stdout, ok.stdout + ok.stderr
    again = _tokens(world, "--wait", "0")  # the account exists: no login, no password asked
    assert again.returncode == 0 and "Log in" not in again.stdout, again.stdout + again.stderr

    # refusals, each its own message and exit code
    ctx = sb.ctx
    iss = oidc_tokens.issuer(sb.iam_url(VO))
    scope = "openid profile offline_access wlcg.groups"
    outsider = oidc_tokens.access_token(ctx, iss, alice, "c", scope, group_list=["/othervo"])
    expired = oidc_tokens.access_token(ctx, iss, alice, "c", scope, lifetime=-3600)
    other_key = jwk.RSAKey.generate_key(2048, private=True)
    forged_claims = {
        "iss": iss,
        "sub": alice["uuid"],
        "exp": int(time.time()) + 3600,
        "wlcg.groups": [f"/{VO}"],
        "wlcg.ver": "1.0",
    }
    forged = oidc_tokens.sign(ctx, forged_claims, key=other_key)
    foreign = oidc_tokens.access_token(ctx, oidc_tokens.issuer(sb.iam_url("othervo")), alice, "c", scope)
    expect = {
        "outsider": (outsider, Exit.TOKEN_GROUP, "do not include /testvo"),
        "expired": (expired, Exit.TOKEN_EXPIRED, "has expired"),
        "other key": (forged, Exit.TOKEN_SIGNATURE, "not signed by a key of"),
        "other issuer": (foreign, Exit.TOKEN_ISSUER, "/iam/othervo/"),
    }
    messages = set()
    for name, (token, code, words) in expect.items():
        r = _tokens(world, "--verify", "-", input=token)
        assert r.returncode == code, (name, r.stdout, r.stderr)
        assert words in r.stderr, (name, r.stderr)
        assert "Traceback" not in r.stderr
        messages.add(r.stderr.splitlines()[0])
    assert len(messages) == 4


def _nssdb(home: Path, ca_bundle: Path, tmp: Path, pw: Path) -> Path:
    """The browser's NSS database as a person's chromium has it: a primary password (onboard's
    browser-import insists on one) and the sandbox CA trusted for web servers."""
    certutil = require_tool("certutil")
    db = home / ".pki" / "nssdb"
    db.mkdir(parents=True)
    subprocess.run([certutil, "-N", "-d", f"sql:{db}", "-f", str(pw)], check=True, capture_output=True)
    pems = re.findall(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", ca_bundle.read_text(), re.S)
    for i, pem in enumerate(pems):
        one = tmp / f"ca-{i}.pem"
        one.write_text(pem + "\n")
        subprocess.run(
            [
                certutil,
                "-A",
                "-d",
                f"sql:{db}",
                "-n",
                f"onboard sandbox CA {i}",
                "-t",
                "C,,",
                "-i",
                str(one),
                "-f",
                str(pw),
            ],
            check=True,
            capture_output=True,
        )
    return db


def test_the_trainee_approves_in_a_real_browser_with_the_linked_certificate(world, tmp_path):
    """The device page as a person completes it: chromium presents the trainee's certificate (imported
    with `onboard browser-import`), which the sandbox IAM knows as linked to the account; the code that
    `onboard tokens` showed is typed in and authorized. While nobody has approved, onboard waits (75)."""
    from selenium.webdriver.common.by import By

    from tests.lib.browser import chromium, keep_screenshot

    sb, home = world["sb"], world["home"]
    bob = _account(sb, "bob")
    p12 = tmp_path / "bob.p12"
    _, cred = sb.issue_user_p12("Bob Tester", "bob@example.org", PASSWORD.encode(), out=p12)
    iam.link_certificate(sb.ctx, VO, "bob", cred.subject, cred.issuer)

    first = _tokens(world, "--password-file", str(world["pw"]), "--wait", "3")
    assert first.returncode == Exit.WAITING, first.stdout + first.stderr
    m = re.search(r"open (https://\S+) and enter the code (\S+)", first.stdout)
    assert m, first.stdout
    url, code = m.groups()

    dbpw = tmp_path / "dbpw"
    dbpw.write_text("browser primary password 7\n")
    db = _nssdb(home, sb.ca.bundle_path, tmp_path, dbpw)
    r = run_onboard(
        "browser-import",
        "--p12",
        str(p12),
        "--passphrase-file",
        str(world["pw"]),
        "--db-password-file",
        str(dbpw),
        env={"HOME": str(home)},
    )
    assert r.returncode == 0, r.stdout + r.stderr
    empty = tmp_path / "empty"  # a headless browser cannot answer NSS's password prompt: unlock the db
    empty.write_text("\n")
    subprocess.run(
        ["certutil", "-W", "-d", f"sql:{db}", "-f", str(dbpw), "-@", str(empty)],
        check=True,
        capture_output=True,
    )
    origin = url.split("/iam/")[0]
    with chromium(home, client_cert_origins=(origin,)) as driver:
        driver.implicitly_wait(10)
        driver.get(url)
        driver.find_element(By.ID, "user_code").send_keys(code)
        driver.find_element(By.ID, "submit").click()
        assert "bob" in driver.page_source and "wlcg.groups" in driver.page_source
        driver.find_element(By.ID, "authorize").click()
        assert "has been approved" in driver.find_element(By.ID, "result").text
        keep_screenshot(driver, "sandbox-iam-device-approved")

    done = _tokens(world, "--wait", "60")  # the same command again: oidc-gen finished in the background
    assert done.returncode == 0, done.stdout + done.stderr
    assert "token accepted" in done.stdout and bob["uuid"] in done.stdout
