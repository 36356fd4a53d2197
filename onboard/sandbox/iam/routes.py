"""IAM's registration API, dashboard and VOMS-AA as the sandbox serves them (see the package's docstring)."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import uuid as uuidlib
from html import escape
from typing import TYPE_CHECKING
from urllib.parse import unquote

from onboard.sandbox.iam import cern_profile, lapses, oidc_routes
from onboard.sandbox.iam.model import SCHEMA, dto, link_certificate
from onboard.sandbox.iam.oidc_model import SCHEMA as OIDC_SCHEMA
from onboard.sandbox.web import Request, Response

if TYPE_CHECKING:
    from onboard.sandbox.context import SandboxContext
    from onboard.sandbox.web import App

# UsernameValidator.java: lower case only, '_' or a letter first, at most 32 (a trailing '$' allowed)
_USERNAME = re.compile(r"[a-z_](?:[a-z0-9_@.-]{0,31}|[a-z0-9_@.-]{0,30}\$)")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def install(app: App) -> None:
    app.ctx.create_tables(SCHEMA)
    app.ctx.create_tables(OIDC_SCHEMA)
    cern_profile.install(app)
    for method in ("GET", "POST"):
        app.route(method, "/iam/", handle, listener="open", prefix=True)


def base(req: Request, vo: str) -> str:
    return f"{req.app.base_url('open')}/iam/{vo}"


def _page(title: str, body: str, status: int = 200) -> Response:
    return Response.html(
        f"<!doctype html><html><head><title>{escape(title)}</title></head><body>"
        f"<h1>{escape(title)}</h1>{body}</body></html>",
        status,
    )


def handle(req: Request) -> Response:
    vo, _, rest = req.rest.partition("/")
    if vo not in req.app.ctx.settings.vos:
        return _page("Not found", "<p>No such organisation.</p>", 404)
    rest = "/" + rest
    answer = oidc_routes.handle(req, vo, rest, base(req, vo))  # the OIDC issuer (oidc_routes.py)
    if answer is not None:
        return answer
    if vo in req.app.ctx.settings.cern_profile_vos:  # CERN's IAM: a login first (cern_profile.py)
        answer = cern_profile.handle(req, vo, rest, base(req, vo), create)
        if answer is not None:
            return answer
    m = req.method
    if m == "GET" and rest in ("/", "/start-registration"):
        return _page(
            f"Register at {vo} IAM",
            "<p>Registration is done with the form of the IAM application "
            "(this sandbox: POST /registration/create).</p>",
        )
    if m == "GET" and rest.startswith("/registration/email-available/"):
        email = unquote(rest.rsplit("/", 1)[1]).lower()
        return Response.json(not _exists(req.app.ctx, vo, "lower(email)", email))
    if m == "GET" and rest.startswith("/registration/username-available/"):
        return Response.json(not _exists(req.app.ctx, vo, "username", unquote(rest.rsplit("/", 1)[1])))
    if m == "POST" and rest == "/registration/create":
        return create(req, vo)
    if m == "GET" and rest.startswith("/registration/verify/"):
        key = rest.rsplit("/", 1)[1]
        return _page(
            "Confirm your registration request",
            f'<form method="post" action="{escape(base(req, vo))}/registration/verify">'
            f'<input type="hidden" name="token" value="{escape(key)}"/>'
            '<input type="submit" value="Confirm registration request"/></form>',
        )
    if m == "POST" and rest == "/registration/verify":
        return verify(req, vo, req.param("token") or "")
    if rest.startswith("/iam/password-reset/token/"):
        return password_reset(req, vo, rest.rsplit("/", 1)[1])
    if m == "POST" and rest == "/login":
        return login(req, vo)
    if m == "POST" and rest == "/iam/account-linking/X509":
        return link_x509(req, vo)
    if m == "GET" and rest == "/generate-ac":
        return generate_ac(req, vo)
    return _page("Not found", "<p>The requested resource is not available.</p>", 404)


def _exists(ctx: SandboxContext, vo: str, column: str, value: str) -> bool:
    with ctx.db() as db:
        row = db.execute(f"SELECT 1 FROM iam_request WHERE vo=? AND {column}=?", (vo, value)).fetchone()
    return row is not None


def create(req: Request, vo: str, data: dict | None = None) -> Response:
    """A registration request from the JSON body (or from `data`, what the cern profile's form gave)."""
    ctx = req.app.ctx
    if data is None:
        try:
            data = req.json() or {}
        except ValueError:
            return Response.json({"error": "Invalid registration request: malformed JSON"}, 400)
    username = str(data.get("username", ""))
    given, family = str(data.get("givenname", "")).strip(), str(data.get("familyname", "")).strip()
    email = str(data.get("email", "")).strip()
    problems = []
    if not _USERNAME.fullmatch(username):
        problems.append("username: invalid username")
    if not 2 <= len(given) <= 128:
        problems.append("givenname: must be between 2 and 128 characters")
    if not 2 <= len(family) <= 128:
        problems.append("familyname: must be between 2 and 128 characters")
    if not _EMAIL.match(email):
        problems.append("email: not a valid email address")
    if not problems and _exists(ctx, vo, "lower(email)", email.lower()):
        problems.append("email: email already taken by another user")
    if not problems and _exists(ctx, vo, "username", username):
        problems.append("username: username already taken")
    if problems:
        return Response.json({"error": "Invalid registration request: " + ", ".join(problems)}, 400)
    now = ctx.now()
    rid, key = str(uuidlib.uuid4()), str(uuidlib.uuid4())
    with ctx.db() as db:
        db.execute(
            "INSERT INTO iam_request (uuid, vo, username, givenname, familyname, email, notes, status, "
            "confirmation_key, creation_time, last_update) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (rid, vo, username, given, family, email, str(data.get("notes", "")), "NEW", key, now, now),
        )
        row = db.execute("SELECT * FROM iam_request WHERE uuid=?", (rid,)).fetchone()
    ctx.mail.send(
        email,
        f"[{vo} IAM] Confirm your {vo} registration request",
        f"Dear {given} {family},\n\nyou have requested to be a member of {vo}.\n\n"
        "In order for the registration to proceed, please confirm this\nrequest by going to the "
        f"following URL:\n\n{base(req, vo)}/registration/verify/{key}\n\n\nThe {vo} registration service\n",
    )
    ctx.log(f"iam {vo}: registration request {rid} for {username} <{email}>")
    return Response.json(dto(row))


def verify(req: Request, vo: str, token: str) -> Response:
    ctx = req.app.ctx
    with ctx.db() as db:
        row = (
            db.execute(
                "SELECT * FROM iam_request WHERE vo=? AND confirmation_key=? AND status='NEW'", (vo, token)
            ).fetchone()
            if token
            else None
        )
        if row is not None:
            db.execute(
                "UPDATE iam_request SET status='CONFIRMED', confirmation_key=NULL, last_update=? "
                "WHERE uuid=?",
                (ctx.now(), row["uuid"]),
            )
    if row is None:
        return _page(
            "Request verification",
            f"<p>Activation failed: No registration request found for registration_key [{escape(token)}]</p>",
        )
    ctx.mail.send(
        ctx.settings.admin,
        f"[{vo} IAM] New {vo} account request",
        f"The following user has submitted a membership request:\n\nName: {row['givenname']} "
        f"{row['familyname']}\nUsername: {row['username']}\nEmail: {row['email']}\n"
        f"Notes: {row['notes']}\n\nYou can approve or reject this request by following the link below:"
        f"\n\n{base(req, vo)}/dashboard#!/requests\n",
    )
    return _page(
        "Request verification",
        "<p>Your registration request has been confirmed. An administrator will now review it.</p>",
    )


def _hash(password: str, salt: str) -> str:
    return salt + "$" + hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), 100_000).hex()


