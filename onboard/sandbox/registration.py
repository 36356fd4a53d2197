# ruff: noqa: E501 - page and mail templates keep the line structure of the real ones
"""VOMS-Admin emulation: the registration web application of each sandbox VO, as VOMS-Admin 3.x serves it.

Routes (listener "voms": client certificate required in the TLS handshake), relative to /voms/<vo>:

    register/index.action           -> redirect to register/start.action
    register/start.action           the form, or the page of the requester's state (waits-confirmation,
                                    limbo, disabled), or a redirect to /user/home.action for a member
    register/submit-request.action  Struts token + JSESSIONID, the same fields, rules and messages
    register/confirm-request.action?requestId=&confirmationId=      (chains to set-request-confirmed)
    register/cancel-request.action?requestId=&confirmationId=
    user/home.action, home/login.action
    apiv2/user-info.action?dn=&ca= | userId=  (header X-VOMS-CSRF-GUARD; 404 "User not found")
    apiv2/users.action, apiv2/user-stats.action
    configuration/configuration.action      the VO's vomses line and LSC

Requests: SUBMITTED -> CONFIRMED -> APPROVED, or REJECTED (the row is then deleted); SUBMITTED requests
past their expiration date are deleted (with the "expired" e-mail). The instructor's side is the
functions `requests()`, `approve()`, `reject()`, `purge_expired()`, `auto_approve()` (also used by
`onboard sandbox approve|reject|requests`, which work on the database whether or not the server runs).

E-mail links: VOMS-Admin builds them as https://<voms.hostname>:8443/voms/<vo>/... whatever port the
container listens on. The sandbox names `settings.link_port` if set, else the port it really listens on,
so with the default port base (8443) the links are exactly the real ones and they work; with
`link_port=8443` and another port they reproduce the real server's mismatch.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import subprocess
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from html import escape
from typing import TYPE_CHECKING, Any

from onboard.errors import SandboxError
from onboard.sandbox.web import Request, Response, error_page

if TYPE_CHECKING:
    import sqlite3

    from onboard.sandbox.context import SandboxContext
    from onboard.sandbox.web import App

AUP_VERSION = "1.0"
INVALID_TOKEN = "The form has already been processed or no token was supplied, please try again."
_BAD_CHARS = re.compile(r"^[^<>&=;]*$")
_BAD_CHARS_INSTITUTION = re.compile(r"^[^<>=;]*$")
# Struts' EmailValidator pattern, in substance
_EMAIL = re.compile(r"^[_A-Za-z0-9+'-]+(\.[_A-Za-z0-9+'-]+)*@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")
DEFAULT_AUP = """{vo} VO Acceptable Use Policy (onboard sandbox)

By registering with the {vo} VO you agree to use its resources only for the work of the VO, to keep
your credentials secret, to report any suspected compromise at once, and to accept that your
personal data is processed to manage your membership. This is a sandbox for practice: no real
resources are granted.
"""


# -- pages ----------------------------------------------------------------------------------------------


def _page(vo: str, title: str, body: str, status: int = 200) -> Response:
    return Response.html(
        '<!DOCTYPE html>\n<html><head><meta charset="UTF-8"/>'
        f"<title>VOMS Admin - {escape(vo)}</title></head>\n<body>\n"
        f'<div id="header"><span class="voName">{escape(vo)}</span> VOMS Admin</div>\n'
        f'<div id="content">\n{body}\n</div>\n</body></html>\n',
        status,
    )


def _action_errors(errors: list[str]) -> str:
    if not errors:
        return ""
    return (
        '<ul class="errorMessage">' + "".join(f"<li><span>{escape(e)}</span></li>" for e in errors) + "</ul>"
    )


def _field_error(errors: dict[str, list[str]], name: str) -> str:
    return "".join(
        f'<span class="errorMessage" errorFor="{name}">{escape(m)}</span>' for m in errors.get(name, [])
    )


def _java_date(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%a %b %d %H:%M:%S UTC %Y")


def _iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") if ts else None


def form_page(
    req: Request,
    vo: str,
    values: dict[str, str] | None = None,
    field_errors: dict[str, list[str]] | None = None,
    action_errors: list[str] | None = None,
) -> Response:
    ctx = req.app.ctx
    client = req.client
    assert client is not None
    values = values or {}
    field_errors = field_errors or {}
    token = secrets.token_hex(16).upper()
    req.session(f"/voms/{vo}")["struts.token"] = token
    email = values.get("emailAddress", client.email or "")
    aup = (ctx.settings.aup_text or DEFAULT_AUP).format(vo=vo)

    def text(name: str, label: str, size: int = 40) -> str:
        return (
            f'<li><label for="submit-request_{name}">{label}:</label>{_field_error(field_errors, name)}'
            f'<input type="text" name="{name}" size="{size}" value="{escape(values.get(name, ""))}" '
            f'id="submit-request_{name}" class="registrationField"/></li>\n'
        )

    required = ctx.settings.required_fields
    fields = text("name", "Given name") + text("surname", "Family name")
    if "institution" in required:
        fields += text("institution", "Institution")
    if "phoneNumber" in required:
        fields += text("phoneNumber", "Phone number")
    if "address" in required:
        fields += (
            f'<li><label for="submit-request_address">Address:</label>{_field_error(field_errors, "address")}'
            f'<textarea name="address" rows="5" cols="40" id="submit-request_address" '
            f'class="registrationField">{escape(values.get("address", ""))}</textarea></li>\n'
        )
    fields += (
        f'<li><label for="submit-request_emailAddress">Email address:</label>'
        f'{_field_error(field_errors, "emailAddress")}<input type="text" name="emailAddress" size="60" '
        f'value="{escape(email)}" id="submit-request_emailAddress" class="registrationField"/></li>\n'
    )
    checked = ' checked="checked"' if values.get("aupAccepted") == "true" else ""
    body = f"""<h1>
