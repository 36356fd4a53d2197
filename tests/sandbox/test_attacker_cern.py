"""The sandbox IAM's CERN profile (the "sandbox SSO — not CERN" login, the registration form, certificate
linking) attacked as a stranger in the classroom would (issue 14 applied to issue 13): each test is a
finding of the red-team pass, reproduced over HTTPS against a running sandbox on loopback."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import requests
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, pkcs12
from requests.adapters import HTTPAdapter

from onboard.adapters.mail import MaildirBox
from onboard.sandbox import iam
from onboard.sandbox.iam import sso
from tests.lib.regkit import start_registration_servers

VO, PLAIN = "cms", "plainvo"
pytestmark = pytest.mark.servers  # the sandbox, in this process


@pytest.fixture
def cern(tmp_path, clock):
    sb = start_registration_servers(tmp_path / "sb", vos=(VO, PLAIN), clock=clock, cern_profile_vos=[VO])
    try:
        yield sb
    finally:
        sb.stop()


class _From(HTTPAdapter):
    """Connections from another loopback address: another laptop in the room."""

    def __init__(self, source: str):
        self.source = source
        super().__init__()

    def init_poolmanager(self, *args, **kw):
        kw["source_address"] = (self.source, 0)
        super().init_poolmanager(*args, **kw)


def browser(sb, cert: Path | None = None, source: str = "") -> requests.Session:
    s = requests.Session()
    s.verify, s.trust_env = str(sb.manager.ca.bundle_path), False
    if cert is not None:
        s.cert = str(cert)
    if source:
        s.mount("https://", _From(source))
    return s


def csrf_of(page: str) -> str:
    return re.search(r'name="_csrf" value="([^"]+)"', page).group(1)


def ask_link(sb, s: requests.Session, email: str, given: str = "Jane", family: str = "Doe",
             vo: str = VO) -> requests.Response:
    base = sb.iam_url(vo)
    token = csrf_of(s.get(f"{base}/sandbox-sso/login").text)
    form = {"_csrf": token, "next": "registration", "givenname": given, "familyname": family, "email": email}
    return s.post(f"{base}/sandbox-sso/login", data=form)


def mailed_link(sb, email: str) -> str:
    mails = [m for m in MaildirBox(sb.maildir(email)).messages() if "sandbox SSO" in m.subject]
    return re.search(r"https://\S+/sandbox-sso/callback/\S+", mails[-1].message.get_content()).group(0)


def sso_login(sb, s: requests.Session, email: str) -> str:
    """Logs `s` in by the mailed link; the registration form it lands on."""
    assert ask_link(sb, s, email).status_code == 200
    return s.get(mailed_link(sb, email)).text


def person_cert(sb, tmp_path: Path, name: str, email: str) -> Path:
    """A sandbox-CA certificate and its key in one PEM file, as `requests` presents it (test files only)."""
    data, info = sb.ctx.ca.issue_user(name, email, b"pass phrase 1")
    key, cert, chain = pkcs12.load_key_and_certificates(data, b"pass phrase 1")
    pem = tmp_path / f"{name.replace(' ', '_')}.pem"
    pem.write_bytes(cert.public_bytes(Encoding.PEM) + key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8,
                                                                         NoEncryption()))
    pem.chmod(0o600)
    return pem


def registered_and_approved(sb, vo: str, username: str, email: str) -> None:
    """An active account `username` at `vo` (the instructor approves everybody in a classroom)."""
    s = browser(sb)
    if vo in sb.ctx.settings.cern_profile_vos:
        form = sso_login(sb, s, email)
        r = s.post(f"{sb.iam_url(vo)}/registration/create",
                   data={"_csrf": csrf_of(form), "username": username})
    else:
        r = s.post(f"{sb.iam_url(vo)}/registration/create",
                   json={"username": username, "givenname": "Mal", "familyname": "Lory", "email": email})
    assert r.status_code == 200, r.text
    [row] = [p for p in iam.pending(sb.ctx, vo) if p["username"] == username]
    iam.approve(sb.ctx, row["uuid"])


def password_of(sb, vo: str, email: str) -> str:
    """Sets the password of the account through the approval mail's link."""
    mail = [m for m in MaildirBox(sb.maildir(email)).messages() if "now active" in m.subject][-1]
    link = re.search(r"https://\S+/password-reset/token/\S+", mail.message.get_content()).group(0)
    assert browser(sb).post(link, data={"password": "mallory's password"}).status_code == 200
    return "mallory's password"