def password_reset(req: Request, vo: str, key: str) -> Response:
    ctx = req.app.ctx
    with ctx.db() as db:
        row = db.execute(
            "SELECT * FROM iam_request WHERE vo=? AND reset_key=? AND active=1", (vo, key)
        ).fetchone()
        if row is None:
            return _page("Password reset", "<p>Invalid reset token.</p>", 404)
        if req.method == "POST":
            pw = req.param("password") or ""
            if len(pw) < 8:
                return _page(
                    "Password reset", "<p class='error'>The password needs 8 characters or more.</p>", 400
                )
            db.execute(
                "UPDATE iam_request SET password_hash=?, reset_key=NULL WHERE uuid=?",
                (_hash(pw, secrets.token_hex(8)), row["uuid"]),
            )
            return _page(
                "Password reset",
                f"<p>Your password has been set. <a href='{base(req, vo)}/login'>Log in</a>.</p>",
            )
    return _page(
        "Password reset",
        f'<form method="post"><input type="password" name="password"/>'
        f'<input type="submit" value="Set password"/></form><p>Username: {escape(row["username"])}</p>',
    )


def login(req: Request, vo: str) -> Response:
    ctx = req.app.ctx
    user, pw = req.param("username") or "", req.param("password") or ""
    with ctx.db() as db:
        row = db.execute(
            "SELECT * FROM iam_request WHERE vo=? AND username=? AND active=1", (vo, user)
        ).fetchone()
    if row is None or not row["password_hash"]:
        return _page("Login", "<p class='error'>Bad credentials.</p>", 401)
    salt = row["password_hash"].split("$", 1)[0]
    if not secrets.compare_digest(_hash(pw, salt), row["password_hash"]):
        return _page("Login", "<p class='error'>Bad credentials.</p>", 401)
    req.renew_session(f"/iam/{vo}")["iam_user"] = user  # a new id at the login (session fixation)
    return Response.redirect(f"{base(req, vo)}/dashboard")