Welcome to the registration page for the <span class="voName">{escape(vo)}</span> VO.
</h1>
<p>To access the VO resources, you must agree to the VO's Acceptable Usage Policy (AUP) rules.<br/>
Please fill out all fields in the form below and click on the submit button at the bottom of the page.</p>
<div class="alert alert-error">After you submit this request, you will receive an email with instructions on how to
proceed.<br/>Your request will not be forwarded to the VO managers until you confirm that you have a valid email
address by following those instructions.</div>
{_action_errors(action_errors or [])}
<form id="submit-request" name="submit-request" action="/voms/{escape(vo)}/register/submit-request.action" method="post">
<input type="hidden" name="struts.token.name" value="token"/>
<input type="hidden" name="token" value="{token}"/>
<h2>Your certificate subject (DN):</h2>
<div class="highlight">{escape(client.dn)}</div>
<h2>The CA that issued your certificate:</h2>
<div class="regDN">{escape(client.issuer)}</div>
<ul class="form">
{fields}<li><h2>The VO AUP:</h2><textarea rows="20" cols="80" readonly="readonly">{escape(aup)}</textarea></li>
<li class="aupAcceptance">{_field_error(field_errors, "aupAccepted")}<input type="checkbox" name="aupAccepted" value="true"
 id="submit-request_aupAccepted"{checked}/><input type="hidden" id="__checkbox_submit-request_aupAccepted"
 name="__checkbox_aupAccepted" value="true"/><label for="submit-request_aupAccepted">I confirm I have read and agree
 with the terms expressed in the VO Acceptable Usage Policy document displayed above.</label></li>
<li><label for="submit-request_userMessage">Message for VO administrator:</label>{_field_error(field_errors, "userMessage")}
<textarea name="userMessage" rows="3" cols="80" id="submit-request_userMessage"
 class="registrationField">{escape(values.get("userMessage", ""))}</textarea></li>
<li><input type="submit" id="submit-request_0" value="Submit"/></li>
</ul>
</form>"""
    return _page(vo, "register", body)


def waits_confirmation_page(vo: str) -> Response:
    return _page(
        vo,
        "waits",
        "<h1>Pending membership request</h1>\n<p>We have already received your membership "
        "request but are still waiting for you to confirm it. Check your inbox!</p>",
    )


def limbo_page(vo: str) -> Response:
    return _page(
        vo,
        "limbo",
        "<h1>Pending membership request</h1>\n<p>Your membership request is being handled "
        "by the VO administrators. You will receive a notification of their decision regarding your "
        "request shortly.</p>",
    )


def disabled_page(vo: str) -> Response:
    return _page(
        vo,
        "disabled",
        "<h1>Registration disabled</h1>\n<p>The registration service for this VO is currently disabled.</p>",
    )


def confirmation_required_page(vo: str, expiration: float) -> Response:
    return _page(
        vo,
        "confirmation",
        f"<h1>Confirmation required.</h1>\n<p>An email has been sent to you with "
        f"instructions on how to proceed with the registration for the {escape(vo)} VO.</p>\n<p>Please "
        f'follow the instructions before the following date: <span class="expirationDate">'
        f"{_java_date(expiration)}</span> or your request will be discarded by voms-admin.</p>",
    )


def confirmation_error_page(vo: str, message: str) -> Response:
    return _page(
        vo,
        "error",
        "<h1>Request Confirmation/Cancellation error.</h1>\n<p>" + _action_errors([message]) + "</p>",
    )


# -- the model ------------------------------------------------------------------------------------------


@dataclass
class Requester:
    subject: str
    issuer: str


def member(db: sqlite3.Connection, vo: str, dn: str, ca: str) -> sqlite3.Row | None:
    return db.execute(
        "SELECT u.* FROM usr u JOIN certificate c ON c.usr_id = u.id WHERE u.vo=? AND c.subject=? "
        "AND c.issuer=?",
        (vo, dn, ca),
    ).fetchone()


def active_request(db: sqlite3.Connection, vo: str, dn: str, ca: str) -> sqlite3.Row | None:
    return db.execute(
        "SELECT * FROM req WHERE vo=? AND subject=? AND issuer=? AND status IN "
        "('SUBMITTED','CONFIRMED','PENDING') ORDER BY request_id DESC LIMIT 1",
        (vo, dn, ca),
    ).fetchone()


def _base(ctx: SandboxContext, vo: str, app: App | None = None) -> str:
    port = ctx.settings.link_port or (app.ports.get("voms") if app else None) or ctx.settings.port_for("voms")
    return f"https://{ctx.settings.hostname}:{port}/voms/{vo}"


def request_url(ctx: SandboxContext, op: str, row: Any, app: App | None = None) -> str:
    return (
        f"{_base(ctx, row['vo'], app)}/register/{op}-request.action?requestId={row['request_id']}"
        f"&confirmationId={row['confirm_id']}"
    )


def validate(req: Request, required: list[str]) -> tuple[dict[str, str], dict[str, list[str]]]:
    names = ["name", "surname", "institution", "phoneNumber", "address", "emailAddress", "userMessage"]
    values = {n: (req.param(n) or "") for n in names}
    aup = req.param("aupAccepted")
    if aup is None and req.param("__checkbox_aupAccepted") is not None:
        aup = "false"  # Struts' checkbox interceptor: an unchecked box arrives as "false"
    values["aupAccepted"] = aup or ""
    errors: dict[str, list[str]] = {}

    def add(field: str, msg: str) -> None:
        errors.setdefault(field, []).append(msg)

    for field, word in (("name", "name"), ("surname", "surname")):
        if not values[field].strip():
            add(field, f"Please enter your {word}.")
        elif not _BAD_CHARS.match(values[field]):
            add(field, "You entered invalid characters.")
    for field, word, rx in (
        ("institution", "institution", _BAD_CHARS_INSTITUTION),
        ("address", "address", _BAD_CHARS),
        ("phoneNumber", "phone number", _BAD_CHARS),
    ):
        if field in required and not values[field].strip():
            add(field, f"Please enter your {word}.")
        elif values[field] and not rx.match(values[field]):
            add(field, "You entered invalid characters.")
    if not values["emailAddress"].strip():
        add("emailAddress", "Please enter your email address.")
    elif not _EMAIL.match(values["emailAddress"].strip()):
        add("emailAddress", "Please enter a valid email address.")
    if aup is None:
        add("aupAccepted", "You must sign the AUP.")
    elif aup != "true":
        add("aupAccepted", "You must accept the terms of the AUP to proceed")
    if values["userMessage"] and not _BAD_CHARS.match(values["userMessage"]):
        add("userMessage", "You entered invalid characters.")
    return values, errors


# -- mail -------------------------------------------------------------------------------------------------


def _send(ctx: SandboxContext, to: str, subject: str, body: str) -> None:
    """Mail as VOMS-Admin's notification service does: a failure is logged, the request goes on."""
    try:
        ctx.mail.send(to, subject, body)
    except Exception as e:  # SMTP down, an address no Maildir can be named after, a full disk
        ctx.log(f"mail to {to} ({subject}) failed: {type(e).__name__}: {e}")


