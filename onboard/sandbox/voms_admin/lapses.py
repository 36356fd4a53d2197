# ruff: noqa: E501 - the mail template keeps the line structure of the real one
"""The second year in the sandbox's VOMS-Admin: membership end dates, AUP re-sign tasks, suspensions.

As VOMS-Admin (italiangrid/voms-admin-server) does it:
- a membership has an end time (`usr.end_time`, voms.membership.default_lifetime, 12 months);
  the membership check (MembershipCheckerTask, GracePeriodExpiredMembersStrategy) suspends a member
  whose end time lies more than the grace period (7 days) behind, with SuspensionReason
  MEMBERSHIP_EXPIRATION;
- an AUP acceptance lasts the AUP's reacceptance period (365 days); when it has lapsed, or an
  administrator asks all members to sign again (the record becomes invalid), a SignAUPTask is made,
  due after voms.aup.sign_aup_task_lifetime (15 days), and the member is mailed "Request to sign VO ...
  acceptable usage policy (AUP)."; a task past its due date suspends the member with FAILED_TO_SIGN_AUP;
- suspending a member suspends each of their certificates (VOMSUser.suspend), and restoring lifts it.

`user-info` shows it all as VOMSUserJSON does (api.py: endTime, suspended, suspensionReasonCode,
suspensionReason, aupAcceptanceRecords with valid and daysBeforeExpiration, pendingSignAUPTask).
When the sandbox runs a real voms-server, `settings.on_status_change` (`onboard sandbox voms-set-status`)
carries each suspension and restoration into its database, so voms-proxy-init is really refused.
"""

from __future__ import annotations

import math
import os
import shlex
import subprocess
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from onboard.errors import SandboxError
from onboard.sandbox.voms_admin.hook import HookFailed
from onboard.sandbox.voms_admin.links import base_url
from onboard.sandbox.voms_admin.mails import send
from onboard.sandbox.voms_admin.model import AUP_VERSION

if TYPE_CHECKING:
    import sqlite3

    from onboard.sandbox.context import SandboxContext

DAY = 86400.0
GRACE_DAYS = 7  # voms.membership.expiration_grace_period
SIGN_AUP_TASK_DAYS = 15  # voms.aup.sign_aup_task_lifetime
AUP_REACCEPTANCE_DAYS = 365  # the AUP version's reacceptance period

# VOMSUser.SuspensionReason: code -> the text VOMS-Admin stores (and voms-server quotes)
REASONS = {
    "FAILED_TO_SIGN_AUP": "User failed to sign the AUP in time.",
    "MEMBERSHIP_EXPIRATION": "User membership has expired.",
    "SECURITY_INCIDENT": "User membership has been suspended after a security incident.",
    "OTHER": "User membership has been suspended for another unknown reason.",
    "HR_DB_VALIDATION": "OrgDB: CERN HR db validation failed",
}

SCHEMA = """
CREATE TABLE IF NOT EXISTS sign_aup_task (
    id INTEGER PRIMARY KEY AUTOINCREMENT, usr_id INTEGER NOT NULL REFERENCES usr(id),
    creation_date REAL NOT NULL, expiry_date REAL NOT NULL, last_notification_time REAL,
    status TEXT NOT NULL   -- CREATED (pending), COMPLETED (signed), EXPIRED
);
CREATE TABLE IF NOT EXISTS aup_invalidated (
    usr_id INTEGER NOT NULL REFERENCES usr(id), aup_version TEXT NOT NULL, time REAL NOT NULL,
    PRIMARY KEY (usr_id, aup_version)
);
CREATE TABLE IF NOT EXISTS suspension_code (usr_id INTEGER PRIMARY KEY REFERENCES usr(id), code TEXT)
"""


def tables(db: sqlite3.Connection) -> None:
    for stmt in SCHEMA.split(";"):
        if stmt.strip():
            db.execute(stmt)


def iso(ts: float | None) -> str | None:
    """Dates as the Struts JSON result writes them (yyyy-MM-dd'T'HH:mm:ss)."""
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") if ts else None