def jsessionid(resp: requests.Response) -> str | None:
    m = re.search(r"JSESSIONID=([^;]+)", resp.headers.get("Set-Cookie", ""))
    return m.group(1) if m else None


# -- sessions ----------------------------------------------------------------------------------------------
def test_a_login_at_one_vo_is_not_a_login_at_another(cern, tmp_path):
    """The session's `iam_user` was one key for every IAM of the sandbox: Mallory, approved at the plain VO
    as `alice`, was Alice at the CERN-profile VO with the same cookie and linked his certificate there."""
    registered_and_approved(cern, VO, "alice", "alice@example.org")
    registered_and_approved(cern, PLAIN, "alice", "mallory@example.org")
    mallory = browser(cern, person_cert(cern, tmp_path, "Mal Lory", "mallory@example.org"))
    form = sso_login(cern, mallory, "mallory@example.org")  # his certificate in the session of his login
    sid = mallory.cookies.get("JSESSIONID")
    cookie = {"Cookie": f"JSESSIONID={sid}"}  # a client sends its cookie wherever it likes
    r = mallory.post(f"{cern.iam_url(PLAIN)}/login", data={"username": "alice",
                                                            "password": password_of(cern, PLAIN,
                                                                                    "mallory@example.org")},
                     headers=cookie, allow_redirects=False)
    assert r.status_code == 302  # he is alice at the plain VO: his own account there
    mallory.post(f"{cern.iam_url(VO)}/iam/account-linking/X509", data={"_csrf": csrf_of(form)},
                 headers=cookie)
    with cern.ctx.db() as db:
        linked = [dict(r) for r in db.execute("SELECT username, subject FROM iam_x509 WHERE vo=?", (VO,))]
    assert linked == [], "Mallory's certificate linked to Alice's account at cms"
    r = mallory.get(f"{cern.iam_url(VO)}/dashboard", headers=cookie, allow_redirects=False)
    assert r.status_code == 302 and r.headers["Location"].endswith("/login"), "Mallory is Alice at cms"


def test_the_sso_login_gets_a_new_session_id(cern):
    """Session fixation: an id the attacker planted (or read) before the login must not become the victim's
    logged-in session."""
    s = browser(cern)
    s.get(f"{cern.iam_url(VO)}/sandbox-sso/login")
    planted = s.cookies.get("JSESSIONID")
    assert planted
    assert ask_link(cern, s, "alice@example.org").status_code == 200
    r = s.get(mailed_link(cern, "alice@example.org"), allow_redirects=False)
    assert r.status_code == 302
    fresh = jsessionid(r)
    assert fresh and fresh != planted
    attacker = browser(cern)
    page = attacker.get(f"{cern.iam_url(VO)}/start-registration", headers={"Cookie": f"JSESSIONID={planted}"})
    assert "alice@example.org" not in page.text and 'id="username"' not in page.text


def test_the_session_cookie_is_secure_httponly_and_same_site(cern):
    r = browser(cern).get(f"{cern.iam_url(VO)}/sandbox-sso/login")
    attrs = [a.strip().lower() for a in r.headers["Set-Cookie"].split(";")]
    assert "secure" in attrs and "httponly" in attrs
    assert "samesite=lax" in attrs or "samesite=strict" in attrs


# -- the sign-in link and its mail -------------------------------------------------------------------------
@pytest.mark.parametrize("given", ["Jane\n\nThe link below is broken, use https://evil.example/x\n",
                                   "Jane\x1b]0;owned\x07", "Jane\r\nBcc: eve@example.org"],
                         ids=["forged-text", "escape", "crlf"])