def _mail_confirm(ctx: SandboxContext, row: Any, app: App | None) -> None:
    vo = row["vo"]
    body = (
        f"Dear {row['email']}, \n\nyou have requested to be a member of VO {vo}.\n\n"
        "In order for the registration to proceed, you should confirm this\nrequest by going to the following "
        f"url:\n\n{request_url(ctx, 'confirm', row, app)}\n\nIn case you never requested to be a member of VO "
        f"{vo}, please\nlet us know by going to the following url:\n\n{request_url(ctx, 'cancel', row, app)}\n\n"
        f"Your sincerely,\nVoms-Admin registration service for VO {vo}\n"
    )
    _send(ctx, row["email"], f"[VOMS Admin] Your membership request for VO {vo}", body)


def _mail_handle(ctx: SandboxContext, row: Any, app: App | None) -> None:
    vo = row["vo"]
    recipient = row["manager_email"] or ctx.settings.admin  # the group manager chosen, else the VO admins
    personal = "".join(
        f"\t{label}: {row[key]}\n"
        for key, label in (
            ("name", "Name"),
            ("surname", "Family name"),
            ("institution", "Institution"),
            ("address", "Address"),
            ("phone", "Phone number"),
        )
        if row[key]
    )
    body = (
        f"Dear {recipient},\n\nas VO administrator of VO {vo}, your authorization is requested for the\n"
        "following vo membership request issued by the following user:\n\nUser Certificate information:\n\n"
        f"\tSubject: {row['subject']}\n\tIssuer:  {row['issuer']}\n\t\nPersonal information:\n\n{personal}\n"
        f"\tEmail: {row['email']}\n\n\n\nIn order to handle this request, point your browser\nto the following "
        f"URL:\n\n{_base(ctx, vo, app)}/home/login.action\n\nYour sincerely,\n"
        f"The Voms-Admin registration service for VO {vo}"
    )
    _send(ctx, recipient, f"[VOMS Admin] A vo membership request for VO {vo} requires your approval.", body)


def _mail_approved(ctx: SandboxContext, row: Any) -> None:
    vo = row["vo"]
    body = (
        f"Dear {row['email']}, \n\nyour vo membership request for VO {vo}\nhas been approved.\n\n\n"
        f"Your sincerely,\nThe Voms-Admin registration service for VO {vo}"
    )
    _send(ctx, row["email"], f"[VOMS Admin] Your vo membership request for VO {vo} has been approved.", body)


def _mail_rejected(ctx: SandboxContext, row: Any, explanation: str | None) -> None:
    vo = row["vo"]
    reason = (
        f"\nThe reason behind the rejection is the following:\n\t\n\t{explanation}\n\t\n"
        if explanation
        else ""
    )
    body = (
        f"Dear {row['email']}, \n\n\nyour vo membership request for VO {vo} has been REJECTED.\n\n"
        f"{reason}\nYour sincerely,\nVoms-Admin registration service for VO {vo}"
    )
    _send(ctx, row["email"], f"[VOMS Admin] Your vo membership request for VO {vo} has been rejected.", body)


def _mail_expired(ctx: SandboxContext, row: Any) -> None:
    vo = row["vo"]
    body = (
        f"Dear {row['email']}, \n\nyour membership request for VO {vo} has expired since you didn't confirm "
        "it in time\nAs such, will not be considered by VO administrators, so if you want be member of the\n"
        f"VO, please consider resubmitting a request. \n\nYour sincerely,\n"
        f"Voms-Admin registration service for VO {vo}"
    )
    _send(ctx, row["email"], "[VOMS Admin] You vo membership request has expired!", body)


# -- handlers ---------------------------------------------------------------------------------------------


def _vo_of(req: Request) -> str:
    return req.path.split("/")[2]


def _enabled(req: Request, vo: str) -> bool:
    return vo not in req.app.ctx.settings.disabled_vos


def _no_client(vo: str) -> Response:
    # the container already refused the handshake; reachable only if a listener is configured leniently
    return _page(
        vo,
        "authn",
        "<h1>Certificate information</h1><p>You did not provide a certificate: "
        "VOMS Admin needs one to identify you.</p>",
        401,
    )


def start(req: Request) -> Response:
    vo = _vo_of(req)
    c = req.client
    if c is None:
        return _no_client(vo)
    ctx = req.app.ctx
    purge_expired(ctx, app=req.app)
    with ctx.db() as db:
        if member(db, vo, c.dn, c.issuer) is not None:
            return Response.redirect(f"/voms/{vo}/user/home.action")
        if not _enabled(req, vo):
            return disabled_page(vo)
        pending = active_request(db, vo, c.dn, c.issuer)
    if pending is not None:
        return waits_confirmation_page(vo) if pending["status"] == "SUBMITTED" else limbo_page(vo)
    return form_page(req, vo)


def submit(req: Request) -> Response:
    vo = _vo_of(req)
    c = req.client
    if c is None:
        return _no_client(vo)
    ctx = req.app.ctx
    purge_expired(ctx, app=req.app)
    # tokenSession: the token must be the one this session was given, and it is good once
    session = req.session(f"/voms/{vo}")
    expected = session.pop("struts.token", None)
    token = req.param("token")
    values, errors = validate(req, ctx.settings.required_fields)
    if not token or token != expected:
        return form_page(req, vo, values, action_errors=[INVALID_TOKEN])
    if errors:
        return form_page(req, vo, values, errors)
    if not _enabled(req, vo):
        return disabled_page(vo)
    now = ctx.now()
    with ctx.db() as db:
        if member(db, vo, c.dn, c.issuer) is not None:
            return Response.redirect(f"/voms/{vo}/user/home.action")
        pending = active_request(db, vo, c.dn, c.issuer)
        if pending is not None:
            return waits_confirmation_page(vo) if pending["status"] == "SUBMITTED" else limbo_page(vo)
        cur = db.execute(
            "INSERT INTO req (vo, status, confirm_id, creation_date, expiration_date, subject, issuer, email, name, "
            "surname, institution, address, phone, user_message, signed_aup_version) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                vo,
                "SUBMITTED",
                str(uuid.uuid4()),
                now,
                now + ctx.settings.request_lifetime,
                c.dn,
                c.issuer,
                values["emailAddress"].strip(),
                values["name"].strip(),
                values["surname"].strip(),
                values["institution"].strip() or None,
                values["address"].strip() or None,
                values["phoneNumber"].strip() or None,
                values["userMessage"] or None,
                AUP_VERSION,
            ),
        )
        row = db.execute("SELECT * FROM req WHERE request_id=?", (cur.lastrowid,)).fetchone()
        ctx.event(db, "submitted", vo, row["request_id"], c.dn)
    _mail_confirm(ctx, row, req.app)
    return confirmation_required_page(vo, row["expiration_date"])


