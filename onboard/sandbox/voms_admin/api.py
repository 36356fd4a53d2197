"""VOMS-Admin's REST API (apiv2): user-info, users, user-stats; the X-VOMS-CSRF-GUARD header required."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from onboard.sandbox.voms_admin import lapses
from onboard.sandbox.voms_admin.links import vo_of
from onboard.sandbox.voms_admin.model import member
from onboard.sandbox.web import Request, Response, error_page

if TYPE_CHECKING:
    import sqlite3


def iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") if ts else None


def _csrf_ok(req: Request) -> bool:
    return req.headers.get("X-VOMS-CSRF-GUARD") is not None


def _csrf_error() -> Response:
    return Response.html(error_page(500, "CSRF header guard missing from request!"), 500)


def user_json(db: sqlite3.Connection, u: Any, now: float | None = None) -> dict[str, Any]:
    now = time.time() if now is None else now
    certs = []
    for c in db.execute("SELECT * FROM certificate WHERE usr_id=? ORDER BY id", (u["id"],)):
        cert: dict[str, Any] = {
            "subjectString": c["subject"],
            "issuerString": c["issuer"],
            "creationTime": iso(c["creation_time"]),
            "suspended": bool(c["suspended"]),
            "suspensionReason": c["suspension_reason"],
        }
        certs.append({k: v for k, v in cert.items() if v is not None})
    out: dict[str, Any] = {
        "id": u["id"],
        "name": u["name"],
        "surname": u["surname"],
        "institution": u["institution"],
        "address": u["address"],
        "phoneNumber": u["phone"],
        "emailAddress": u["email"],
        "creationTime": iso(u["creation_time"]),
        "endTime": iso(u["end_time"]),
        "suspended": bool(u["suspended"]),
        "suspensionReasonCode": lapses.suspension_code(db, u["id"]),
        "suspensionReason": u["suspension_reason"],
        "certificates": certs,
        "fqans": [
            r["fqan"] for r in db.execute("SELECT fqan FROM fqan WHERE usr_id=? ORDER BY rowid", (u["id"],))
        ],
        "aupAcceptanceRecords": lapses.aup_records(db, u["id"], now),
        "pendingSignAUPTask": lapses.pending_task(db, u["id"]),
    }
    return {k: v for k, v in out.items() if v is not None}  # excludeNullProperties


def authorization_report(operation: str) -> Response:
    """What VOMS-Admin's JSONExceptionReportInterceptor writes for a VOMSAuthorizationException: the
    report as the body, the status left at 200 (it sets one only for other exceptions), no charset."""
    report = {
        "exceptionClass": "org.glite.security.voms.admin.error.VOMSAuthorizationException",
        "exceptionMessage": f"Insufficient privileges to execute '{operation}'.",
    }
    return Response(json.dumps(report), 200, content_type="application/json")


def user_info(req: Request) -> Response:
    """The record itself at the top level (the JSON result's root is the action's `userInfo`)."""
    if not _csrf_ok(req):
        return _csrf_error()
    vo = vo_of(req)
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
        c = req.client
        caller = member(db, vo, c.dn, c.issuer) if c is not None else None
        is_self = caller is not None and u is not None and caller["id"] == u["id"]
        # FindUserOperation: a member may always read itself; anyone else needs read permission, which
        # the VO gave authenticated clients unless configured without it. The check comes before the
        # lookup, so without it even an unknown user is a refusal, not a 404.
        if not is_self and vo in req.app.ctx.settings.no_read_access_vos:
            return authorization_report("FindUserOperation")
        if not is_self:
            # The sandbox gives no certificate read permission on others (a trainee must not learn who
            # else is a member, nor their address): another's record, known or not, is refused as
            # upstream refuses it. Asking about one's own certificate before it is a member is a 404,
            # as on a VO that lets authenticated clients read.
            own = c is not None and u is None and (dn, ca) == (c.dn, c.issuer)
            if not own:
                return authorization_report("FindUserOperation")
            return Response.html(error_page(404, "User not found"), 404)
        return Response.json(user_json(db, u, req.app.ctx.now()))


def users(req: Request) -> Response:
    if not _csrf_ok(req):
        return _csrf_error()
    # SearchUsersOperation needs read permission, which the sandbox gives no certificate: the instructor
    # reads the members with `onboard sandbox requests` and the board, never a trainee over HTTPS
    return authorization_report("SearchUsersOperation")


def user_stats(req: Request) -> Response:
    if not _csrf_ok(req):
        return _csrf_error()
    vo = vo_of(req)
    now = req.app.ctx.now()
    with req.app.ctx.db() as db:
        total = db.execute("SELECT count(*) FROM usr WHERE vo=?", (vo,)).fetchone()[0]
        susp = db.execute("SELECT count(*) FROM usr WHERE vo=? AND suspended=1", (vo,)).fetchone()[0]
        expired = db.execute(
            "SELECT count(*) FROM usr WHERE vo=? AND end_time IS NOT NULL AND end_time<?", (vo, now)
        ).fetchone()[0]
    return Response.json({"expiredUsersCount": expired, "suspendedUsersCount": susp, "usersCount": total})