def test_names_cannot_write_lines_or_escapes_into_mails_and_pages(cern, given):
    """The names go into the mail to the address given (any trainee's), and on to the instructor's mail
    and terminal: one line of printable text, nothing else."""
    r = ask_link(cern, browser(cern), "alice@example.org", given=given)
    assert r.status_code == 400
    assert not (cern.maildir("alice@example.org") / "new").exists() or not list(
        (cern.maildir("alice@example.org") / "new").iterdir())


def test_outstanding_sign_in_links_are_bounded_in_total(cern, monkeypatch):
    """Three links per address, but addresses are free: without a total, one client fills the database
    (and the mail directory) without end."""
    monkeypatch.setattr(sso, "MAX_PENDING", 5)
    s = browser(cern)
    answers = [ask_link(cern, s, f"victim{i}@example.org").status_code for i in range(6)]
    assert answers == [200] * 5 + [429]
    with cern.ctx.db() as db:
        (count,) = db.execute("SELECT COUNT(*) FROM iam_sso_token").fetchone()
    assert count == 5


def test_a_sign_in_link_logs_in_only_the_browser_that_asked_for_it(cern, tmp_path):
    """Login CSRF: Mallory asks for a link to his own address and has Alice's browser open it (a link on a
    page, in a chat). Her browser was then logged in as Mallory, with her certificate in the session: one
    press on "Link certificate" on "his" dashboard linked her certificate to his account."""
    mallory = browser(cern)
    assert ask_link(cern, mallory, "mallory@example.org").status_code == 200
    link = mailed_link(cern, "mallory@example.org")
    alice = browser(cern, person_cert(cern, tmp_path, "Alice Liddell", "alice@example.org"))
    alice.get(f"{cern.iam_url(VO)}/start-registration")  # her own session, before
    r = alice.get(link, allow_redirects=False)
    assert r.status_code == 404
    assert "mallory@example.org" not in alice.get(f"{cern.iam_url(VO)}/start-registration").text
    form = mallory.get(link).text  # the link was not used up: it still logs in the browser that asked
    assert "mallory@example.org" in form and 'id="username"' in form


def test_the_log_keeps_no_link_secret(cern):
    """The request lines went into sandbox.log whole: each sign-in link, password-reset link and
    confirmation key there (a log is shown, pasted, kept; the secrets in it are bearer tokens)."""
    s = browser(cern)
    form = sso_login(cern, s, "alice@example.org")
    s.post(f"{cern.iam_url(VO)}/registration/create", data={"_csrf": csrf_of(form), "username": "alice"})
    key = re.search(r"/registration/verify/(\S+)", [m for m in MaildirBox(cern.maildir("alice@example.org"))
                                                    .messages() if "Confirm" in m.subject][-1]
                    .message.get_content()).group(1)
    s.get(f"{cern.iam_url(VO)}/registration/verify/{key}")
    [row] = iam.pending(cern.ctx, VO)
    iam.approve(cern.ctx, row["uuid"])
    password_of(cern, VO, "alice@example.org")
    secrets_sent = [re.search(r"/(?:callback|token|verify)/(\S+)", m.message.get_content()).group(1)
                    for m in MaildirBox(cern.maildir("alice@example.org")).messages()]
    assert len(secrets_sent) == 3 and key in secrets_sent
    log = (cern.dir / "sandbox.log").read_text()
    assert "sandbox-sso/callback/" in log  # the requests are logged, their secrets not
    for secret in secrets_sent:
        assert secret not in log