def _load_request(req: Request, vo: str) -> tuple[Any, str | None]:
    rid = req.param("requestId")
    if not rid or not rid.lstrip("-").isdigit():
        return None, "A request id is required!"
    with req.app.ctx.db() as db:
        row = db.execute("SELECT * FROM req WHERE request_id=? AND vo=?", (int(rid), vo)).fetchone()
    if row is None:
        return None, f"Request {int(rid)} not found!"
    return row, None


def _confirm_checks(req: Request, vo: str) -> tuple[Any, str, Response | None]:
    """What every step of the confirmation checks first: (row, confirmationId, error page)."""
    if req.client is None:
        return None, "", _no_client(vo)
    ctx = req.app.ctx
    purge_expired(ctx, app=req.app)
    if not _enabled(req, vo):
        return None, "", disabled_page(vo)
    row, problem = _load_request(req, vo)
    if row is None:
        return None, "", confirmation_error_page(vo, problem or "")
    if row["status"] != "SUBMITTED":
        return None, "", confirmation_error_page(vo, "Your request has already been confirmed!")
    cid = req.param("confirmationId")
    if not cid:
        return None, "", confirmation_error_page(vo, "A confirmation id is required!")
    return row, cid, None


def _groups(ctx: SandboxContext, vo: str) -> list[str]:
    return [g if g.startswith("/") else f"/{vo}/{g}" for g in ctx.settings.groups]


def confirm(req: Request) -> Response:
    """confirm-request: the manager selection or group selection form if the VO has them, else confirmed."""
    vo = _vo_of(req)
    row, cid, error = _confirm_checks(req, vo)
    if error is not None:
        return error
    ctx = req.app.ctx
    if ctx.settings.group_managers:
        return select_manager_page(req, vo, row, cid)
    return _groups_or_confirmed(req, vo, row, cid)


def _groups_or_confirmed(req: Request, vo: str, row: Any, cid: str) -> Response:
    """After the manager choice (or none): the group-request form if the VO offers groups, else confirmed."""
    ctx = req.app.ctx
    if ctx.settings.enable_attribute_requests and _groups(ctx, vo):
        return request_attributes_page(req, vo, row, cid)
    return set_confirmed(req, vo, row, cid)


def set_request_confirmed(req: Request) -> Response:
    """set-request-confirmed.action called directly (VOMS-Admin chains to it; it needs no prior form)."""
    vo = _vo_of(req)
    row, cid, error = _confirm_checks(req, vo)
    return error if error is not None else set_confirmed(req, vo, row, cid)


def select_manager_page(
    req: Request, vo: str, row: Any, cid: str, errors: list[str] | None = None
) -> Response:
    rows = "".join(
        f'<tr><td width="5%"><input type="radio" name="managerId" value="{i}" id="manager{i}"/></td>'
        f'<td><label for="manager{i}">{escape(m.get("name", ""))}</label></td>'
        f"<td>{escape(m.get('description', ''))}</td></tr>\n"
        for i, m in enumerate(req.app.ctx.settings.group_managers, start=1)
    )
    return _page(
        vo,
        "selectManager",
        "<h1>Manager selection</h1>\n<p>Please select the VO manager that will handle your VO membership "
        f"request from\nthe following list.</p>\n{_action_errors(errors or [])}\n"
        f'<form id="select-manager" name="select-manager" action="/voms/{escape(vo)}/register/select-manager.action" '
        'method="post">\n'
        f'<input type="hidden" name="requestId" value="{row["request_id"]}"/>\n'
        f'<input type="hidden" name="confirmationId" value="{escape(cid)}"/>\n'
        '<table class="table"><tr><th/><th>Manager name (or alias)</th><th>Description</th></tr>\n'
        f'{rows}</table>\n<input type="submit" value="Continue"/>\n</form>',
    )


def request_attributes_page(
    req: Request, vo: str, row: Any, cid: str, errors: list[str] | None = None
) -> Response:
    token = secrets.token_hex(16).upper()
    req.session(f"/voms/{vo}")["struts.token"] = token
    rows = "".join(
        f'<tr class="tableRow"><td width="1%"><input type="checkbox" name="requestedGroups" value="{escape(g)}" '
        f'id="group{i}" class="groupCheckbox"/></td><td><label for="group{i}"><span class="group"></span>'
        f"{escape(g)}</label></td></tr>\n"
        for i, g in enumerate(_groups(req.app.ctx, vo))
    )
    return _page(
        vo,
        "requestAttributes",
        "<h1>Group selection</h1>\n<p>Please select the VO groups you would like to be member of.<br/>\n"
        '<span class="strong">Note that your selection will be assessed by the VO or group\nmanager (where '
        f"applicable) which could reject some of your choices.</span></p>\n{_action_errors(errors or [])}\n"
        f'<form id="request-attributes" name="request-attributes" '
        f'action="/voms/{escape(vo)}/register/request-attributes.action" method="post">\n'
        '<input type="hidden" name="struts.token.name" value="token"/>\n'
        f'<input type="hidden" name="token" value="{token}"/>\n'
        f'<input type="hidden" name="requestId" value="{row["request_id"]}"/>\n'
        f'<input type="hidden" name="confirmationId" value="{escape(cid)}"/>\n'
        '<table class="table"><thead><tr><th></th><th>VO group</th></tr></thead><tbody>\n'
        f'{rows}</tbody></table>\n<input type="submit" value="Continue"/>\n</form>',
    )


