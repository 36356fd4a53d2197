"""VOMS-Admin's data in the sandbox's SQLite database: requests (table req), members (usr, certificate,
fqan, aup_acceptance) and the questions the handlers and the instructor ask of them."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from onboard.errors import SandboxError

if TYPE_CHECKING:
    import sqlite3

    from onboard.sandbox.context import SandboxContext

AUP_VERSION = "1.0"
APPROVABLE = ("SUBMITTED", "CONFIRMED", "PENDING")


def member(db: sqlite3.Connection, vo: str, dn: str, ca: str) -> sqlite3.Row | None:
    return db.execute(
        "SELECT u.* FROM usr u JOIN certificate c ON c.usr_id = u.id WHERE u.vo=? AND c.subject=? "
        "AND c.issuer=?",
        (vo, dn, ca),
    ).fetchone()


def active_request(db: sqlite3.Connection, vo: str, dn: str, ca: str) -> sqlite3.Row | None:
    return db.execute(
        "SELECT * FROM req WHERE vo=? AND subject=? AND issuer=? AND status IN (?,?,?) "
        "ORDER BY request_id DESC LIMIT 1",
        (vo, dn, ca, *APPROVABLE),  # waiting for a decision
    ).fetchone()


def groups_offered(ctx: SandboxContext, vo: str) -> list[str]:
    return [g if g.startswith("/") else f"/{vo}/{g}" for g in ctx.settings.groups]


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


def status_of(ctx: SandboxContext, request_id: int) -> str | None:
    with ctx.db() as db:
        row = db.execute("SELECT status FROM req WHERE request_id=?", (request_id,)).fetchone()
    return row["status"] if row else None


def get_request(ctx: SandboxContext, request_id: int) -> Any:
    with ctx.db() as db:
        row = db.execute("SELECT * FROM req WHERE request_id=?", (request_id,)).fetchone()
    if row is None:
        raise SandboxError(
            f"no request {request_id}.", "See `onboard sandbox requests` for the requests waiting."
        )
    return row


def add_request(
    db: sqlite3.Connection,
    vo: str,
    subject: str,
    issuer: str,
    values: dict[str, str],
    now: float,
    expires: float,
) -> sqlite3.Row:
    """A new SUBMITTED request from the registration form's (checked) values."""
    cur = db.execute(
        "INSERT INTO req (vo, status, confirm_id, creation_date, expiration_date, subject, issuer, email, "
        "name, surname, institution, address, phone, user_message, signed_aup_version) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            vo,
            "SUBMITTED",
            str(uuid.uuid4()),
            now,
            expires,
            subject,
            issuer,
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
    return db.execute("SELECT * FROM req WHERE request_id=?", (cur.lastrowid,)).fetchone()