# -- what user-info shows ----------------------------------------------------------------------------------
def aup_records(db: sqlite3.Connection, uid: int, now: float) -> list[dict[str, Any]]:
    """AUPAcceptanceRecordJSON: valid unless invalidated; days before expiration 0 once invalid or past."""
    tables(db)
    out = []
    for r in db.execute("SELECT * FROM aup_acceptance WHERE usr_id=? ORDER BY rowid", (uid,)):
        valid = db.execute(
            "SELECT 1 FROM aup_invalidated WHERE usr_id=? AND aup_version=?", (uid, r["aup_version"])
        ).fetchone() is None
        left = r["acceptance_date"] + AUP_REACCEPTANCE_DAYS * DAY - now
        out.append({
            "aupVersion": r["aup_version"],
            "lastAcceptanceDate": iso(r["acceptance_date"]),
            "daysBeforeExpiration": max(0, math.floor(left / DAY)) if valid else 0,
            "valid": valid,
        })
    return out


def pending_task(db: sqlite3.Connection, uid: int) -> dict[str, Any] | None:
    """SignAUPTaskJSON of the member's pending task (null, hence left out, when there is none)."""
    tables(db)
    t = db.execute(
        "SELECT * FROM sign_aup_task WHERE usr_id=? AND status='CREATED' ORDER BY id DESC LIMIT 1", (uid,)
    ).fetchone()
    if t is None:
        return None
    task = {
        "creationDate": iso(t["creation_date"]),
        "expirationDate": iso(t["expiry_date"]),
        "lastNotificationTime": iso(t["last_notification_time"]),
    }
    return {k: v for k, v in task.items() if v is not None}


def suspension_code(db: sqlite3.Connection, uid: int) -> str | None:
    tables(db)
    row = db.execute("SELECT code FROM suspension_code WHERE usr_id=?", (uid,)).fetchone()
    return row["code"] if row else None


# -- the instructor's changes ------------------------------------------------------------------------------
def _member(db: sqlite3.Connection, uid: int) -> Any:
    u = db.execute("SELECT * FROM usr WHERE id=?", (uid,)).fetchone()
    if u is None:
        raise SandboxError(f"no member {uid}.", "See `onboard sandbox members` for the members and their ids.")
    return u


def set_end_time(ctx: SandboxContext, uid: int, end: float) -> None:
    """SetMembershipExpirationOperation: a new end time (the membership check acts on it when due)."""
    with ctx.db() as db:
        u = _member(db, uid)
        db.execute("UPDATE usr SET end_time=? WHERE id=?", (end, uid))
        ctx.event(db, "membership-end", u["vo"], None, f"member {uid} until {iso(end)}")


def request_aup_signature(ctx: SandboxContext, uid: int, days: float = SIGN_AUP_TASK_DAYS) -> float:
    """The administrator's "request AUP re-sign": the member's acceptance becomes invalid, a SignAUPTask
    is due in `days`, and the member is mailed. Returns the due time."""
    now = ctx.now()
    with ctx.db() as db:
        tables(db)
        u = _member(db, uid)
        db.execute(
            "INSERT OR REPLACE INTO aup_invalidated (usr_id, aup_version, time) VALUES (?,?,?)",
            (uid, AUP_VERSION, now),
        )
        due = _open_task(ctx, db, u, now, days)
    return due


def _open_task(ctx: SandboxContext, db: sqlite3.Connection, u: Any, now: float, days: float) -> float:
    t = db.execute(
        "SELECT expiry_date FROM sign_aup_task WHERE usr_id=? AND status='CREATED'", (u["id"],)
    ).fetchone()
    if t is not None:
        return t["expiry_date"]
    due = now + days * DAY
    db.execute(
        "INSERT INTO sign_aup_task (usr_id, creation_date, expiry_date, last_notification_time, status) "
        "VALUES (?,?,?,?, 'CREATED')",
        (u["id"], now, due, now),
    )
    ctx.event(db, "sign-aup-task", u["vo"], None, f"member {u['id']} due {iso(due)}")
    _sign_aup_mail(ctx, db, u, due)
    return due