def select_manager(req: Request) -> Response:
    vo = _vo_of(req)
    row, cid, error = _confirm_checks(req, vo)
    if error is not None:
        return error
    ctx = req.app.ctx
    managers = ctx.settings.group_managers
    raw = req.param("managerId")
    manager = None
    if raw not in (None, "", "-1"):
        if raw.isdigit() and 1 <= int(raw) <= len(managers):
            manager = managers[int(raw) - 1]
        else:
            return select_manager_page(req, vo, row, cid, [f"No manager found for id '{raw}'."])
    elif ctx.settings.require_group_manager_selection:
        return select_manager_page(req, vo, row, cid, ["Please select a group manager."])
    if manager is not None:
        with ctx.db() as db:
            db.execute(
                "UPDATE req SET manager_email=? WHERE request_id=?", (manager.get("email"), row["request_id"])
            )
    return _groups_or_confirmed(req, vo, row, cid)


def request_attributes(req: Request) -> Response:
    vo = _vo_of(req)
    row, cid, error = _confirm_checks(req, vo)
    if error is not None:
        return error
    expected = req.session(f"/voms/{vo}").pop("struts.token", None)
    if not req.param("token") or req.param("token") != expected:
        return request_attributes_page(req, vo, row, cid, [INVALID_TOKEN])
    if cid != row["confirm_id"]:
        return confirmation_error_page(vo, "Wrong confirmation id!")
    known = set(_groups(req.app.ctx, vo))
    wanted = [g for g in req.form().get("requestedGroups", []) if g in known]
    with req.app.ctx.db() as db:
        db.execute(
            "UPDATE req SET requested_groups=? WHERE request_id=?", (json.dumps(wanted), row["request_id"])
        )
    return set_confirmed(req, vo, row, cid)


def set_confirmed(req: Request, vo: str, row: Any, cid: str) -> Response:
    """SetRequestConfirmedAction: the confirmation id must match; CONFIRMED; the managers are told."""
    ctx = req.app.ctx
    if cid != row["confirm_id"]:
        return confirmation_error_page(vo, "Wrong confirmation id!")
    with ctx.db() as db:
        n = db.execute(
            "UPDATE req SET status='CONFIRMED', confirmation_date=? WHERE request_id=? AND "
            "status='SUBMITTED'",
            (ctx.now(), row["request_id"]),
        ).rowcount
        if n == 0:
            return confirmation_error_page(vo, "Your request has already been confirmed!")
        ctx.event(db, "confirmed", vo, row["request_id"], row["subject"])
        row = db.execute("SELECT * FROM req WHERE request_id=?", (row["request_id"],)).fetchone()
    _mail_handle(ctx, row, req.app)
    after = ctx.settings.auto_approve_after
    if after is not None and after <= 0:  # demos: the VO administrator answers at once
        if ctx.wake is not None:
            # ... in the sandbox's ticker, not in this request: the on-approval command may take seconds (a
            # real VOMS server's database), and the requester's confirmation must not wait for it
            ctx.wake.set()
        else:
            try:
                approve(ctx, row["request_id"], approver="auto-approve")
            except SandboxError as e:
                ctx.log(f"auto-approve of request {row['request_id']} failed: {e.message}")
    return _page(
        vo,
        "confirmed",
        "<h1>VO membership request confirmed.</h1>\n<p>You have succesfully confirmed "
        "your VO membership request. The VO administrator has been informed of your request and will "
        "handle it as soon as possible.</p>",
    )


def cancel(req: Request) -> Response:
    vo = _vo_of(req)
    if req.client is None:
        return _no_client(vo)
    ctx = req.app.ctx
    if not _enabled(req, vo):
        return disabled_page(vo)
    row, problem = _load_request(req, vo)
    if row is None:
        return confirmation_error_page(vo, problem or "")
    if row["status"] != "SUBMITTED":
        return confirmation_error_page(vo, "Your request cannot be canceled at this stage!")
    if req.param("confirmationId") != row["confirm_id"]:
        return confirmation_error_page(vo, "Wrong confirmation id!")
    with ctx.db() as db:
        db.execute("DELETE FROM req WHERE request_id=?", (row["request_id"],))
        ctx.event(db, "cancelled", vo, row["request_id"], row["subject"])
    return _page(
        vo,
        "cancelled",
        "<h1>VO membership request cancelled.</h1>\n<p>Your membership request has been cancelled.</p>",
    )


def index(req: Request) -> Response:
    return Response.redirect(f"/voms/{_vo_of(req)}/register/start.action")


def root(req: Request) -> Response:
    return Response.redirect(f"/voms/{_vo_of(req)}/home/login.action")


def user_home(req: Request) -> Response:
    vo = _vo_of(req)
    c = req.client
    if c is None:
        return _no_client(vo)
    with req.app.ctx.db() as db:
        u = member(db, vo, c.dn, c.issuer)
        fqans = (
            [r["fqan"] for r in db.execute("SELECT fqan FROM fqan WHERE usr_id=?", (u["id"],))] if u else []
        )
    if u is None:
        return Response.redirect(f"/voms/{vo}/register/start.action")
    groups = "".join(f'<li class="fqan">{escape(f)}</li>' for f in fqans)
    return _page(
        vo,
        "home",
        f'<h1>Welcome to the <span class="voName">{escape(vo)}</span> VO,</h1>\n'
        f'<div id="welcomeUserName">{escape((u["name"] or "") + " " + (u["surname"] or ""))}</div>\n'
        f"<h2>Your membership</h2><p>Member since {_java_date(u['creation_time'])}.</p>"
        f"<h2>Groups and roles</h2><ul>{groups}</ul>",
    )


def login(req: Request) -> Response:
    vo = _vo_of(req)
    c = req.client
    who = escape(c.dn) if c else "an unauthenticated client"
    return _page(
        vo,
        "login",
        f'<h1>VOMS Admin for VO <span class="voName">{escape(vo)}</span></h1>\n'
        f"<p>You are connected as {who}.</p><p>Requests are handled by the instructor with "
        f"<code>onboard sandbox requests</code> and <code>onboard sandbox approve</code>.</p>",
    )


def _csrf_ok(req: Request) -> bool:
    return req.headers.get("X-VOMS-CSRF-GUARD") is not None


def _csrf_error() -> Response:
    return Response.html(error_page(500, "CSRF header guard missing from request!"), 500)