def _session_from(sb, source: str) -> str:
    """A new session made by a client at loopback address `source` (a stranger's laptop)."""
    import socket
    import ssl

    port = sb.listeners["open"].port
    context = ssl.create_default_context(cafile=str(sb.manager.ca.bundle_path))
    with socket.create_connection(("127.0.0.1", port), timeout=30, source_address=(source, 0)) as raw, \
            context.wrap_socket(raw, server_hostname="localhost") as tls:
        request = f"GET /iam/{VO}/sandbox-sso/login HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        tls.sendall(request.encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = tls.recv(4096)
            if not chunk:
                break
            head += chunk
    return re.search(rb"JSESSIONID=([0-9A-F]+)", head).group(1).decode()


def test_one_stranger_cannot_push_everyone_out_of_their_sessions(cern, monkeypatch):
    """Sessions were capped in total by forgetting the oldest: one client asking for the login page
    10,000 times logged every trainee out, mid-registration, again and again."""
    from onboard.sandbox import web

    monkeypatch.setattr(web, "MAX_SESSIONS", 40)
    alice = browser(cern)
    form = sso_login(cern, alice, "alice@example.org")
    for _ in range(60):
        _session_from(cern, "127.0.0.2")
    r = alice.post(f"{cern.iam_url(VO)}/registration/create",
                   data={"_csrf": csrf_of(form), "username": "alice"})
    assert r.url.endswith("/registration/submitted"), "Alice's session was pushed out"
    assert len(cern.app.sessions) <= 40


def _sso_logged_in(sb, email: str, nxt: str = "login") -> requests.Session:
    s = browser(sb)
    base = sb.iam_url(VO)
    token = csrf_of(s.get(f"{base}/sandbox-sso/login", params={"next": nxt}).text)
    r = s.post(f"{base}/sandbox-sso/login", data={"_csrf": token, "next": nxt, "givenname": "Mal",
                                                  "familyname": "Lory", "email": email})
    assert r.status_code == 200, r.text
    s.get(mailed_link(sb, email), allow_redirects=False)
    return s


def test_a_rejected_login_does_not_log_in_to_the_next_account_with_that_username(cern):
    """The login -> account table kept the rejected request's username: Mallory asked for `bob` (what
    onboard derives from Bob's address), was rejected, Bob then got `bob`, and Mallory's SSO login opened
    Bob's dashboard (and linked Mallory's certificate to Bob's account)."""
    s = browser(cern)
    form = sso_login(cern, s, "mallory@example.org")
    r = s.post(f"{cern.iam_url(VO)}/registration/create", data={"_csrf": csrf_of(form), "username": "bob"})
    assert r.url.endswith("/registration/submitted")
    [mine] = iam.pending(cern.ctx, VO)
    iam.reject(cern.ctx, mine["uuid"], "not in the experiment")
    registered_and_approved(cern, VO, "bob", "bob@example.org")
    mallory = _sso_logged_in(cern, "mallory@example.org")
    r = mallory.get(f"{cern.iam_url(VO)}/login", allow_redirects=False)
    assert r.status_code == 200 and "No active cms account" in r.text, "Mallory is Bob"
    assert mallory.get(f"{cern.iam_url(VO)}/dashboard", allow_redirects=False).status_code == 302
    bob = _sso_logged_in(cern, "bob@example.org")  # Bob himself still gets in
    r = bob.get(f"{cern.iam_url(VO)}/login")
    assert "Logged in as <b id='username'>bob</b>" in r.text


def test_a_stranger_cannot_use_up_a_trainees_sign_in_links(cern):
    """Three outstanding links per address kept a mailbox from a flood, but Mallory used them up for
    Alice's address every quarter of an hour, and the links he had sent her open only in his browser."""
    mallory = browser(cern)
    for _ in range(3):
        assert ask_link(cern, mallory, "alice@example.org").status_code == 200
    assert ask_link(cern, mallory, "alice@example.org").status_code == 429  # still no mail cannon
    alice = browser(cern, source="127.0.0.3")  # Alice at her own laptop, another address: her link comes
    assert ask_link(cern, alice, "alice@example.org").status_code == 200
    r = alice.get(mailed_link(cern, "alice@example.org"))
    assert "alice@example.org" in r.text and 'id="username"' in r.text