def link_x509(req: Request, vo: str) -> Response:
    user = req.session(f"/iam/{vo}").get("iam_user")
    if not user:
        return _page("Login required", "<p>Log in first.</p>", 401)
    if req.client is None:
        return _page("Account linking", "<p class='error'>No X.509 certificate in this TLS session.</p>", 400)
    try:
        link_certificate(req.app.ctx, vo, user, req.client.dn, req.client.issuer)
    except ValueError as e:
        return _page("Account linking", f"<p class='error'>{escape(str(e))}</p>", 409)
    return Response.redirect(f"{base(req, vo)}/dashboard")


# the VOMS error number for "not a member" (ERR_NOT_MEMBER), which iam-voms-aa writes as the <code>
NO_SUCH_USER = "1001"


def generate_ac(req: Request, vo: str) -> Response:
    """A stand-in for the IAM VOMS-AA: it answers only for a linked certificate of an active account."""

    def error(code: str, message: str, status: int = 403) -> Response:
        return Response(
            f"<?xml version='1.0' encoding='UTF-8'?><voms><error><code>{code}</code>"
            f"<message>{escape(message)}</message></error></voms>",
            status,
            content_type="text/xml",
        )

    if req.client is None:
        return error(NO_SUCH_USER, "No X.509 credential in the request", 403)
    with req.app.ctx.db() as db:
        row = db.execute(
            "SELECT r.username FROM iam_x509 x JOIN iam_request r ON r.vo=x.vo AND r.username=x.username "
            "WHERE x.vo=? AND x.subject=? AND x.issuer=? AND r.active=1",
            (vo, req.client.dn, req.client.issuer),
        ).fetchone()
    if row is None:
        return error(NO_SUCH_USER, f"User unknown to this VO: {req.client.dn}")
    refused = lapses.refusal(req.app.ctx, vo, row["username"], req.client.dn, req.client.issuer)
    if refused is not None:  # the second year: upstream's controller leaves these at HTTP 200
        return error(*refused, status=200)
    ac = base64.b64encode(f"sandbox-ac vo={vo} holder={req.client.dn} fqan=/{vo}".encode()).decode()
    return Response(
        f"<?xml version='1.0' encoding='UTF-8'?><voms><ac>{ac}</ac></voms>", 200, content_type="text/xml"
    )