def user_json(db: sqlite3.Connection, u: Any, full: bool) -> dict[str, Any]:
    certs = []
    for c in db.execute("SELECT * FROM certificate WHERE usr_id=? ORDER BY id", (u["id"],)):
        cert: dict[str, Any] = {"subjectString": c["subject"], "issuerString": c["issuer"]}
        if full:
            cert.update(
                creationTime=_iso(c["creation_time"]),
                suspended=bool(c["suspended"]),
                suspensionReason=c["suspension_reason"],
            )
        certs.append({k: v for k, v in cert.items() if v is not None})
    out: dict[str, Any] = {
        "id": u["id"],
        "name": u["name"],
        "surname": u["surname"],
        "institution": u["institution"],
        "address": u["address"],
        "phoneNumber": u["phone"],
        "emailAddress": u["email"],
        "creationTime": _iso(u["creation_time"]),
        "endTime": _iso(u["end_time"]),
        "suspended": bool(u["suspended"]),
        "suspensionReason": u["suspension_reason"],
        "certificates": certs,
        "fqans": [
            r["fqan"] for r in db.execute("SELECT fqan FROM fqan WHERE usr_id=? ORDER BY rowid", (u["id"],))
        ],
        "aupAcceptanceRecords": [
            {
                "aupVersion": r["aup_version"],
                "lastAcceptanceDate": _iso(r["acceptance_date"]),
                "valid": True,
                "daysBeforeExpiration": 364,
            }
            for r in db.execute("SELECT * FROM aup_acceptance WHERE usr_id=?", (u["id"],))
        ],
    }
    return {k: v for k, v in out.items() if v is not None}  # excludeNullProperties


def api_user_info(req: Request) -> Response:
    if not _csrf_ok(req):
        return _csrf_error()
    vo = _vo_of(req)
    uid, dn, ca = req.param("userId"), req.param("dn"), req.param("ca")
    with req.app.ctx.db() as db:
        if uid and uid.lstrip("-").isdigit() and int(uid) != -1:
            u = db.execute("SELECT * FROM usr WHERE id=? AND vo=?", (int(uid), vo)).fetchone()
        elif dn is not None and ca is not None:
            u = member(db, vo, dn, ca)
        else:
            return Response.json(
                {"errors": ["Please provide arguments: userId or the (dn, ca) couple!"]}, 400
            )
        if u is None:
            return Response.html(error_page(404, "User not found"), 404)
        c = req.client
        is_self = (
            c is not None
            and member(db, vo, c.dn, c.issuer) is not None
            and member(db, vo, c.dn, c.issuer)["id"] == u["id"]
        )
        return Response.json(user_json(db, u, full=is_self))


def api_users(req: Request) -> Response:
    if not _csrf_ok(req):
        return _csrf_error()
    vo = _vo_of(req)
    start_i = int(req.param("startIndex", "0") or 0)
    size = int(req.param("pageSize", "100") or 100)
    with req.app.ctx.db() as db:
        count = db.execute("SELECT count(*) FROM usr WHERE vo=?", (vo,)).fetchone()[0]
        rows = db.execute(
            "SELECT * FROM usr WHERE vo=? ORDER BY id LIMIT ? OFFSET ?", (vo, size, start_i)
        ).fetchall()
        result = [user_json(db, u, full=False) for u in rows]
    return Response.json({"count": count, "pageSize": size, "startIndex": start_i, "result": result})


def api_user_stats(req: Request) -> Response:
    if not _csrf_ok(req):
        return _csrf_error()
    vo = _vo_of(req)
    now = req.app.ctx.now()
    with req.app.ctx.db() as db:
        total = db.execute("SELECT count(*) FROM usr WHERE vo=?", (vo,)).fetchone()[0]
        susp = db.execute("SELECT count(*) FROM usr WHERE vo=? AND suspended=1", (vo,)).fetchone()[0]
        expired = db.execute(
            "SELECT count(*) FROM usr WHERE vo=? AND end_time IS NOT NULL AND end_time<?", (vo, now)
        ).fetchone()[0]
    return Response.json({"expiredUsersCount": expired, "suspendedUsersCount": susp, "usersCount": total})


def vomses_line(ctx: SandboxContext, vo: str) -> str:
    host = ctx.settings.hostname
    return f'"{vo}" "{host}" "{ctx.settings.voms_port(vo)}" "{ctx.ca.voms_dn([host])}" "{vo}"'


def lsc(ctx: SandboxContext, vo: str) -> list[str]:
    return [ctx.ca.voms_dn([ctx.settings.hostname]), ctx.ca.root_dn]


def configuration(req: Request) -> Response:
    vo = _vo_of(req)
    ctx = req.app.ctx
    host = ctx.settings.hostname
    body = (
        f'<h1>VOMS configuration info for VO <span class="voName">{escape(vo)}</span></h1>\n'
        "<h2>VOMSES string for this VO</h2>\n<p>To configure a VOMS client to talk to this VO, use the "
        "following vomses line (e.g. in /etc/vomses/" + escape(f"{vo}-{host}") + "):</p>\n"
        f'<pre id="vomsesConf">{escape(vomses_line(ctx, vo))}</pre>\n'
        "<h2>LSC configuration</h2>\n<p>Put the following in /etc/grid-security/vomsdir/"
        f'{escape(vo)}/{escape(host)}.lsc:</p>\n<pre id="lsc">{escape(chr(10).join(lsc(ctx, vo)))}\n</pre>\n'
        f"<h2>Registration</h2>\n<p>{_base(ctx, vo, req.app)}/register/start.action</p>"
    )
    return _page(vo, "configuration", body)


def install(app: App) -> None:
    for vo in app.ctx.settings.vos:
        b = f"/voms/{vo}"
        app.route("GET", b, root)
        app.route("GET", b + "/", root)
        app.route("GET", b + "/register/index.action", index)
        app.route("GET", b + "/register/start.action", start)
        app.route("GET", b + "/register/submit-request.action", submit)  # Struts runs execute() for GET too
        app.route("POST", b + "/register/submit-request.action", submit)
        for method in ("GET", "POST"):
            app.route(method, f"{b}/register/confirm-request.action", confirm)
            app.route(method, f"{b}/register/set-request-confirmed.action", set_request_confirmed)
            app.route(method, f"{b}/register/select-manager.action", select_manager)
            app.route(method, f"{b}/register/request-attributes.action", request_attributes)
        app.route("GET", b + "/register/cancel-request.action", cancel)
        app.route("POST", b + "/register/cancel-request.action", cancel)
        app.route("GET", b + "/user/home.action", user_home)
        app.route("GET", b + "/home/login.action", login)
        for suffix in ("", ".action"):
            app.route("GET", f"{b}/apiv2/user-info{suffix}", api_user_info)
            app.route("GET", f"{b}/apiv2/users{suffix}", api_users)
            app.route("GET", f"{b}/apiv2/user-stats{suffix}", api_user_stats)
        app.route("GET", b + "/configuration/configuration.action", configuration)


