"""VOMS-Admin's registration pages: the request handlers and the route table (see the package's docstring)."""

from __future__ import annotations

import json
from html import escape
from typing import TYPE_CHECKING, Any

from onboard.errors import SandboxError
from onboard.sandbox.voms_admin import api, cert_requests, mails, sign_aup
from onboard.sandbox.voms_admin.admin import approve, purge_expired
from onboard.sandbox.voms_admin.form import validate
from onboard.sandbox.voms_admin.links import base_url, lsc, vo_of, vomses_line
from onboard.sandbox.voms_admin.model import active_request, add_request, groups_offered, member
from onboard.sandbox.voms_admin.pages import (
    INVALID_TOKEN,
    confirmation_error_page,
    confirmation_required_page,
    disabled_page,
    form_page,
    java_date,
    limbo_page,
    no_client,
    page,
    request_attributes_page,
    select_manager_page,
    waits_confirmation_page,
)
from onboard.sandbox.web import Request, Response

if TYPE_CHECKING:
    from onboard.sandbox.web import App


def _enabled(req: Request, vo: str) -> bool:
    return vo not in req.app.ctx.settings.disabled_vos


def _refused(req: Request, vo: str) -> Response | None:
    """What every registration page does first: no client certificate, the page that says so; else the
    expired requests go (VOMS-Admin's purger runs on a timer; here, before each page that reads them)."""
    if req.client is None:
        return no_client(vo)
    purge_expired(req.app.ctx, app=req.app)
    return None


def start(req: Request) -> Response:
    vo = vo_of(req)
    if (refused := _refused(req, vo)) is not None:
        return refused
    c, ctx = req.client, req.app.ctx
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
    vo = vo_of(req)
    if (refused := _refused(req, vo)) is not None:
        return refused
    c, ctx = req.client, req.app.ctx
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
        row = add_request(db, vo, c.dn, c.issuer, values, now, now + ctx.settings.request_lifetime)
        ctx.event(db, "submitted", vo, row["request_id"], c.dn)
    mails.confirm(ctx, row, req.app)
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
    if (refused := _refused(req, vo)) is not None:
        return None, "", refused
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


def confirm(req: Request) -> Response:
    """confirm-request: the manager selection or group selection form if the VO has them, else confirmed."""
    vo = vo_of(req)
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
    if ctx.settings.enable_attribute_requests and groups_offered(ctx, vo):
        return request_attributes_page(req, vo, row, cid)
    return set_confirmed(req, vo, row, cid)


def set_request_confirmed(req: Request) -> Response:
    """set-request-confirmed.action called directly (VOMS-Admin chains to it; it needs no prior form)."""
    vo = vo_of(req)
    row, cid, error = _confirm_checks(req, vo)
    return error if error is not None else set_confirmed(req, vo, row, cid)


def select_manager(req: Request) -> Response:
    vo = vo_of(req)
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
    vo = vo_of(req)
    row, cid, error = _confirm_checks(req, vo)
    if error is not None:
        return error
    expected = req.session(f"/voms/{vo}").pop("struts.token", None)
    if not req.param("token") or req.param("token") != expected:
        return request_attributes_page(req, vo, row, cid, [INVALID_TOKEN])
    if cid != row["confirm_id"]:
        return confirmation_error_page(vo, "Wrong confirmation id!")
    known = set(groups_offered(req.app.ctx, vo))
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
    mails.handle(ctx, row, req.app)
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
    return page(
        vo,
        "confirmed",
        "<h1>VO membership request confirmed.</h1>\n<p>You have succesfully confirmed "
        "your VO membership request. The VO administrator has been informed of your request and will "
        "handle it as soon as possible.</p>",
    )


def cancel(req: Request) -> Response:
    vo = vo_of(req)
    if req.client is None:
        return no_client(vo)
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
    return page(
        vo,
        "cancelled",
        "<h1>VO membership request cancelled.</h1>\n<p>Your membership request has been cancelled.</p>",
    )


def index(req: Request) -> Response:
    return Response.redirect(f"/voms/{vo_of(req)}/register/start.action")


def root(req: Request) -> Response:
    return Response.redirect(f"/voms/{vo_of(req)}/home/login.action")


def user_home(req: Request) -> Response:
    vo = vo_of(req)
    c = req.client
    if c is None:
        return no_client(vo)
    with req.app.ctx.db() as db:
        u = member(db, vo, c.dn, c.issuer)
        fqans = (
            [r["fqan"] for r in db.execute("SELECT fqan FROM fqan WHERE usr_id=?", (u["id"],))] if u else []
        )
    if u is None:
        return Response.redirect(f"/voms/{vo}/register/start.action")
    groups = "".join(f'<li class="fqan">{escape(f)}</li>' for f in fqans)

    return page(
        vo,
        "home",
        f'<h1>Welcome to the <span class="voName">{escape(vo)}</span> VO,</h1>\n'
        f'<div id="welcomeUserName">{escape((u["name"] or "") + " " + (u["surname"] or ""))}</div>\n'
        f"<h2>Your membership</h2><p>Member since {java_date(u['creation_time'])}.</p>"
        f"<h2>Groups and roles</h2><ul>{groups}</ul>"
        + cert_requests.certificates_pane(req.app.ctx, vo, u["id"]),
    )


def login(req: Request) -> Response:
    vo = vo_of(req)
    c = req.client
    who = escape(c.dn) if c else "an unauthenticated client"
    return page(
        vo,
        "login",
        f'<h1>VOMS Admin for VO <span class="voName">{escape(vo)}</span></h1>\n'
        f"<p>You are connected as {who}.</p><p>Requests are handled by the instructor with "
        f"<code>onboard sandbox requests</code> and <code>onboard sandbox approve</code>.</p>",
    )


def configuration(req: Request) -> Response:
    vo = vo_of(req)
    ctx = req.app.ctx
    host = ctx.settings.hostname
    body = (
        f'<h1>VOMS configuration info for VO <span class="voName">{escape(vo)}</span></h1>\n'
        "<h2>VOMSES string for this VO</h2>\n<p>To configure a VOMS client to talk to this VO, use the "
        "following vomses line (e.g. in /etc/vomses/" + escape(f"{vo}-{host}") + "):</p>\n"
        f'<pre id="vomsesConf">{escape(vomses_line(ctx, vo))}</pre>\n'
        "<h2>LSC configuration</h2>\n<p>Put the following in /etc/grid-security/vomsdir/"
        f'{escape(vo)}/{escape(host)}.lsc:</p>\n<pre id="lsc">{escape(chr(10).join(lsc(ctx, vo)))}\n</pre>\n'
        f"<h2>Registration</h2>\n<p>{base_url(ctx, vo, req.app)}/register/start.action</p>"
    )
    return page(vo, "configuration", body)


def install(app: App) -> None:
    cert_requests.install(app)  # a member's request to add a certificate (the second year)
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
            app.route("GET", f"{b}/apiv2/user-info{suffix}", api.user_info)
            app.route("GET", f"{b}/apiv2/users{suffix}", api.users)
            app.route("GET", f"{b}/apiv2/user-stats{suffix}", api.user_stats)
        app.route("GET", b + "/configuration/configuration.action", configuration)
        sign_aup.install(app, b)  # the AUP signed again (the second year)
