"""IAM as CERN runs it (iam-login-service with the `cern` profile), for the VOs named by
`onboard sandbox up --cern-profile VO` (settings.cern_profile_vos).

What upstream does, and the sandbox with it:

* `POST /registration/create` without an external login is refused by CernHrDbRequestValidatorService:
  `RegistrationApiController` answers HTTP 400 with the ErrorDTO `{"error": "User is not authenticated"}`.
* The registration page follows an external login (CERN SSO; here the "sandbox SSO — not CERN" of
  sso.py): the form shows name and e-mail from the login (upstream copies them from CERN's HR record)
  and asks for the username; the request is made from that session.
* `/registration/email-available` and `/registration/username-available` stay anonymous (routes.py).
* After approval the person logs in again (SSO) and links the certificate from the dashboard:
  `POST /iam/account-linking/X509` links the X.509 credential saved in the session at login (the
  certificate the browser presented), and always redirects to /dashboard, with the outcome shown there
  (upstream: "No X.509 credential found in session for user '...'" when there is none).
* The link makes the VOMS attribute authority answer for the certificate: the sandbox's on-approval
  command (a real voms-server's membership) runs for the linked certificate.
"""

from __future__ import annotations

import json
from html import escape
from typing import TYPE_CHECKING

from onboard.sandbox.iam import sso
from onboard.sandbox.iam.model import link_certificate
from onboard.sandbox.web import Response

if TYPE_CHECKING:
    from collections.abc import Callable

    from onboard.sandbox.context import SandboxContext
    from onboard.sandbox.web import App, Request

    Creator = Callable[[Request, str, dict], Response]

NOT_AUTHENTICATED = "User is not authenticated"  # CernHrDbRequestValidatorService's invalid(...) message

SCHEMA = """
CREATE TABLE IF NOT EXISTS iam_external (
    vo TEXT NOT NULL, username TEXT NOT NULL, issuer TEXT NOT NULL, subject TEXT NOT NULL,
    PRIMARY KEY (vo, issuer, subject)
);
"""


def install(app: App) -> None:
    sso.install(app.ctx)
    app.ctx.create_tables(SCHEMA)


def handle(req: Request, vo: str, rest: str, base: str, create_request: Creator) -> Response | None:
    """The answer of a `cern`-profile IAM where it differs from the plain one; None: routes.py answers.
    `create_request(req, vo, data)`: the plain IAM's registration (routes.create), after the login."""
    answer = sso.handle(req, vo, rest, base)
    if answer is not None:
        return answer
    m = req.method
    if m == "GET" and rest in ("/", "/start-registration"):
        return registration_page(req, vo, base)
    if m == "POST" and rest == "/registration/create":
        return create(req, vo, base, create_request)
    if m == "GET" and rest == "/registration/submitted":
        return sso.page("Registration request submitted",
                        "<p id='submitted'>Your registration request has been submitted. Check your mail: "
                        "confirm the request with the link IAM sent you.</p>")
    if m == "GET" and rest == "/login":
        return login(req, vo, base)
    if m == "GET" and rest == "/dashboard":
        return dashboard(req, vo, base)
    if m == "POST" and rest == "/iam/account-linking/X509":
        return link_x509(req, vo, base)
    return None


def registration_page(req: Request, vo: str, base: str, error: str = "", status: int = 200) -> Response:
    ext = sso.identity(req, vo)
    if ext is None:
        return sso.page(
            f"Register at {vo} IAM",
            f"<p>Registration requires an authenticated login with the {escape(vo)} single sign-on.</p>"
            f'<p><a id="sso-login" href="{escape(sso.login_link(base, "registration"))}">Sign in with '
            f"{escape(sso.NAME)}</a></p>",
            status if error else 200,
        )
    return sso.page(
        f"Register at {vo} IAM",
        (f"<p class='error' id='error'>{escape(error)}</p>" if error else "")
        + f"<p>Name: {escape(ext['given'])} {escape(ext['family'])}<br/>E-mail: {escape(ext['email'])}"
        f"<br/>(from your login with {escape(sso.NAME)})</p>"
        f'<form method="post" action="{escape(base)}/registration/create">'
        f'<input type="hidden" name="_csrf" value="{escape(sso.csrf(req, vo))}"/>'
        '<label>Username <input name="username" id="username"/></label>'
        '<label>Notes <textarea name="notes" id="notes"></textarea></label>'
        '<input type="submit" id="register" value="Register"/></form>',
        status,
    )