# -- the instructor's side ---------------------------------------------------------------------------------


def requests(ctx: SandboxContext, vo: str | None = None) -> list[dict[str, Any]]:
    with ctx.db() as db:
        q = "SELECT * FROM req" + (" WHERE vo=?" if vo else "") + " ORDER BY request_id"
        return [dict(r) for r in db.execute(q, (vo,) if vo else ())]


def members(ctx: SandboxContext, vo: str | None = None) -> list[dict[str, Any]]:
    with ctx.db() as db:
        q = (
            "SELECT u.*, c.subject, c.issuer FROM usr u JOIN certificate c ON c.usr_id=u.id"
            + (" WHERE u.vo=?" if vo else "")
            + " ORDER BY u.id"
        )
        return [dict(r) for r in db.execute(q, (vo,) if vo else ())]


def run_hook(ctx: SandboxContext, row: Any) -> None:
    """The on-approval command, e.g. `onboard sandbox voms-add-member` feeding a real voms-server's database.

    It receives DN, CA DN, e-mail and VO in its environment (ONBOARD_SANDBOX_DN, _CA, _EMAIL, _VO,
    _REQUEST_ID, _NAME, _DIR; also ONBOARD_DN, ONBOARD_CA_DN, ONBOARD_VO, ONBOARD_EMAIL) and wherever its
    arguments say {dn}, {ca}, {email}, {vo}. Never a secret.
    """
    command = ctx.settings.on_approval.strip()
    if not command:
        return
    values = {"dn": row["subject"], "ca": row["issuer"], "email": row["email"], "vo": row["vo"]}
    argv = []
    for arg in shlex.split(command):
        for k, v in values.items():
            arg = arg.replace("{" + k + "}", v)
        argv.append(arg)
    env = {
        **os.environ,
        "ONBOARD_SANDBOX_DN": row["subject"],
        "ONBOARD_SANDBOX_CA": row["issuer"],
        "ONBOARD_SANDBOX_EMAIL": row["email"],
        "ONBOARD_SANDBOX_VO": row["vo"],
        "ONBOARD_SANDBOX_REQUEST_ID": str(row["request_id"]),
        "ONBOARD_SANDBOX_NAME": f"{row['name'] or ''} {row['surname'] or ''}".strip(),
        "ONBOARD_SANDBOX_DIR": str(ctx.dir),
        # the short names onboard.sandbox.voms add-member reads
        "ONBOARD_DN": row["subject"],
        "ONBOARD_CA_DN": row["issuer"],
        "ONBOARD_VO": row["vo"],
        "ONBOARD_EMAIL": row["email"],
    }
    try:
        proc = subprocess.run(
            argv, env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise HookFailed(
            f"the on-approval command failed to run: {e}",
            "Fix settings on_approval (`onboard sandbox up --on-approval CMD`); the request stays CONFIRMED.",
        ) from None
    ctx.log(f"on-approval hook for request {row['request_id']}: exit {proc.returncode}")
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or proc.stdout.strip().splitlines() or ["no output"])[-1]
        raise HookFailed(
            f"the on-approval command exited {proc.returncode}: {last}",
            "The request stays CONFIRMED; fix the command and approve again.",
        )


def _status(ctx: SandboxContext, request_id: int) -> str | None:
    with ctx.db() as db:
        row = db.execute("SELECT status FROM req WHERE request_id=?", (request_id,)).fetchone()
    return row["status"] if row else None


def _get(ctx: SandboxContext, request_id: int) -> Any:
    with ctx.db() as db:
        row = db.execute("SELECT * FROM req WHERE request_id=?", (request_id,)).fetchone()
    if row is None:
        raise SandboxError(
            f"no request {request_id}.", "See `onboard sandbox requests` for the requests waiting."
        )
    return row


APPROVABLE = ("SUBMITTED", "CONFIRMED", "PENDING")
CLAIM_SECONDS = 300.0  # longer than the hook's timeout (120 s): a claim left by a killed process lapses


class ApprovalBusy(SandboxError):
    """Another thread or process is approving this request right now (its on-approval command runs)."""


class HookFailed(SandboxError):
    """The on-approval command failed: the request stays as it was."""


def _claim(ctx: SandboxContext, request_id: int) -> str:
    """Take the request for this approval, atomically: the auto-approval in the confirmation, the ticker and
    an instructor's `approve` may race for it, and the on-approval command must run once, not once each."""
    token = secrets.token_hex(8)
    real = time.time()  # the hook takes real time, whatever the sandbox's (test) clock says
    with ctx.db() as db:
        n = db.execute(
            "UPDATE req SET approving=?, approving_until=? WHERE request_id=? AND status IN (?,?,?) AND "
            "(approving IS NULL OR approving_until < ?)",
            (token, real + CLAIM_SECONDS, request_id, *APPROVABLE, real),
        ).rowcount
        if n == 0:
            row = db.execute("SELECT status FROM req WHERE request_id=?", (request_id,)).fetchone()
    if n == 0:
        if row is not None and row["status"] in APPROVABLE:
            raise ApprovalBusy(
                f"request {request_id} is being approved right now (its on-approval command runs).",
                "Wait a moment and see `onboard sandbox requests`.",
            )
        raise SandboxError(
            f"request {request_id} is {row['status'] if row else 'gone'}, it cannot be approved.",
            "Only SUBMITTED or CONFIRMED requests can be approved.",
        )
    return token


def _release(ctx: SandboxContext, request_id: int, token: str) -> None:
    with ctx.db() as db:
        db.execute(
            "UPDATE req SET approving=NULL, approving_until=NULL WHERE request_id=? AND approving=?",
            (request_id, token),
        )