def _sign_aup_mail(ctx: SandboxContext, db: sqlite3.Connection, u: Any, due: float) -> None:
    vo = u["vo"]
    certs = "".join(
        f"- {c['subject']} , {c['issuer']}\n"
        for c in db.execute("SELECT * FROM certificate WHERE usr_id=? ORDER BY id", (u["id"],))
    )
    when = datetime.fromtimestamp(due, timezone.utc).strftime("%a %b %d %H:%M:%S UTC %Y")  # Java's Date
    body = (
        f"Dear {u['name']} {u['surname']},\n\nyou are requested to sign the VO {vo} AUP \n"
        f"in order to continue to be part of the  {vo} VO.\n\nTo sign the AUP, point your browser to the following \n"
        f"URL:\n\n{base_url(ctx, vo)}/sign-aup\n\nPlease ensure that you connect to the above URL with \n"
        "a valid certificate linked to your VO membership installed \nin the browser, or VOMS Admin will not be "
        "able to authenticate \nyou properly.\n\nCurrently, the following certificates are linked to your\n"
        f"{vo} membership:\n\n{certs}\nPlease sign the AUP before the following date:\n\n{when}\n\n"
        "After this date your membership will be suspended\nand you will not be able to obtain VOMS credentials\n"
        f"for the {vo} VO. Note however that you can restore\nyour membership at any time by simply signing again\n"
        f"the AUP following the URL given above.\n\n\nYour sincerely,\nVoms-Admin registration service for VO {vo}\n"
    )
    send(ctx, u["email"], f"Request to sign VO {vo} acceptable usage policy (AUP).", body)


def sign_aup(ctx: SandboxContext, uid: int) -> None:
    """The member signs the AUP again (SignAUPAction): a new valid acceptance, the task completed, and a
    suspension for FAILED_TO_SIGN_AUP lifted (VOMSUserDAO.signAUP)."""
    now = ctx.now()
    with ctx.db() as db:
        tables(db)
        u = _member(db, uid)
        restore = bool(u["suspended"]) and suspension_code(db, uid) == "FAILED_TO_SIGN_AUP"
    if restore:
        _run_status_hooks(ctx, uid, suspended=False)
    with ctx.db() as db:
        db.execute("DELETE FROM aup_invalidated WHERE usr_id=?", (uid,))
        db.execute("DELETE FROM aup_acceptance WHERE usr_id=? AND aup_version=?", (uid, AUP_VERSION))
        db.execute(
            "INSERT INTO aup_acceptance (usr_id, aup_version, acceptance_date) VALUES (?,?,?)",
            (uid, AUP_VERSION, now),
        )
        db.execute("UPDATE sign_aup_task SET status='COMPLETED' WHERE usr_id=? AND status='CREATED'", (uid,))
        if restore:
            _mark(db, uid, None)
        ctx.event(db, "aup-signed", u["vo"], None, f"member {uid}")


def suspend(ctx: SandboxContext, uid: int, code: str = "OTHER") -> None:
    """VOMSUser.suspend: the member and each certificate, with the reason's text; the real voms-server's
    database first (a failed hook changes nothing)."""
    if code not in REASONS:
        raise SandboxError(f"no suspension reason {code!r}.", f"One of: {', '.join(REASONS)}.")
    _run_status_hooks(ctx, uid, suspended=True, code=code)
    with ctx.db() as db:
        u = _member(db, uid)
        _mark(db, uid, code)
        ctx.event(db, "suspended", u["vo"], None, f"member {uid}: {code}")


def restore(ctx: SandboxContext, uid: int) -> None:
    _run_status_hooks(ctx, uid, suspended=False)
    with ctx.db() as db:
        u = _member(db, uid)
        _mark(db, uid, None)
        ctx.event(db, "restored", u["vo"], None, f"member {uid}")


def _mark(db: sqlite3.Connection, uid: int, code: str | None) -> None:
    tables(db)
    text = REASONS[code] if code else None
    db.execute("UPDATE usr SET suspended=?, suspension_reason=? WHERE id=?", (int(bool(code)), text, uid))
    db.execute("UPDATE certificate SET suspended=?, suspension_reason=? WHERE usr_id=?",
               (int(bool(code)), text, uid))
    db.execute("DELETE FROM suspension_code WHERE usr_id=?", (uid,))
    if code:
        db.execute("INSERT INTO suspension_code (usr_id, code) VALUES (?,?)", (uid, code))


