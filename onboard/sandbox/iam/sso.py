"""The sandbox's stand-in for CERN single sign-on, named on every page and mail "sandbox SSO — not CERN".

CERN's IAM registers only people logged in through CERN SSO (an external OIDC/SAML login). The sandbox
cannot offer that, and must not let one trainee log in as another (each trainee is a possible attacker
of the others): so this login proves what it can, that the person reads the mail of the address given.
`GET /sandbox-sso/login` shows the form (name, e-mail), `POST` mails a one-time sign-in link (valid 15
minutes, kept only as a hash bound to the asking browser's session), `GET /sandbox-sso/callback/<token>`
logs that browser session in (and no other: a link opened elsewhere would be login CSRF). The
session then holds the external identity (issuer, subject, names, e-mail: what IAM's
ExternalAuthenticationRegistrationInfo carries) and the certificate the browser presented at this login
(IAM keeps the X.509 credential of the login in the session; account linking uses that one).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from html import escape
from typing import TYPE_CHECKING
from urllib.parse import quote

from onboard.sandbox.web import Response

if TYPE_CHECKING:
    from onboard.sandbox.context import SandboxContext
    from onboard.sandbox.web import Request

NAME = "sandbox SSO — not CERN"
MAIL_NAME = "sandbox SSO - not CERN"  # the mail subject stays 7bit ASCII, as the Java servers send it
TOKEN_LIFETIME = 900
# outstanding sign-in links per address and asker (a stranger who used up his share does not stop the
# address's owner, who asks from her own laptop), and per address in all: nobody floods a trainee's mailbox
MAX_LINKS = 3
MAX_LINKS_PER_ADDRESS = 10
MAX_PENDING = 1000  # outstanding sign-in links in all: addresses are free, the database and disk are not
# one plain address (no list, no display name): the sign-in link goes to that mailbox and no other
_EMAIL = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
NEXT = ("registration", "login")

SCHEMA = """
CREATE TABLE IF NOT EXISTS iam_sso_token (
    token_hash TEXT PRIMARY KEY, vo TEXT NOT NULL, email TEXT NOT NULL, givenname TEXT NOT NULL,
    familyname TEXT NOT NULL, next TEXT NOT NULL, expires REAL NOT NULL, remote TEXT NOT NULL DEFAULT ''
);
"""


def install(ctx: SandboxContext) -> None:
    ctx.create_tables(SCHEMA)
    with ctx.db() as db:  # a sandbox directory from before the asker was kept
        if "remote" not in [c[1] for c in db.execute("PRAGMA table_info(iam_sso_token)")]:
            db.execute("ALTER TABLE iam_sso_token ADD COLUMN remote TEXT NOT NULL DEFAULT ''")


def page(title: str, body: str, status: int = 200) -> Response:
    return Response.html(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title></head><body>"
        f"<h1>{escape(title)}</h1>{body}</body></html>",
        status,
    )


def csrf(req: Request, vo: str) -> str:
    """The session's form token (forms post it back; a cross-site form cannot know it)."""
    sess = req.session(f"/iam/{vo}")
    if "csrf" not in sess:
        sess["csrf"] = secrets.token_urlsafe(18)
    return sess["csrf"]


def csrf_ok(req: Request, vo: str) -> bool:
    want = req.session(f"/iam/{vo}").get("csrf")
    return bool(want) and secrets.compare_digest(want, req.param("_csrf") or "")


def identity(req: Request, vo: str) -> dict | None:
    """The external login of this browser session, or None."""
    return req.session(f"/iam/{vo}").get("ext")


def _name_ok(name: str) -> bool:
    """One line of printable text: a name goes into mails to any address and the instructor's, whose
    lines (a forged link) and terminal escapes it must not write."""
    return 2 <= len(name) <= 128 and name.isprintable()


def _hash(token: str, browser: str) -> str:
    """What the database keeps of a sign-in link: bound to the browser session that asked for it, so that
    the link logs in that browser only (login CSRF: another's link opened in a victim's browser)."""
    return hashlib.sha256(f"{browser}:{token}".encode()).hexdigest()


def _browser(req: Request, vo: str) -> str:
    return req.session(f"/iam/{vo}").setdefault("sso_browser", secrets.token_urlsafe(18))


def handle(req: Request, vo: str, rest: str, base: str) -> Response | None:
    if rest == "/sandbox-sso/login":
        return login_form(req, vo, base) if req.method == "GET" else send_link(req, vo, base)
    if req.method == "GET" and rest.startswith("/sandbox-sso/callback/"):
        return callback(req, vo, base, rest.rsplit("/", 1)[1])
    return None