def approve(ctx: SandboxContext, request_id: int, approver: str = "instructor") -> dict[str, Any]:
    """HandleVOMembershipRequest.approve: SUBMITTED or CONFIRMED -> a member of the VO root group."""
    row = _get(ctx, request_id)
    if row["status"] not in ("SUBMITTED", "CONFIRMED", "PENDING"):
        raise SandboxError(
            f"request {request_id} is {row['status']}, it cannot be approved.",
            "Only SUBMITTED or CONFIRMED requests can be approved.",
        )
    with ctx.db() as db:
        if member(db, row["vo"], row["subject"], row["issuer"]) is not None:
            raise SandboxError(
                f"{row['subject']} is already a member of {row['vo']}.",
                f"Reject request {request_id} instead.",
            )
    token = _claim(ctx, request_id)
    try:
        run_hook(ctx, row)  # before the change: a failed hook leaves the request waiting, nothing half-done
    except BaseException:
        _release(ctx, request_id, token)
        raise
    now = ctx.now()
    with ctx.db() as db:
        n = db.execute(
            "UPDATE req SET status='APPROVED', completion_date=?, approver=?, hook_error=NULL, "
            "hook_retry_after=NULL, approving=NULL, approving_until=NULL "
            "WHERE request_id=? AND status IN (?,?,?) AND approving=?",
            (now, approver, request_id, *APPROVABLE, token),
        ).rowcount
        if n == 0:  # rejected (deleted) while the hook ran, or our claim lapsed and another approval won
            raise SandboxError(f"request {request_id} changed meanwhile.", "See `onboard sandbox requests`.")
        cur = db.execute(
            "INSERT INTO usr (vo, name, surname, institution, address, phone, email, creation_time, "
            "end_time) VALUES (?,?,?,?,?,?,?,?,?)",
            (
                row["vo"],
                row["name"],
                row["surname"],
                row["institution"],
                row["address"],
                row["phone"],
                row["email"],
                now,
                now + 365 * 86400,
            ),
        )
        uid = cur.lastrowid
        db.execute(
            "INSERT INTO certificate (usr_id, subject, issuer, creation_time) VALUES (?,?,?,?)",
            (uid, row["subject"], row["issuer"], now),
        )
        db.execute("INSERT INTO fqan (usr_id, fqan) VALUES (?,?)", (uid, f"/{row['vo']}"))
        for group in json.loads(row["requested_groups"] or "[]"):  # the instructor approves them all
            db.execute("INSERT INTO fqan (usr_id, fqan) VALUES (?,?)", (uid, group))
        if row["signed_aup_version"] == AUP_VERSION:
            db.execute(
                "INSERT INTO aup_acceptance (usr_id, aup_version, acceptance_date) VALUES (?,?,?)",
                (uid, AUP_VERSION, row["creation_date"]),
            )
        ctx.event(db, "approved", row["vo"], request_id, f"{row['subject']} by {approver}")
    _mail_approved(ctx, row)
    return dict(row) | {"status": "APPROVED", "user_id": uid}


def reject(
    ctx: SandboxContext, request_id: int, reason: str | None = None, approver: str = "instructor"
) -> dict[str, Any]:
    """REJECTED, the rejection e-mail, then the request is deleted (as VOMS-Admin does)."""
    row = _get(ctx, request_id)
    if row["status"] not in ("SUBMITTED", "CONFIRMED", "PENDING"):
        raise SandboxError(
            f"request {request_id} is {row['status']}, it cannot be rejected.",
            "Only SUBMITTED or CONFIRMED requests can be rejected.",
        )
    with ctx.db() as db:
        # not while an approval's on-approval command runs: it may have made the requester a member already
        n = db.execute(
            "DELETE FROM req WHERE request_id=? AND (approving IS NULL OR approving_until < ?)",
            (request_id, time.time()),
        ).rowcount
        if n == 0:
            raise ApprovalBusy(
                f"request {request_id} is being approved right now (its on-approval command runs).",
                "Wait a moment; once approved, the member can be suspended instead.",
            )
        ctx.event(db, "rejected", row["vo"], request_id, f"{row['subject']} by {approver}: {reason or ''}")
    _mail_rejected(ctx, row, reason)
    return dict(row) | {"status": "REJECTED"}


def purge_expired(ctx: SandboxContext, app: App | None = None) -> list[int]:
    """ExpiredRequestsPurgerTask: SUBMITTED requests past their expiration date are deleted."""
    now = ctx.now()
    with ctx.db() as db:
        rows = db.execute(
            "SELECT * FROM req WHERE status='SUBMITTED' AND expiration_date < ?", (now,)
        ).fetchall()
        for r in rows:
            db.execute("DELETE FROM req WHERE request_id=?", (r["request_id"],))
            ctx.event(db, "expired", r["vo"], r["request_id"], r["subject"])
    for r in rows:
        if ctx.settings.warn_when_expired:
            try:
                _mail_expired(ctx, r)
            except Exception as e:  # a mail problem must not stop the purge
                ctx.log(f"expiry mail for request {r['request_id']} failed: {e}")
    return [r["request_id"] for r in rows]


def auto_approve(ctx: SandboxContext) -> list[int]:
    """--auto-approve-after: approve CONFIRMED requests that have waited that long (demos)."""
    after = ctx.settings.auto_approve_after
    if after is None:
        return []
    now = ctx.now()
    with ctx.db() as db:
        due = db.execute(
            "SELECT request_id FROM req WHERE status='CONFIRMED' AND confirmation_date <= ? AND "
            "(hook_retry_after IS NULL OR hook_retry_after <= ?)",
            (now - after, now),
        ).fetchall()
    done = []
    for r in due:
        try:
            approve(ctx, r["request_id"], approver="auto-approve")
            done.append(r["request_id"])
        except ApprovalBusy:
            continue  # another approval has it (the instructor's, or a second sandbox process)
        except SandboxError as e:
            if not isinstance(e, HookFailed) and _status(ctx, r["request_id"]) not in ("CONFIRMED", None):
                continue  # approved or rejected meanwhile: nothing went wrong, nothing to retry
            ctx.log(f"auto-approve of request {r['request_id']} failed: {e.message}")
            with ctx.db() as db:
                db.execute(
                    "UPDATE req SET hook_error=?, hook_retry_after=? WHERE request_id=?",
                    (e.message, now + 60, r["request_id"]),
                )
    return done