# -- what comes due by itself ------------------------------------------------------------------------------
def check_due(ctx: SandboxContext) -> list[str]:
    """The membership check (MembershipCheckerTask): AUP acceptances past their reacceptance period get a
    SignAUPTask; overdue tasks and memberships past end time + grace period are suspended."""
    now = ctx.now()
    done: list[str] = []
    with ctx.db() as db:
        tables(db)
        lapsed_aup = db.execute(
            "SELECT u.* FROM usr u JOIN aup_acceptance a ON a.usr_id=u.id WHERE u.suspended=0 AND "
            "a.acceptance_date < ? AND NOT EXISTS (SELECT 1 FROM sign_aup_task t WHERE t.usr_id=u.id AND "
            "t.status='CREATED')",
            (now - AUP_REACCEPTANCE_DAYS * DAY,),
        ).fetchall()
        for u in lapsed_aup:
            _open_task(ctx, db, u, now, SIGN_AUP_TASK_DAYS)
            done.append(f"member {u['id']}: AUP to sign again")
        overdue = db.execute(
            "SELECT DISTINCT usr_id FROM sign_aup_task t JOIN usr u ON u.id=t.usr_id "
            "WHERE t.status='CREATED' AND t.expiry_date < ? AND u.suspended=0",
            (now,),
        ).fetchall()
        expired = db.execute(
            "SELECT id FROM usr WHERE suspended=0 AND end_time IS NOT NULL AND end_time < ?",
            (now - GRACE_DAYS * DAY,),
        ).fetchall()
    for r in overdue:
        try:
            suspend(ctx, r["usr_id"], "FAILED_TO_SIGN_AUP")
            with ctx.db() as db:
                db.execute("UPDATE sign_aup_task SET status='EXPIRED' WHERE usr_id=? AND status='CREATED' "
                           "AND expiry_date < ?", (r["usr_id"], now))
            done.append(f"member {r['usr_id']}: suspended, AUP not signed in time")
        except HookFailed as e:
            ctx.log(f"membership check: member {r['usr_id']}: {e.message}")
    for r in expired:
        try:
            suspend(ctx, r["id"], "MEMBERSHIP_EXPIRATION")
            done.append(f"member {r['id']}: suspended, membership expired")
        except HookFailed as e:
            ctx.log(f"membership check: member {r['id']}: {e.message}")
    return done


# -- the real voms-server --------------------------------------------------------------------------------
def _run_status_hooks(ctx: SandboxContext, uid: int, *, suspended: bool, code: str = "") -> None:
    """settings.on_status_change once per certificate of the member, like the on-approval command: DN,
    CA, VO in its environment (ONBOARD_DN, ONBOARD_CA_DN, ONBOARD_VO) and the new state
    (ONBOARD_SANDBOX_SUSPENDED 1/0, _SUSPENSION_REASON, _SUSPENSION_CODE). Never a secret."""
    command = getattr(ctx.settings, "on_status_change", "").strip()
    if not command:
        return
    with ctx.db() as db:
        u = _member(db, uid)
        certs = db.execute("SELECT subject, issuer FROM certificate WHERE usr_id=?", (uid,)).fetchall()
    for c in certs:
        env = {
            **os.environ,
            "ONBOARD_DN": c["subject"], "ONBOARD_CA_DN": c["issuer"], "ONBOARD_VO": u["vo"],
            "ONBOARD_SANDBOX_SUSPENDED": "1" if suspended else "0",
            "ONBOARD_SANDBOX_SUSPENSION_REASON": REASONS[code] if suspended else "",
            "ONBOARD_SANDBOX_SUSPENSION_CODE": code if suspended else "",
        }
        try:
            proc = subprocess.run(shlex.split(command), env=env, capture_output=True, text=True, timeout=120,
                                  stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise HookFailed(f"the status-change command failed to run: {e}",
                             "Fix settings on_status_change; the member's state is unchanged.") from None
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or proc.stdout.strip().splitlines() or ["no output"])[-1]
            raise HookFailed(f"the status-change command exited {proc.returncode}: {last}",
                             "The member's state is unchanged; fix the command and try again.")
