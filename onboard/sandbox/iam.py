"""INDIGO IAM emulation for the sandbox (reference §4): one IAM per VO at https://HOST:OPEN_PORT/iam/<vo>.

Registration API as IAM >= 1.11 (and the older GET confirmation): `GET /start-registration`,
`GET /registration/email-available/{email}`, `GET /registration/username-available/{name}`,
`POST /registration/create` (JSON, no CSRF), `GET /registration/verify/{key}` (a page whose form POSTs the
token), `POST /registration/verify` (token=...), states NEW -> CONFIRMED -> APPROVED | REJECTED (a rejected
account is deleted). Mails with IAM's subjects and links. After approval, the browser part: the
password-reset link sets a password, `POST /login` logs in, `POST /iam/account-linking/X509` links the
TLS client certificate of the session. The VOMS-AA: `GET /generate-ac` answers an AC-like XML for a linked
certificate and `<error><code>NoSuchUser</code>` (403) otherwise.

Instructor side (Python, or `python -m onboard.sandbox.iam DIR list|approve UUID|reject UUID [WHY]|link ...`):
`pending(ctx)`, `approve(ctx, uuid)`, `reject(ctx, uuid, motivation)`, `link_certificate(ctx, vo, username,
subject, issuer)`.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import uuid as uuidlib
from html import escape
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from onboard.sandbox.web import Request, Response

if TYPE_CHECKING:
    from onboard.sandbox.context import SandboxContext
    from onboard.sandbox.web import App

SCHEMA = """
CREATE TABLE IF NOT EXISTS iam_request (
    uuid TEXT PRIMARY KEY, vo TEXT NOT NULL, username TEXT NOT NULL, givenname TEXT NOT NULL,
    familyname TEXT NOT NULL, email TEXT NOT NULL, notes TEXT, status TEXT NOT NULL,
    confirmation_key TEXT, reset_key TEXT, password_hash TEXT, active INTEGER NOT NULL DEFAULT 0,
    creation_time REAL NOT NULL, last_update REAL NOT NULL, motivation TEXT
);
CREATE TABLE IF NOT EXISTS iam_x509 (
    vo TEXT NOT NULL, username TEXT NOT NULL, subject TEXT NOT NULL, issuer TEXT NOT NULL,
    PRIMARY KEY (vo, subject, issuer)
);
"""
_USERNAME = re.compile(r"^[a-zA-Z][a-zA-Z0-9._-]{1,31}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def install(app: App) -> None:
    app.ctx.create_tables(SCHEMA)
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


def _dto(row: Any) -> dict[str, Any]:
    return {
        "uuid": row["uuid"],
        "status": row["status"],
        "username": row["username"],
        "givenname": row["givenname"],
        "familyname": row["familyname"],
        "email": row["email"],
        "notes": row["notes"],
        "creationTime": int(row["creation_time"] * 1000),
        "lastUpdateTime": int(row["last_update"] * 1000),
        "labels": [],
    }


def create(req: Request, vo: str) -> Response:
    ctx = req.app.ctx
    try:
        data = req.json() or {}
    except ValueError:
        return Response.json({"error": "Invalid registration request: malformed JSON"}, 400)
    username = str(data.get("username", ""))
    given, family = str(data.get("givenname", "")).strip(), str(data.get("familyname", "")).strip()
    email = str(data.get("email", "")).strip()
    problems = []
    if not _USERNAME.match(username):
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
    return Response.json(_dto(row))


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
    req.session(f"/iam/{vo}")["iam_user"] = user
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
        return error("NoSuchUser", "No X.509 credential in the request", 403)
    with req.app.ctx.db() as db:
        row = db.execute(
            "SELECT r.username FROM iam_x509 x JOIN iam_request r ON r.vo=x.vo AND r.username=x.username "
            "WHERE x.vo=? AND x.subject=? AND x.issuer=? AND r.active=1",
            (vo, req.client.dn, req.client.issuer),
        ).fetchone()
    if row is None:
        return error("NoSuchUser", f"User unknown to this VO: {req.client.dn}")
    ac = base64.b64encode(f"sandbox-ac vo={vo} holder={req.client.dn} fqan=/{vo}".encode()).decode()
    return Response(
        f"<?xml version='1.0' encoding='UTF-8'?><voms><ac>{ac}</ac></voms>", 200, content_type="text/xml"
    )


# -- instructor side ---------------------------------------------------------------------------------


def pending(ctx: SandboxContext, vo: str | None = None) -> list[dict[str, Any]]:
    with ctx.db() as db:
        rows = db.execute(
            "SELECT * FROM iam_request WHERE status IN ('NEW','CONFIRMED')"
            + (" AND vo=?" if vo else "")
            + " ORDER BY creation_time",
            (vo,) if vo else (),
        ).fetchall()
    return [{**_dto(r), "vo": r["vo"]} for r in rows]


def _base_for(ctx: SandboxContext, vo: str) -> str:
    port = ctx.settings.ports.get("open") or ctx.settings.port_for("open")
    return f"https://{ctx.settings.hostname}:{port}/iam/{vo}"


def approve(ctx: SandboxContext, rid: str) -> dict[str, Any]:
    with ctx.db() as db:
        row = db.execute("SELECT * FROM iam_request WHERE uuid=?", (rid,)).fetchone()
        if row is None or row["status"] not in ("NEW", "CONFIRMED"):
            raise ValueError(f"no pending IAM request {rid}")
        key = secrets.token_urlsafe(24)
        db.execute(
            "UPDATE iam_request SET status='APPROVED', active=1, reset_key=?, last_update=? WHERE uuid=?",
            (key, ctx.now(), rid),
        )
    vo = row["vo"]
    ctx.mail.send(
        row["email"],
        f"[{vo} IAM] Your {vo} account is now active",
        f"Dear {row['givenname']} {row['familyname']},\n\nyour registration request has been approved.\n\n"
        f"The username for your account is:\n\n{row['username']}\n\nYou can set your local {vo} password "
        f"by following this link:\n\n{_base_for(ctx, vo)}/iam/password-reset/token/{key}\n\n"
        "Note that this step is not needed if you are using an external identity provider to "
        f"authenticate.\n\nThe {vo} registration service\n",
    )
    return {**_dto(row), "status": "APPROVED"}


def reject(ctx: SandboxContext, rid: str, motivation: str = "", send_email: bool = True) -> None:
    with ctx.db() as db:
        row = db.execute("SELECT * FROM iam_request WHERE uuid=?", (rid,)).fetchone()
        if row is None or row["status"] not in ("NEW", "CONFIRMED"):
            raise ValueError(f"no pending IAM request {rid}")
        db.execute("DELETE FROM iam_request WHERE uuid=?", (rid,))  # IAM deletes the account
    if send_email:
        vo = row["vo"]
        why = (
            "\n\nThe administrator has provided the following motivation for the rejection:"
            f"\n\n{motivation}\n"
            if motivation
            else "\n"
        )
        ctx.mail.send(
            row["email"],
            f"[{vo} IAM] Your request for a {vo} account has been rejected",
            f"Dear {row['givenname']} {row['familyname']},\n\nyour membership request for {vo} has been "
            f"REJECTED.{why}\nThe {vo} registration service\n",
        )


def link_certificate(ctx: SandboxContext, vo: str, username: str, subject: str, issuer: str) -> None:
    """What the user's dashboard does with `POST /iam/account-linking/X509`."""
    with ctx.db() as db:
        other = db.execute(
            "SELECT username FROM iam_x509 WHERE vo=? AND subject=? AND issuer=?", (vo, subject, issuer)
        ).fetchone()
        if other is not None and other["username"] != username:
            raise ValueError(f"X.509 certificate {subject} is already linked to another user")
        db.execute(
            "INSERT OR REPLACE INTO iam_x509 (vo, username, subject, issuer) VALUES (?,?,?,?)",
            (vo, username, subject, issuer),
        )


def main(argv: list[str] | None = None) -> int:
    import argparse
    import json
    from pathlib import Path

    from onboard.sandbox.context import SandboxContext
    from onboard.sandbox.settings import Settings

    p = argparse.ArgumentParser(
        prog="python -m onboard.sandbox.iam", description="IAM requests of a sandbox."
    )
    p.add_argument("dir")
    p.add_argument("action", choices=["list", "approve", "reject", "link"])
    p.add_argument("args", nargs="*")
    a = p.parse_args(argv)
    d = Path(a.dir)
    ctx = SandboxContext(d, Settings.load(d / "sandbox.json"))
    if a.action == "list":
        print(json.dumps(pending(ctx), indent=2))
    elif a.action == "approve":
        approve(ctx, a.args[0])
    elif a.action == "reject":
        reject(ctx, a.args[0], " ".join(a.args[1:]))
    else:
        link_certificate(ctx, *a.args[:4])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