def login_form(req: Request, vo: str, base: str, error: str = "", status: int = 200) -> Response:
    nxt = req.param("next") or "registration"
    nxt = nxt if nxt in NEXT else "registration"
    return page(
        NAME,
        f"<p>This is the onboard sandbox's stand-in for CERN single sign-on, <b>not CERN</b>. It signs you "
        f"in to the {escape(vo)} IAM of this sandbox by a link mailed to your address.</p>"
        + (f"<p class='error'>{escape(error)}</p>" if error else "")
        + f'<form method="post" action="{escape(base)}/sandbox-sso/login">'
        f'<input type="hidden" name="_csrf" value="{escape(csrf(req, vo))}"/>'
        f'<input type="hidden" name="next" value="{escape(nxt)}"/>'
        '<label>Given name <input name="givenname" id="givenname"/></label>'
        '<label>Family name <input name="familyname" id="familyname"/></label>'
        '<label>E-mail <input name="email" id="email"/></label>'
        '<input type="submit" id="send-link" value="Mail me a sign-in link"/></form>',
        status,
    )


def send_link(req: Request, vo: str, base: str) -> Response:
    ctx = req.app.ctx
    if not csrf_ok(req, vo):
        return login_form(req, vo, base, "The form expired; send it again.", 403)
    given, family = (req.param("givenname") or "").strip(), (req.param("familyname") or "").strip()
    email = (req.param("email") or "").strip()
    nxt = req.param("next") or "registration"
    if not (_EMAIL.match(email) and _name_ok(given) and _name_ok(family) and nxt in NEXT):
        return login_form(req, vo, base, "Give your names (2 to 128 characters) and a valid e-mail.", 400)
    token = secrets.token_urlsafe(24)
    now = ctx.now()
    with ctx.db() as db:
        db.execute("DELETE FROM iam_sso_token WHERE expires < ?", (now,))
        mine, count = db.execute(
            "SELECT COUNT(CASE WHEN remote=? THEN 1 END), COUNT(*) FROM iam_sso_token WHERE lower(email)=?",
            (req.remote, email.lower()),
        ).fetchone()
        if mine >= MAX_LINKS or count >= MAX_LINKS_PER_ADDRESS:
            return page(NAME, "<p class='error'>Sign-in links for this address were sent already; use "
                              "one of them, or wait a quarter of an hour.</p>", 429)
        if db.execute("SELECT COUNT(*) FROM iam_sso_token").fetchone()[0] >= MAX_PENDING:
            ctx.log(f"iam {vo}: sandbox SSO refused a sign-in link from {req.remote}: {MAX_PENDING} pending")
            return page(NAME, "<p class='error'>Too many sign-in links are waiting to be used; try again "
                              "in a quarter of an hour.</p>", 429)
        db.execute(
            "INSERT INTO iam_sso_token (token_hash, vo, email, givenname, familyname, next, expires, remote) "
            "VALUES (?,?,?,?,?,?,?,?)",
            (_hash(token, _browser(req, vo)), vo, email, given, family, nxt, now + TOKEN_LIFETIME,
             req.remote),
        )
    ctx.mail.send(
        email,
        f"[{MAIL_NAME}] Sign in to the {vo} IAM of the sandbox",
        f"Dear {given} {family},\n\nsomeone (you, we hope) asked to sign in to the {vo} IAM of the onboard "
        f"sandbox.\nThis is the sandbox's stand-in for CERN single sign-on, not CERN.\n\nSign in by "
        f"following this link within 15 minutes:\n\n{base}/sandbox-sso/callback/{token}\n\n"
        "If it was not you, ignore this mail.\n",
    )
    ctx.log(f"iam {vo}: sandbox SSO sign-in link sent to <{email}>")
    return page(NAME, f"<p id='link-sent'>A sign-in link was sent to {escape(email)}. Open it in this "
                      "browser.</p>")


def callback(req: Request, vo: str, base: str, token: str) -> Response:
    ctx = req.app.ctx
    key = _hash(token, req.session(f"/iam/{vo}").get("sso_browser", ""))
    with ctx.db() as db:
        row = db.execute(
            "SELECT * FROM iam_sso_token WHERE token_hash=? AND vo=? AND expires >= ?", (key, vo, ctx.now()),
        ).fetchone()
        # one use: of two requests racing with the link, only the one whose DELETE removed it logs in
        used = db.execute("DELETE FROM iam_sso_token WHERE token_hash=?", (key,)).rowcount
    if row is None or not used:
        return page(NAME, "<p class='error'>This sign-in link is not valid (used, expired, never sent, or "
                          "opened in another browser than the one that asked for it)."
                          f" <a href='{escape(base)}/sandbox-sso/login'>Ask for another one</a>.</p>", 404)
    sess = req.renew_session(f"/iam/{vo}")  # a new login, a new id: nothing of an earlier session stays
    sess["ext"] = {
        "type": "oidc",
        "iss": f"{base}/sandbox-sso",
        "sub": row["email"].lower(),
        "given": row["givenname"],
        "family": row["familyname"],
        "email": row["email"],
    }
    if req.client is not None:  # the certificate this browser presented at the login
        sess["x509"] = {"subject": req.client.dn, "issuer": req.client.issuer}
    ctx.log(f"iam {vo}: sandbox SSO login of <{row['email']}>"
            + (f" presenting {req.client.dn}" if req.client else " without a certificate"))
    target = "/start-registration" if row["next"] == "registration" else "/login"
    return Response.redirect(f"{base}{target}")


def login_link(base: str, nxt: str) -> str:
    return f"{base}/sandbox-sso/login?next={quote(nxt)}"
