"""VOMRS's two registration phases as the sandbox serves them (see the package's docstring)."""

from __future__ import annotations

import uuid as uuidlib
from html import escape
from typing import TYPE_CHECKING, Any

from onboard.sandbox.web import Request, Response

if TYPE_CHECKING:
    from onboard.sandbox.context import SandboxContext
    from onboard.sandbox.web import App

SCHEMA = """
CREATE TABLE IF NOT EXISTS vomrs_member (
    id INTEGER PRIMARY KEY AUTOINCREMENT, vo TEXT NOT NULL, subject TEXT NOT NULL, issuer TEXT NOT NULL,
    first_name TEXT, last_name TEXT, institution TEXT, phone TEXT, email TEXT NOT NULL,
    phase TEXT NOT NULL,              -- visitor (Phase I sent), candidate, applicant, member
    status TEXT NOT NULL,             -- New, Approved, Denied, Expired
    code TEXT, representative TEXT, groups TEXT, reason TEXT,
    creation_time REAL NOT NULL, expiration_time REAL NOT NULL
);
"""
REPRESENTATIVES = (
    "Regional Grid Representative <rep@{host}>",
    "Institutional Representative <inst-rep@{host}>",
)
FIELDS = (
    ("firstName", "First name"),
    ("lastName", "Last name"),
    ("institution", "Institution"),
    ("phone", "Phone"),
    ("email", "E-mail address"),
)


def install(app: App) -> None:
    app.ctx.create_tables(SCHEMA)
    for method in ("GET", "POST"):
        app.route(method, "/vo/", handle, listener="voms", prefix=True)


def base(req: Request, vo: str) -> str:
    port = (
        req.app.ctx.settings.link_port or req.app.ports.get("voms") or req.app.ctx.settings.port_for("voms")
    )
    return f"https://{req.app.ctx.settings.hostname}:{port}/vo/{vo}/vomrs"


def _page(req: Request, vo: str, title: str, body: str, status: int = 200) -> Response:
    who = (
        f"<hr/><p class='dn'>Your DN: {escape(req.client.dn)} &nbsp; CA: {escape(req.client.issuer)}</p>"
        if req.client
        else ""
    )
    return Response.html(
        f"<!doctype html><html><head><title>VOMRS {escape(vo)}: {escape(title)}</title></head>"
        f"<body><h1>{escape(title)}</h1>{body}{who}</body></html>",
        status,
    )


def _current(ctx: SandboxContext, vo: str, subject: str, issuer: str) -> Any:
    now = ctx.now()
    with ctx.db() as db:
        # unconfirmed Phase I registrations expire (and are forgotten), like VOMS-Admin's SUBMITTED requests
        db.execute(
            "UPDATE vomrs_member SET status='Expired' WHERE phase='visitor' AND status='New' "
            "AND expiration_time < ?",
            (now,),
        )
        return db.execute(
            "SELECT * FROM vomrs_member WHERE vo=? AND subject=? AND issuer=? AND status!='Expired' "
            "ORDER BY id DESC LIMIT 1",
            (vo, subject, issuer),
        ).fetchone()


def handle(req: Request) -> Response:
    vo, _, rest = req.rest.partition("/")
    if vo not in req.app.ctx.settings.vos or not (rest == "vomrs" or rest.startswith("vomrs/")):
        return Response.html("<html><body><h1>HTTP Status 404</h1></body></html>", 404)
    if req.client is None:
        return _page(req, vo, "Certificate required", "<p>Present your certificate to use VOMRS.</p>", 403)
    action = rest[len("vomrs") :].strip("/")
    if action == "" and req.method == "GET":
        return home(req, vo)
    if action == "register" and req.method == "POST":
        return register(req, vo)
    if action == "confirm" and req.method == "GET":
        return confirm(req, vo)
    if action == "phase2" and req.method == "POST":
        return phase2(req, vo)
    return _page(req, vo, "Not found", "<p>No such page.</p>", 404)


def _phase1_form(
    vo: str, note: str = "", errors: dict[str, str] | None = None, values: dict[str, str] | None = None
) -> str:
    errors, values = errors or {}, values or {}
    rows = []
    for name, label in FIELDS:
        err = (
            f'<span class="errorMessage" errorFor="{name}">{escape(errors[name])}</span>'
            if name in errors
            else ""
        )
        rows.append(
            f'<p><label for="{name}">{label}</label> <input id="{name}" name="{name}" '
            f'value="{escape(values.get(name, ""))}"/>{err}</p>'
        )
    return (
        f"{note}<p>You are a visitor. Phase I: tell VO {escape(vo)} who you are; "
        "a link will be mailed to you.</p>"
        f'<form name="register" action="register" method="post">{"".join(rows)}'
        '<input type="submit" value="Submit Phase I"/></form>'
    )