def create(req: Request, vo: str, base: str, create_request: Creator) -> Response:
    ext = sso.identity(req, vo)
    is_json = (req.headers.get("Content-Type") or "").split(";")[0].strip().lower() == "application/json"
    if ext is None:
        return Response.json({"error": NOT_AUTHENTICATED}, 400)
    if is_json:
        try:
            sent = req.json() or {}
        except ValueError:
            return Response.json({"error": "Invalid registration request: malformed JSON"}, 400)
        if not isinstance(sent, dict):
            sent = {}
    else:
        if not sso.csrf_ok(req, vo):
            return registration_page(req, vo, base, "The form expired; send it again.", 403)
        sent = {"username": req.param("username") or "", "notes": req.param("notes") or ""}
    # upstream overwrites name and e-mail with CERN's HR record; here the login's are the record
    data = {"username": str(sent.get("username", "")), "notes": str(sent.get("notes", "")),
            "givenname": ext["given"], "familyname": ext["family"], "email": ext["email"]}
    answer = create_request(req, vo, data)
    if answer.status != 200:
        if is_json:
            return answer
        try:
            why = str(json.loads(answer.body).get("error", ""))
        except (ValueError, AttributeError):
            why = answer.body.decode("utf-8", "replace")
        return registration_page(req, vo, base, why, answer.status)
    with req.app.ctx.db() as db:
        db.execute("INSERT OR REPLACE INTO iam_external (vo, username, issuer, subject) VALUES (?,?,?,?)",
                   (vo, data["username"], ext["iss"], ext["sub"]))
    return answer if is_json else Response.redirect(f"{base}/registration/submitted")


def _account(ctx: SandboxContext, vo: str, ext: dict) -> dict | None:
    """The active account this external login belongs to, or None. The account's address must be the
    login's: a username is free again after a rejection, and the next account with it is someone else's."""
    with ctx.db() as db:
        row = db.execute(
            "SELECT r.* FROM iam_external e JOIN iam_request r ON r.vo=e.vo AND r.username=e.username "
            "WHERE e.vo=? AND e.issuer=? AND e.subject=? AND r.active=1 AND lower(r.email)=?",
            (vo, ext["iss"], ext["sub"], ext["email"].lower()),
        ).fetchone()
    return dict(row) if row is not None else None


def login(req: Request, vo: str, base: str) -> Response:
    ext = sso.identity(req, vo)
    account = _account(req.app.ctx, vo, ext) if ext else None
    if account is None:
        why = (f"<p class='error'>No active {escape(vo)} account for this login (yet).</p>" if ext else "")
        return sso.page(f"{vo} IAM login", why
                        + f'<p><a id="sso-login" href="{escape(sso.login_link(base, "login"))}">Sign in with '
                        f"{escape(sso.NAME)}</a></p>")
    req.session(f"/iam/{vo}")["iam_user"] = account["username"]
    return Response.redirect(f"{base}/dashboard")


def dashboard(req: Request, vo: str, base: str) -> Response:
    sess = req.session(f"/iam/{vo}")
    user = sess.get("iam_user")
    if not user:
        return Response.redirect(f"{base}/login")
    with req.app.ctx.db() as db:
        linked = db.execute("SELECT subject, issuer FROM iam_x509 WHERE vo=? AND username=?",
                            (vo, user)).fetchall()
    flash = sess.pop("flash", "")
    x509 = sess.get("x509")
    certs = "".join(f"<li class='linked'>{escape(r['subject'])} (issued by {escape(r['issuer'])})</li>"
                    for r in linked) or "<li>none</li>"
    presented = (f"This session presented {escape(x509['subject'])}." if x509
                 else "This session presented no certificate (import it, restart the browser, log in again).")
    return sso.page(
        f"{vo} IAM dashboard",
        f"<p>Logged in as <b id='username'>{escape(user)}</b>.</p>"
        + (f"<p id='flash'>{escape(flash)}</p>" if flash else "")
        + f"<h2>X.509 certificates</h2><ul>{certs}</ul><p>{presented}</p>"
        f'<form method="post" action="{escape(base)}/iam/account-linking/X509">'
        f'<input type="hidden" name="_csrf" value="{escape(sso.csrf(req, vo))}"/>'
        '<input type="submit" id="link-certificate" value="Link certificate"/></form>',
    )


def link_x509(req: Request, vo: str, base: str) -> Response:
    from onboard.sandbox.voms_admin.hook import HookFailed, run_hook

    sess = req.session(f"/iam/{vo}")
    user = sess.get("iam_user")
    if not user:
        return Response.redirect(f"{base}/login")
    if not sso.csrf_ok(req, vo):
        sess["flash"] = "The form expired; press 'Link certificate' again."
        return Response.redirect(f"{base}/dashboard")
    cred = sess.get("x509")
    if cred is None:
        sess["flash"] = f"No X.509 credential found in session for user '{user}'"
        return Response.redirect(f"{base}/dashboard")
    ctx = req.app.ctx
    with ctx.db() as db:
        row = db.execute("SELECT * FROM iam_request WHERE vo=? AND username=? AND active=1",
                         (vo, user)).fetchone()
    if row is None:
        sess["flash"] = "Your account is not active."
        return Response.redirect(f"{base}/dashboard")
    try:
        # first the attribute authority (nothing half-done when it fails), then the link
        run_hook(ctx, {"subject": cred["subject"], "issuer": cred["issuer"], "email": row["email"], "vo": vo,
                       "request_id": row["uuid"], "name": row["givenname"], "surname": row["familyname"]})
        link_certificate(ctx, vo, user, cred["subject"], cred["issuer"])
    except (ValueError, HookFailed) as e:
        sess["flash"] = str(e.message if isinstance(e, HookFailed) else e)
        return Response.redirect(f"{base}/dashboard")
    ctx.log(f"iam {vo}: {user} linked {cred['subject']}")
    sess["flash"] = f"X.509 certificate {cred['subject']} linked to your account."
    return Response.redirect(f"{base}/dashboard")
