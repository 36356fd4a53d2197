"""The instructor's side of VOMS-Admin: approve, reject, expire, auto-approve (also what `onboard sandbox
approve|reject|requests` do, on the database whether or not the server runs).

Requests: SUBMITTED -> CONFIRMED -> APPROVED, or REJECTED (the row is then deleted); SUBMITTED requests
past their expiration date are deleted (with the "expired" e-mail).
"""

from __future__ import annotations

import json
import secrets
import time
from typing import TYPE_CHECKING, Any

from onboard.errors import SandboxError
from onboard.sandbox.voms_admin import mails
from onboard.sandbox.voms_admin.hook import HookFailed, run_hook
from onboard.sandbox.voms_admin.model import APPROVABLE, AUP_VERSION, get_request, member, status_of

if TYPE_CHECKING:
    from onboard.sandbox.context import SandboxContext
    from onboard.sandbox.web import App

CLAIM_SECONDS = 300.0  # longer than the hook's timeout (120 s): a claim left by a killed process lapses


class ApprovalBusy(SandboxError):
    """Another thread or process is approving this request right now (its on-approval command runs)."""


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


def _undecided(ctx: SandboxContext, request_id: int, verb: str) -> Any:
    """The request, if it still waits for the instructor's decision; else why it cannot be `verb`."""
    row = get_request(ctx, request_id)
    if row["status"] not in APPROVABLE:
        raise SandboxError(
            f"request {request_id} is {row['status']}, it cannot be {verb}.",
            f"Only SUBMITTED or CONFIRMED requests can be {verb}.",
        )
    return row


def approve(ctx: SandboxContext, request_id: int, approver: str = "instructor") -> dict[str, Any]:
    """HandleVOMembershipRequest.approve: SUBMITTED or CONFIRMED -> a member of the VO root group."""
    row = _undecided(ctx, request_id, "approved")
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
    mails.approved(ctx, row)
    return dict(row) | {"status": "APPROVED", "user_id": uid}


def reject(
    ctx: SandboxContext, request_id: int, reason: str | None = None, approver: str = "instructor"
) -> dict[str, Any]:
    """REJECTED, the rejection e-mail, then the request is deleted (as VOMS-Admin does)."""
    row = _undecided(ctx, request_id, "rejected")
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
    mails.rejected(ctx, row, reason)
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
                mails.expired(ctx, r)
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
            if not isinstance(e, HookFailed) and status_of(ctx, r["request_id"]) not in ("CONFIRMED", None):
                continue  # approved or rejected meanwhile: nothing went wrong, nothing to retry
            ctx.log(f"auto-approve of request {r['request_id']} failed: {e.message}")
            with ctx.db() as db:
                db.execute(
                    "UPDATE req SET hook_error=?, hook_retry_after=? WHERE request_id=?",
                    (e.message, now + 60, r["request_id"]),
                )
    return done