def home(req: Request, vo: str) -> Response:
    ctx = req.app.ctx
    row = _current(ctx, vo, req.client.dn, req.client.issuer)
    if row is None:
        return _page(req, vo, "Phase I registration", _phase1_form(vo))
    if row["phase"] == "visitor":
        return _page(
            req,
            vo,
            "Registration status",
            "<p>Registration status: waiting for e-mail confirmation. "
            f"Registration number: {row['id']}. Check your inbox.</p>",
        )
    if row["phase"] == "candidate":
        host = ctx.settings.hostname
        reps = "".join(
            f'<option value="{escape(r.format(host=host))}">{escape(r.format(host=host))}</option>'
            for r in REPRESENTATIVES
        )
        groups = "".join(
            f'<p><input type="checkbox" name="groups" id="g{i}" value="/{vo}/{g}"/>'
            f'<label for="g{i}">/{vo}/{g}</label></p>'
            for i, g in enumerate(("analysis", "production"))
        )
        return _page(
            req,
            vo,
            "Phase II registration",
            "<p>Membership status: Candidate.</p><p>VO Acceptable Use Policy: use the resources only for "
            "the VO's work.</p>"
            '<form name="phase2" action="phase2" method="post">'
            '<p><input type="checkbox" name="aup" id="aup" value="accepted"/>'
            '<label for="aup">I accept the VO Acceptable Use Policy</label></p>'
            f'<p><label for="representative">Representative</label> <select id="representative" '
            f'name="representative"><option value="">(choose)</option>{reps}</select></p>'
            f"{groups}<input type='submit' value='Submit Phase II'/></form>",
        )
    status = row["status"]
    body = f"<p>Membership status: {escape(status)}.</p><p>Registration number: {row['id']}.</p>"
    if status == "New":
        body += "<p>Your application is being reviewed by your representative and the VO administrators.</p>"
    elif status == "Denied" and row["reason"]:
        body += f"<p>Reason: {escape(row['reason'])}</p>"
    return _page(req, vo, "Member information", body)


def register(req: Request, vo: str) -> Response:
    ctx = req.app.ctx
    if _current(ctx, vo, req.client.dn, req.client.issuer) is not None:
        return home(req, vo)  # one registration per certificate: show where it stands
    values = {n: (req.param(n) or "").strip() for n, _ in FIELDS}
    errors = {n: f"{label} is required." for n, label in FIELDS if not values[n]}
    if values["email"] and ("@" not in values["email"] or " " in values["email"]):
        errors["email"] = "Not a valid e-mail address."
    if any(c in v for v in values.values() for c in "<>;"):
        errors.setdefault("firstName", "Characters < > ; are not allowed.")
    if errors:
        return _page(req, vo, "Phase I registration", _phase1_form(vo, errors=errors, values=values), 200)
    now, code = ctx.now(), str(uuidlib.uuid4())
    with ctx.db() as db:
        cur = db.execute(
            "INSERT INTO vomrs_member (vo, subject, issuer, first_name, last_name, institution, phone, "
            "email, phase, status, code, creation_time, expiration_time) VALUES "
            "(?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                vo,
                req.client.dn,
                req.client.issuer,
                values["firstName"],
                values["lastName"],
                values["institution"],
                values["phone"],
                values["email"],
                "visitor",
                "New",
                code,
                now,
                now + ctx.settings.request_lifetime,
            ),
        )
        mid = cur.lastrowid
    ctx.mail.send(
        values["email"],
        f"[VOMRS] VO {vo}: confirm your registration",
        f"Dear {values['firstName']} {values['lastName']},\n\nyou have started the registration with "
        f"VO {vo} (Phase I).\nTo confirm your e-mail address, open this URL with your certificate loaded "
        f"in your browser:\n\n{base(req, vo)}/confirm?memberId={mid}&code={code}\n\n"
        f"Then complete Phase II.\n\nVOMRS for VO {vo}\n",
    )
    return _page(
        req,
        vo,
        "Phase I registration submitted",
        f"<p>Phase I registration submitted. Registration number: {mid}.</p><p>An e-mail has been sent to "
        f"{escape(values['email'])}; follow its link to confirm your address.</p>",
    )


def confirm(req: Request, vo: str) -> Response:
    ctx = req.app.ctx
    mid, code = req.param("memberId") or "", req.param("code") or ""
    row = _current(ctx, vo, req.client.dn, req.client.issuer)
    if row is None or str(row["id"]) != mid or row["code"] != code:
        return _page(
            req,
            vo,
            "Confirmation failed",
            "<p>Unknown or expired registration, or another certificate.</p>",
            404,
        )
    if row["phase"] == "visitor":
        with ctx.db() as db:
            db.execute("UPDATE vomrs_member SET phase='candidate' WHERE id=?", (row["id"],))
    return _page(
        req,
        vo,
        "E-mail confirmed",
        "<p>Your e-mail address is confirmed. You are now a candidate: "
        "complete Phase II on the VOMRS home page.</p>",
    )


def phase2(req: Request, vo: str) -> Response:
    ctx = req.app.ctx
    row = _current(ctx, vo, req.client.dn, req.client.issuer)
    if row is None or row["phase"] != "candidate":
        return home(req, vo)
    errors = []
    if req.param("aup") != "accepted":
        errors.append(("aup", "You must accept the Acceptable Use Policy."))
    host = ctx.settings.hostname
    rep = req.param("representative") or ""
    if rep not in [r.format(host=host) for r in REPRESENTATIVES]:
        errors.append(("representative", "Choose a representative."))
    allowed = {f"/{vo}/analysis", f"/{vo}/production"}
    groups = [g for g in req.form().get("groups", []) if g in allowed]
    if errors:
        body = "".join(f'<p class="errorMessage" errorFor="{n}">{escape(m)}</p>' for n, m in errors)
        return _page(req, vo, "Phase II registration", body, 200)
    with ctx.db() as db:
        db.execute(
            "UPDATE vomrs_member SET phase='applicant', representative=?, groups=? WHERE id=?",
            (rep, ",".join(groups), row["id"]),
        )
    ctx.mail.send(
        ctx.settings.admin,
        f"[VOMRS] VO {vo}: new applicant requires approval",
        f"Applicant: {row['first_name']} {row['last_name']} <{row['email']}>\nDN: {row['subject']}\n"
        f"CA: {row['issuer']}\nRepresentative: {rep}\nGroups: {', '.join(groups) or '-'}\n",
    )
    return _page(
        req,
        vo,
        "Phase II registration submitted",
        f"<p>Phase II registration submitted. Membership status: New. Registration number: {row['id']}.</p>",
    )
